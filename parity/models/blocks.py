"""Whole models: a chain of blocks (Embedding, Masking, recurrent layers, Dropout, Dense, each
optionally time-distributed) moved between a Keras ``Sequential`` (or a chain-shaped functional
model) and the torch module :class:`KerasSequential`, with Keras' mask flowing through exactly as
Keras lets it flow.

Like single layers, a model is read into framework-neutral blocks plus canonical weights (Keras
orientation, float64), and each side is built from or written to those, so the two frameworks and
every check share one description.

Mask flow (Keras 3, ``Layer.compute_mask``): ``Embedding(mask_zero=True)`` makes ``ids != 0``;
``Masking`` makes ``any(x != value)`` and zeroes the masked steps; a recurrent layer consumes it
and passes it on only with ``return_sequences``; ``Dropout``, ``Dense`` and ``TimeDistributed``
pass it through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from parity.core import exercised
from parity.core.errors import ParityConfigError, TransferError, UnsupportedConfig
from parity.core.frameworks import keras, torch
from parity.core.spec import RecurrentSpec, Weights
from parity.layers import keras_side, torch_side

nn = torch.nn
ACTIVATIONS = {"linear": lambda t: t, "relu": torch.relu, "tanh": torch.tanh,
               "sigmoid": torch.sigmoid, "softmax": lambda t: torch.softmax(t, dim=-1)}
SUPPORTED_KERAS = ("Embedding", "Masking", "SimpleRNN", "LSTM", "GRU", "RNN", "Bidirectional",
                   "Dropout", "Dense", "TimeDistributed(Dense)", "TimeDistributed(Dropout)")
SUPPORTED_TORCH = ("nn.Embedding", "parity.KerasRNN", "nn.Dropout", "nn.Linear (optionally followed "
                   "by nn.ReLU/nn.Tanh/nn.Sigmoid/nn.Softmax(dim=-1))", "nn.Identity")


@dataclass(frozen=True)
class Embedding:
    input_dim: int
    output_dim: int
    mask_zero: bool = False
    trainable: bool = True
    dtype: str = "float32"


@dataclass(frozen=True)
class Masking:
    mask_value: float = 0.0


@dataclass(frozen=True)
class Recurrent:
    spec: RecurrentSpec


@dataclass(frozen=True)
class Dropout:
    rate: float
    time_distributed: bool = False


@dataclass(frozen=True)
class Dense:
    input_size: int
    units: int
    activation: str = "linear"
    use_bias: bool = True
    time_distributed: bool = False
    dtype: str = "float32"


Block = Embedding | Masking | Recurrent | Dropout | Dense
# weights of one block: Recurrent -> Weights (tuple of LayerWeights); Embedding -> {"embeddings"};
# Dense -> {"kernel" (input, units), "bias"}; Masking, Dropout -> {}
BlockWeights = Weights | dict


# --------------------------------------------------------------------------------- Keras side

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
        if activation not in ACTIVATIONS:
            raise UnsupportedConfig("activation", activation,
                                    f"supported Dense activations are {sorted(ACTIVATIONS)}",
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
    _check_chain(blocks)
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
    _check_chain(blocks)
    dtype = _model_dtype(blocks)
    layers = [_keras_layer(b, dtype) for b in blocks]
    return keras.Sequential([_keras_input(blocks[0], blocks[1] if len(blocks) > 1 else None),
                             *layers])


def _check_chain(blocks: tuple[Block, ...]) -> None:
    """Refuse chains Keras would build but torch cannot follow step by step."""
    for i, block in enumerate(blocks):
        if isinstance(block, Embedding) and i:
            raise UnsupportedConfig("Embedding", f"layer {i}", "an Embedding must come first")
        if isinstance(block, Recurrent) and block.spec.return_state:
            raise UnsupportedConfig("return_state", True, "a recurrent layer inside a model must "
                                    "return one tensor, as Keras' Sequential requires: build it "
                                    "with return_state=False (a spec read from a plain torch "
                                    "module has it set, as the module returns its states: use "
                                    "parity.read(module)[0].replace(return_state=False))",
                                    where=f"layer {i}")


# --------------------------------------------------------------------------------- torch side

class KerasSequential(nn.Module):
    """A torch module computing what a Keras ``Sequential`` of the supported layers computes.

    ``self.layers`` holds one torch module per Keras layer (``nn.Embedding``, ``parity.KerasRNN``,
    ``nn.Dropout``, ``nn.Linear``; ``nn.Identity`` for Masking), and ``self.blocks`` what each is.
    Called on token ids (or features, and an optional boolean ``mask`` (batch, time)), it returns
    the last layer's output, with the Keras mask passed from layer to layer. A frozen Keras
    Embedding becomes a parameter with ``requires_grad=False``.

    Built by :func:`parity.to_torch` from a Keras model; to build one by hand, take the blocks
    of a Keras model (``parity.models.blocks.read(model)[0]``).

    Args:
        blocks: what each layer is, in order (:class:`parity.models.blocks.Block`).

    Raises:
        UnsupportedConfig: the chain of blocks is not one Keras could run.

    Examples:
        >>> import keras, parity, torch
        >>> model = keras.Sequential([keras.Input((6,)), keras.layers.Embedding(11, 4),
        ...                           keras.layers.SimpleRNN(5), keras.layers.Dense(2)])
        >>> torch_model = parity.to_torch(model)
        >>> type(torch_model).__name__, tuple(torch_model(torch.ones(3, 6, dtype=torch.long)).shape)
        ('KerasSequential', (3, 2))
    """

    def __init__(self, blocks: tuple[Block, ...]) -> None:
        super().__init__()
        _check_chain(blocks)
        self.blocks = tuple(blocks)
        self.layers = nn.ModuleList(_torch_layer(b) for b in self.blocks)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for block, layer in zip(self.blocks, self.layers):
            if isinstance(block, Embedding):
                if x.dtype not in (torch.int32, torch.int64):
                    raise UnsupportedConfig("x.dtype", str(x.dtype), "an Embedding takes integer "
                                            "token ids")
                mask = (x != 0) if block.mask_zero else mask
                x = layer(x.long())
            elif isinstance(block, Masking):
                keep = (x != block.mask_value).any(dim=-1)
                mask, x = keep, torch.where(keep[..., None], x, torch.zeros_like(x))
            elif isinstance(block, Recurrent):
                x = layer(x, mask=mask)
                mask = mask if block.spec.return_sequences else None
            elif isinstance(block, Dense):
                x = ACTIVATIONS[block.activation](layer(x))
            else:
                x = layer(x)
        return x

    def extra_repr(self) -> str:
        return "mask flow as in Keras"


def _torch_layer(block: Block) -> nn.Module:
    if isinstance(block, Embedding):
        layer = nn.Embedding(block.input_dim, block.output_dim,
                             dtype=torch_side.TORCH_DTYPES[block.dtype])
        layer.weight.requires_grad_(block.trainable)
        return layer
    if isinstance(block, Recurrent):
        return torch_side.KerasRNN(block.spec)
    if isinstance(block, Dropout):
        return nn.Dropout(block.rate)
    if isinstance(block, Dense):
        return nn.Linear(block.input_size, block.units, bias=block.use_bias,
                         dtype=torch_side.TORCH_DTYPES[block.dtype])
    return nn.Identity()


_TORCH_ACTIVATIONS = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid"}


def _torch_dtype(p: torch.Tensor) -> str:
    return torch_side.DTYPE_NAMES[p.dtype]


def _from_nn_sequential(seq: nn.Sequential) -> tuple[tuple[Block, ...], list[nn.Module]]:
    """Blocks of a plain ``nn.Sequential``, and the module holding each block's weights."""
    positions = [k for k, m in enumerate(seq) if not isinstance(m, nn.Identity)]
    modules = [seq[k] for k in positions]
    blocks, owners, i = [], [], 0
    while i < len(modules):
        m = modules[i]
        if isinstance(m, nn.Linear):
            activation, nxt = "linear", modules[i + 1] if i + 1 < len(modules) else None
            if type(nxt) in _TORCH_ACTIVATIONS:
                activation, i = _TORCH_ACTIVATIONS[type(nxt)], i + 1
            elif isinstance(nxt, nn.Softmax) and nxt.dim in (-1, None):
                activation, i = "softmax", i + 1
            blocks.append(Dense(m.in_features, m.out_features, activation, m.bias is not None,
                                dtype=_torch_dtype(m.weight)))
        elif isinstance(m, nn.Embedding):
            blocks.append(Embedding(m.num_embeddings, m.embedding_dim,
                                    trainable=m.weight.requires_grad, dtype=_torch_dtype(m.weight)))
        elif isinstance(m, nn.Dropout):
            blocks.append(Dropout(float(m.p)))
        elif isinstance(m, torch_side.KerasRNN):
            blocks.append(Recurrent(torch_side.describe(m)))
        elif type(m) in torch_side.KINDS:
            raise UnsupportedConfig("module", torch_side.qualified_name(m),
                                    "a plain recurrent module returns (output, h_n) and cannot "
                                    "sit in nn.Sequential; wrap it as parity.KerasRNN(parity.read("
                                    "module)[0].replace(return_state=False), rnn=module), adding "
                                    "return_sequences=False to keep only the last step (Keras' "
                                    "default)", where=f"nn.Sequential item {positions[i]}")
        else:
            raise UnsupportedConfig("module", torch_side.qualified_name(m),
                                    f"supported modules are {', '.join(SUPPORTED_TORCH)}",
                                    where=f"nn.Sequential item {positions[i]}")
        owners.append(m)
        i += 1
    if not blocks:
        raise UnsupportedConfig("module", "nn.Sequential()", "the Sequential has no layers")
    return tuple(blocks), owners


