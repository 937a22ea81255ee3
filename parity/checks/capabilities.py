"""What the frameworks can run here, decided by probing them: half-precision recurrent cells are
not available everywhere (TensorFlow lacks some bfloat16 kernels on some CPUs; torch's CPU support
varies by version), and Keras on its torch backend computes float64 layers in float32."""

from __future__ import annotations

import functools

import numpy as np

from parity.core.frameworks import keras
from parity.core.spec import LayerWeights, RecurrentSpec
from parity.layers import keras_side, torch_side


@functools.cache
def keras_precision_reason(dtype: str) -> str | None:
    """None if Keras, on its current backend, computes a ``dtype`` recurrent layer in ``dtype``;
    else why not (drawn cases then leave that dtype out, and the report header says so).

    The probe: a SimpleRNN(1, relu, no bias) with kernel 1 on x = 1 + 2**-40 returns x itself
    only when it computes in float64 (float32 rounds x to 1)."""
    if dtype != "float64":
        return None
    spec = RecurrentSpec("simple_rnn", 1, 1, activation="relu", use_bias=False, dtype=dtype)
    layer = keras_side.build(spec)
    keras_side.write_weights(layer, (LayerWeights(np.ones((1, 1)), np.zeros((1, 1))),))
    x = np.full((1, 1, 1), 1 + 2.0 ** -40)
    out = float(np.asarray(keras_side.run(layer, x).output).ravel()[0])
    if out == x.item():
        return None
    return (f"Keras {keras.__version__} on its {keras.backend.backend()} backend computes float64 "
            f"recurrent layers in float32 (probe: relu(1 * {x.item()!r}) gave {out!r}); float64 "
            "cases are left out (the TensorFlow backend computes them)")


def computable_dtypes(dtypes) -> tuple[str, ...]:
    """Those of ``dtypes`` Keras computes in their own precision here (:func:`keras_precision_reason`)."""
    return tuple(d for d in dtypes if keras_precision_reason(d) is None)


@functools.cache
def unsupported_reason(dtype: str, kind: str = "lstm") -> str | None:
    """None if both frameworks run a ``kind`` cell forward and backward in ``dtype`` on the default
    device, else why not (for a skip message)."""
    spec = RecurrentSpec(kind, 2, 2, return_sequences=True, dtype=dtype)
    x = np.zeros((1, 2, 2), dtype=spec.np_dtype)
    try:
        keras_side.run(keras_side.build(spec), x)
    except Exception as e:  # noqa: BLE001 - any failure means "cannot run here"
        return f"Keras cannot run a {dtype} {kind} here: {type(e).__name__}: {e}"[:300]
    try:
        module = torch_side.KerasRNN(spec)
        module(torch_side.to_tensor(x).requires_grad_()).sum().backward()
    except Exception as e:  # noqa: BLE001
        return f"torch cannot run a {dtype} {kind} here: {type(e).__name__}: {e}"[:300]
    return None
