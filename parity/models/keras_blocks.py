"""The Keras side of whole models (:mod:`parity.models.blocks`): a Keras ``Sequential`` or
chain-shaped functional model read into blocks and canonical weights, built from blocks, and
written from canonical weights."""

from __future__ import annotations

from parity.core.errors import UnsupportedConfig
from parity.core.frameworks import keras
from parity.layers import keras_side
from parity.models.blocks import (
    DENSE_ACTIVATIONS,
    Block,
    BlockWeights,
    Dense,
    Dropout,
    Embedding,
    Masking,
    Recurrent,
    check_chain,
)

SUPPORTED_KERAS = ("Embedding", "Masking", "SimpleRNN", "LSTM", "GRU", "RNN", "Bidirectional",
                   "Dropout", "Dense", "TimeDistributed(Dense)", "TimeDistributed(Dropout)")


def is_keras_model(obj) -> bool:
    """A Keras model (Sequential or functional) that is not just a stack of recurrent layers one
    torch module can hold (a model of, say, an LSTM then a GRU is a chain of blocks)."""
    if not isinstance(obj, keras.Model):
        return False
    if not all(isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional))
               for layer in obj.layers):
        return True
    try:
        keras_side.describe(obj)
    except UnsupportedConfig:  # layers differing in kind, units, flags: one block each
        return True
    return False


def _chain(model) -> list:
    """The layers of a Sequential, or of a functional model that is a single chain."""
    if isinstance(model, keras.Sequential):
        return list(model.layers)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedConfig("model", model.name, "only single-input, single-output chains of "
                                "layers are supported")
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    previous = None
    for layer in layers:
        nodes = layer._inbound_nodes
        parents = [p.operation for p in nodes[0].parent_nodes] if len(nodes) == 1 else None
        # the mask travels as its own tensor, so an op such as not_equal can be a parent too
        layer_parents = None if parents is None else [
            p for p in parents if isinstance(p, keras.layers.Layer)]
        ok = layer_parents == [previous] if previous is not None else (
            layer_parents is not None and len(layer_parents) == 1
            and isinstance(layer_parents[0], keras.layers.InputLayer))
        if not ok:
            raise UnsupportedConfig("model", model.name, "a functional model must be one chain "
                                    "(each layer called once, on the previous layer's output)",
                                    where=layer.name)
        previous = layer
    if layers and model.outputs[0]._keras_history.operation is not layers[-1]:
        raise UnsupportedConfig("model", model.name, "the model's output must be its last layer's")
    return layers


def _unsupported_layer(layer) -> UnsupportedConfig:
    name = type(layer).__name__
    if isinstance(layer, keras.layers.TimeDistributed):
        name = f"TimeDistributed({type(layer.layer).__name__})"
    return UnsupportedConfig("layer", name, f"supported layers are {', '.join(SUPPORTED_KERAS)}",
                             where=layer.name)


def _keras_block(layer) -> Block:
    inner, distributed = layer, False
    if isinstance(layer, keras.layers.TimeDistributed):
        inner, distributed = layer.layer, True
        if not isinstance(inner, (keras.layers.Dense, keras.layers.Dropout)):
            raise _unsupported_layer(layer)
    if isinstance(inner, keras.layers.Dropout):
        return Dropout(float(inner.rate), distributed)
    if isinstance(inner, keras.layers.Dense):
        activation = keras_side.activation_name(inner.activation)
        if activation not in DENSE_ACTIVATIONS:
            raise UnsupportedConfig("activation", activation,
                                    f"supported Dense activations are {sorted(DENSE_ACTIVATIONS)}",
                                    where=inner.name)
        return Dense(int(inner.kernel.shape[0]), int(inner.units), activation,
                     bool(inner.use_bias), distributed, keras_side.layer_dtype(inner))
    if isinstance(layer, keras.layers.Embedding):
        return Embedding(int(layer.input_dim), int(layer.output_dim), bool(layer.mask_zero),
                         bool(layer.trainable), keras_side.layer_dtype(layer))
    if isinstance(layer, keras.layers.Masking):
        return Masking(float(layer.mask_value))
    if isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)):
        spec = keras_side.describe(layer)
        if spec.return_state:
            raise UnsupportedConfig("return_state", True, "inside a model a recurrent layer must "
                                    "return one tensor; set return_state=False", where=layer.name)
        return Recurrent(spec)
    raise _unsupported_layer(layer)


