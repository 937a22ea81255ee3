"""Golden values from constant initialisers, computed by an independent scalar recurrence.

Cross-framework parity cannot see a mistake both frameworks (or the oracle) share; a closed form can.
With every kernel entry k, every recurrent entry r and every bias entry b, all units of a SimpleRNN
stay equal, so on one-hot input each unit follows h_t = f(k + units * r * h_{t-1} + b).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import parity
from parity.core.frameworks import keras, torch

ACTIVATIONS = {"tanh": math.tanh, "relu": lambda z: max(z, 0.0)}


def scalar_recurrence(activation: str, k: float, r: float, b: float, units: int, steps: int):
    h, out = 0.0, []
    for _ in range(steps):
        h = ACTIVATIONS[activation](k + units * r * h + b)
        out.append(h)
    return out


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("dtype,atol", [("float32", 1e-6), ("float64", 1e-14)])
def test_constant_initialisers_match_the_closed_form(activation, dtype, atol):
    # Binary fractions: Keras 3.15's Constant initialiser rounds its value through float32 even for
    # float64 layers (Constant(0.1) gives 0.10000000149...), which would swamp a float64 golden.
    from parity.checks.capabilities import keras_precision_reason

    if keras_precision_reason(dtype):
        pytest.skip(keras_precision_reason(dtype))
    k, r, b, units, steps = 0.5, -0.25, 0.125, 3, 6
    layer = keras.layers.SimpleRNN(
        units, activation=activation, return_sequences=True, dtype=dtype,
        kernel_initializer=keras.initializers.Constant(k),
        recurrent_initializer=keras.initializers.Constant(r),
        bias_initializer=keras.initializers.Constant(b))
    x = np.eye(4, dtype=dtype)[[0, 1, 2, 2, 3, 1]][None]  # one-hot "hellol"
    expected = np.repeat(np.array(scalar_recurrence(activation, k, r, b, units, steps))[:, None],
                         units, axis=1)[None]
    keras_out = keras.ops.convert_to_numpy(layer(x))
    module = parity.to_torch(layer)
    with torch.no_grad():
        torch_out = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(keras_out, expected, rtol=0, atol=atol)
    np.testing.assert_allclose(torch_out, expected, rtol=0, atol=atol)