_OWNERS = {Embedding: nn.Embedding, Masking: nn.Identity, Recurrent: torch_side.KerasRNN,
           Dropout: nn.Dropout, Dense: nn.Linear}


def _live_block(i: int, block: Block, layer: nn.Module) -> Block:
    """What ``layer`` (the module a ``KerasSequential`` holds for ``block``) is now: a layer
    replaced after building is described as it is, so a copy is validated against it."""
    if not isinstance(layer, _OWNERS[type(block)]):
        raise TransferError(f"layer {i}", type(layer).__name__,
                            f"the KerasSequential's layer {i} was built as "
                            f"{_OWNERS[type(block)].__name__} for {block} and has been replaced")
    if isinstance(block, Embedding):
        # trainable as built: freezing a parameter for a run does not change the layer
        return Embedding(layer.num_embeddings, layer.embedding_dim, block.mask_zero,
                         block.trainable, _torch_dtype(layer.weight))
    if isinstance(block, Recurrent):
        return Recurrent(torch_side.describe(layer))
    if isinstance(block, Dropout):
        return Dropout(float(layer.p), block.time_distributed)
    if isinstance(block, Dense):
        return Dense(layer.in_features, layer.out_features, block.activation,
                     layer.bias is not None, block.time_distributed, _torch_dtype(layer.weight))
    return block


