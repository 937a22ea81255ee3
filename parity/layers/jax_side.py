"""Keras on its JAX backend, compiled: a Keras call evaluated statelessly (its variables' values
passed in, as ``Layer.stateless_call`` does through ``keras.StatelessScope``) inside ``jax.jit``.

Eager Keras on JAX traces and compiles its ``lax.scan`` anew at every call of a recurrent layer
(0.4 - 2 s each here). A compiled function is kept per Keras configuration instead, built around a
clone of the object made from its config (``keras.saving``), and called with the values of
whichever object of that configuration is checked: objects of one configuration share one
compilation, and ``jax.jit`` itself keeps one per input shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from parity.core.frameworks import keras

_COMPILED: dict[tuple, tuple[object, Callable]] = {}


def _without_names(config):
    """A Keras config with every ``name`` removed (names differ between equal objects)."""
    if isinstance(config, dict):
        return {k: _without_names(v) for k, v in config.items() if k != "name"}
    if isinstance(config, (list, tuple)):
        return [_without_names(v) for v in config]
    return config


def _serialized(obj) -> list:
    parts = list(obj) if isinstance(obj, (list, tuple)) else [obj]
    return [keras.saving.serialize_keras_object(part) for part in parts]


def config_key(obj) -> str:
    """What makes two Keras objects compute the same function of their weights: their configs
    (build shapes included), names left out.

    Examples:
        >>> import keras
        >>> from parity.layers.jax_side import config_key
        >>> a, b = keras.layers.GRU(2), keras.layers.GRU(2)
        >>> a.build((None, None, 3)); b.build((None, None, 3))
        >>> config_key(a) == config_key(b), config_key(a) == config_key(keras.layers.GRU(3))
        (True, False)
    """
    return json.dumps(_without_names(_serialized(obj)), sort_keys=True, default=str)


def _clone(obj):
    clones = [keras.saving.deserialize_keras_object(c) for c in _serialized(obj)]
    return clones if isinstance(obj, (list, tuple)) else clones[0]


def compiled(obj, purpose: str, make: Callable[[object], Callable]) -> tuple[object, Callable]:
    """``(template, make(template))``, made once per ``purpose`` and configuration of ``obj``:
    ``template`` is a clone of ``obj`` whose variables stand for ``obj``'s in the stateless call
    (:func:`stateless`), ``make`` returns the ``jax.jit`` function to keep."""
    key = (purpose, config_key(obj))
    if key not in _COMPILED:
        template = _clone(obj)
        _COMPILED[key] = (template, make(template))
    return _COMPILED[key]


def stateless(variables, values):
    """A scope in which Keras reads each of ``variables`` as the matching one of ``values``
    (traced arrays inside ``jax.jit``)."""
    return keras.StatelessScope(state_mapping=list(zip(variables, values)))


def use_compilation_cache(folder: str) -> None:
    """Keep JAX's compiled functions in ``folder`` across processes (JAX's persistent compilation
    cache; its keys include the jax version, the computation and the compiler options). The
    default profile draws the same examples on every run, hence the same configurations: a
    second run on the same machine loads what the first compiled instead of compiling again.

    Args:
        folder: where to keep them (made if missing).

    Returns:
        None.

    Raises:
        OSError: ``folder`` cannot be made.

    Examples:
        >>> import tempfile
        >>> use_compilation_cache(tempfile.mkdtemp())  # doctest: +SKIP
    """
    import os

    import jax

    os.makedirs(folder, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", folder)
    # every compilation, however quick: the checks' many small scans add up
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
