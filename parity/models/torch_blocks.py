"""The torch side of whole models (:mod:`parity.models.blocks`): :class:`KerasSequential`, the
torch module computing what a Keras ``Sequential`` computes, built from blocks; it or a plain
``nn.Sequential`` read into blocks and canonical weights, and written from them."""

from __future__ import annotations

import numpy as np

from parity.core.errors import TransferError, UnsupportedConfig
from parity.core.frameworks import torch
from parity.layers import torch_side
from parity.models.blocks import (
    Block,
    BlockWeights,
    Dense,
    Dropout,
    Embedding,
    Masking,
    Recurrent,
    check_chain,
)

nn = torch.nn
ACTIVATIONS = {"linear": lambda t: t, "relu": torch.relu, "tanh": torch.tanh,
               "sigmoid": torch.sigmoid, "softmax": lambda t: torch.softmax(t, dim=-1)}
SUPPORTED_TORCH = ("nn.Embedding", "parity.KerasRNN", "nn.Dropout", "nn.Linear (optionally followed "
                   "by nn.ReLU/nn.Tanh/nn.Sigmoid/nn.Softmax(dim=-1))", "nn.Identity")


class KerasSequential(nn.Module):
    """A torch module computing what a Keras ``Sequential`` of the supported layers computes.

    ``self.layers`` holds one torch module per Keras layer (``nn.Embedding``, ``parity.KerasRNN``,
    ``nn.Dropout``, ``nn.Linear``; ``nn.Identity`` for Masking), and ``self.blocks`` what each is.
    Called on token ids (or features, and an optional boolean ``mask`` (batch, time)), it returns
    the last layer's output, with the Keras mask passed from layer to layer. A frozen Keras
    Embedding becomes a parameter with ``requires_grad=False``.

    Built by :func:`parity.to_torch` from a Keras model; to build one by hand, take the blocks
    of a Keras model (``parity.models.chains.read(model)[0]``).

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
        check_chain(blocks)
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

