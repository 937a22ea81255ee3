"""ONNX Runtime as a further implementation: a case's torch side (``torch.onnx.export``) or Keras
side (tf2onnx) exported to ONNX and run by onnxruntime, as a deployed model runs.

What is exported is the layer with Keras' call semantics (the Keras layer itself, or the torch
module as :class:`parity.KerasRNN` runs it) on the case's own input. The graph's inputs are ``x``,
each initial state (Keras order) and, where the exporter keeps it, the mask; its outputs are what
the Keras layer returns. The exporters (``compare(..., onnx=...)`` names them):

- ``"dynamo"``, ``torch.onnx.export``'s default (``torch.export`` then onnxscript): recurrent
  modules become ONNX's ``RNN``/``LSTM``/``GRU`` operators or their decomposition. It cannot trace
  a mask: the module reads the mask's values to choose torch's packed sequences (right padding)
  or a step loop (any other pattern), so a masked case is refused with :class:`UnsupportedConfig`.
- ``"torchscript"``, torch's tracing exporter (``dynamo=False``): a mask with gaps stays a graph
  input (the unrolled step loop reads it); a right-padded mask picks the packed-sequence path,
  whose lengths the trace records as constants, so that graph holds for this mask only
  (:attr:`OnnxRun.mask_constant`).
- ``"tf2onnx"``, the Keras layer traced by ``tf.function`` and converted by tf2onnx (Keras on its
  TensorFlow backend): SimpleRNN and GRU become ``Loop``, LSTM the ``LSTM`` operator where it can;
  the mask stays a graph input.

Every graph runs in a fresh ``InferenceSession`` on the CPU execution provider with onnxruntime's
default graph optimisation level, ``ORT_ENABLE_ALL`` (what a deployed session runs), and the
thread count torch uses. What ran is recorded in :class:`OnnxRun`. A dtype the runtime has no
kernel for (float64 ``LSTM``, for one) is an :class:`UnsupportedConfig`, never a pass.

One module on purpose: choosing the exporters, exporting and running the session are one
pipeline this docstring describes together, and the tests and ``scripts/onnx_columns.py``
replace ``export``, ``_torch_export`` and ``_tf2onnx_model`` in place to see what the runs call.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import io
import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from parity.core.errors import MissingDependency, UnsupportedConfig
from parity.core.frameworks import keras, torch
from parity.core.inputs import CaseInputs
from parity.core.spec import Outputs
from parity.layers import keras_side, torch_side, transfer

# the packages of the onnx extra (pip install -e '.[onnx]' from a checkout)
INSTALL = "pip install onnx onnxruntime onnxscript tf2onnx"
# exporter -> the side it exports
SOURCES = {"dynamo": "torch", "torchscript": "torch", "tf2onnx": "keras"}
EXPORTERS = tuple(SOURCES)
# what each exporter needs (onnx: the model format; the dynamo exporter writes it with onnxscript)
PACKAGES = {"dynamo": ("onnx", "onnxruntime", "onnxscript"), "torchscript": ("onnx", "onnxruntime"),
            "tf2onnx": ("onnx", "onnxruntime", "tf2onnx")}
OPTIMIZATION = "ORT_ENABLE_ALL"  # onnxruntime's default for an InferenceSession
TF2ONNX_OPSET = 17  # tf2onnx's newest tested opset in 1.17; torch's exporters choose their own


def exporters(onnx) -> tuple[str, ...]:
    """The exporters an ``onnx=`` option asks for: False none, True ``torch.onnx.export``'s default
    ("dynamo"), or one name or a sequence of names from :data:`EXPORTERS`.

    Args:
        onnx: False, True, an exporter's name, or a sequence of them.

    Returns:
        The exporters, in the order given.

    Raises:
        UnsupportedConfig: anything else (an unknown name, a repeated one, a number).

    Examples:
        >>> from parity.checks.onnx_runtime import exporters
        >>> exporters(True), exporters(("torchscript", "tf2onnx")), exporters(False)
        (('dynamo',), ('torchscript', 'tf2onnx'), ())
    """
    if onnx is False or onnx is None:
        return ()
    if onnx is True:
        return ("dynamo",)
    names = (onnx,) if isinstance(onnx, str) else onnx
    if not isinstance(names, Sequence) or not names or len(set(names)) != len(names) or any(
            n not in EXPORTERS for n in names):
        raise UnsupportedConfig("onnx", onnx, f"True (torch.onnx.export's default exporter), or "
                                f"one or more distinct exporters of {EXPORTERS}")
    return tuple(names)


def label(exporter: str) -> str:
    """The name a report gives onnxruntime running ``exporter``'s graph: ``onnxruntime[dynamo]``."""
    return f"onnxruntime[{exporter}]"


