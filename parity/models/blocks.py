"""Whole models as framework-neutral blocks: a chain of blocks (Embedding, Masking, recurrent
layers, Dropout, Dense, each optionally time-distributed) moved between a Keras ``Sequential`` (or
a chain-shaped functional model) and the torch module
:class:`~parity.models.torch_blocks.KerasSequential`, with Keras' mask flowing through exactly as
Keras lets it flow.

Like single layers, a model is read into framework-neutral blocks plus canonical weights (Keras
orientation, float64), and each side is built from or written to those, so the two frameworks and
every check share one description.

Mask flow (Keras 3, ``Layer.compute_mask``): ``Embedding(mask_zero=True)`` makes ``ids != 0``;
``Masking`` makes ``any(x != value)`` and zeroes the masked steps; a recurrent layer consumes it
and passes it on only with ``return_sequences``; ``Dropout``, ``Dense`` and ``TimeDistributed``
pass it through unchanged.

Here: what each block is and which chains are valid; :mod:`parity.models.keras_blocks` and
:mod:`parity.models.torch_blocks` read, build and write each framework's side, and
:mod:`parity.models.chains` reads either and moves a model from one to the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from parity.core.errors import UnsupportedConfig
from parity.core.spec import RecurrentSpec, Weights

# the Dense activations both sides compute (parity.models.torch_blocks.ACTIVATIONS in torch)
DENSE_ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid", "softmax")


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


def check_chain(blocks: tuple[Block, ...]) -> None:
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

