"""Compare a Keras layer and a torch module on the same input, against the float64 oracle.

Checks are vectorised; the explanation is only built when something fails.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from parity.core import oracle, weight_verdict
from parity.core.errors import ParityError, TransferError
from parity.core.spec import Outputs, RecurrentSpec, Weights
from parity.core.tolerances import POLICY, TOLERANCES, allowed_error, oracle_factor, worst_case_error
from parity.core.weight_verdict import WeightMismatch
from parity.layers import keras_side, torch_side, transfer

_AXES = {3: ("batch", "step", "unit"), 2: ("batch", "unit")}


@dataclass(frozen=True)
class Point:
    """One element: its index, both values, their difference and what was allowed there."""

    index: tuple[int, ...]
    a: float
    b: float
    difference: float
    allowed: float

    @property
    def ratio(self) -> float:
        """Difference as a fraction of the tolerance (> 1 is a mismatch)."""
        if self.difference == 0:
            return 0.0
        return self.difference / self.allowed if self.allowed > 0 else float("inf")

    def where(self, axes: Sequence[str], gates: tuple[tuple[str, ...], int] | None = None) -> str:
        """The index by axis name; a weight's gate*unit axis also says which gate (``gates`` is the
        Keras gate order and the units)."""
        parts = []
        for name, i in zip(axes, self.index):
            if name == "gate*unit" and gates is not None:
                order, units = gates
                parts.append(f"gate={order[i // units]}, unit={i % units}")
            else:
                parts.append(f"{name}={i}")
        return "(" + ", ".join(parts) + ")"


@dataclass(frozen=True)
class TensorDiff:
    """How one returned tensor differs between two sources ``a`` and ``b``."""

    name: str
    a_name: str
    b_name: str
    shape: tuple[int, ...]
    mismatched: int
    max_abs: Point
    max_rel: Point
    worst: Point  # the element furthest beyond its tolerance (largest difference / allowed)
    scale: float  # largest finite |b|, to put differences in proportion
    axis_names: tuple[str, ...] | None = None  # default: by rank (batch, step, unit)
    gates: tuple[tuple[str, ...], int] | None = None  # for weights: gate order and units
    nonfinite: int = 0  # elements NaN or Inf on either side (all counted as mismatched)
    first_nonfinite: Point | None = None

    def nonfinite_note(self) -> str:
        """One line on the non-finite elements ("" if none)."""
        p = self.first_nonfinite
        if p is None:
            return ""
        return (f"non-finite: {self.nonfinite} element(s) NaN or Inf, first at {self.where(p)}: "
                f"{self.a_name} {p.a:.9g}, {self.b_name} {p.b:.9g}")

    @property
    def ok(self) -> bool:
        return self.mismatched == 0

    @property
    def axes(self) -> tuple[str, ...]:
        if self.axis_names is not None:
            return self.axis_names
        return _AXES.get(len(self.shape), tuple(f"dim{i}" for i in range(len(self.shape))))

    def where(self, p: Point) -> str:
        return p.where(self.axes, self.gates)

    @property
    def total(self) -> int:
        return int(np.prod(self.shape))


def diff(name: str, a_name: str, a: np.ndarray, b_name: str, b: np.ndarray,
         allowed: np.ndarray, *, axis_names=None, gates=None) -> TensorDiff:
    """Elementwise |a - b| against ``allowed``. NaN or Inf on either side is a mismatch, even where
    both sides hold the same one: no tolerance can vouch for it, and it is counted apart."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise TransferError(f"{name}.shape", a.shape, f"{b_name} returned shape {b.shape}")
    finite = np.isfinite(a) & np.isfinite(b)
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.where(finite, np.abs(a - b), np.inf)
    allowed = np.nan_to_num(np.broadcast_to(allowed, a.shape), nan=0.0, posinf=np.inf)
    bad = d > allowed
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rel = np.where(d == 0, 0.0, d / np.abs(b))
        ratio = np.where(d == 0, 0.0, d / allowed)
    rel = np.nan_to_num(rel, nan=np.inf)
    ratio = np.nan_to_num(ratio, nan=np.inf)

    def point(flat_index):
        i = np.unravel_index(flat_index, a.shape)
        return Point(tuple(int(k) for k in i), float(a[i]), float(b[i]), float(d[i]),
                     float(allowed[i]))

    finite_b = np.abs(b[np.isfinite(b)])
    nonfinite = int((~finite).sum())
    return TensorDiff(name, a_name, b_name, a.shape, int(bad.sum()), point(int(np.argmax(d))),
                      point(int(np.argmax(rel))), point(int(np.argmax(ratio))),
                      float(finite_b.max(initial=0.0)), axis_names, gates, nonfinite,
                      point(int(np.argmin(finite))) if nonfinite else None)