def missing_reason(exporter: str = "dynamo") -> str | None:
    """None if what ``exporter`` needs is installed, else a sentence naming what is missing and
    how to install it (a skip reason).

    Args:
        exporter: one of :data:`EXPORTERS`.

    Returns:
        None, or the reason.

    Raises:
        UnsupportedConfig: an unknown exporter.

    Examples:
        >>> from parity.checks.onnx_runtime import missing_reason
        >>> reason = missing_reason("torchscript")
        >>> reason is None or reason.endswith("pip install onnx onnxruntime onnxscript tf2onnx")
        True
    """
    exporters(exporter)  # validates the name
    missing = [p for p in PACKAGES[exporter] if importlib.util.find_spec(p) is None]
    if not missing:
        return None
    return (f"ONNX Runtime checks ({exporter}) need {', '.join(missing)} (not installed); install "
            f"them with {INSTALL}")


def _runtime(exporter: str):
    reason = missing_reason(exporter)
    if reason:
        raise MissingDependency("onnx", exporter, reason)
    return importlib.import_module("onnxruntime")


@dataclass(frozen=True)
class OnnxRun:
    """One case exported and run in onnxruntime: its outputs and what produced them.

    Examples:
        >>> import numpy as np, parity
        >>> from parity.checks.onnx_runtime import run_exported
        >>> spec = parity.RecurrentSpec("gru", units=3, input_size=2, return_sequences=True)
        >>> run = run_exported(parity.KerasRNN(spec), np.zeros((1, 4, 2), "float32"))
        >>> run.outputs.output.shape, run.label, run.source, run.optimization
        ((1, 4, 3), 'onnxruntime[dynamo]', 'torch', 'ORT_ENABLE_ALL')
    """

    outputs: Outputs
    exporter: str
    opset: int
    operators: tuple[str, ...]
    graph_inputs: tuple[str, ...]
    optimization: str
    export_seconds: float  # wall-clock time of the export alone
    versions: str
    mask_constant: bool = False  # a mask was given but the graph holds it as constants

    @property
    def source(self) -> str:
        """The side that was exported: "torch" or "keras"."""
        return SOURCES[self.exporter]

    @property
    def label(self) -> str:
        return label(self.exporter)

    def describe(self) -> str:
        """One line: runtime, exporter, opset, the graph's recurrent operators and inputs."""
        recurrent = [op for op in self.operators if op in ("RNN", "LSTM", "GRU", "Loop", "Scan")]
        how = "tf2onnx" if self.exporter == "tf2onnx" else f"torch.onnx.export ({self.exporter})"
        constant = "; the mask is a constant of the graph" if self.mask_constant else ""
        return (f"{self.versions}; {self.source} side exported by {how}, opset {self.opset}, "
                f"{'/'.join(recurrent) or 'unrolled'} ops, graph inputs "
                f"{', '.join(self.graph_inputs)}{constant}; CPU execution provider, "
                f"{self.optimization}")


class _Exported(torch.nn.Module):
    """``module`` with positional tensors only (what torch's exporters take): x, the initial
    states, then the mask."""

    def __init__(self, module, states: int, has_mask: bool) -> None:
        super().__init__()
        self.module, self.states, self.has_mask = module, states, has_mask

    def forward(self, x, *rest):
        states = list(rest[:self.states]) or None
        return self.module(x, states, rest[self.states] if self.has_mask else None)


def _names(inputs: CaseInputs) -> list[str]:
    return (["x"] + [f"initial_state_{i}" for i in range(len(inputs.initial_state or ()))]
            + (["mask"] if inputs.mask is not None else []))


def _feeds(inputs: CaseInputs) -> dict[str, np.ndarray]:
    return dict(zip(_names(inputs), (inputs.x, *(inputs.initial_state or ()),
                                     *(() if inputs.mask is None else (inputs.mask,)))))


