"""Forward parity of whole models (Keras model vs its torch port), judged against float64.

Reference: the torch model copied to float64. Noise: ``POLICY.model_runs`` more float64 copies with
the model dtype's rounding errors injected with random signs, as in :mod:`parity.models.training`: every
weight of a Dense or recurrent layer is scaled by ``1 + s sqrt(n) u`` (n = fan-in: probabilistic
growth of a dot product's error, :func:`parity.core.tolerances.perturbation_size`) and every such
layer's output by the same, at every time step, so it travels through the recurrence. What one
framework may miss the reference by is the policy's factor times those runs' root mean square
deviation, plus the storage rounding of the value (:func:`parity.core.tolerances.from_runs`); the
frameworks may differ by sqrt(2) times that. The recurrent layers themselves are checked far more
finely against the independent oracle (:mod:`parity.checks.compare`); this check is about the model: the
transfer of every layer and the mask flowing between them.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from parity.checks import messages, onnx_runtime
from parity.checks.compare import TensorDiff, diff
from parity.core import exercised, inputs
from parity.core.errors import ParityError
from parity.core.frameworks import keras
from parity.core.mismatch import summary_line
from parity.core.tolerances import POLICY, TOLERANCES, from_runs, pooled
from parity.models import blocks as models
from parity.models import chains, keras2, keras_blocks
from parity.models.perturbation import PATTERNS, SEED, Perturbation
from parity.models.training import predict
from parity.models.training_runs import as_torch_model, dtype_name
from parity.models.training_start import weight_mismatches


def _reference_outputs(torch_model, x: np.ndarray, u: float) -> tuple[np.ndarray, list[np.ndarray]]:
    reference = copy.deepcopy(torch_model).double()
    outputs = []
    for k, pattern in enumerate(PATTERNS):
        module = copy.deepcopy(reference)
        noise = Perturbation(pattern, u, SEED + k)
        noise.weights(module)
        noise.attach(module)
        outputs.append(predict(module, x))
    return predict(reference, x), outputs


def compare_models(keras_model, torch_model, x: np.ndarray, *,
                   onnx: bool | str | Sequence[str] = False) -> list[TensorDiff]:
    """keras vs torch, keras vs reference, torch vs reference, on the models' outputs for ``x``;
    with ``onnx``, also each onnxruntime column (the exported model) vs the side it exported and
    vs the reference.

    Args:
        keras_model: a built Keras model of supported layers (a Keras 2 (tf-keras) one is
            described by its Keras 3 twin and run as itself).
        torch_model: its port (``parity.KerasSequential`` or an ``nn.Sequential``).
        x: token ids (batch, time) or features (batch, time, features).
        onnx: exporters, as for :func:`parity.compare` (True: the torch model by
            ``torch.onnx.export``'s default exporter; "torchscript" also exports a model that
            masks its ids; "tf2onnx" the Keras model), run by
            :func:`parity.checks.onnx_runtime.run_exported_model`. Needs the ``onnx`` extra.

    Returns:
        The three comparisons (two more per exporter; :class:`parity.core.mismatch.TensorDiff`),
        each with its worst element and the allowed difference.

    Raises:
        TransferError: the two models differ in structure.
        UnsupportedConfig: bad inputs (NaN/Inf features, shapes); with ``onnx``, a model the
            exporter or onnxruntime cannot run.
        MissingDependency: ``onnx=True`` without the ``onnx`` extra.

    Examples:
        >>> import keras, numpy as np, parity
        >>> model = keras.Sequential([keras.Input((6,), dtype="int32"),
        ...                           keras.layers.Embedding(11, 4, mask_zero=True),
        ...                           keras.layers.SimpleRNN(5), keras.layers.Dense(2)])
        >>> torch_model = parity.to_torch(model)
        >>> ids = np.array([[3, 4, 5, 0, 0, 0], [1, 2, 3, 4, 5, 6]])
        >>> [d.ok for d in parity.compare_models(model, torch_model, ids)]
        [True, True, True]
    """
    if np.issubdtype(np.asarray(x).dtype, np.floating):  # features; token ids are integers
        inputs.check_finite("x", x, ("batch", "step", "feature"))
    exporters = onnx_runtime.exporters(onnx)
    torch_model = as_torch_model(torch_model)
    inputs.check_finite_weights(keras_model, "keras")
    inputs.check_finite_weights(torch_model, "torch")
    with keras2.named_errors(keras_model):
        described = keras2.as_keras3(keras_model)
        chains.check_same_blocks(chains.read(described)[0], chains.read(torch_model)[0])
    sources = {"keras": described, "torch": torch_model}
    runs = [onnx_runtime.run_exported_model(sources[onnx_runtime.SOURCES[e]], x, exporter=e)
            for e in exporters]
    ref, allowed = output_tolerance(torch_model, x)
    k = keras2.predict(keras_model, x) if keras2.is_keras2(keras_model) else predict(keras_model, x)
    t = predict(torch_model, x)
    axes = ("batch", "step", "unit") if ref.ndim == 3 else ("batch", "unit")
    diffs = [diff("output", "keras", k, "torch", t, POLICY.cross * allowed, axis_names=axes),
             diff("output", "keras", k, "float64 reference", ref, allowed, axis_names=axes),
             diff("output", "torch", t, "float64 reference", ref, allowed, axis_names=axes)]
    for run in runs:
        o = run.outputs.output
        diffs += [diff("output", run.label, o, run.source, {"keras": k, "torch": t}[run.source],
                       POLICY.cross * allowed, axis_names=axes),
                  diff("output", run.label, o, "float64 reference", ref, allowed,
                       axis_names=axes)]
    return diffs


def output_tolerance(torch_model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The float64 reference output of ``torch_model`` (a model port) on ``x``, and per element
    what one implementation in the model's dtype may miss it by (the module docstring says how);
    two implementations may differ by ``POLICY.cross`` times that."""
    torch_model = as_torch_model(torch_model)
    dtype = dtype_name(torch_model)
    ref, perturbed = _reference_outputs(torch_model, x, TOLERANCES[dtype].unit_roundoff)
    # the last layer's activation is each framework's own approximation
    return ref, pooled(from_runs(ref, perturbed, dtype, activation=True),
                       steps_axis=ref.ndim == 3, window=0)