@dataclass
class ParityReport:
    """Result of :func:`compare`. ``cross`` is keras vs torch; ``*_vs_oracle`` each framework vs the
    float64 oracle run on that framework's own weights; ``weights`` the weights that differ beyond
    what the transfer allows (:mod:`parity.core.weight_verdict`). ``ok`` needs all of them within
    tolerance and no weight mismatch."""

    spec: RecurrentSpec
    cross: list[TensorDiff]
    keras_vs_oracle: list[TensorDiff]
    torch_vs_oracle: list[TensorDiff]
    weights: list[WeightMismatch]
    input_summary: str
    context: str | None = None
    what: str = "Forward"
    # the worst-case rounding bound per tensor (one implementation vs exact), computed only when a
    # failure is explained
    outer_bound: Callable[[], dict[str, np.ndarray]] | None = field(default=None, repr=False)
    nodeid: str | None = field(default_factory=lambda: os.environ.get("PYTEST_CURRENT_TEST"))

    @property
    def ok(self) -> bool:
        return not self.weights and all(
            t.ok for t in self.cross + self.keras_vs_oracle + self.torch_vs_oracle)

    @property
    def weight_differences(self) -> list[str]:
        return [str(w) for w in self.weights]

    def largest_error_against_oracle(self, *, relative: bool = False) -> dict[str, float]:
        """Per framework, the largest |framework - oracle| over all returned tensors (``relative``:
        divided by the largest |oracle value| among them, so a tensor that is nearly zero, such as
        a gradient that vanishes exactly, does not read as a 100 % error)."""
        out = {}
        for fw, diffs in (("keras", self.keras_vs_oracle), ("torch", self.torch_vs_oracle)):
            largest = max(t.max_abs.difference for t in diffs)
            scale = max(t.scale for t in diffs)
            out[fw] = largest / scale if relative and scale > 0 else largest
        return out

    def tolerance_used(self) -> dict[str, float]:
        """Largest difference / allowed over all tensors: keras vs torch, and frameworks vs oracle."""
        return {"cross": max(t.worst.ratio for t in self.cross),
                "oracle": max(t.worst.ratio for t in self.keras_vs_oracle + self.torch_vs_oracle)}

    def explain(self) -> str:
        return _explain(self)


def noise_multiple(p: Point, pair_scale: float, policy=POLICY) -> float:
    """``p``'s difference in units of the rounding noise of one correct implementation: the
    allowed difference is ``pair_scale`` (sqrt(2) for two implementations, ~1 for one against the
    oracle) x the policy's factor x that noise."""
    return p.ratio * policy.factor * pair_scale


def _fmt_point(t: TensorDiff, p: Point, a_name: str, b_name: str, *, dtype: str | None = None,
               pair_scale: float = 1.0) -> str:
    text = (f"{p.difference:.3g} at {t.where(p)}: {a_name} {p.a:.9g}, {b_name} {p.b:.9g}, "
            f"allowed {p.allowed:.3g}")
    if dtype is not None and p.difference > 0 and np.isfinite(p.ratio):
        m = noise_multiple(p, pair_scale)
        text += (f" ({m:,.0f}x" if m >= 10 else f" ({m:.2g}x") + (
            f" the rounding noise of a correct {dtype} implementation)")
    return text