def export(obj, inputs: CaseInputs, exporter: str = "dynamo") -> bytes:
    """The serialized ONNX model of one side of a case traced on ``inputs``: a
    ``parity.KerasRNN`` (on the CPU) for torch's exporters, a Keras layer for tf2onnx.

    Args:
        obj: what ``exporter`` exports (see :data:`SOURCES`).
        inputs: the validated case inputs (:class:`parity.core.inputs.CaseInputs`).
        exporter: one of :data:`EXPORTERS`; ``"dynamo"`` is ``torch.onnx.export``'s default.

    Returns:
        The model's bytes.

    Raises:
        MissingDependency: a package the exporter needs is not installed.
        UnsupportedConfig: the exporter cannot export this case (a mask with dynamo, Keras off
            its TensorFlow backend with tf2onnx; anything the exporter refuses, with its reason).

    Examples:
        >>> import numpy as np, onnx, parity
        >>> from parity.checks.onnx_runtime import export
        >>> from parity.core.inputs import CaseInputs
        >>> spec = parity.RecurrentSpec("lstm", units=3, input_size=2)
        >>> inputs = CaseInputs.of(spec, np.zeros((1, 4, 2), "float32"))
        >>> model = onnx.load_from_string(export(parity.KerasRNN(spec), inputs, "torchscript"))
        >>> [i.name for i in model.graph.input]
        ['x']
    """
    _runtime(exporter)
    if exporter == "tf2onnx":
        return _tf2onnx(obj, inputs)
    if exporter == "dynamo" and inputs.mask is not None:
        raise UnsupportedConfig(
            "mask", f"{int(np.sum(~inputs.mask))} of {inputs.mask.size} steps masked",
            "the dynamo exporter (torch.onnx.export's default) cannot trace parity.KerasRNN's mask "
            "handling, which reads the mask's values to choose packed sequences or a step loop; "
            "export with onnx='torchscript' (or 'tf2onnx', the Keras side), or compare without a "
            "mask")
    args = tuple(torch.from_numpy(a) if a.dtype == np.bool_ else torch_side.to_tensor(a)
                 for a in _feeds(inputs).values())
    wrapped = _Exported(obj, len(inputs.initial_state or ()), inputs.mask is not None).eval()
    return _torch_export(wrapped, args, _names(inputs), exporter, str(obj.spec))


def _quiet(logger_name: str):
    """Raise a logger to ERROR for the duration: exporters log notices about themselves
    (tracer warnings, skipped optional operators), not about the case."""
    log = logging.getLogger(logger_name)

    class Quiet:
        def __enter__(self):
            self.level = log.level
            log.setLevel(logging.ERROR)

        def __exit__(self, *exc):
            log.setLevel(self.level)

    return Quiet()


def _refused(exporter: str, what: str, error: Exception) -> UnsupportedConfig:
    root = error
    while root.__cause__ is not None:  # exporters wrap the reason in their own advice
        root = root.__cause__
    first = str(root).strip().splitlines()[0] if str(root).strip() else ""
    hint = ("; the torchscript exporter traces these inputs' path: onnx='torchscript'"
            if exporter == "dynamo" else "")
    return UnsupportedConfig("onnx", exporter, f"the exporter could not export {what}: "
                             f"{type(root).__name__}: {first[:300]}{hint}")


def _torch_export(module, args: tuple, names: list[str], exporter: str, what: str) -> bytes:
    try:
        with _quiet("torch.onnx"), warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            if exporter == "dynamo":
                program = torch.onnx.export(module, args, dynamo=True, input_names=names,
                                            verbose=False)
                return program.model_proto.SerializeToString()
            buffer = io.BytesIO()
            torch.onnx.export(module, args, buffer, dynamo=False, input_names=names)
            return buffer.getvalue()
    except Exception as error:  # noqa: BLE001 - any exporter failure is this case's limitation
        raise _refused(exporter, what, error) from error


