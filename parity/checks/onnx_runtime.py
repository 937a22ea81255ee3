"""ONNX Runtime as a third implementation: the torch side of a case, exported with
``torch.onnx.export`` and run by onnxruntime, as a deployed model runs.

What is exported is the module with Keras call semantics (:class:`parity.KerasRNN`, or a plain
``nn.RNN``/``LSTM``/``GRU`` given them) on the case's own input. Its graph inputs are ``x``, each
initial state (Keras order) and, where the exporter keeps it, the mask; its outputs are what the
Keras layer returns. Two exporters:

- ``"dynamo"``, ``torch.onnx.export``'s default (``torch.export`` then onnxscript): recurrent
  layers become ONNX's ``RNN``/``LSTM``/``GRU`` operators or their decomposition. It cannot trace a
  mask: the module reads the mask's values to choose torch's packed sequences (right padding) or a
  step loop (any other pattern), so a masked case is refused with :class:`UnsupportedConfig`.
- ``"torchscript"``, the tracing exporter (``dynamo=False``): a mask with gaps stays a graph input
  (the unrolled step loop reads it); a right-padded mask picks the packed-sequence path, whose
  lengths the trace records as constants, so that graph holds for this mask only.

Every graph runs in a fresh ``InferenceSession`` on the CPU execution provider with onnxruntime's
default graph optimisation level, ``ORT_ENABLE_ALL`` (what a deployed session runs), and the
thread count torch uses. What ran is recorded in :class:`OnnxRun`. A dtype the runtime has no
kernel for (float64 ``LSTM``, for one) is an :class:`UnsupportedConfig`, never a pass.
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
from parity.core.frameworks import torch
from parity.core.inputs import CaseInputs
from parity.core.spec import Outputs
from parity.layers import torch_side

INSTALL = "pip install 'rnn-parity[onnx]'"
EXPORTERS = ("dynamo", "torchscript")
# the packages each exporter needs (onnx: the model format; the dynamo exporter writes it with
# onnxscript)
PACKAGES = {"dynamo": ("onnx", "onnxruntime", "onnxscript"), "torchscript": ("onnx", "onnxruntime")}
OPTIMIZATION = "ORT_ENABLE_ALL"  # onnxruntime's default for an InferenceSession


def missing_reason(exporter: str = "dynamo") -> str | None:
    """None if what ``exporter`` needs is installed, else a sentence naming what is missing and
    how to install it (a skip reason).

    Args:
        exporter: ``"dynamo"`` or ``"torchscript"``.

    Returns:
        None, or the reason.

    Raises:
        UnsupportedConfig: an unknown exporter.

    Examples:
        >>> from parity.checks.onnx_runtime import missing_reason
        >>> reason = missing_reason("torchscript")
        >>> reason is None or reason.endswith("pip install 'rnn-parity[onnx]'")
        True
    """
    if exporter not in EXPORTERS:
        raise UnsupportedConfig("onnx_exporter", exporter, f"one of {EXPORTERS}")
    missing = [p for p in PACKAGES[exporter] if importlib.util.find_spec(p) is None]
    if not missing:
        return None
    return (f"ONNX Runtime checks need {', '.join(missing)} (not installed); install them with "
            f"{INSTALL}")


def _runtime(exporter: str):
    reason = missing_reason(exporter)
    if reason:
        raise MissingDependency("onnx", "not installed", reason)
    return importlib.import_module("onnxruntime")


@dataclass(frozen=True)
class OnnxRun:
    """One case exported and run in onnxruntime: its outputs and what produced them.

    Examples:
        >>> import numpy as np, parity
        >>> from parity.checks.onnx_runtime import run_exported
        >>> spec = parity.RecurrentSpec("gru", units=3, input_size=2, return_sequences=True)
        >>> run = run_exported(parity.KerasRNN(spec), np.zeros((1, 4, 2), "float32"))
        >>> run.outputs.output.shape, run.optimization
        ((1, 4, 3), 'ORT_ENABLE_ALL')
    """

    outputs: Outputs
    exporter: str
    opset: int
    operators: tuple[str, ...]
    graph_inputs: tuple[str, ...]
    optimization: str
    export_seconds: float
    versions: str
    mask_constant: bool = False  # a mask was given but the graph holds it as constants

    def describe(self) -> str:
        """One line: runtime, exporter, opset, the graph's recurrent operators and inputs."""
        recurrent = [op for op in self.operators if op in ("RNN", "LSTM", "GRU", "Loop", "Scan")]
        constant = "; the mask is a constant of the graph" if self.mask_constant else ""
        return (f"{self.versions}; torch.onnx.export ({self.exporter}, opset {self.opset}, "
                f"{'/'.join(recurrent) or 'unrolled'} ops, graph inputs "
                f"{', '.join(self.graph_inputs)}{constant}); CPU execution provider, "
                f"{self.optimization}")


class _Exported(torch.nn.Module):
    """``module`` with positional tensors only (what the exporters take): x, the initial states,
    then the mask."""

    def __init__(self, module, states: int, has_mask: bool) -> None:
        super().__init__()
        self.module, self.states, self.has_mask = module, states, has_mask

    def forward(self, x, *rest):
        states = list(rest[:self.states]) or None
        return self.module(x, states, rest[self.states] if self.has_mask else None)