def _explain(r: ParityReport) -> str:
    failing = [t for t in r.cross if not t.ok]
    lines = [f"{r.what} parity check failed for {r.spec}"]
    if failing:
        lines[0] += f": keras and torch disagree on {len(failing)} of {len(r.cross)} returned tensors."
    elif r.weights:
        lines[0] += (f": the two hold different weights ({len(r.weights)} weight tensor(s) beyond "
                     "what the transfer allows), although the outputs are within tolerance.")
    by_name = {t.name: (k, o) for t, k, o in zip(r.cross, r.keras_vs_oracle, r.torch_vs_oracle)}
    dtype, own = r.spec.dtype, oracle_factor(r.spec.dtype)
    for t in r.cross:
        k, o = by_name[t.name]
        if t.ok and k.ok and o.ok:
            continue
        axes = t.axes
        order = " (steps in processing order: go_backwards)" if r.spec.go_backwards and len(
            t.shape) == 3 else ""
        lines += [
            "",
            f"{t.name} {tuple(axes)}, shape {t.shape}{order}:",
            f"  mismatched elements keras vs torch: {t.mismatched} / {t.total} "
            f"({100.0 * t.mismatched / t.total:.1f}%)",
            f"  greatest absolute difference {_fmt_point(t, t.max_abs, 'keras', 'torch')}",
            f"  greatest relative difference {t.max_rel.difference / max(abs(t.max_rel.b), 1e-300):.3g} "
            f"at {t.where(t.max_rel)}",
            "  furthest beyond tolerance "
            + _fmt_point(t, t.worst, "keras", "torch", dtype=dtype, pair_scale=POLICY.cross),
        ]
        if r.outer_bound is not None and not t.ok:
            bound = r.outer_bound().get(t.name)
            if bound is not None:
                outer = float(2 * np.broadcast_to(bound, t.shape)[t.worst.index])
                lines.append(f"  worst-case rounding bound there {outer:.3g}: the difference is "
                             + ("beyond even the worst case" if t.worst.difference > outer else
                                "within the worst case, far beyond what rounding does in practice"))
        lines += [f"  {d.nonfinite_note()}" for d in (t, k, o) if d.nonfinite]
        for fw, d in (("keras", k), ("torch", o)):
            verdict = "within tolerance" if d.ok else (
                f"{d.mismatched} elements beyond tolerance; worst "
                f"{_fmt_point(d, d.worst, fw, 'oracle', dtype=dtype, pair_scale=own)}")
            lines.append(f"  {fw} vs float64 oracle: max error {d.max_abs.difference:.3g} at "
                         f"{d.where(d.max_abs)} ({verdict})")
        drifting = [fw for fw, d in (("keras", k), ("torch", o)) if not d.ok]
        if drifting:
            lines.append(f"  -> {' and '.join(drifting)} drift(s) from the exact result")
        elif not t.ok:
            lines.append("  -> each framework matches the oracle on its own weights: "
                         "the two hold different weights (see below)")
    lines += ["", "weights (canonical layout, keras vs torch): " + (
        "identical (up to the transfer's one rounding of a bias sum)" if not r.weights else
        "differ beyond what the transfer allows; first differing element of each:")]
    lines += [f"  {w}" for w in r.weights[:8]]
    lines += [
        f"input: {r.input_summary}",
        f"tolerance: per element, {POLICY.factor:g}x the rounding noise of a correct {dtype} "
        f"implementation on this very case (x sqrt(2) between two implementations), estimated by "
        f"{POLICY.runs} runs of the float64 oracle with randomised {dtype} rounding; see "
        "parity.core.tolerances",
    ]
    if r.context:
        lines.append(f"case: {r.context}")
    if r.nodeid:
        test = r.nodeid.rsplit(" ", 1)[0]
        lines.append(f"reproduce: pytest '{test}' (the default hypothesis profile is derandomised, "
                     "so the same command replays it; hypothesis prints the falsifying example "
                     "and a @reproduce_failure line below)")
    return "\n".join(lines)