def torch_parts(module) -> tuple[tuple[Block, ...], list[nn.Module]]:
    if isinstance(module, KerasSequential):
        layers = list(module.layers)
        if len(layers) != len(module.blocks):
            raise TransferError("layers", len(layers), f"the KerasSequential was built with "
                                f"{len(module.blocks)} layers")
        return tuple(_live_block(i, b, m) for i, (b, m) in enumerate(zip(module.blocks, layers))), \
            layers
    if isinstance(module, nn.Sequential):
        return _from_nn_sequential(module)
    raise TransferError("module", type(module).__name__,
                        "expected a parity.KerasSequential or an nn.Sequential of supported modules")


def _torch_weights(block: Block, owner: nn.Module) -> BlockWeights:
    def arr(p):
        return p.detach().cpu().to(torch.float64).numpy()
    if isinstance(block, Recurrent):
        return torch_side.read_weights(owner)
    if isinstance(block, Embedding):
        return {"embeddings": arr(owner.weight)}
    if isinstance(block, Dense):
        out = {"kernel": arr(owner.weight).T}
        if block.use_bias:
            out["bias"] = arr(owner.bias)
        return out
    return {}


def read_torch(module) -> tuple[tuple[Block, ...], list[BlockWeights]]:
    blocks, owners = torch_parts(module)
    return blocks, [_torch_weights(b, o) for b, o in zip(blocks, owners)]


def write_torch(module, weights: list[BlockWeights]) -> None:
    """Write every block's weights; every parameter is checked against its array before the
    first one is written."""
    blocks, owners = torch_parts(module)
    if len(weights) != len(blocks):
        raise TransferError("layers", len(weights), f"the destination has {len(blocks)} layers")
    writes = []
    for i, (block, owner, w) in enumerate(zip(blocks, owners, weights)):
        if isinstance(block, Recurrent):
            writes += torch_side.weight_writes(owner, w)
            continue
        pairs = []
        if isinstance(block, Embedding):
            pairs = [("weight", owner.weight, w["embeddings"])]
        elif isinstance(block, Dense):
            pairs = [("weight", owner.weight, np.ascontiguousarray(w["kernel"].T))]
            if block.use_bias:
                pairs.append(("bias", owner.bias, w["bias"]))
        for name, p, value in pairs:
            if tuple(p.shape) != value.shape:
                raise TransferError(f"layer {i} {name}", value.shape,
                                    f"the destination parameter has shape {tuple(p.shape)}")
            writes.append((p, value))
    torch_side.apply_writes(writes)


