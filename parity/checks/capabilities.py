"""What the frameworks can run here: half-precision recurrent cells are not available everywhere
(TensorFlow lacks some bfloat16 kernels on some CPUs; torch's CPU support varies by version)."""

from __future__ import annotations

import functools

import numpy as np

from parity.core.spec import RecurrentSpec
from parity.layers import keras_side, torch_side


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
