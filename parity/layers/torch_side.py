"""Torch side: the drop-in module that ``to_torch`` returns, the exact module for Keras' GRU with
``reset_after=False``, and reading, writing and running torch recurrent modules in the canonical
layout.

torch stores ``weight_ih_l{k}[_reverse]`` as (gates*hidden, input), the transpose of Keras' kernel,
in its own gate order (GRU: r, z, n where Keras has z, r, h), and two biases, ``bias_ih`` and
``bias_hh``.

One module on purpose: like :mod:`parity.layers.keras_side`, it is one framework's side of the
interface :func:`parity.layers.transfer.side_of` hands out (``describe``, ``read_weights``,
``write_weights``, ``run``), and the mutation tests replace its functions in place (the step
``_cell_step`` the loop calls, ``read_weights``, ``run``) to show the checks catch the bug.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from parity.core import masking
from parity.core.errors import TransferError, UnsupportedConfig
from parity.core.frameworks import torch
from parity.core.inputs import flat_states
from parity.core.spec import (
    LayerWeights,
    Outputs,
    RecurrentSpec,
    Weights,
    merge_directions,
    weight_index,
)

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
                "bfloat16": torch.bfloat16}
DTYPE_NAMES = {v: k for k, v in TORCH_DTYPES.items()}  # torch dtype -> the spec's name
nn = torch.nn


class GRUResetBefore(nn.Module):
    """Keras' GRU with ``reset_after=False`` (the Keras 2 / TF1 default), which ``torch.nn.GRU``
    cannot express: the reset gate scales the state *before* the candidate's recurrent matmul,
    ``n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)``.

    Parameters are named, shaped and ordered exactly like ``torch.nn.GRU``'s (gates r, z, n), so
    code that handles an ``nn.GRU`` state dict handles this one. The forward pass is a step loop.

    The constructor takes ``torch.nn.GRU``'s arguments (``input_size``, ``hidden_size``,
    ``num_layers``, ``bias``, ``batch_first``, ``bidirectional``, ``dtype``) with their meanings.

    Examples:
        >>> import parity, torch
        >>> gru = parity.GRUResetBefore(3, 4, batch_first=True)
        >>> output, h_n = gru(torch.zeros(2, 5, 3))
        >>> tuple(output.shape), tuple(h_n.shape)
        ((2, 5, 4), (1, 2, 4))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, bidirectional: bool = False, dtype=None) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.dropout, self.proj_size = 0.0, 0
        directions = 2 if bidirectional else 1
        bound = 1.0 / math.sqrt(hidden_size)  # nn.GRU's initialisation
        for layer in range(num_layers):
            fan_in = input_size if layer == 0 else hidden_size * directions
            for suffix in ("", "_reverse")[:directions]:
                shapes = {"weight_ih": (3 * hidden_size, fan_in),
                          "weight_hh": (3 * hidden_size, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(3 * hidden_size,), bias_hh=(3 * hidden_size,))
                for name, shape in shapes.items():
                    p = nn.Parameter(torch.empty(shape, dtype=dtype).uniform_(-bound, bound))
                    self.register_parameter(f"{name}_l{layer}{suffix}", p)

    def forward(self, x: torch.Tensor, hx: torch.Tensor | None = None):
        batch_first_x = x if self.batch_first else x.transpose(0, 1)
        spec = describe(self)
        states = None if hx is None else [(hx[i],) for i in range(hx.shape[0])]
        per_direction, finals = _loop(self, spec, batch_first_x, None, states)
        seq = _input_order(per_direction)
        h_n = torch.stack([s[0] for s in finals])
        return (seq if self.batch_first else seq.transpose(0, 1)), h_n


KINDS = {nn.RNN: "simple_rnn", nn.LSTM: "lstm", nn.GRU: "gru", GRUResetBefore: "gru"}


def _params(core, spec: RecurrentSpec, index: int):
    layer, direction = divmod(index, spec.directions)
    suffix = f"_l{layer}" + ("_reverse" if direction else "")
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    return [getattr(core, n + suffix, None) for n in names]


def _cell_step(spec: RecurrentSpec, params, x_t, state):
    """One step in torch's layout and gate order; returns the new state tuple."""
    w_ih, w_hh, b_ih, b_hh = params
    u, h = spec.units, state[0]
    gi = x_t @ w_ih.T
    if b_ih is not None:
        gi = gi + b_ih
    if spec.kind == "gru" and not spec.reset_after:
        gh = h @ w_hh[:2 * u].T + (0 if b_hh is None else b_hh[:2 * u])
        r, z = torch.sigmoid(gi[:, :u] + gh[:, :u]), torch.sigmoid(gi[:, u:2 * u] + gh[:, u:])
        n = torch.tanh(gi[:, 2 * u:] + (r * h) @ w_hh[2 * u:].T
                       + (0 if b_hh is None else b_hh[2 * u:]))
        return ((1 - z) * n + z * h,)
    gh = h @ w_hh.T
    if b_hh is not None:
        gh = gh + b_hh
    if spec.kind == "simple_rnn":
        return ((torch.tanh if spec.activation == "tanh" else torch.relu)(gi + gh),)
    if spec.kind == "lstm":
        i, f, g, o = (gi + gh).chunk(4, dim=1)
        c = torch.sigmoid(f) * state[1] + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c
    r = torch.sigmoid(gi[:, :u] + gh[:, :u])
    z = torch.sigmoid(gi[:, u:2 * u] + gh[:, u:2 * u])
    n = torch.tanh(gi[:, 2 * u:] + r * gh[:, 2 * u:])
    return ((1 - z) * n + z * h,)


def _loop(core, spec: RecurrentSpec, x, mask, states):
    """Step loop with Keras' mask semantics (see parity.core.masking), batch-first ``x``. Returns the last
    layer's outputs per direction in processing order, and the final states per (layer, direction)."""
    batch = x.shape[0]
    zeros = x.new_zeros((batch, spec.units))
    finals, per_direction = [], []
    seq = x
    for layer in range(spec.num_layers):
        last = layer == spec.num_layers - 1
        zero_output = masking.zero_output(spec, last)
        per_direction = []
        for direction in range(spec.directions):
            index = weight_index(spec, layer, direction)
            params = _params(core, spec, index)
            state = states[index] if states is not None else (zeros,) * spec.states_per_layer
            inputs = seq.flip(1) if direction else seq
            keep_all = None if mask is None else (mask.flip(1) if direction else mask)
            prev, outs = zeros, []
            for t in range(inputs.shape[1]):
                new = _cell_step(spec, params, inputs[:, t], state)
                if keep_all is None:
                    state, out = new, new[0]
                else:
                    keep = keep_all[:, t, None]
                    state = tuple(torch.where(keep, n, s) for n, s in zip(new, state))
                    out = torch.where(keep, new[0], zeros if zero_output else prev)
                prev = out
                outs.append(out)
            per_direction.append(torch.stack(outs, dim=1))
            finals.append(state)
        seq = _input_order(per_direction)
    return per_direction, finals


def _input_order(per_direction):
    """Outputs of one level aligned to the input's time order, directions concatenated."""
    if len(per_direction) == 1:
        return per_direction[0]
    return torch.cat([per_direction[0], per_direction[1].flip(1)], dim=-1)


class KerasRNN(nn.Module):
    """A torch recurrent module that takes and returns what the equivalent Keras layer does.

    Called on a batch-first tensor (batch, time, features), with an optional ``initial_state``
    (Keras order: per layer and direction, h and, for an LSTM, c) and an optional boolean ``mask``
    (batch, time), it returns the last output or the whole sequence, then every final state with
    ``return_state``; ``go_backwards`` reads time in reverse and returns the sequence in that order;
    a bidirectional module merges its directions with Keras' ``merge_mode``. Masks follow Keras'
    semantics exactly: right-padded batches run through ``pack_padded_sequence``, any other pattern
    through a step loop. The plain torch module is ``self.rnn``.

    Args:
        spec: what to compute; from :func:`parity.read` of a Keras layer, or written by hand.
        rnn: an existing ``nn.RNN``/``LSTM``/``GRU`` (or :class:`GRUResetBefore`) to wrap, with
            ``batch_first=True``; by default a new one is built from ``spec``.

    Raises:
        UnsupportedConfig: ``spec`` asks for something torch cannot compute exactly.
        TransferError: ``rnn`` does not match ``spec``.

    Examples:
        >>> import parity, torch
        >>> spec = parity.RecurrentSpec("lstm", units=3, input_size=2, return_state=True)
        >>> out, h, c = parity.KerasRNN(spec)(torch.zeros(4, 7, 2))
        >>> tuple(out.shape), tuple(h.shape), tuple(c.shape)
        ((4, 3), (4, 3), (4, 3))
    """

    def __init__(self, spec: RecurrentSpec, rnn: nn.Module | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.rnn = rnn if rnn is not None else make_core(spec)

    def forward(self, x: torch.Tensor, initial_state=None, mask: torch.Tensor | None = None):
        spec = self.spec
        if x.dim() != 3 or x.shape[-1] != spec.input_size:
            raise UnsupportedConfig("x.shape", tuple(x.shape),
                                    f"expected (batch, time, {spec.input_size})")
        mask_np = None if mask is None else mask.cpu().numpy()
        if mask is not None:
            masking.check_mask(mask_np, tuple(x.shape[:2]))
        states = None if initial_state is None else _states(spec, initial_state, x)
        if spec.go_backwards:
            x = x.flip(1)
            mask = None if mask is None else mask.flip(1)
        native = type(self.rnn) is not GRUResetBefore
        lengths = None if mask is None else masking.right_padded_lengths(mask_np)
        if mask is None and native:
            per_direction, finals = self._native_call(x, states)
        elif lengths is not None and native and not spec.go_backwards:
            per_direction, finals = self._packed(x, states, torch.as_tensor(lengths))
        else:
            per_direction, finals = _loop(self.rnn, spec, x, mask, states)
        return self._keras_result(per_direction, finals)

    def _native_call(self, x, states, pack=None):
        spec, rnn = self.spec, self.rnn
        hx = None
        if states is not None:
            stacked = [torch.stack([s[k] for s in states]) for k in range(spec.states_per_layer)]
            hx = tuple(stacked) if spec.kind == "lstm" else stacked[0]
        inputs = x if rnn.batch_first else x.transpose(0, 1)
        if pack is not None:
            inputs = nn.utils.rnn.pack_padded_sequence(inputs, pack, batch_first=rnn.batch_first,
                                                       enforce_sorted=False)
        seq, h_n = rnn(inputs, hx)
        if pack is not None:
            seq, _ = nn.utils.rnn.pad_packed_sequence(seq, batch_first=rnn.batch_first,
                                                      total_length=x.shape[1])
        if not rnn.batch_first:
            seq = seq.transpose(0, 1)
        parts = h_n if spec.kind == "lstm" else (h_n,)
        finals = [tuple(p[i] for p in parts) for i in range(parts[0].shape[0])]
        u = spec.units
        per_direction = [seq[..., :u]]
        if spec.bidirectional:
            per_direction.append(seq[..., u:].flip(1))  # backward, in its processing order
        return per_direction, finals

    def _packed(self, x, states, lengths):
        """Right-padded batch: torch's packed sequence, then Keras' values at padded steps (the
        backward direction's are already zeros, as Keras' Bidirectional makes them)."""
        per_direction, finals = self._native_call(x, states, pack=lengths)
        if not self.spec.zero_output_for_mask:
            fw = per_direction[0]
            last_valid = (lengths - 1).to(fw.device)
            carried = fw[torch.arange(fw.shape[0], device=fw.device), last_valid][:, None]
            padded = torch.arange(fw.shape[1], device=fw.device)[None, :] >= \
                lengths.to(fw.device)[:, None]
            per_direction[0] = torch.where(padded[..., None], carried, fw)
        return per_direction, finals

    def _keras_result(self, per_direction, finals):
        spec = self.spec
        y = per_direction[0]
        if spec.bidirectional:
            y_rev = per_direction[1]
            if spec.return_sequences:
                out = merge_directions(spec.merge_mode, y, y_rev.flip(1), _concat)
            else:
                out = merge_directions(spec.merge_mode, y[:, -1], y_rev[:, -1], _concat)
        else:
            out = y if spec.return_sequences else y[:, -1]
        if not spec.return_state:
            return out
        states = tuple(t for state in finals for t in state)
        return (*out, *states) if isinstance(out, tuple) else (out, *states)

    def extra_repr(self) -> str:
        s = self.spec
        return (f"return_sequences={s.return_sequences}, return_state={s.return_state}, "
                f"go_backwards={s.go_backwards}, merge_mode={s.merge_mode!r}, "
                f"zero_output_for_mask={s.zero_output_for_mask}")


def _concat(tensors):
    return torch.cat(tensors, dim=-1)


def _states(spec: RecurrentSpec, initial_state, x: torch.Tensor):
    """Keras-order initial states as a list per (layer, direction) of state tuples."""
    flat = list(flat_states(initial_state))
    per, count = spec.states_per_layer, spec.state_count
    expected = (x.shape[0], spec.units)
    if len(flat) != count or any(tuple(s.shape) != expected for s in flat):
        raise UnsupportedConfig(
            "initial_state", [tuple(s.shape) for s in flat],
            f"expected {count} tensor(s) of shape {expected}: per layer and direction, h "
            "(and c for an LSTM); one tensor alone for a layer with one state")
    flat = [s.to(x.dtype) for s in flat]
    return [tuple(flat[i:i + per]) for i in range(0, count, per)]


def make_core(spec: RecurrentSpec) -> nn.Module:
    """The plain torch module for ``spec`` (batch-first)."""
    options = dict(num_layers=spec.num_layers, bias=spec.use_bias, batch_first=True,
                   bidirectional=spec.bidirectional, dtype=TORCH_DTYPES[spec.dtype])
    if spec.kind == "simple_rnn":
        return nn.RNN(spec.input_size, spec.units, nonlinearity=spec.activation, **options)
    if spec.kind == "lstm":
        return nn.LSTM(spec.input_size, spec.units, **options)
    core = nn.GRU if spec.reset_after else GRUResetBefore
    return core(spec.input_size, spec.units, **options)


def is_torch(obj: object) -> bool:
    return isinstance(obj, nn.Module)


def qualified_name(obj) -> str:
    """``obj``'s class with the module that defines it: a user's class called ``RNN`` must not
    read as ``torch.nn.RNN``."""
    cls = type(obj)
    module = cls.__module__
    if module.startswith("torch.nn."):
        module = "torch.nn"
    elif module.startswith("parity."):
        module = "parity"
    return f"{module}.{cls.__qualname__}"


def plain_rnn(obj) -> nn.Module:
    """The plain recurrent module inside ``obj`` (itself, or a ``KerasRNN``'s ``rnn``)."""
    rnn = obj.rnn if isinstance(obj, KerasRNN) else obj
    if type(rnn) not in KINDS:
        held = [f"{name} ({qualified_name(m)})" for name, m in rnn.named_modules()
                if type(m) in KINDS]
        hint = (f"; it holds {', '.join(held)}: pass that attribute (e.g. model.{held[0].split()[0]})"
                if held else "")
        raise UnsupportedConfig("module", qualified_name(rnn),
                                f"supported modules are {[qualified_name_of(k) for k in KINDS]} "
                                f"and parity.KerasRNN{hint}")
    return rnn


def qualified_name_of(cls: type) -> str:
    return "parity.GRUResetBefore" if cls is GRUResetBefore else f"torch.nn.{cls.__name__}"


def describe(obj) -> RecurrentSpec:
    """The spec of a torch module. A plain module returns its sequence and every final state, so
    its spec has ``return_sequences`` and ``return_state`` set (states are left out only for a
    bidirectional stack, which Keras cannot return)."""
    rnn = plain_rnn(obj)
    if rnn.num_layers > 1 and rnn.dropout:
        raise UnsupportedConfig("dropout", rnn.dropout,
                                "Keras stacks have no dropout between layers; set it to 0")
    if getattr(rnn, "proj_size", 0):
        raise UnsupportedConfig("proj_size", rnn.proj_size, "Keras' LSTM has no projection; "
                                "set proj_size=0")
    dtype = DTYPE_NAMES.get(rnn.weight_ih_l0.dtype)
    if dtype is None:
        raise UnsupportedConfig("dtype", str(rnn.weight_ih_l0.dtype),
                                f"supported dtypes are {list(TORCH_DTYPES)}")
    kind = KINDS[type(rnn)]
    stacked_bidirectional = rnn.bidirectional and rnn.num_layers > 1
    spec = RecurrentSpec(kind=kind, units=rnn.hidden_size, input_size=rnn.input_size,
                         num_layers=rnn.num_layers,
                         activation=getattr(rnn, "nonlinearity", "tanh"), use_bias=rnn.bias,
                         return_sequences=True, return_state=not stacked_bidirectional,
                         dtype=dtype, reset_after=type(rnn) is not GRUResetBefore,
                         bidirectional=rnn.bidirectional,
                         zero_output_for_mask=bool(rnn.bidirectional))
    if isinstance(obj, KerasRNN):
        flags = ("return_sequences", "return_state", "go_backwards", "merge_mode",
                 "zero_output_for_mask")
        spec = spec.replace(**{f: getattr(obj.spec, f) for f in flags})
    return spec


def _gate_blocks(spec: RecurrentSpec, array: np.ndarray, order: list[int]) -> np.ndarray:
    """Reorder the gate blocks along axis 0 (blocks of ``units`` rows)."""
    blocks = np.split(array, spec.cell.gates, axis=0)
    return np.concatenate([blocks[i] for i in order], axis=0)


def _numpy(p) -> np.ndarray:
    return p.detach().cpu().to(torch.float64).numpy()


def read_weights(obj, *, values=_numpy) -> Weights:
    """Canonical float64 weights. ``values`` maps a parameter to an array (the gradient reader
    passes one that returns the parameter's gradient instead)."""
    rnn = plain_rnn(obj)
    spec = describe(obj)
    to_keras_order = np.argsort(spec.cell.keras_to_torch_blocks()).tolist()
    out = []
    for index in range(spec.num_layers * spec.directions):
        arrays = [None if p is None else _gate_blocks(spec, values(p), to_keras_order)
                  for p in _params(rnn, spec, index)]
        w_ih, w_hh, b_ih, b_hh = arrays
        out.append(LayerWeights(kernel=w_ih.T, recurrent_kernel=w_hh.T, bias=b_ih,
                                recurrent_bias=b_hh))
    return tuple(out)


def weight_writes(obj, weights: Weights) -> list[tuple[nn.Parameter, np.ndarray]]:
    """Each parameter of ``obj`` with the array it is to receive, checked against the live
    parameter's shape: the plan :func:`apply_writes` carries out, so that nothing is written
    unless everything can be."""
    rnn = plain_rnn(obj)
    spec = describe(obj)
    order = spec.cell.keras_to_torch_blocks()
    if len(weights) != spec.num_layers * spec.directions:
        raise TransferError("layers", len(weights), f"the destination {type(rnn).__name__} has "
                            f"{spec.num_layers * spec.directions} layer-directions")
    writes = []
    for index, w in enumerate(weights):
        values = [w.kernel.T, w.recurrent_kernel.T, w.bias, w.recurrent_bias]
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        for name, p, value in zip(names, _params(rnn, spec, index), values):
            if p is None:
                continue
            if value is None or tuple(p.shape) != tuple(np.shape(value)):
                raise TransferError(f"{name} of layer-direction {index}",
                                    None if value is None else np.shape(value),
                                    f"the destination parameter has shape {tuple(p.shape)}")
            writes.append((p, np.ascontiguousarray(_gate_blocks(spec, value, order))))
    return writes


def apply_writes(writes: list[tuple[nn.Parameter, np.ndarray]]) -> None:
    with torch.no_grad():
        for p, value in writes:
            p.copy_(torch.from_numpy(value).to(p.dtype))


def write_weights(obj, weights: Weights) -> None:
    apply_writes(weight_writes(obj, weights))


def as_keras_like(obj, spec: RecurrentSpec) -> KerasRNN:
    """``obj`` as a module with Keras call semantics ``spec``; a plain module is wrapped, not copied."""
    if isinstance(obj, KerasRNN):
        return obj
    return KerasRNN(spec, rnn=plain_rnn(obj))


def to_tensor(a: np.ndarray, like: torch.Tensor | None = None) -> torch.Tensor:
    """numpy (incl. ml_dtypes bfloat16) to a torch tensor."""
    a = np.asarray(a)
    if a.dtype.name == "bfloat16":
        return torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16)
    return torch.from_numpy(np.ascontiguousarray(a))


def to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        import ml_dtypes
        return t.to(torch.float32).numpy().astype(ml_dtypes.bfloat16)
    return t.numpy()


def device_of(module: torch.nn.Module) -> torch.device:
    """Where ``module``'s weights live; inputs are moved there (a module moved to CUDA is checked
    on CUDA, with cuDNN where torch uses it)."""
    return next((p.device for p in module.parameters()), torch.device("cpu"))


def run(obj, x: np.ndarray, initial_state: Sequence[np.ndarray] | None = None,
        mask: np.ndarray | None = None) -> Outputs:
    """Call a ``KerasRNN`` on numpy input (no autograd) on its device, returning numpy outputs."""
    merged_none = obj.spec.bidirectional and obj.spec.merge_mode is None
    dev = device_of(obj)
    with torch.no_grad():
        state = None if initial_state is None else \
            [to_tensor(s).to(dev) for s in flat_states(initial_state)]
        result = obj(to_tensor(x).to(dev), state,
                     None if mask is None else torch.from_numpy(mask).to(dev))
    tensors = result if isinstance(result, tuple) else (result,)
    arrays = [to_numpy(t) for t in tensors]
    if merged_none:
        return Outputs((arrays[0], arrays[1]), tuple(arrays[2:]))
    return Outputs(arrays[0], tuple(arrays[1:]))