# --------------------------------------------------------------------------------- both

def checked_layers(obj) -> tuple[list[RecurrentSpec], bool]:
    """The recurrent layers of a Keras model or layer (or a torch module) as specs, and whether a
    mask (``Embedding(mask_zero=True)``, ``Masking``) reaches them: what a check of ``obj``
    exercises. ``([], False)`` for an object :func:`read` refuses (the check itself says why),
    and, without reading anything, while no recording (:mod:`parity.core.exercised`) is on.

    Examples:
        >>> import keras
        >>> from parity.core import exercised
        >>> model = keras.Sequential([keras.Input((None,), dtype="int32"),
        ...                           keras.layers.Embedding(5, 3, mask_zero=True),
        ...                           keras.layers.GRU(2)])
        >>> with exercised.recording():
        ...     specs, masked = checked_layers(model)
        >>> [s.kind for s in specs], masked
        (['gru'], True)
    """
    if not exercised.recording_on():
        return [], False
    try:
        blocks = read(obj)[0]
    except ParityConfigError:
        return [], False
    masked = any(isinstance(b, Masking) or (isinstance(b, Embedding) and b.mask_zero)
                 for b in blocks)
    return [b.spec for b in blocks if isinstance(b, Recurrent)], masked


def read(obj) -> tuple[tuple[Block, ...], list[BlockWeights]]:
    """Blocks and canonical weights of a Keras model or layer, or of a torch module."""
    if keras_side.is_keras(obj):
        if is_keras_model(obj):
            return read_keras(obj)
        spec, weights = keras_side.describe(obj), keras_side.read_weights(obj)
        return (Recurrent(spec),), [weights]
    if isinstance(obj, (KerasSequential, nn.Sequential)):
        return read_torch(obj)
    if torch_side.is_torch(obj):
        return (Recurrent(torch_side.describe(obj)),), [torch_side.read_weights(obj)]
    raise TransferError("model", type(obj).__name__, "expected a Keras model or layer, or a torch "
                        "module")


def check_same_blocks(src: tuple[Block, ...], dst: tuple[Block, ...]) -> None:
    """Raise TransferError naming the first layer where two chains differ."""
    if len(src) != len(dst):
        raise TransferError("layers", len(src), f"the destination has {len(dst)} layers")
    for i, (a, b) in enumerate(zip(src, dst)):
        if isinstance(a, Recurrent) and isinstance(b, Recurrent):
            diffs = a.spec.same_computation(b.spec)
            if diffs:
                option, mine, theirs = diffs[0]
                raise TransferError(option, mine, f"the destination has {option}={theirs!r}",
                                    where=f"layer {i}")
        elif a != b:
            raise TransferError(f"layer {i}", a, f"the destination's layer {i} is {b}")


def rounded_biases(chain: tuple[Block, ...], names) -> set[str]:
    """Of ``names`` (:func:`named_arrays`' keys for ``chain``), the biases a transfer rounds once:
    a recurrent layer's bias, which Keras stores as the sum of torch's two."""
    return {n for n in names if n.endswith(".bias")
            and isinstance(block := chain[int(n.split(".", 1)[0])], Recurrent)
            and block.spec.biases_summed}


def named_arrays(blocks: tuple[Block, ...], weights: list[BlockWeights]) -> dict[str, np.ndarray]:
    """Every weight as ``"<layer>.<kind>.<name>"``; a recurrent layer's two biases appear once, as
    their sum, where the Keras cell has a single bias (only the sum is a parameter there)."""
    out = {}
    for i, (block, w) in enumerate(zip(blocks, weights)):
        if isinstance(block, Recurrent):
            spec = block.spec
            for j, layer_weights in enumerate(w):
                arrays = layer_weights.arrays()
                if spec.biases_summed and "bias" in arrays:
                    arrays["bias"] = arrays["bias"] + arrays.pop("recurrent_bias")
                out.update({f"{i}.{spec.kind}[{j}].{k}": v for k, v in arrays.items()})
        else:
            out.update({f"{i}.{type(block).__name__.lower()}.{k}": v for k, v in w.items()})
    return out


def to_torch(model) -> KerasSequential:
    blocks, weights = read_keras(model)
    module = KerasSequential(blocks)
    write_torch(module, weights)
    return module


def to_keras(module):
    blocks, weights = read_torch(module)
    model = build_keras(blocks)
    write_keras(model, weights)
    return model
