"""Keras 2 (tf-keras) layers and models, through a Keras 3 twin.

A Keras 2 object (``tf_keras``, or ``tf.keras`` under ``TF_USE_LEGACY_KERAS=1``) is recognised by
the module of its class, so nothing here imports ``tf_keras``. Its twin is the same layer or model
rebuilt in Keras 3 from the Keras 2 config (keys Keras 3 lacks translated or dropped: see
:data:`DROPPED`) holding the Keras 2 weights bit for bit; every public entry point then works on
the twin, and the checks compare the Keras 2 object's own outputs (:func:`run`, :func:`predict`).

Supported: what the Keras 3 path supports (``SimpleRNN``, ``LSTM``, ``GRU``, ``RNN`` of their
cells, ``Bidirectional``, lists of them, and ``Sequential`` or chain functional models with
``Embedding``, ``Masking``, ``Dropout``, ``Dense`` and ``TimeDistributed``).
"""

from __future__ import annotations

import contextlib
import sys
import weakref

import numpy as np

from parity.core.errors import ParityConfigError, TransferError, UnsupportedConfig
from parity.core.frameworks import keras
from parity.layers import keras_side

# the package itself (the keras2 extra: pip install -e '.[keras2]' from a checkout)
INSTALL = "pip install tf-keras"
# Keras 2 config keys Keras 3's layers do not take, and why dropping them changes nothing:
# `implementation` picks how LSTM/GRU batch their matrix products (same maths); `input_length`
# and `batch_input_shape` repeat the input shape, which the twin takes from the model's input.
# `time_major=False` is Keras 3's only layout and goes too; `time_major=True` is refused.
DROPPED = ("implementation", "input_length", "batch_input_shape")
_TWINS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# recognised by the module of the class (tf_keras is never imported for that); named in messages
# as "Keras 2 (tf-keras 2.21.0)"
is_keras2, version, label = keras_side.is_keras2, keras_side.keras2_version, keras_side.keras2_label


def _tf_keras():
    return sys.modules["tf_keras"]  # imported: a tf_keras object exists


@contextlib.contextmanager
def named_errors(obj):
    """Re-raise a configuration error met while handling ``obj`` (through its twin) with the
    Keras version it came from, so that a message never reads as if about a Keras 3 layer."""
    if not is_keras2(obj):
        yield
        return
    try:
        yield
    except ParityConfigError as e:
        if label() in str(e):
            raise
        place = f"{e.where} of " if e.where else ""
        raise type(e)(e.option, e.value, e.expected,
                      where=f"{place}a {label()} object, rebuilt in Keras {keras.__version__}"
                      ) from e


# ------------------------------------------------------------------------------ the Keras 3 twin

def _translated(config, where: str):
    """A Keras 2 config with the keys Keras 3 lacks dropped; ``time_major=True`` refused (Keras 3
    has no time-major layers)."""
    if isinstance(config, list):
        return [_translated(c, where) for c in config]
    if not isinstance(config, dict):
        return config
    if config.get("time_major"):
        raise UnsupportedConfig("time_major", True, f"Keras {keras.__version__} has no time-major "
                                "recurrent layers; rebuild the layer with time_major=False (inputs "
                                "batch first) in tf-keras, copy its weights, and port that",
                                where=f"{where}, {label()}")
    return {k: _policy_name(v) if k == "dtype" else _translated(v, where)
            for k, v in config.items() if k not in DROPPED and k != "time_major"}


def _policy_name(dtype):
    """Keras 2 serialises a dtype policy as ``{"class_name": "Policy", "config": {"name": ...}}``;
    Keras 3 takes the policy's name."""
    if isinstance(dtype, dict) and dtype.get("class_name") == "Policy":
        return dtype["config"]["name"]
    return dtype


def _twin_layer(layer):
    name = type(layer).__name__
    serialized = {"module": "keras.layers", "class_name": name,
                  "config": _translated(layer.get_config(), f"{name} layer {layer.name!r}"),
                  "registered_name": None}
    try:
        return keras.layers.deserialize(serialized)
    except (TypeError, ValueError) as e:  # a class or option Keras 3 does not know
        raise UnsupportedConfig("layer", name, f"Keras {keras.__version__} cannot rebuild this "
                                f"{label()} layer ({type(e).__name__}: {str(e)[:300]})",
                                where=layer.name) from e


