"""One framework-neutral description of a recurrent layer, and its weights in one canonical layout.

The Keras side, the torch side and the float64 oracle are each built from, or read into, a
:class:`RecurrentSpec` plus a tuple of :class:`LayerWeights`, so no two of them can disagree about
what a layer is without one of the readers noticing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from parity.errors import UnsupportedConfig


@dataclass(frozen=True)
class CellKind:
    """What differs between cell types: the gate blocks and the order each framework stores them in."""

    name: str
    keras_gate_order: tuple[str, ...]
    torch_gate_order: tuple[str, ...]

    @property
    def gates(self) -> int:
        return len(self.keras_gate_order)

    def keras_to_torch_blocks(self) -> list[int]:
        """For each torch gate block, the index of the same gate's block in the Keras layout."""
        return [self.keras_gate_order.index(g) for g in self.torch_gate_order]


CELL_KINDS: dict[str, CellKind] = {
    "simple_rnn": CellKind("simple_rnn", ("h",), ("h",)),
}

ACTIVATIONS = ("tanh", "relu")  # the activations torch.nn.RNN offers
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class RecurrentSpec:
    """A (possibly stacked) recurrent layer as both frameworks see it.

    ``go_backwards`` means the whole stack reads time in reverse and returns its sequence in that
    (reversed) processing order, as Keras does. ``return_state`` returns the final state of every
    layer, bottom first, as ``keras.layers.RNN([cells...], return_state=True)`` does.
    """

    kind: str
    units: int
    input_size: int
    num_layers: int = 1
    activation: str = "tanh"
    use_bias: bool = True
    return_sequences: bool = False
    return_state: bool = False
    go_backwards: bool = False
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.kind not in CELL_KINDS:
            raise UnsupportedConfig("kind", self.kind, f"supported kinds are {sorted(CELL_KINDS)}")
        for name in ("units", "input_size", "num_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise UnsupportedConfig(name, value, "must be a positive integer")
        if self.activation not in ACTIVATIONS:
            raise UnsupportedConfig(
                "activation", self.activation,
                f"torch.nn.RNN offers only {ACTIVATIONS}; no exact counterpart exists")
        if self.dtype not in DTYPES:
            raise UnsupportedConfig("dtype", self.dtype, f"supported dtypes are {DTYPES}")

    @property
    def cell(self) -> CellKind:
        return CELL_KINDS[self.kind]

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    def layer_input_size(self, layer: int) -> int:
        return self.input_size if layer == 0 else self.units

    def replace(self, **changes) -> RecurrentSpec:
        return dataclasses.replace(self, **changes)

    def same_computation(self, other: RecurrentSpec) -> list[tuple[str, object, object]]:
        """Fields (name, mine, theirs) on which two specs describe different weights or maths."""
        fields = ("kind", "units", "input_size", "num_layers", "activation", "use_bias", "dtype")
        return [(f, getattr(self, f), getattr(other, f)) for f in fields
                if getattr(self, f) != getattr(other, f)]


@dataclass(frozen=True)
class LayerWeights:
    """One layer's weights in the canonical layout: Keras orientation and gate order, float64.

    ``kernel`` (input, gates*units) and ``recurrent_kernel`` (units, gates*units) multiply from the
    right. ``bias`` is added to the input projection and ``recurrent_bias`` to the recurrent one;
    torch keeps both (``bias_ih``, ``bias_hh``), a Keras SimpleRNN only their sum.
    """

    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray | None = None
    recurrent_bias: np.ndarray | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


Weights = tuple[LayerWeights, ...]


def check_weights(spec: RecurrentSpec, weights: Weights) -> None:
    """Raise if ``weights`` do not have the shapes ``spec`` implies."""
    if len(weights) != spec.num_layers:
        raise UnsupportedConfig("weights", f"{len(weights)} layers",
                                f"the spec has num_layers={spec.num_layers}")
    g, h = spec.cell.gates, spec.units
    for i, w in enumerate(weights):
        expected = {"kernel": (spec.layer_input_size(i), g * h), "recurrent_kernel": (h, g * h)}
        if spec.use_bias:
            expected.update(bias=(g * h,), recurrent_bias=(g * h,))
        got = {k: v.shape for k, v in w.arrays().items()}
        if got != expected:
            raise UnsupportedConfig(f"weights[{i}]", got, f"expected shapes {expected}")


@dataclass(frozen=True)
class Outputs:
    """What a recurrent layer returned, as numpy arrays: the output (last step, or the whole sequence
    in processing order) and the final state of every layer, bottom first."""

    output: np.ndarray
    states: tuple[np.ndarray, ...]

    def named(self) -> dict[str, np.ndarray]:
        named = {"output": self.output}
        named.update({f"state[{i}]": s for i, s in enumerate(self.states)})
        return named