def _tf2onnx(obj, inputs: CaseInputs) -> bytes:
    """The Keras side through ``tf.function`` and tf2onnx (TensorFlow backend only)."""
    if keras.backend.backend() != "tensorflow":
        raise UnsupportedConfig("onnx", "tf2onnx", "tf2onnx converts TensorFlow graphs; Keras runs "
                                f"on its {keras.backend.backend()} backend here: export the torch "
                                "side (onnx='dynamo' or 'torchscript')")
    import tensorflow as tf
    tf2onnx = importlib.import_module("tf2onnx")
    feeds = _feeds(inputs)
    signature = [tf.TensorSpec(a.shape, tf.as_dtype(a.dtype), name=n) for n, a in feeds.items()]
    states = len(inputs.initial_state or ())

    def call(x, *rest):
        mask = rest[states] if inputs.mask is not None else None
        return keras_side.call(obj, x, list(rest[:states]) or None, mask)

    try:
        with _quiet("tf2onnx"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            proto, _ = tf2onnx.convert.from_function(
                tf.function(call, input_signature=signature), input_signature=signature,
                opset=TF2ONNX_OPSET)
    except Exception as error:  # noqa: BLE001
        raise _refused("tf2onnx", type(obj).__name__, error) from error
    return proto.SerializeToString()


def _session_run(ort, model: bytes, feeds: dict, dtype: str, what: str,
                 exporter: str) -> tuple[list, dict]:
    """Run ``model`` in a fresh session on the graph's inputs among ``feeds``; the outputs, and
    what describes the run (an :class:`OnnxRun`'s fields)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, OPTIMIZATION)
    options.intra_op_num_threads = torch.get_num_threads()
    options.log_severity_level = 4  # a failing kernel is raised below, not also logged
    try:
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        graph_inputs = tuple(i.name for i in session.get_inputs())
        arrays = session.run(None, {name: feeds[name] for name in graph_inputs})
    except Exception as error:  # noqa: BLE001 - a missing kernel is the runtime's limitation
        if dtype == "float32":
            raise  # onnxruntime runs float32 recurrent layers: a failure there is a finding
        raise UnsupportedConfig("dtype", dtype, f"onnxruntime {ort.__version__} (CPU) cannot "
                                f"run {what}: {str(error)[:300]}") from error
    onnx = importlib.import_module("onnx")
    proto = onnx.load_from_string(model)
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    made_by = (f"tf2onnx {importlib.import_module('tf2onnx').__version__}" if exporter == "tf2onnx"
               else f"torch {torch.__version__}")
    return arrays, dict(
        opset=opset, operators=tuple(sorted({n.op_type for n in proto.graph.node})),
        graph_inputs=graph_inputs, optimization=OPTIMIZATION,
        versions=f"onnxruntime {ort.__version__}, onnx {onnx.__version__}, {made_by}")


def run_exported(obj, x: np.ndarray, initial_state: Sequence[np.ndarray] | None = None,
                 mask: np.ndarray | None = None, *, exporter: str = "dynamo") -> OnnxRun:
    """Export one side of a case on these inputs and run the graph in onnxruntime (CPU execution
    provider, ``ORT_ENABLE_ALL``).

    Args:
        obj: a ``parity.KerasRNN`` for torch's exporters (a module on a GPU is exported from a
            CPU copy); a Keras recurrent layer for ``"tf2onnx"``.
        x: batch-first input in the layer's dtype.
        initial_state: Keras order, as for :func:`parity.compare`.
        mask: boolean (batch, time), True = keep.
        exporter: one of :data:`EXPORTERS` (default ``"dynamo"``, as ``torch.onnx.export``).

    Returns:
        An :class:`OnnxRun`: outputs in the layer's return order, and what produced them.

    Raises:
        MissingDependency: the ``onnx`` extra is not installed.
        UnsupportedConfig: the case cannot be exported, or onnxruntime has no kernel for its dtype.

    Examples:
        >>> import numpy as np, parity
        >>> from parity.checks.onnx_runtime import run_exported
        >>> spec = parity.RecurrentSpec("lstm", units=3, input_size=2, return_state=True)
        >>> run = run_exported(parity.KerasRNN(spec), np.ones((2, 4, 2), "float32"),
        ...                    exporter="torchscript")
        >>> [a.shape for a in run.outputs.named().values()]
        [(2, 3), (2, 3), (2, 3)]
    """
    ort = _runtime(exporter)
    if SOURCES[exporter] == "keras":
        spec = transfer.read(obj)[0]
    else:
        spec = obj.spec
        if torch_side.device_of(obj).type != "cpu":
            obj = copy.deepcopy(obj).cpu()
    inputs = CaseInputs.of(spec, x, initial_state, mask)
    start = time.perf_counter()
    model = export(obj, inputs, exporter)
    seconds = time.perf_counter() - start
    arrays, run = _session_run(ort, model, _feeds(inputs), spec.dtype, f"this {spec.kind} graph",
                               exporter)
    arrays = [np.asarray(a) for a in arrays]
    if spec.bidirectional and spec.merge_mode is None:
        outputs = Outputs((arrays[0], arrays[1]), tuple(arrays[2:]))
    else:
        outputs = Outputs(arrays[0], tuple(arrays[1:]))
    return OnnxRun(outputs, exporter, export_seconds=seconds,
                   mask_constant=inputs.mask is not None and "mask" not in run["graph_inputs"],
                   **run)


def run_exported_model(model, x: np.ndarray, *, exporter: str = "dynamo") -> OnnxRun:
    """Export a whole model on ``x`` and run it in onnxruntime; ``outputs.output`` is the model's
    output. Torch's exporters take the torch model (``parity.to_torch`` of a Keras model, or an
    ``nn.Sequential``), run in inference mode; tf2onnx takes the Keras model.

    Args:
        model: the model to export, its weights on the CPU.
        x: token ids (batch, time) or features (batch, time, features), as the model takes them.
        exporter: one of :data:`EXPORTERS`. A torch model that masks its input
            (``Embedding(mask_zero=True)``) reads the mask's values, which only the torchscript
            exporter traces.

    Returns:
        An :class:`OnnxRun`.

    Raises:
        MissingDependency: the ``onnx`` extra is not installed.
        UnsupportedConfig: the exporter cannot export the model, or onnxruntime cannot run it.

    Examples:
        >>> import keras, numpy as np, parity
        >>> from parity.checks.onnx_runtime import run_exported_model
        >>> model = keras.Sequential([keras.Input((6,), dtype="int32"),
        ...                           keras.layers.Embedding(11, 4), keras.layers.LSTM(5)])
        >>> ids = np.array([[3, 4, 5, 0, 0, 0], [1, 2, 3, 4, 5, 6]])
        >>> torch_model = parity.to_torch(model)
        >>> run_exported_model(torch_model, ids, exporter="torchscript").outputs.output.shape
        (2, 5)
    """
    ort = _runtime(exporter)
    x = np.asarray(x)
    if SOURCES[exporter] == "keras":
        dtype = keras.backend.standardize_dtype(model.layers[-1].compute_dtype)
    else:
        dtype = torch_side.DTYPE_NAMES[next(p.dtype for p in model.parameters()
                                            if p.is_floating_point())]
    integer = np.issubdtype(x.dtype, np.integer)
    # torch's Embedding takes int64 ids, Keras' Input here int32
    x = x.astype(np.int64 if SOURCES[exporter] == "torch" else np.int32) if integer else \
        np.ascontiguousarray(x, dtype=dtype)
    start = time.perf_counter()
    if exporter == "tf2onnx":
        graph = _tf2onnx_model(model, x)
    else:
        was_training = model.training
        model.eval()
        try:
            graph = _torch_export(model, (torch.from_numpy(x),), ["x"], exporter,
                                  type(model).__name__)
        finally:
            model.train(was_training)
    seconds = time.perf_counter() - start
    arrays, run = _session_run(ort, graph, {"x": x}, dtype, "this model", exporter)
    return OnnxRun(Outputs(np.asarray(arrays[0]), ()), exporter, export_seconds=seconds, **run)


def _tf2onnx_model(model, x: np.ndarray) -> bytes:
    if keras.backend.backend() != "tensorflow":
        raise UnsupportedConfig("onnx", "tf2onnx", "tf2onnx converts TensorFlow graphs; Keras runs "
                                f"on its {keras.backend.backend()} backend here")
    import tensorflow as tf
    tf2onnx = importlib.import_module("tf2onnx")
    signature = [tf.TensorSpec(x.shape, tf.as_dtype(x.dtype), name="x")]
    try:
        with _quiet("tf2onnx"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            proto, _ = tf2onnx.convert.from_function(
                tf.function(lambda ids: model(ids, training=False), input_signature=signature),
                input_signature=signature, opset=TF2ONNX_OPSET)
    except Exception as error:  # noqa: BLE001
        raise _refused("tf2onnx", type(model).__name__, error) from error
    return proto.SerializeToString()