def _check_built(obj, what: str) -> None:
    if not obj.built or not obj.weights:
        raise TransferError("built", False, f"build the {label()} {what} first (call it once, or "
                            "build it with its input shape)", where=obj.name)


def _chain(model) -> list:
    """The layers of a Keras 2 Sequential, or of a functional model that is one chain."""
    tfk = _tf_keras()
    layers = [layer for layer in model.layers if not isinstance(layer, tfk.layers.InputLayer)]
    if isinstance(model, tfk.Sequential):
        return layers
    config = model.get_config()
    previous = config["input_layers"][0][0] if len(config["input_layers"]) == 1 else None
    for entry in config["layers"]:
        if entry["class_name"] == "InputLayer":
            continue
        nodes = entry["inbound_nodes"]
        parents = [inbound[0] for inbound in nodes[0]] if len(nodes) == 1 else None
        if previous is None or parents != [previous]:
            raise UnsupportedConfig("model", model.name, "a functional model must be one chain "
                                    "(one input, each layer called once on the previous layer's "
                                    f"output); seen in a {label()} model", where=entry["name"])
        previous = entry["name"]
    if [o[0] for o in config["output_layers"]] != [previous]:
        raise UnsupportedConfig("model", model.name, "the model's output must be its last layer's; "
                                f"seen in a {label()} model")
    return layers


def _twin_model(model):
    _check_built(model, "model")
    layers = _chain(model)
    if not layers:
        raise UnsupportedConfig("model", model.name, f"the {label()} model has no layers")
    if len(model.inputs) != 1:
        raise UnsupportedConfig("model", model.name, "only single-input chains of layers are "
                                f"supported; seen in a {label()} model")
    source = model.inputs[0]
    inputs = keras.Input(tuple(source.shape)[1:], dtype=source.dtype.name)
    twins = [_twin_layer(layer) for layer in layers]
    if isinstance(model, _tf_keras().Sequential):
        return keras.Sequential([inputs, *twins], name=model.name)
    x = inputs
    for twin in twins:
        x = twin(x)
    return keras.Model(inputs, x, name=model.name)


def _twin_recurrent(layer):
    tfk = _tf_keras()
    if not isinstance(layer, (tfk.layers.RNN, tfk.layers.Bidirectional)):
        raise UnsupportedConfig("layer", type(layer).__name__, "a recurrent stack may hold only "
                                "SimpleRNN, LSTM, GRU, RNN and Bidirectional layers; for whole "
                                f"models pass the model (seen: a {label()} layer)",
                                where=layer.name)
    _check_built(layer, f"{type(layer).__name__} layer")
    twin = _twin_layer(layer)
    # the first weight is the (first) kernel, shaped (input size, gates * units)
    input_size = int(layer.get_weights()[0].shape[0])
    try:
        twin.build((None, None, input_size))
    except (TypeError, ValueError, AttributeError) as e:  # an option Keras 3 reads otherwise
        raise UnsupportedConfig("layer", type(layer).__name__, f"Keras {keras.__version__} cannot "
                                f"build the twin of this {label()} layer ({type(e).__name__}: "
                                f"{str(e)[:300]})", where=layer.name) from e
    return twin


def _filled(original, twin):
    """``twin`` holding ``original``'s current weights, checked bit-identical."""
    weights = original.get_weights()
    shapes = [w.shape for w in weights], [tuple(v.shape) for v in twin.weights]
    if shapes[0] != shapes[1]:
        raise TransferError("weights", shapes[0], f"the Keras {keras.__version__} twin of this "
                            f"{label()} object holds weights shaped {shapes[1]}",
                            where=original.name)
    twin.set_weights(weights)
    copied = twin.get_weights()
    for i, (a, b) in enumerate(zip(weights, copied)):
        if a.dtype != b.dtype or not np.array_equal(a, b):
            raise TransferError("weights", f"#{i} ({twin.weights[i].path})", "the Keras "
                                f"{keras.__version__} twin must hold the {label()} weights bit for "
                                f"bit; it holds {b.dtype} values differing from the {a.dtype} ones",
                                where=original.name)
    return twin


