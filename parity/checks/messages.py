"""The failure message of a layer check (:meth:`parity.checks.compare.ParityReport.explain`), built
from one small builder per block of ``docs/guides/reading-failures.md``, in the style of
``torch.testing``'s ``_make_mismatch_msg``:

- :func:`headline`: what failed, for which layer, and why in one clause;
- :func:`known_block`: the known behavioural differences the case runs into;
- :func:`tensor_block`: per returned tensor, keras vs torch (:func:`cross_lines`), the worst-case
  rounding bound (:func:`outer_bound_lines`), non-finite elements, each onnxruntime column
  (:func:`onnx_lines`), each side against the float64 oracle (:func:`oracle_lines`) and who
  drifted (:func:`drift_line`);
- :func:`weights_block`: whether the two hold the same weights;
- :func:`footer`: input, tolerance, ONNX runtimes, case and how to reproduce.

Each phrase is written once here or in :mod:`parity.core.mismatch` (:func:`format_point`,
:meth:`TensorDiff.headline`, :func:`reproduce_line`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from parity.core.mismatch import TensorDiff, format_point, reproduce_line
from parity.core.tolerances import POLICY, oracle_factor

if TYPE_CHECKING:  # the report is built in compare, which imports this module
    from parity.checks.compare import OnnxColumn, ParityReport
    from parity.checks.onnx_runtime import OnnxRun

# one returned tensor's onnxruntime columns: (run, vs the side it exported, vs the oracle)
Column = tuple["OnnxRun", TensorDiff, TensorDiff]


def explain(r: ParityReport) -> str:
    """The full message: headline, known differences, each tensor that is off, weights, footer."""
    lines = [headline(r)] + known_block(r)
    for t, k, o in zip(r.cross, r.keras_vs_oracle, r.torch_vs_oracle):
        lines += tensor_block(r, t, k, o, columns_of(r.onnx, t.name))
    return "\n".join(lines + weights_block(r.weights) + footer(r))


def failing_headlines(diffs: Sequence[TensorDiff]) -> list[str]:
    """One indented :meth:`TensorDiff.headline` per tensor beyond its tolerance."""
    return [f"  {d.headline()}" for d in diffs if not d.ok]


def disagreement(a: str, b: str, diffs: Sequence[TensorDiff]) -> str:
    return f"{a} and {b} disagree on {sum(not d.ok for d in diffs)} of {len(diffs)} returned tensors"


def headline(r: ParityReport) -> str:
    """The first line: the check, the layer, and the first reason it failed (keras vs torch, then
    the weights, then the onnxruntime columns)."""
    text = f"{r.what} parity check failed for {r.spec}"
    onnx_failing = [c for c in r.onnx if not all(t.ok for t in c.vs_source)]
    if any(not t.ok for t in r.cross):
        return text + f": {disagreement('keras', 'torch', r.cross)}."
    if r.weights:
        return text + (f": the two hold different weights ({len(r.weights)} weight tensor(s) "
                       "beyond what the transfer allows), although the outputs are within "
                       "tolerance.")
    if onnx_failing:
        return text + "; " + "; ".join(
            disagreement(f"{c.run.label} (the exported {c.run.source} side)", c.run.source,
                         c.vs_source) for c in onnx_failing) + "."
    return text


def known_block(r: ParityReport) -> list[str]:
    """First after the headline: what follows is this difference, not drift."""
    return [line for known in r.known for line in ("", known.describe())]


def columns_of(onnx: Sequence[OnnxColumn], name: str) -> list[Column]:
    """Each onnxruntime column's diffs of the tensor ``name``."""
    return [(c.run, next(d for d in c.vs_source if d.name == name),
             next(d for d in c.vs_oracle if d.name == name)) for c in onnx]


def tensor_block(r: ParityReport, t: TensorDiff, k: TensorDiff, o: TensorDiff,
                 columns: Sequence[Column]) -> list[str]:
    """One returned tensor: keras vs torch (``t``), each side vs the oracle (``k``, ``o``, and
    each onnxruntime column); nothing when all are within tolerance."""
    if t.ok and k.ok and o.ok and all(s.ok and d.ok for _, s, d in columns):
        return []
    dtype = r.spec.dtype
    order = " (steps in processing order: go_backwards)" if r.spec.go_backwards and len(
        t.shape) == 3 else ""
    sides = [("keras", k), ("torch", o)] + [(run.label, d) for run, _, d in columns]
    nonfinite = [t, k, o] + [x for _, s, d in columns for x in (s, d)]
    return (["", f"{t.name} {tuple(t.axes)}, shape {t.shape}{order}:"]
            + cross_lines(t, dtype) + outer_bound_lines(r, t)
            + [f"  {d.nonfinite_note()}" for d in nonfinite if d.nonfinite]
            + onnx_lines(columns, dtype) + oracle_lines(sides, dtype)
            + drift_line(t, sides, columns, r.known))