class ModelReport(list):
    """The diffs of :func:`compare_models` (keras vs torch, each vs the float64 reference; still a
    list of :class:`TensorDiff`, as before) with the weights that differ beyond what the transfer
    allows, following the report protocol (``ok``, ``summary()``, ``explain()``)."""

    def __init__(self, diffs, weights=(), context: str = "") -> None:
        super().__init__(diffs)
        self.weights, self.context = list(weights), context

    @property
    def ok(self) -> bool:
        return not self.weights and all(d.ok for d in self)

    def summary(self) -> str:
        extra = f"; {len(self.weights)} weight(s) differ" if self.weights else ""
        columns = [d.a_name for d in self if d.a_name.startswith("onnxruntime")][::2]
        sides = f" ({', '.join(['keras', 'torch', *columns])})" if columns else ""
        return summary_line(f"model{sides}", self.ok, list(self), extra)

    def explain(self) -> str:
        lines = [f"model parity check {'failed' if not self.ok else 'passed'}: {self.summary()}"]
        lines += [f"  weights differ beyond what the transfer allows: {w}" for w in self.weights[:8]]
        lines += messages.failing_headlines(self)
        if self.context:
            lines.append(f"reproduce: {self.context}")
        return "\n".join(lines)


def assert_model_parity(keras_model, torch_model, x: np.ndarray, *, context: str = "",
                        onnx: bool | str | Sequence[str] = False) -> ModelReport:
    """:func:`compare_models`, raising :class:`parity.ParityError` naming (batch, step, unit) of
    the worst element, both values and the allowed difference, or the first weight element that
    differs beyond what the transfer allows (:func:`weight_mismatches`).

    Args:
        keras_model: as for :func:`compare_models`.
        torch_model: as for :func:`compare_models`.
        x: as for :func:`compare_models`.
        context: how to reproduce, quoted in a failure message.
        onnx: as for :func:`compare_models`.

    Returns:
        A :class:`ModelReport` (``ok``, ``summary()``, ``explain()``) when parity holds.

    Raises:
        ParityError: outputs or weights differ beyond what is allowed.
        UnsupportedConfig, MissingDependency: with ``onnx``, as for :func:`compare_models`.

    Examples:
        >>> import keras, numpy as np, parity
        >>> model = keras.Sequential([keras.Input((6,), dtype="int32"),
        ...                           keras.layers.Embedding(11, 4, mask_zero=True),
        ...                           keras.layers.SimpleRNN(5), keras.layers.Dense(2)])
        >>> torch_model = parity.to_torch(model)
        >>> ids = np.array([[3, 4, 5, 0, 0, 0], [1, 2, 3, 4, 5, 6]])
        >>> parity.assert_model_parity(model, torch_model, ids).ok
        True
    """
    # a Keras 2 model's twin holds its weights bit for bit (checked as it is filled)
    described = keras2.as_keras3(keras_model)
    specs, masked = chains.checked_layers(keras_model)
    with exercised.checking(specs, "forward", masked=masked):
        report = ModelReport(compare_models(keras_model, torch_model, x, onnx=onnx),
                             weight_mismatches(described, torch_model), context)
        if not report.ok:
            raise ParityError(report.explain(), report)
    return report


@dataclass(frozen=True)
class ModelCase:
    """A whole model (as blocks), a seed for Keras' initialisers and token ids (0 = padding)."""

    blocks: tuple
    ids: np.ndarray
    seed: int

    def keras_model(self):
        keras.utils.set_random_seed(self.seed)
        model = keras_blocks.build_keras(self.blocks)
        if isinstance(self.blocks[0], models.Embedding):
            # dense random embeddings: the one-hot of the seed would hide transposition bugs
            rng = np.random.default_rng(self.seed)
            layer = model.layers[0]
            layer.embeddings.assign(rng.uniform(-1, 1, tuple(layer.embeddings.shape))
                                    .astype(layer.embeddings.dtype))
        return model

    def __repr__(self) -> str:
        return (f"ModelCase(blocks={self.blocks!r}, ids=np.array({self.ids.tolist()}), "
                f"seed={self.seed})")
