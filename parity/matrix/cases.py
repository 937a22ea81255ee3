"""The matrix's cases: the golden canonical cases (:func:`parity.upgrade.golden.canonical_cases`)
plus, per cell, the masked-leading-step case (an initial state, rows whose first steps are masked,
``zero_output_for_mask=False``) and a Bidirectional layer's last output for a fully masked row
with an initial state, each in float32 and float64."""

from __future__ import annotations

import dataclasses

from parity.checks.cases import ParityCase
from parity.core.spec import CELL_KINDS, RecurrentSpec
from parity.upgrade.golden import SEED, canonical_cases

DTYPES = ("float32", "float64")


def leading_masked_case(kind: str) -> ParityCase:
    """An initial state and left-padded rows (the first steps masked), returning sequences with
    ``zero_output_for_mask=False``: what a masked step before the first kept one outputs.

    Examples:
        >>> case = leading_masked_case("lstm")
        >>> bool((~case.step_mask()[:, 0]).any()), case.initial_state() is not None
        (True, True)
    """
    spec = RecurrentSpec(kind, units=4, input_size=3, return_sequences=True, return_state=True,
                         zero_output_for_mask=False)
    return ParityCase(spec, batch=3, steps=7, seed=SEED, with_initial_state=True,
                      mask="left_padded")


def empty_row_case(kind: str) -> ParityCase:
    """A Bidirectional layer returning its last output, with an initial state and one fully
    masked row: what that row's last output is.

    Examples:
        >>> bool((~empty_row_case("gru").step_mask()).all(axis=1).any())
        True
    """
    spec = RecurrentSpec(kind, units=4, input_size=3, return_state=True, bidirectional=True)
    return ParityCase(spec, batch=3, steps=7, seed=SEED, with_initial_state=True,
                      mask="with_empty_row")


def matrix_cases() -> dict[str, ParityCase]:
    """Case id -> float32 case, in a stable order.

    Examples:
        >>> ids = list(matrix_cases())
        >>> "lstm/uni/leading_masked_with_state" in ids, "gru/bi/gaps" in ids
        (True, True)
    """
    cases = {case_id: case for case_id, (case, _) in canonical_cases().items()}
    for kind in CELL_KINDS:
        cases[f"{kind}/uni/leading_masked_with_state"] = leading_masked_case(kind)
        cases[f"{kind}/bi/empty_row_last_output_with_state"] = empty_row_case(kind)
    return cases


def in_dtype(case: ParityCase, dtype: str) -> ParityCase:
    """The same case computed in ``dtype`` (weights and inputs drawn from the same seed).

    Examples:
        >>> in_dtype(leading_masked_case("gru"), "float64").inputs().dtype
        dtype('float64')
    """
    return dataclasses.replace(case, spec=case.spec.replace(dtype=dtype))