def _keras_weights(layer, block: Block) -> BlockWeights:
    inner = layer.layer if isinstance(layer, keras.layers.TimeDistributed) else layer
    if isinstance(block, Recurrent):
        return keras_side.read_weights(layer)
    if isinstance(block, Embedding):
        return {"embeddings": keras_side.as_float64(layer.embeddings)}
    if isinstance(block, Dense):
        out = {"kernel": keras_side.as_float64(inner.kernel)}
        if block.use_bias:
            out["bias"] = keras_side.as_float64(inner.bias)
        return out
    return {}


def read_keras(model) -> tuple[tuple[Block, ...], list[BlockWeights]]:
    keras_side.check_model_built(model)
    layers = _chain(model)
    if not layers:
        raise UnsupportedConfig("model", model.name, "the model has no layers")
    blocks = tuple(_keras_block(layer) for layer in layers)
    check_chain(blocks)
    _check_one_dtype(layers)
    return blocks, [_keras_weights(layer, b) for layer, b in zip(layers, blocks)]


def _check_one_dtype(layers) -> None:
    """Keras casts a layer's floating inputs to the layer's own dtype, so a wrapper or Dropout
    left at the default float32 silently computes a float64 model's values in float32."""
    dtypes = {}
    for layer in layers:
        for part in [layer, *([layer.layer] if isinstance(layer, keras.layers.TimeDistributed)
                              else [])]:
            if not isinstance(part, keras.layers.Embedding):  # its input is integer ids
                dtypes.setdefault(keras_side.layer_dtype(part), part.name)
    if isinstance(layers[0], keras.layers.Embedding):
        dtypes.setdefault(keras_side.layer_dtype(layers[0]), layers[0].name)
    if len(dtypes) > 1:
        raise UnsupportedConfig("dtype", sorted(dtypes), "every layer of the model must compute in "
                                "one dtype (pass dtype= to each layer, wrappers and Dropout "
                                f"included); layers seen: {dtypes}")


def write_keras(model, weights: list[BlockWeights]) -> None:
    for layer, w in zip(_chain(model), weights, strict=True):
        inner = layer.layer if isinstance(layer, keras.layers.TimeDistributed) else layer
        if isinstance(w, tuple):
            keras_side.write_weights(layer, w)
            continue
        for name, value in w.items():
            variable = getattr(inner, name)
            variable.assign(value.astype(variable.dtype))


def _keras_layer(block: Block, dtype: str):
    if isinstance(block, Embedding):
        return keras.layers.Embedding(block.input_dim, block.output_dim, mask_zero=block.mask_zero,
                                      trainable=block.trainable, dtype=block.dtype)
    if isinstance(block, Masking):
        return keras.layers.Masking(block.mask_value, dtype=dtype)
    if isinstance(block, Recurrent):
        return keras_side.build(block.spec)
    if isinstance(block, Dropout):
        layer = keras.layers.Dropout(block.rate, dtype=dtype)
    else:
        layer = keras.layers.Dense(block.units, activation=block.activation,
                                   use_bias=block.use_bias, dtype=block.dtype)
    return keras.layers.TimeDistributed(layer, dtype=dtype) if block.time_distributed else layer


def _model_dtype(blocks: tuple[Block, ...]) -> str:
    found = {b.spec.dtype if isinstance(b, Recurrent) else b.dtype for b in blocks
             if isinstance(b, (Recurrent, Embedding, Dense))}
    if len(found) > 1:
        raise UnsupportedConfig("dtype", sorted(found), "every layer of a model must compute in "
                                "one dtype")
    return found.pop() if found else "float32"


def _keras_input(first: Block, second: Block | None):
    if isinstance(first, Embedding):
        return keras.Input((None,), dtype="int32")
    if isinstance(first, Recurrent):
        return keras.Input((None, first.spec.input_size), dtype=first.spec.dtype)
    if isinstance(first, Masking) and isinstance(second, Recurrent):
        return keras.Input((None, second.spec.input_size), dtype=second.spec.dtype)
    raise UnsupportedConfig("first layer", type(first).__name__, "a model must start with an "
                            "Embedding, a Masking or a recurrent layer (they fix the input shape)")


def build_keras(blocks: tuple[Block, ...]):
    """A built ``keras.Sequential`` computing ``blocks``."""
    check_chain(blocks)
    dtype = _model_dtype(blocks)
    layers = [_keras_layer(b, dtype) for b in blocks]
    return keras.Sequential([_keras_input(blocks[0], blocks[1] if len(blocks) > 1 else None),
                             *layers])

