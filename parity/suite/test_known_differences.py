"""Each known behavioural difference between Keras' backends (parity.checks.known_differences), run on
the current backend: where it applies, it must still be there exactly as described (its case fails,
the failure names it, and the same case without the initial state passes) and is reported as an
expected failure with its explanation; where it does not, its case must pass."""

from __future__ import annotations

import dataclasses

import pytest

from parity.checks.cases import ParityCase, build_pair
from parity.checks.compare import compare
from parity.checks.gradients import compare_gradients
from parity.checks.known_differences import KNOWN_DIFFERENCES
from parity.core import exercised
from parity.core.frameworks import keras


def _reports(case: ParityCase):
    keras_obj, torch_obj = build_pair(case, "keras_to_torch")
    args = (keras_obj, torch_obj, case.inputs(), case.initial_state(), case.step_mask())
    return compare(*args), compare_gradients(*args, seed=case.seed)


@pytest.mark.parametrize("difference", KNOWN_DIFFERENCES, ids=lambda d: d.name)
def test_known_difference(difference):
    if difference.case is None:
        pytest.skip(f"{difference.name}: no case to run (it is recognised in observed differences)")
    case = ParityCase(**difference.case)
    # noted for the support table: an expected failure there reads "known" in its cell
    with exercised.checking(case.spec, "forward", masked=case.mask != "none",
                            initial_state=case.with_initial_state):
        _show(difference, case)


def _show(difference, case: ParityCase) -> None:
    reports = _reports(case)
    if keras.backend.backend() not in difference.backends:
        for report in reports:
            assert report.ok and not report.known, report.explain()
        return
    for report in reports:
        assert report.known == (difference,), report.explain()
        assert not report.ok, (f"Keras on {keras.backend.backend()} no longer shows the known "
                               f"difference {difference.name!r}: remove it from "
                               "parity.checks.known_differences")
        assert difference.name in report.explain()
        assert all(d.ok for d in report.torch_vs_oracle), report.explain()
    for report in _reports(dataclasses.replace(case, with_initial_state=False)):
        assert report.ok and not report.known, report.explain()
    pytest.xfail(f"known difference {difference.name!r} of Keras on {keras.backend.backend()}: "
                 f"{difference.summary} (cases with it are not drawn here)")
