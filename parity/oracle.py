"""The float64 reference: a plain numpy recurrence over a spec and canonical weights.

It serves twice. Run clean, it is the value both frameworks should approach. Run with injected
rounding errors (see :mod:`parity.tolerances`), it shows how far a correct float32 computation of
this very trajectory can drift, which is what the tolerances are made of.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from parity.errors import UnsupportedConfig
from parity.spec import Outputs, RecurrentSpec, Weights, check_weights

_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
}

# noise(layer, step, magnitude) -> (absolute error added to the pre-activation z, relative error of
# the activation's result), where magnitude = |x||W| + |h||U| + |b| bounds what z's rounding can be.
Noise = Callable[[int, int, np.ndarray], tuple[np.ndarray, np.ndarray]]


def check_inputs(spec: RecurrentSpec, x: np.ndarray,
                 initial_state: Sequence[np.ndarray] | None) -> None:
    """Raise a typed error unless ``x`` and ``initial_state`` fit ``spec`` (no silent casts)."""
    if x.ndim != 3 or x.shape[-1] != spec.input_size or x.shape[1] < 1:
        raise UnsupportedConfig("x.shape", x.shape,
                                f"expected (batch, time >= 1, {spec.input_size})")
    if x.dtype != spec.np_dtype:
        raise UnsupportedConfig("x.dtype", str(x.dtype),
                                f"the layer computes in {spec.dtype}; pass x.astype('{spec.dtype}')")
    if initial_state is not None:
        shapes = [np.shape(s) for s in initial_state]
        expected = (x.shape[0], spec.units)
        if len(shapes) != spec.num_layers or any(s != expected for s in shapes):
            raise UnsupportedConfig("initial_state", shapes,
                                    f"expected {spec.num_layers} array(s) of shape {expected}")


def run(spec: RecurrentSpec, weights: Weights, x: np.ndarray,
        initial_state: Sequence[np.ndarray] | None = None, *, noise: Noise | None = None) -> Outputs:
    """Outputs and final states of ``spec`` on ``x``, in float64, with Keras' return conventions."""
    check_weights(spec, weights)
    act = _ACTIVATIONS[spec.activation]
    seq = np.asarray(x, dtype=np.float64)
    if spec.go_backwards:
        seq = seq[:, ::-1]
    batch, steps, _ = seq.shape
    finals = []
    for layer, w in enumerate(weights):
        h = (np.zeros((batch, spec.units)) if initial_state is None
             else np.asarray(initial_state[layer], dtype=np.float64))
        bias = 0.0 if w.bias is None else w.bias + w.recurrent_bias
        out = np.empty((batch, steps, spec.units))
        for t in range(steps):
            x_t = seq[:, t]
            z = x_t @ w.kernel + h @ w.recurrent_kernel + bias
            if noise is None:
                h = act(z)
            else:
                magnitude = np.abs(x_t) @ np.abs(w.kernel) + np.abs(h) @ np.abs(w.recurrent_kernel)
                if w.bias is not None:
                    magnitude += np.abs(w.bias) + np.abs(w.recurrent_bias)
                z_error, h_error = noise(layer, t, magnitude)
                h = act(z + z_error)
                h = h + h * h_error
            out[:, t] = h
        finals.append(h)
        seq = out
    output = seq if spec.return_sequences else seq[:, -1]
    return Outputs(output, tuple(finals))
