"""The float64 reference: a plain recurrence over a spec and canonical weights, written from the
Keras formulas (Keras' gate order and layout), with Keras' mask semantics.

It serves three ways. Run clean, it is the value both frameworks should approach. Run with injected
rounding errors (see :mod:`parity.core.tolerances`), it shows how far a correct low-precision
computation of this very trajectory can drift, which is what tolerances are made of. Run on float64
torch tensors, it is differentiable, which gives reference gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from parity.core import masking
from parity.core.spec import (
    LayerWeights,
    Outputs,
    RecurrentSpec,
    Weights,
    check_weights,
    merge_directions,
    weight_index,
)

# noise(weight_index, step, magnitude) -> (absolute error added to the gate pre-activations,
# relative error of the cell's results), where magnitude = |x||W| + |h||U| + |b| bounds what the
# pre-activations' rounding can be. See parity.core.tolerances.
Noise = Callable[[int, int, object], tuple[object, object]]


class NumpyOps:
    """The few array operations the recurrence needs, for numpy..."""

    @staticmethod
    def asarray(a):
        return np.asarray(a, dtype=np.float64)

    zeros = staticmethod(lambda shape, like: np.zeros(shape))
    matmul = staticmethod(lambda a, w: a @ w)
    add = staticmethod(lambda a, b: a + b)
    tanh = staticmethod(np.tanh)
    relu = staticmethod(lambda z: np.maximum(z, 0.0))
    abs = staticmethod(np.abs)
    where = staticmethod(np.where)
    stack = staticmethod(lambda xs: np.stack(xs, axis=1))
    concat = staticmethod(lambda xs: np.concatenate(xs, axis=-1))
    flip = staticmethod(lambda a: np.flip(a, axis=1))
    round = staticmethod(lambda a, ops=1.0: a)  # exact: see parity.core.emulation for the rounded one

    @staticmethod
    def sigmoid(z):
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-z))


class TorchOps:
    """...and for float64 torch tensors (differentiable)."""

    def __init__(self):
        import torch
        self.t = torch

    def matmul(self, a, w):
        return a @ w

    def add(self, a, b):
        return a + b

    def asarray(self, a):
        if self.t.is_tensor(a):
            return a.to(self.t.float64)
        return self.t.as_tensor(np.asarray(a, dtype=np.float64))

    def zeros(self, shape, like):
        return self.t.zeros(shape, dtype=self.t.float64, device=like.device)

    @staticmethod
    def round(a, ops=1.0):
        return a

    def __getattr__(self, name):
        t = self.t
        ops = {"tanh": t.tanh, "relu": t.relu, "abs": t.abs, "where": t.where, "sigmoid": t.sigmoid,
               "stack": lambda xs: t.stack(xs, dim=1), "concat": lambda xs: t.cat(xs, dim=-1),
               "flip": lambda a: t.flip(a, dims=[1])}
        return ops[name]


def namespace(a):
    import sys
    torch = sys.modules.get("torch")
    return TorchOps() if torch is not None and torch.is_tensor(a) else NumpyOps()


def _step(spec: RecurrentSpec, xp, w: LayerWeights, x_t, state, noise_at):
    """One cell step in Keras' formulas. Returns (new states, output)."""
    u = spec.units
    h = state[0]
    xz = xp.matmul(x_t, w.kernel)
    if w.bias is not None:
        xz = xp.add(xz, w.bias)
    recurrent, recurrent_bias = w.recurrent_kernel, w.recurrent_bias
    if spec.kind == "gru" and not spec.reset_after:
        # the candidate multiplies (r * h) by its block, below
        recurrent = recurrent[:, :2 * u]
        recurrent_bias = None if recurrent_bias is None else recurrent_bias[:2 * u]
    hz = xp.matmul(h, recurrent)
    if recurrent_bias is not None:
        hz = xp.add(hz, recurrent_bias)
    z_error = out_error = 0.0
    if noise_at is not None:
        magnitude = xp.abs(x_t) @ xp.abs(w.kernel) + xp.abs(h) @ xp.abs(w.recurrent_kernel)
        if w.bias is not None:
            magnitude = magnitude + xp.abs(w.bias) + xp.abs(w.recurrent_bias)
        z_error, out_error = noise_at(magnitude)

    if spec.kind == "simple_rnn":
        act = xp.tanh if spec.activation == "tanh" else xp.relu
        new_h = act(xp.round(xz + hz) + z_error)
        new_h = new_h + new_h * out_error
        return (new_h,), new_h
    pre = xz + z_error
    if spec.kind == "lstm":
        pre = xp.round(pre + hz)
        i, f = xp.sigmoid(pre[:, :u]), xp.sigmoid(pre[:, u:2 * u])
        g, o = xp.tanh(pre[:, 2 * u:3 * u]), xp.sigmoid(pre[:, 3 * u:])
        c = xp.round(f * state[1] + i * g, 3)
        c = c + c * out_error
        new_h = xp.round(o * xp.tanh(c))
        new_h = new_h + new_h * out_error
        return (new_h, c), new_h
    # GRU, Keras order z, r, h
    zg = xp.sigmoid(xp.round(pre[:, :u] + hz[:, :u]))
    r = xp.sigmoid(xp.round(pre[:, u:2 * u] + hz[:, u:2 * u]))
    if spec.reset_after:
        candidate = xp.tanh(xp.round(pre[:, 2 * u:] + r * hz[:, 2 * u:], 2))
    else:
        candidate = xp.matmul(xp.round(r * h), w.recurrent_kernel[:, 2 * u:])
        if w.recurrent_bias is not None:
            candidate = xp.add(candidate, w.recurrent_bias[2 * u:])
        candidate = xp.tanh(xp.round(pre[:, 2 * u:] + candidate))
    new_h = xp.round(zg * h + (1.0 - zg) * candidate, 4)
    new_h = new_h + new_h * out_error
    return (new_h,), new_h


