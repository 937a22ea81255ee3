"""Torch side: the drop-in module that ``to_torch`` returns, and reading, writing and running
``torch.nn.RNN`` in the canonical layout.

torch stores ``weight_ih_l{k}`` as (gates*hidden, input), the transpose of Keras' kernel, and two
biases, ``bias_ih`` and ``bias_hh``, where Keras has one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from parity._frameworks import torch
from parity.errors import UnsupportedConfig
from parity.spec import LayerWeights, Outputs, RecurrentSpec, Weights

_TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_KINDS = {torch.nn.RNN: "simple_rnn"}


class KerasRNN(torch.nn.Module):
    """A ``torch.nn.RNN`` that takes and returns what the equivalent Keras layer does.

    Called on a batch-first tensor (batch, time, features) it returns the last output, or the whole
    sequence with ``return_sequences``, followed by each layer's final state with ``return_state``.
    With ``go_backwards`` it reads time in reverse and returns the sequence in that order, as Keras.
    The plain module is ``self.rnn``.
    """

    def __init__(self, spec: RecurrentSpec, rnn: torch.nn.RNN | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.rnn = rnn if rnn is not None else torch.nn.RNN(
            spec.input_size, spec.units, num_layers=spec.num_layers,
            nonlinearity=spec.activation, bias=spec.use_bias, batch_first=True,
            dtype=_TORCH_DTYPES[spec.dtype])

    def forward(self, x: torch.Tensor, initial_state=None):
        spec = self.spec
        if x.dim() != 3 or x.shape[-1] != spec.input_size:
            raise UnsupportedConfig("x.shape", tuple(x.shape),
                                    f"expected (batch, time, {spec.input_size})")
        h0 = None if initial_state is None else _stack_initial_state(spec, initial_state, x)
        if spec.go_backwards:
            x = x.flip(1)
        if not self.rnn.batch_first:
            x = x.transpose(0, 1)
        seq, h_n = self.rnn(x, h0)
        if not self.rnn.batch_first:
            seq = seq.transpose(0, 1)
        out = seq if spec.return_sequences else seq[:, -1]
        return (out, *h_n.unbind(0)) if spec.return_state else out

    def extra_repr(self) -> str:
        s = self.spec
        return (f"return_sequences={s.return_sequences}, return_state={s.return_state}, "
                f"go_backwards={s.go_backwards}")


def _stack_initial_state(spec: RecurrentSpec, initial_state, x: torch.Tensor) -> torch.Tensor:
    """Keras-style initial state (one (batch, units) tensor per layer) as torch's (layers, batch, units)."""
    states = [initial_state] if torch.is_tensor(initial_state) else list(initial_state)
    expected = (x.shape[0], spec.units)
    if len(states) != spec.num_layers or any(tuple(s.shape) != expected for s in states):
        raise UnsupportedConfig(
            "initial_state", [tuple(s.shape) for s in states],
            f"expected {spec.num_layers} tensor(s) of shape {expected}, one per layer")
    return torch.stack(list(states)).to(x.dtype)


def is_torch(obj: object) -> bool:
    return isinstance(obj, torch.nn.Module)


def plain_rnn(obj) -> torch.nn.RNN:
    """The ``torch.nn.RNN`` inside ``obj`` (itself, or a ``KerasRNN``'s ``rnn``)."""
    rnn = obj.rnn if isinstance(obj, KerasRNN) else obj
    if type(rnn) not in _KINDS:
        raise UnsupportedConfig("module", type(rnn).__name__,
                                f"supported modules are {[k.__name__ for k in _KINDS]} "
                                "and parity.KerasRNN")
    return rnn


def describe(obj) -> RecurrentSpec:
    """The spec of a torch module. A plain ``nn.RNN`` returns its sequence and every final state,
    so its spec has ``return_sequences`` and ``return_state`` set."""
    rnn = plain_rnn(obj)
    if rnn.bidirectional:
        raise UnsupportedConfig("bidirectional", True, "bidirectional layers are not supported yet")
    if rnn.num_layers > 1 and rnn.dropout:
        raise UnsupportedConfig("dropout", rnn.dropout,
                                "Keras stacks have no dropout between layers; set it to 0")
    dtype = {v: k for k, v in _TORCH_DTYPES.items()}.get(rnn.weight_ih_l0.dtype)
    if dtype is None:
        raise UnsupportedConfig("dtype", str(rnn.weight_ih_l0.dtype),
                                f"supported dtypes are {list(_TORCH_DTYPES)}")
    spec = RecurrentSpec(kind=_KINDS[type(rnn)], units=rnn.hidden_size,
                         input_size=rnn.input_size, num_layers=rnn.num_layers,
                         activation=rnn.nonlinearity, use_bias=rnn.bias,
                         return_sequences=True, return_state=True, dtype=dtype)
    if isinstance(obj, KerasRNN):
        flags = ("return_sequences", "return_state", "go_backwards")
        spec = spec.replace(**{f: getattr(obj.spec, f) for f in flags})
    return spec


def _gate_blocks(kind_spec: RecurrentSpec, array: np.ndarray, order: list[int]) -> np.ndarray:
    """Reorder the gate blocks along axis 0 (blocks of ``units`` rows)."""
    blocks = np.split(array, kind_spec.cell.gates, axis=0)
    return np.concatenate([blocks[i] for i in order], axis=0)


def read_weights(obj) -> Weights:
    rnn = plain_rnn(obj)
    spec = describe(obj)
    to_keras_order = np.argsort(spec.cell.keras_to_torch_blocks()).tolist()
    out = []
    for k in range(rnn.num_layers):
        def get(name):
            p = getattr(rnn, f"{name}_l{k}", None)
            if p is None:
                return None
            return _gate_blocks(spec, p.detach().cpu().double().numpy(), to_keras_order)
        bias, recurrent_bias = get("bias_ih"), get("bias_hh")
        out.append(LayerWeights(kernel=get("weight_ih").T, recurrent_kernel=get("weight_hh").T,
                                bias=bias, recurrent_bias=recurrent_bias))
    return tuple(out)


def write_weights(obj, weights: Weights) -> None:
    rnn = plain_rnn(obj)
    spec = describe(obj)
    order = spec.cell.keras_to_torch_blocks()
    with torch.no_grad():
        for k, w in enumerate(weights):
            pairs = {"weight_ih": w.kernel.T, "weight_hh": w.recurrent_kernel.T}
            if spec.use_bias:
                pairs.update(bias_ih=w.bias, bias_hh=w.recurrent_bias)
            for name, value in pairs.items():
                p = getattr(rnn, f"{name}_l{k}")
                p.copy_(torch.from_numpy(np.ascontiguousarray(_gate_blocks(spec, value, order))))


def as_keras_like(obj, spec: RecurrentSpec) -> KerasRNN:
    """``obj`` as a module with Keras call semantics ``spec``; a plain nn.RNN is wrapped, not copied."""
    if isinstance(obj, KerasRNN):
        return obj
    return KerasRNN(spec, rnn=plain_rnn(obj))


def run(obj, x: np.ndarray, initial_state: Sequence[np.ndarray] | None = None) -> Outputs:
    """Call a ``KerasRNN`` on numpy input (no autograd), returning numpy outputs."""
    with torch.no_grad():
        state = None if initial_state is None else [torch.from_numpy(np.asarray(s))
                                                    for s in initial_state]
        result = obj(torch.from_numpy(np.asarray(x)), state)
    tensors = result if isinstance(result, tuple) else (result,)
    arrays = [t.detach().cpu().numpy() for t in tensors]
    return Outputs(arrays[0], tuple(arrays[1:]))