def export(module, inputs: CaseInputs, exporter: str = "dynamo") -> bytes:
    """The serialized ONNX model of ``module`` (a ``parity.KerasRNN`` on the CPU) traced on
    ``inputs``.

    Args:
        module: a ``parity.KerasRNN`` whose weights are on the CPU.
        inputs: the validated case inputs (:class:`parity.core.inputs.CaseInputs`).
        exporter: ``"dynamo"`` (``torch.onnx.export``'s default) or ``"torchscript"``.

    Returns:
        The model's bytes.

    Raises:
        MissingDependency: onnx, onnxruntime (or onnxscript, for dynamo) are not installed.
        UnsupportedConfig: the exporter cannot export this case (a mask with dynamo; anything the
            exporter refuses, with its message).

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
    if exporter == "dynamo" and inputs.mask is not None:
        raise UnsupportedConfig(
            "mask", f"{int(np.sum(~inputs.mask))} of {inputs.mask.size} steps masked",
            "the dynamo exporter (torch.onnx.export's default) cannot trace parity.KerasRNN's mask "
            "handling, which reads the mask's values to choose packed sequences or a step loop; "
            "export with onnx_exporter='torchscript', or compare without a mask")
    states = inputs.initial_state or ()
    args = (torch_side.to_tensor(inputs.x), *(torch_side.to_tensor(s) for s in states))
    names = ["x"] + [f"initial_state_{i}" for i in range(len(states))]
    if inputs.mask is not None:
        args += (torch.from_numpy(inputs.mask),)
        names.append("mask")
    wrapped = _Exported(module, len(states), inputs.mask is not None).eval()
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    try:
        # tracer, deprecation and optional-operator notices: about the exporter, not the case
        exporter_log.setLevel(logging.ERROR)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            if exporter == "dynamo":
                program = torch.onnx.export(wrapped, args, dynamo=True, input_names=names,
                                            verbose=False)
                return program.model_proto.SerializeToString()
            buffer = io.BytesIO()
            torch.onnx.export(wrapped, args, buffer, dynamo=False, input_names=names)
            return buffer.getvalue()
    except Exception as error:  # noqa: BLE001 - any exporter failure is this case's limitation
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise UnsupportedConfig(
            "onnx_exporter", exporter, f"torch.onnx.export could not export {module.spec}: "
            f"{type(error).__name__}: {first[:300]}") from error
    finally:
        exporter_log.setLevel(level)


def run_exported(module, x: np.ndarray, initial_state: Sequence[np.ndarray] | None = None,
                 mask: np.ndarray | None = None, *, exporter: str = "dynamo") -> OnnxRun:
    """Export ``module`` on these inputs and run the graph in onnxruntime (CPU execution provider,
    ``ORT_ENABLE_ALL``).

    Args:
        module: a ``parity.KerasRNN`` (a module on a GPU is exported from a CPU copy).
        x: batch-first input in the module's dtype.
        initial_state: Keras order, as for :func:`parity.compare`.
        mask: boolean (batch, time), True = keep.
        exporter: ``"dynamo"`` (default, as ``torch.onnx.export``) or ``"torchscript"``.

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
    spec = module.spec
    inputs = CaseInputs.of(spec, x, initial_state, mask)
    if torch_side.device_of(module).type != "cpu":
        module = copy.deepcopy(module).cpu()
    start = time.perf_counter()
    model = export(module, inputs, exporter)
    seconds = time.perf_counter() - start
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, OPTIMIZATION)
    options.intra_op_num_threads = torch.get_num_threads()
    options.log_severity_level = 4  # a failing kernel is raised below, not also logged
    feeds = {"x": inputs.x, "mask": inputs.mask}
    feeds.update({f"initial_state_{i}": s for i, s in enumerate(inputs.initial_state or ())})
    try:
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        graph_inputs = tuple(i.name for i in session.get_inputs())
        arrays = session.run(None, {name: feeds[name] for name in graph_inputs})
    except Exception as error:  # noqa: BLE001 - a missing kernel is the runtime's limitation
        if spec.dtype == "float32":
            raise  # onnxruntime runs float32 recurrent layers: a failure there is a finding
        raise UnsupportedConfig("dtype", spec.dtype, f"onnxruntime {ort.__version__} (CPU) cannot "
                                f"run this {spec.kind} graph: {str(error)[:300]}") from error
    onnx = importlib.import_module("onnx")
    proto = onnx.load_from_string(model)
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    versions = f"onnxruntime {ort.__version__}, onnx {onnx.__version__}, torch {torch.__version__}"
    if spec.bidirectional and spec.merge_mode is None:
        outputs = Outputs((arrays[0], arrays[1]), tuple(arrays[2:]))
    else:
        outputs = Outputs(arrays[0], tuple(arrays[1:]))
    return OnnxRun(outputs, exporter, opset, tuple(sorted({n.op_type for n in proto.graph.node})),
                   graph_inputs, OPTIMIZATION, seconds, versions,
                   mask_constant=inputs.mask is not None and "mask" not in graph_inputs)