def twin(obj):
    """The Keras 3 layer, list of layers or model computing what the Keras 2 ``obj`` computes,
    holding ``obj``'s current weights bit for bit (built once per object, refilled each call).

    Args:
        obj: a built tf-keras recurrent layer, a list of them, or a tf-keras ``Sequential`` or
            chain functional model.

    Returns:
        The Keras 3 counterpart (same class names, options and weights).

    Raises:
        UnsupportedConfig: a layer or option Keras 3 cannot rebuild (``time_major=True``, an
            unknown class), named with the Keras version seen.
        TransferError: ``obj`` is not built, or the twin's weights would differ.

    Examples:
        >>> from parity.models.keras2 import twin
        >>> twin(["not a layer"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        parity.core.errors.TransferError: keras2_obj='list': expected a tf-keras (Keras 2) ...
    """
    if not is_keras2(obj):
        raise TransferError("keras2_obj", type(obj).__name__, "expected a tf-keras (Keras 2) "
                            "recurrent layer, a list of them, or a tf-keras model")
    if isinstance(obj, (list, tuple)):
        return [twin(layer) for layer in obj]
    cached = _TWINS.get(obj)
    if cached is None:
        cached = _twin_model(obj) if isinstance(obj, _tf_keras().Model) else _twin_recurrent(obj)
        _TWINS[obj] = cached
    return _filled(obj, cached)


def as_keras3(obj):
    """``obj`` itself, or for a Keras 2 (tf-keras) object its Keras 3 :func:`twin`: what the
    Keras 3 machinery reads and describes.

    Args:
        obj: a Keras 3 or tf-keras layer, list of layers or model (or anything else: returned as
            it is, for the caller's own check to refuse).

    Returns:
        ``obj``, or its twin.

    Raises:
        UnsupportedConfig, TransferError: as for :func:`twin`.

    Examples:
        >>> import keras
        >>> layer = keras.layers.GRU(2)
        >>> as_keras3(layer) is layer
        True
    """
    return twin(obj) if is_keras2(obj) else obj


def get_weights(obj) -> list[np.ndarray]:
    """Every weight of a Keras 2 or Keras 3 layer, list of layers or model, in Keras' order."""
    if isinstance(obj, (list, tuple)):
        return [w for layer in obj for w in layer.get_weights()]
    return obj.get_weights()


def write_back(obj, filled_twin) -> None:
    """Copy the weights of ``filled_twin`` (a twin written to) into the Keras 2 ``obj``."""
    if isinstance(obj, (list, tuple)):
        for layer, layer_twin in zip(obj, filled_twin, strict=True):
            layer.set_weights(layer_twin.get_weights())
        return
    obj.set_weights(filled_twin.get_weights())


def _layers(obj) -> list:
    if isinstance(obj, (list, tuple)):
        return list(obj)
    tfk = _tf_keras()
    if isinstance(obj, tfk.Model):
        return [layer for layer in obj.layers if not isinstance(layer, tfk.layers.InputLayer)]
    return [obj]


def run(obj, x: np.ndarray, initial_state=None, mask=None):
    """The Keras 2 recurrent layer (or stack) ``obj`` run on numpy inputs: numpy
    :class:`parity.core.spec.Outputs`, states in spec order (as :func:`keras_side.run`)."""
    layer_twin = twin(obj)
    flat = keras_side.call(layer_twin, x, initial_state, mask, run_with=_layers(obj))
    return keras_side.outputs(layer_twin, [np.asarray(t) for t in flat])


def predict(model, x: np.ndarray) -> np.ndarray:
    """The Keras 2 ``model``'s first output on ``x`` in inference mode, as float64 numpy."""
    xs = x.astype(np.int32) if np.issubdtype(x.dtype, np.integer) else x
    out = model(xs, training=False)
    return np.asarray(out[0] if isinstance(out, (list, tuple)) else out, dtype=np.float64)
