"""What the frameworks can run here, decided by probing them: half-precision recurrent cells are
not available everywhere (TensorFlow lacks some bfloat16 kernels on some CPUs; torch's CPU support
varies by version; Keras on JAX cannot initialise a float16 layer), and Keras on its torch and JAX
backends computes float64 layers in float32, or cannot run them at all."""

from __future__ import annotations

import functools
import re

import numpy as np

from parity.core import oracle
from parity.core.frameworks import keras
from parity.core.spec import CELL_KINDS, RecurrentSpec
from parity.layers import keras_side, torch_side

# a float64 layer computed in float64 misses the oracle by a few float64 round-offs; one computed in
# float32 anywhere (a matmul, an activation) by float32's, 2**-24 ~ 6e-8: this threshold lies between
_FLOAT64_PROBE_LIMIT = 1e-12


@functools.cache
def keras_precision_reason(dtype: str) -> str | None:
    """None if Keras, on its current backend, computes a ``dtype`` recurrent layer in ``dtype``;
    else why not (drawn cases then leave that dtype out, and the report header says so).

    The probe, for float64: each cell (SimpleRNN first) on a small random case, against the float64
    oracle. A layer computed in float64 throughout misses it by ~1e-16; one with any float32 step
    (Keras' torch and JAX backends map float64 to float32 in their type promotion; JAX without
    ``JAX_ENABLE_X64`` has no float64 at all) by ~1e-8; a layer Keras cannot run (its JAX scan
    with ``JAX_ENABLE_X64=1``) raises, and the error is the reason.

    Examples:
        >>> from parity.checks.capabilities import keras_precision_reason
        >>> keras_precision_reason("float32") is None
        True
    """
    if dtype != "float64":
        return None
    from parity.checks.cases import ParityCase

    where = f"Keras {keras.__version__} on its {keras.backend.backend()} backend{_x64_note()}"
    for kind in CELL_KINDS:
        case = ParityCase(RecurrentSpec(kind, 3, 2, return_sequences=True, dtype=dtype),
                          batch=2, steps=4, seed=0)
        try:
            layer = keras_side.build(case.spec)
            keras_side.write_weights(layer, case.weights())
            got = keras_side.run(layer, case.inputs()).output
        except Exception as e:  # noqa: BLE001 - any failure means "cannot compute it here"
            return (f"{where} cannot run a float64 {kind} layer ({type(e).__name__}: "
                    f"{_first_line(e)}); float64 cases are left out")
        exact = oracle.run(case.spec, case.weights(), case.inputs()).output
        error = float(np.max(np.abs(np.asarray(got, dtype=np.float64) - exact)))
        if np.asarray(got).dtype != np.float64 or error > _FLOAT64_PROBE_LIMIT:
            return (f"{where} computes float64 {kind} layers in float32 (probe: largest error "
                    f"{error:.2g} against the float64 oracle, returned as {np.asarray(got).dtype}; "
                    "float64 would miss it by ~1e-16); float64 cases are left out (the "
                    "TensorFlow backend computes them)")
    return None


def _first_line(error: Exception) -> str:
    """The first informative line of an error (Keras prefixes "Exception encountered when calling
    ..." and colours the rest with terminal escapes)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.startswith("Exception encountered")]
    return (lines[0] if lines else "")[:200]


def _x64_note() -> str:
    if keras.backend.backend() != "jax":
        return ""
    import jax

    return f" (JAX_ENABLE_X64={'1' if jax.config.jax_enable_x64 else 'unset'})"


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