def _direction(spec, xp, w, index, seq, mask, state, reverse: bool, zero_output: bool, noise):
    """Run one layer in one direction. Outputs come back in processing order."""
    if reverse:
        seq = xp.flip(seq)
        mask = None if mask is None else np.flip(mask, axis=1)
    batch, steps = seq.shape[:2]
    prev_out = xp.zeros((batch, spec.units), seq)
    outs = []
    for t in range(steps):
        noise_at = None if noise is None else (lambda m, t=t: noise(index, t, m))
        new_state, out = _step(spec, xp, w, seq[:, t], state, noise_at)
        if mask is None:
            state = new_state
        else:
            keep = xp.asarray(mask[:, t, None]) > 0  # Keras: masked steps carry the state over
            state = tuple(xp.where(keep, n, s) for n, s in zip(new_state, state))
            out = xp.where(keep, out, xp.zeros(out.shape, out) if zero_output else prev_out)
        prev_out = out
        outs.append(out)
    return xp.stack(outs), state


def _merge(xp, mode, y, y_rev):
    merged = merge_directions(mode, y, y_rev, xp.concat)
    return xp.round(merged) if mode in ("sum", "mul") else \
        xp.round(merged, 2) if mode == "ave" else merged


def run(spec: RecurrentSpec, weights: Weights, x, initial_state: Sequence | None = None,
        mask: np.ndarray | None = None, *, noise: Noise | None = None, xp=None) -> Outputs:
    """Outputs and final states of ``spec`` on ``x`` with Keras' return conventions, computed in
    float64 (numpy, or torch when ``x`` is a torch tensor). ``mask`` is (batch, time), True = keep.
    ``xp`` overrides the array namespace (a recording ``TorchOps``, for gradient tolerances)."""
    check_weights(spec, weights)
    xp = xp or namespace(x)
    seq = xp.asarray(x)
    mask = None if mask is None else np.asarray(mask, dtype=bool)
    if spec.go_backwards:
        seq = xp.flip(seq)
        mask = None if mask is None else np.flip(mask, axis=1)
    batch = seq.shape[0]
    per_direction = spec.states_per_layer
    finals, outputs = [], None
    for layer in range(spec.num_layers):
        last = layer == spec.num_layers - 1
        directions = []
        for d in range(spec.directions):
            i = weight_index(spec, layer, d)
            w = LayerWeights(**{k: xp.asarray(v) for k, v in weights[i].arrays().items()})
            if initial_state is None:
                state = tuple(xp.zeros((batch, spec.units), seq) for _ in range(per_direction))
            else:
                state = tuple(xp.asarray(s) for s in
                              initial_state[i * per_direction:(i + 1) * per_direction])
            out, state = _direction(spec, xp, w, i, seq, mask, state, reverse=d == 1,
                                    zero_output=masking.zero_output(spec, last), noise=noise)
            directions.append(out)
            finals.extend(state)
        if spec.bidirectional:
            y, y_rev = directions
            if last and not spec.return_sequences:
                outputs = _merge(xp, spec.merge_mode, y[:, -1], y_rev[:, -1])
            else:
                y_rev = xp.flip(y_rev)  # back to the input's time order
                mode = spec.merge_mode if last else "concat"
                outputs = _merge(xp, mode, y, y_rev)
            seq = outputs
        else:
            seq = directions[0]
            outputs = seq if spec.return_sequences else seq[:, -1]
    return Outputs(outputs, tuple(finals) if spec.return_state else ())