def device_of(obj) -> str:
    """"cuda" or "cpu": where a torch module's weights or Keras' backend computes."""
    if torch_side.is_torch(obj):
        return torch_side.device_of(obj).type
    return keras_side.device()


def validated_pair(keras_obj, torch_obj) -> tuple[RecurrentSpec, Weights, object, Weights]:
    """Specs and weights of both, the torch object given Keras call semantics, validated."""
    if not keras_side.is_keras(keras_obj):
        raise TransferError("keras_obj", type(keras_obj).__name__,
                            "expected a Keras recurrent layer (or list/Sequential of them)")
    if not torch_side.is_torch(torch_obj):
        raise TransferError("torch_obj", type(torch_obj).__name__,
                            "expected a torch.nn.RNN, LSTM or GRU, or a parity.KerasRNN")
    spec, k_weights = transfer.read(keras_obj)
    module = torch_side.as_keras_like(torch_obj, spec)
    t_spec = torch_side.describe(module)
    transfer.check_compatible(spec, t_spec, src_reverses=True, dst_reverses=True)
    for flag in ("return_sequences", "return_state", "merge_mode", "zero_output_for_mask"):
        if getattr(spec, flag) != getattr(t_spec, flag):
            raise TransferError(flag, getattr(t_spec, flag),
                                f"the Keras layer has {flag}={getattr(spec, flag)}, so the two "
                                "return different things")
    return spec, k_weights, module, torch_side.read_weights(module)


def compare(keras_obj, torch_obj, x: np.ndarray,
            initial_state: Sequence[np.ndarray] | None = None, mask: np.ndarray | None = None, *,
            context: str | None = None) -> ParityReport:
    """Run both on ``x`` (batch-first numpy array in the layer's dtype; optional boolean ``mask``
    (batch, time), True = keep) and the float64 oracle on each one's weights; report every returned
    tensor. A plain torch module is run with the Keras layer's call semantics (return flags,
    go_backwards, merge mode)."""
    spec, k_weights, module, t_weights = validated_pair(keras_obj, torch_obj)
    x = np.asarray(x)
    oracle.check_inputs(spec, x, initial_state, mask)
    k_out = keras_side.run(keras_obj, x, initial_state, mask)
    t_out = torch_side.run(module, x, initial_state, mask)
    k_ref = oracle.run(spec, k_weights, x, initial_state, mask)
    weights = weight_verdict.layer_mismatches(spec, k_weights, t_weights,
                                              TOLERANCES[spec.dtype].unit_roundoff)
    same = all(np.array_equal(a, b) for wa, wb in zip(k_weights, t_weights)
               for a, b in zip(wa.arrays().values(), wb.arrays().values()))
    t_ref = k_ref if same else oracle.run(spec, t_weights, x, initial_state, mask)
    allowed = allowed_error(spec, k_weights, x, initial_state, k_ref, mask,
                            devices=(device_of(keras_obj), device_of(module)))
    own = oracle_factor(spec.dtype)

    def diffs(a_name, a: Outputs, b_name, b: Outputs, scale: float) -> list[TensorDiff]:
        limits = allowed.named()
        return [diff(n, a_name, v, b_name, b.named()[n], scale * limits[n])
                for n, v in a.named().items()]

    summary = (f"x shape {x.shape} {x.dtype}, max |x| {np.abs(x.astype(np.float64)).max():.3g}, "
               f"initial_state {'given' if initial_state is not None else 'zeros'}, mask "
               f"{'none' if mask is None else f'{int(np.sum(~mask))} of {mask.size} steps masked'}")
    def outer_bound() -> dict[str, np.ndarray]:
        return worst_case_error(spec, k_weights, x, initial_state, k_ref, mask,
                                devices=(device_of(keras_obj), device_of(module))).named()

    return ParityReport(spec, diffs("keras", k_out, "torch", t_out, POLICY.cross),
                        diffs("keras", k_out, "oracle", k_ref, own),
                        diffs("torch", t_out, "oracle", t_ref, own),
                        weights, summary, context, outer_bound=outer_bound)


