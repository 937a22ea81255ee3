"""Compare a Keras layer and a torch module on the same input, against the float64 oracle.

Checks are vectorised; the explanation is only built when something fails.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from parity.checks import messages, onnx_runtime
from parity.checks.known_differences import KnownDifference, known_differences
from parity.checks.onnx_runtime import OnnxRun
from parity.checks.reference import reference
from parity.core import exercised, weight_verdict
from parity.core.errors import ParityError, TransferError, UnsupportedConfig
from parity.core.inputs import CaseInputs, check_finite_weights
from parity.core.mismatch import (  # noqa: F401  (Point, TensorDiff, diff: importable from here)
    Point,
    TensorDiff,
    diff,
    reproduce_line,
    summary_line,
)
from parity.core.spec import Outputs, RecurrentSpec, Weights
from parity.core.tolerances import POLICY, TOLERANCES, oracle_factor
from parity.core.weight_verdict import WeightMismatch
from parity.layers import keras_side, torch_side, transfer
from parity.models import keras2
from parity.models.chains import checked_layers


@dataclass
class OnnxColumn:
    """onnxruntime running one exported side of a case (:mod:`parity.checks.onnx_runtime`):
    ``vs_source`` against that side (keras or torch), ``vs_oracle`` against the float64 oracle on
    that side's weights; ``run`` says what ran.

    Examples:
        >>> import keras, numpy as np, parity
        >>> layer = keras.layers.GRU(2, return_sequences=True); layer.build((None, 5, 4))
        >>> x = np.eye(4, dtype="float32")[[0, 1, 2, 2, 3]][None]
        >>> report = parity.compare(layer, parity.to_torch(layer), x, onnx="torchscript")
        >>> column = report.onnx[0]
        >>> column.run.label, [d.b_name for d in column.vs_source + column.vs_oracle]
        ('onnxruntime[torchscript]', ['torch', 'oracle'])
    """

    run: OnnxRun
    vs_source: list[TensorDiff]
    vs_oracle: list[TensorDiff]


@dataclass
class ParityReport:
    """Result of :func:`compare`. ``cross`` is keras vs torch; ``*_vs_oracle`` each framework vs the
    float64 oracle run on that framework's own weights; ``weights`` the weights that differ beyond
    what the transfer allows (:mod:`parity.core.weight_verdict`). With ``compare(..., onnx=...)``,
    ``onnx`` holds one :class:`OnnxColumn` per exporter: onnxruntime running the exported side,
    judged against that side and the oracle by the same policy. ``ok`` needs all of them within
    tolerance and no weight mismatch; ``summary()`` is one line, ``explain()`` the full message.

    Examples:
        >>> import keras, numpy as np, parity
        >>> layer = keras.layers.SimpleRNN(2, return_sequences=True); layer.build((None, 5, 4))
        >>> module = parity.to_torch(layer)
        >>> x = np.eye(4, dtype="float32")[[0, 1, 2, 2, 3]][None]  # one-hot "hello"
        >>> report = parity.compare(layer, module, x)
        >>> [d.name for d in report.cross], report.weights
        (['output'], [])
    """

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
    onnx: list[OnnxColumn] = field(default_factory=list)  # one per exporter compare(onnx=) named
    # known behavioural differences of Keras' backend that this case runs into (named by explain())
    known: tuple[KnownDifference, ...] = ()

    @property
    def all_diffs(self) -> list[TensorDiff]:
        return (self.cross + self.keras_vs_oracle + self.torch_vs_oracle
                + [d for c in self.onnx for d in c.vs_source + c.vs_oracle])

    @property
    def implementations(self) -> tuple[str, ...]:
        """The implementations compared: keras, torch, then each onnxruntime column."""
        return ("keras", "torch") + tuple(c.run.label for c in self.onnx)

    @property
    def ok(self) -> bool:
        return not self.weights and all(t.ok for t in self.all_diffs)

    def largest_error_against_oracle(self, *, relative: bool = False) -> dict[str, float]:
        """Per framework, the largest |framework - oracle| over all returned tensors (``relative``:
        divided by the largest |oracle value| among them, so a tensor that is nearly zero, such as
        a gradient that vanishes exactly, does not read as a 100 % error)."""
        out = {}
        for fw, diffs in (("keras", self.keras_vs_oracle), ("torch", self.torch_vs_oracle),
                          *((c.run.label, c.vs_oracle) for c in self.onnx)):
            largest = max(t.max_abs.difference for t in diffs)
            scale = max(t.scale for t in diffs)
            out[fw] = largest / scale if relative and scale > 0 else largest
        return out

    def tolerance_used(self) -> dict[str, float]:
        """Largest difference / allowed over all tensors: keras vs torch ("cross"), every
        implementation vs the oracle ("oracle"), and each onnxruntime column vs the side it
        exported (under its label, e.g. "onnxruntime[dynamo]")."""
        used = {"cross": max(t.worst.ratio for t in self.cross),
                "oracle": max(t.worst.ratio for t in self.keras_vs_oracle + self.torch_vs_oracle
                              + [d for c in self.onnx for d in c.vs_oracle])}
        used.update({c.run.label: max(t.worst.ratio for t in c.vs_source) for c in self.onnx})
        return used

    def summary(self) -> str:
        """One line: verdict, largest difference, share of the tolerance used and where."""
        extra = f"; {len(self.weights)} weight tensor(s) differ" if self.weights else ""
        extra += "".join(f"; known difference {d.name!r} ({', '.join(d.backends)})"
                         for d in self.known)
        sides = f" ({', '.join(self.implementations)})" if self.onnx else ""
        return summary_line(f"{self.what} {self.spec.kind}{sides}", self.ok, self.all_diffs, extra)

    def explain(self) -> str:
        """The full message, block by block (:mod:`parity.checks.messages`)."""
        return messages.explain(self)


def device_of(obj) -> str:
    """"cuda" or "cpu": where a torch module's weights or Keras' backend computes."""
    if torch_side.is_torch(obj):
        return torch_side.device_of(obj).type
    return keras_side.device()


def validated_pair(keras_obj, torch_obj) -> tuple[RecurrentSpec, Weights, object, Weights]:
    """Specs and weights of both, the torch object given Keras call semantics, validated."""
    if keras_side.is_keras2(keras_obj):
        raise keras_side.not_keras3(keras_obj, "keras_obj", "this check")
    if not keras_side.is_keras(keras_obj):
        raise TransferError("keras_obj", type(keras_obj).__name__,
                            "expected a Keras recurrent layer (or list/Sequential of them)")
    if not torch_side.is_torch(torch_obj):
        raise TransferError("torch_obj", type(torch_obj).__name__,
                            "expected a torch.nn.RNN, LSTM or GRU, or a parity.KerasRNN")
    check_finite_weights(keras_obj, "keras")
    check_finite_weights(torch_obj, "torch")
    spec, k_weights = transfer.read(keras_obj)
    check_computable(spec)
    module = torch_side.as_keras_like(torch_obj, spec)
    t_spec = torch_side.describe(module)
    transfer.check_compatible(spec, t_spec, src_reverses=True, dst_reverses=True)
    for flag in ("return_sequences", "return_state", "merge_mode", "zero_output_for_mask"):
        if getattr(spec, flag) != getattr(t_spec, flag):
            raise TransferError(flag, getattr(t_spec, flag),
                                f"the Keras layer has {flag}={getattr(spec, flag)}, so the two "
                                "return different things")
    return spec, k_weights, module, torch_side.read_weights(module)


def check_computable(spec: RecurrentSpec) -> None:
    """Refuse a dtype that Keras, on its current backend, does not compute in that precision (a
    float64 layer on JAX without ``JAX_ENABLE_X64`` runs in float32): the check would measure the
    backend's cast, not the port. The reason is the probe's
    (:func:`parity.checks.capabilities.keras_precision_reason`)."""
    from parity.checks.capabilities import keras_precision_reason  # it imports the cases

    reason = keras_precision_reason(spec.dtype)
    if reason is not None:
        raise UnsupportedConfig("dtype", spec.dtype, f"{reason}; this check would measure that, "
                                "not the port: check this dtype on Keras' TensorFlow backend",
                                where=f"a {spec.kind} layer")


def same_weights(a: Weights, b: Weights) -> bool:
    return all(np.array_equal(x, y) for wa, wb in zip(a, b)
               for x, y in zip(wa.arrays().values(), wb.arrays().values()))


def compare(keras_obj, torch_obj, x: np.ndarray,
            initial_state: Sequence[np.ndarray] | np.ndarray | None = None,
            mask: np.ndarray | None = None, *, context: str | None = None,
            onnx: bool | str | Sequence[str] = False) -> ParityReport:
    """Run both on ``x`` and the float64 oracle on each one's weights; report every returned tensor.

    A plain torch module is run with the Keras layer's call semantics (return flags,
    go_backwards, merge mode). With ``onnx`` a side is also exported to ONNX and run in
    onnxruntime (:mod:`parity.checks.onnx_runtime`): one more column per exporter, judged like
    the others, against the side it exported (as keras is against torch) and against the oracle.

    Args:
        keras_obj: a built Keras recurrent layer (or stack); a Keras 2 (tf-keras) one is described
            by its Keras 3 twin (:func:`parity.models.keras2.twin`) and run as itself.
        torch_obj: the torch module holding the same weights (``parity.KerasRNN`` or a plain
            ``nn.RNN``/``LSTM``/``GRU``).
        x: batch-first numpy array (batch, time, features) in the layer's dtype.
        initial_state: in any form Keras takes (one array for a one-state layer, or a list).
        mask: optional boolean (batch, time), True = keep.
        context: how to reproduce, quoted in a failure message.
        onnx: False; True for the torch side exported by ``torch.onnx.export``'s default
            exporter ("dynamo"); or one or several of "dynamo", "torchscript" (torch's tracing
            exporter, which also exports masks) and "tf2onnx" (the Keras side). Needs the
            ``onnx`` extra.

    Returns:
        A :class:`ParityReport` (``ok``, ``summary()``, ``explain()``); nothing is raised on a
        mismatch (see :func:`assert_parity`).

    Raises:
        TransferError: the two are not the same layer (options or weights' shapes differ).
        UnsupportedConfig: bad inputs (shape, dtype, NaN/Inf, initial state count or shape); with
            ``onnx``, a case the exporter or onnxruntime cannot run (naming the option).
        MissingDependency: ``onnx=True`` without the ``onnx`` extra installed.

    Examples:
        >>> import keras, numpy as np, parity
        >>> layer = keras.layers.SimpleRNN(2, return_sequences=True); layer.build((None, 5, 4))
        >>> module = parity.to_torch(layer)
        >>> x = np.eye(4, dtype="float32")[[0, 1, 2, 2, 3]][None]  # one-hot "hello"
        >>> report = parity.compare(layer, module, x)
        >>> report.ok, report.summary().startswith("Forward simple_rnn parity holds")
        (True, True)
    """
    exporters = onnx_runtime.exporters(onnx)
    original = keras_obj if keras2.is_keras2(keras_obj) else None
    with keras2.named_errors(original):
        if original is not None:  # described by its Keras 3 twin, run as itself
            keras_obj = keras2.twin(original)
            context = "; ".join(filter(None, [f"keras side: {keras2.label()}", context]))
        spec, k_weights, module, t_weights = validated_pair(keras_obj, torch_obj)
        inputs = CaseInputs.of(spec, x, initial_state, mask,
                               devices=(device_of(keras_obj), device_of(module)))
    runs = [onnx_runtime.run_exported(keras_obj if onnx_runtime.SOURCES[e] == "keras" else module,
                                      inputs.x, inputs.initial_state, inputs.mask, exporter=e)
            for e in exporters]
    k_out = (keras2.run(original, inputs.x, inputs.initial_state, inputs.mask)
             if original is not None else
             keras_side.run(keras_obj, inputs.x, inputs.initial_state, inputs.mask))
    t_out = torch_side.run(module, inputs.x, inputs.initial_state, inputs.mask)
    ref = reference(spec, k_weights, inputs)
    weights = weight_verdict.layer_mismatches(spec, k_weights, t_weights,
                                              TOLERANCES[spec.dtype].unit_roundoff)
    k_ref = ref.outputs
    t_ref = k_ref if same_weights(k_weights, t_weights) else \
        reference(spec, t_weights, inputs).outputs
    own = oracle_factor(spec.dtype)

    def diffs(a_name, a: Outputs, b_name, b: Outputs, scale: float) -> list[TensorDiff]:
        return [diff(n, a_name, v, b_name, b.named()[n], scale * ref.allowed[n])
                for n, v in a.named().items()]

    report = ParityReport(spec, diffs("keras", k_out, "torch", t_out, POLICY.cross),
                          diffs("keras", k_out, "oracle", k_ref, own),
                          diffs("torch", t_out, "oracle", t_ref, own),
                          weights, inputs.describe(), context, outer_bound=ref.outer_bound,
                          known=known_differences(spec, inputs.mask, inputs.initial_state))
    sides = {"keras": (k_out, k_ref), "torch": (t_out, t_ref)}
    for run in runs:
        # the graph holds the exported side's weights: judged against it and its oracle
        out, oracle_out = sides[run.source]
        report.onnx.append(OnnxColumn(run, diffs(run.label, run.outputs, run.source, out,
                                                 POLICY.cross),
                                      diffs(run.label, run.outputs, "oracle", oracle_out, own)))
    return report


def assert_parity(keras_obj, torch_obj, x: np.ndarray,
                  initial_state: Sequence[np.ndarray] | None = None,
                  mask: np.ndarray | None = None, *, context: str | None = None,
                  onnx: bool | str | Sequence[str] = False) -> ParityReport:
    """:func:`compare`, raising :class:`parity.ParityError` with an explanation on any mismatch.

    Args:
        keras_obj: as for :func:`compare`.
        torch_obj: as for :func:`compare`.
        x: as for :func:`compare`.
        initial_state: as for :func:`compare`.
        mask: as for :func:`compare`.
        context: as for :func:`compare`.
        onnx: as for :func:`compare`.

    Returns:
        The :class:`ParityReport` when parity holds.

    Raises:
        ParityError: where (batch, step, unit), by how much, which framework drifted from the
            float64 oracle, which weight differs, and how to reproduce; ``.report`` holds the
            report.
        TransferError, UnsupportedConfig, MissingDependency: as for :func:`compare`.

    Examples:
        >>> import keras, numpy as np, parity
        >>> layer = keras.layers.SimpleRNN(2, return_sequences=True); layer.build((None, 5, 4))
        >>> module = parity.to_torch(layer)
        >>> x = np.eye(4, dtype="float32")[[0, 1, 2, 2, 3]][None]  # one-hot "hello"
        >>> parity.assert_parity(layer, module, x).ok
        True
    """
    __tracebackhide__ = True
    with exercised.checking(checked_layers(keras_obj)[0], "forward", masked=mask is not None,
                            initial_state=initial_state is not None):
        report = compare(keras_obj, torch_obj, x, initial_state, mask, context=context, onnx=onnx)
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
    check_finite_weights(obj, "keras" if keras_side.is_keras(obj) else "torch")
    spec, weights = transfer.read(obj)
    inputs = CaseInputs.of(spec, x, initial_state, mask, devices=(device or device_of(obj),))
    ref = reference(spec, weights, inputs)
    own = oracle_factor(spec.dtype)
    return OracleBounds(spec, ref.outputs, {name: own * a for name, a in ref.allowed.items()})


@dataclass
class OracleReport:
    """One implementation's results against the float64 oracle (:func:`assert_within`,
    :func:`parity.checks.gradients.assert_torch_gradients_match_oracle`)."""

    spec: RecurrentSpec
    label: str
    diffs: list[TensorDiff]
    what: str = "outputs"
    note: str = ""
    nodeid: str | None = field(default_factory=lambda: os.environ.get("PYTEST_CURRENT_TEST"))

    @property
    def ok(self) -> bool:
        return all(d.ok for d in self.diffs)

    def summary(self) -> str:
        return summary_line(f"{self.what} vs float64 oracle", self.ok, self.diffs, self.note)

    def explain(self) -> str:
        failing = [d for d in self.diffs if not d.ok]
        lines = [f"{self.what} differ from the float64 oracle for {self.spec}{self.note}:"
                 if failing else f"{self.what} match the float64 oracle for {self.spec}{self.note}"]
        lines += messages.failing_headlines(failing)
        if self.nodeid and failing:
            lines.append(reproduce_line(self.nodeid))
        return "\n".join(lines)


def assert_within(bounds: OracleBounds, outputs: Outputs, *, label: str = "outputs") -> None:
    """Raise :class:`parity.ParityError` naming the worst element if ``outputs`` leave ``bounds``."""
    __tracebackhide__ = True
    raise_beyond_oracle(
        [diff(name, label, value, "oracle", bounds.reference.named()[name], bounds.allowed[name])
         for name, value in outputs.named().items()], bounds.spec, label, what=label)


def raise_beyond_oracle(diffs: Sequence[TensorDiff], spec: RecurrentSpec, label: str, *,
                        what: str, note: str = "") -> OracleReport:
    """Raise :class:`parity.ParityError` (carrying an :class:`OracleReport`) if any of ``diffs``
    (``label`` vs the oracle) is beyond its tolerance, naming the tensor, the count and the worst
    element; else return the report."""
    __tracebackhide__ = True
    report = OracleReport(spec, label, list(diffs), what, note)
    if not report.ok:
        raise ParityError(report.explain(), report)
    return report


def assert_matches_oracle(obj, outputs: Outputs, x: np.ndarray,
                          initial_state: Sequence[np.ndarray] | None = None,
                          mask: np.ndarray | None = None, *, label: str = "outputs") -> None:
    """Assert that ``outputs`` (computed some other way, e.g. one step at a time) equal what the
    float64 oracle gives for ``obj``'s spec and weights, within that dtype's tolerance."""
    __tracebackhide__ = True
    bounds = oracle_bounds(obj, x, initial_state, mask)
    with exercised.checking(bounds.spec, "forward", masked=mask is not None,
                            initial_state=initial_state is not None):
        assert_within(bounds, outputs, label=label)