def cross_lines(t: TensorDiff, dtype: str) -> list[str]:
    """keras vs torch: the count beyond tolerance, the greatest absolute and relative differences
    and the element furthest beyond the tolerance."""
    return [
        f"  mismatched elements keras vs torch: {t.mismatched} / {t.total} "
        f"({100.0 * t.mismatched / t.total:.1f}%)",
        f"  greatest absolute difference {format_point(t, t.max_abs, 'keras', 'torch')}",
        f"  greatest relative difference {t.max_rel.difference / max(abs(t.max_rel.b), 1e-300):.3g} "
        f"at {t.where(t.max_rel)}",
        "  furthest beyond tolerance "
        + format_point(t, t.worst, "keras", "torch", dtype=dtype, pair_scale=POLICY.cross),
    ]


def outer_bound_lines(r: ParityReport, t: TensorDiff) -> list[str]:
    """The worst-case rounding bound at the worst element of a failing tensor, when known."""
    if r.outer_bound is None or t.ok:
        return []
    bound = r.outer_bound().get(t.name)
    if bound is None:
        return []
    outer = float(2 * np.broadcast_to(bound, t.shape)[t.worst.index])
    return [f"  worst-case rounding bound there {outer:.3g}: the difference is "
            + ("beyond even the worst case" if t.worst.difference > outer else
               "within the worst case, far beyond what rounding does in practice")]


def verdict(d: TensorDiff, dtype: str, pair_scale: float, a_name: str | None = None,
            b_name: str | None = None) -> str:
    """"within tolerance", or the count beyond it and the worst element."""
    if d.ok:
        return "within tolerance"
    return (f"{d.mismatched} elements beyond tolerance; worst "
            f"{format_point(d, d.worst, a_name, b_name, dtype=dtype, pair_scale=pair_scale)}")


def onnx_lines(columns: Sequence[Column], dtype: str) -> list[str]:
    """Each onnxruntime column against the side it exported."""
    return [f"  {run.label} vs {run.source}: max difference {s.max_abs.difference:.3g} at "
            f"{s.where(s.max_abs)} ({verdict(s, dtype, POLICY.cross)})" for run, s, _ in columns]


def oracle_lines(sides: Sequence[tuple[str, TensorDiff]], dtype: str) -> list[str]:
    """Each implementation against the float64 oracle run on its own weights."""
    own = oracle_factor(dtype)
    return [f"  {fw} vs float64 oracle: max error {d.max_abs.difference:.3g} at "
            f"{d.where(d.max_abs)} ({verdict(d, dtype, own, fw, 'oracle')})" for fw, d in sides]


def drift_line(t: TensorDiff, sides: Sequence[tuple[str, TensorDiff]],
               columns: Sequence[Column], known) -> list[str]:
    """Who is off: the implementations that drift from the oracle, else the onnxruntime columns
    apart from their sides, else the weights."""
    drifting = [fw for fw, d in sides if not d.ok]
    if drifting and known and drifting == ["keras"]:
        return [f"  -> keras differs from the exact result: the known difference "
                f"{known[0].name!r} above"]
    if drifting:
        return [f"  -> {' and '.join(drifting)} drift(s) from the exact result"]
    if any(not s.ok for _, s, _ in columns):
        return ["  -> each onnxruntime column and the side it exported stay near the "
                "oracle but apart from each other"]
    if not t.ok:
        return ["  -> each framework matches the oracle on its own weights: "
                "the two hold different weights (see below)"]
    return []


def weights_block(weights: Sequence) -> list[str]:
    """The weights in the canonical layout, keras vs torch: the first differing element of each
    of the first eight tensors that differ."""
    return ["", "weights (canonical layout, keras vs torch): " + (
        "identical (up to the transfer's one rounding of a bias sum)" if not weights else
        "differ beyond what the transfer allows; first differing element of each:")
    ] + [f"  {w}" for w in weights[:8]]


def footer(r: ParityReport) -> list[str]:
    """The input, how the tolerance was derived, the ONNX runtimes, the case and the pytest
    command that replays it."""
    dtype = r.spec.dtype
    lines = [
        f"input: {r.input_summary}",
        f"tolerance: per element, {POLICY.factor:g}x the rounding noise of a correct {dtype} "
        f"implementation on this very case (x sqrt(2) between two implementations), estimated by "
        f"{POLICY.runs} runs of the float64 oracle with randomised {dtype} rounding; see "
        "parity.core.tolerances",
    ]
    lines += [f"{c.run.label}: {c.run.describe()}" for c in r.onnx]
    if r.context:
        lines.append(f"case: {r.context}")
    if r.nodeid:
        lines.append(reproduce_line(r.nodeid))
    return lines
