"""Whole models from either framework (:mod:`parity.models.blocks`): read into blocks and
canonical weights, compared block by block and weight by weight, and moved from Keras to torch
and back."""

from __future__ import annotations

import numpy as np

from parity.core import exercised
from parity.core.errors import ParityConfigError, TransferError
from parity.core.frameworks import torch
from parity.core.spec import RecurrentSpec
from parity.layers import keras_side, torch_side
from parity.models.blocks import Block, BlockWeights, Embedding, Masking, Recurrent
from parity.models.keras_blocks import build_keras, is_keras_model, read_keras, write_keras
from parity.models.torch_blocks import KerasSequential, read_torch, write_torch

nn = torch.nn


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