def assert_parity(keras_obj, torch_obj, x: np.ndarray,
                  initial_state: Sequence[np.ndarray] | None = None,
                  mask: np.ndarray | None = None, *, context: str | None = None) -> ParityReport:
    """:func:`compare`, raising :class:`parity.ParityError` with an explanation on any mismatch."""
    __tracebackhide__ = True
    report = compare(keras_obj, torch_obj, x, initial_state, mask, context=context)
    if not report.ok:
        raise ParityError(report.explain(), report)
    return report


@dataclass(frozen=True)
class OracleBounds:
    """The float64 oracle's result for one layer and input, and how far a correct computation in
    the layer's dtype may be from it, per element. Computing them is the costly part of a check;
    :func:`assert_within` then compares any number of results against them."""

    spec: RecurrentSpec
    reference: Outputs
    allowed: dict[str, np.ndarray]


def oracle_bounds(obj, x: np.ndarray, initial_state: Sequence[np.ndarray] | None = None,
                  mask: np.ndarray | None = None, *, device: str | None = None) -> OracleBounds:
    """Bounds for results computed on ``device`` (default: where ``obj`` computes)."""
    spec, weights = transfer.read(obj)
    x = np.asarray(x)
    oracle.check_inputs(spec, x, initial_state, mask)
    reference = oracle.run(spec, weights, x, initial_state, mask)
    allowed = allowed_error(spec, weights, x, initial_state, reference, mask,
                            devices=(device or device_of(obj),)).named()
    own = oracle_factor(spec.dtype)
    return OracleBounds(spec, reference, {name: own * a for name, a in allowed.items()})


def assert_within(bounds: OracleBounds, outputs: Outputs, *, label: str = "outputs") -> None:
    """Raise :class:`parity.ParityError` naming the worst element if ``outputs`` leave ``bounds``."""
    __tracebackhide__ = True
    raise_beyond_oracle(
        [diff(name, label, value, "oracle", bounds.reference.named()[name], bounds.allowed[name])
         for name, value in outputs.named().items()], bounds.spec, label, what=label)


def raise_beyond_oracle(diffs: Sequence[TensorDiff], spec: RecurrentSpec, label: str, *,
                        what: str, note: str = "") -> None:
    """Raise :class:`parity.ParityError` for the first of ``diffs`` (``label`` vs the oracle)
    beyond its tolerance, naming the tensor, the count and the worst element."""
    __tracebackhide__ = True
    for d in diffs:
        if not d.ok:
            detail = d.nonfinite_note() or f"worst {_fmt_point(d, d.worst, label, 'oracle')}"
            raise ParityError(f"{what} differ from the float64 oracle for {spec}: {d.name} "
                              f"{d.mismatched}/{d.total} elements beyond tolerance; "
                              f"{detail}{note}")


def assert_matches_oracle(obj, outputs: Outputs, x: np.ndarray,
                          initial_state: Sequence[np.ndarray] | None = None,
                          mask: np.ndarray | None = None, *, label: str = "outputs") -> None:
    """Assert that ``outputs`` (computed some other way, e.g. one step at a time) equal what the
    float64 oracle gives for ``obj``'s spec and weights, within that dtype's tolerance."""
    __tracebackhide__ = True
    assert_within(oracle_bounds(obj, x, initial_state, mask), outputs, label=label)
