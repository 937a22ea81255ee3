"""One framework-neutral description of a recurrent layer, and its weights in one canonical layout.

The Keras side, the torch side and the float64 oracle are each built from, or read into, a
:class:`RecurrentSpec` plus a tuple of :class:`LayerWeights`, so no two of them can disagree about
what a layer is without one of the readers noticing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from parity.core.errors import UnsupportedConfig


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
    # LSTM: input, forget, cell candidate, output, in the same order in both frameworks
    "lstm": CellKind("lstm", ("i", "f", "c", "o"), ("i", "f", "c", "o")),
    # GRU: Keras stores update (z), reset (r), candidate (h); torch reset (r), update (z), new (n)
    "gru": CellKind("gru", ("z", "r", "h"), ("r", "z", "h")),
}

ACTIVATIONS = ("tanh", "relu")  # torch.nn.RNN's nonlinearities; LSTM and GRU use tanh only
DTYPES = ("float32", "float64", "float16", "bfloat16")
MERGE_MODES = ("concat", "sum", "mul", "ave", None)
STATES_PER_LAYER = {"simple_rnn": 1, "lstm": 2, "gru": 1}


@dataclass(frozen=True)
class RecurrentSpec:
    """A (possibly stacked, possibly bidirectional) recurrent layer as both frameworks see it.

    ``go_backwards`` means the whole stack reads time in reverse and returns its sequence in that
    (reversed) processing order, as Keras does. ``return_state`` returns the final states of every
    layer and direction: layer by layer, forward before backward, ``h`` before ``c`` (Keras' order
    for ``RNN([cells...])`` and ``Bidirectional``). ``reset_after`` is the GRU variant (True is
    torch's formula). ``merge_mode`` is Keras' Bidirectional merge of the last layer (``None``
    returns both directions); lower layers of a bidirectional stack concatenate, as torch does.
    ``zero_output_for_mask`` is Keras' choice of output at masked steps (zeros, or the last output).

    Raises:
        UnsupportedConfig: an option with no exact counterpart in the other framework (e.g. an
            LSTM activation other than tanh), or an invalid size or dtype.

    Examples:
        >>> import parity
        >>> spec = parity.RecurrentSpec("gru", units=8, input_size=3, num_layers=2,
        ...                             return_sequences=True)
        >>> spec.cell.gates, spec.states_per_layer, spec.output_size
        (3, 1, 8)
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
    reset_after: bool = True
    bidirectional: bool = False
    merge_mode: str | None = "concat"
    zero_output_for_mask: bool = False

    def __post_init__(self) -> None:
        if self.kind not in CELL_KINDS:
            raise UnsupportedConfig("kind", self.kind, f"supported kinds are {sorted(CELL_KINDS)}")
        for name in ("units", "input_size", "num_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise UnsupportedConfig(name, value, "must be a positive integer")
        allowed = ACTIVATIONS if self.kind == "simple_rnn" else ("tanh",)
        if self.activation not in allowed:
            raise UnsupportedConfig(
                "activation", self.activation,
                f"torch's {self.kind} offers only {allowed}; no exact counterpart exists")
        if self.dtype not in DTYPES:
            raise UnsupportedConfig("dtype", self.dtype, f"supported dtypes are {DTYPES}")
        if self.merge_mode not in MERGE_MODES:
            raise UnsupportedConfig("merge_mode", self.merge_mode, f"one of {MERGE_MODES}")
        if self.bidirectional and self.go_backwards:
            raise UnsupportedConfig("go_backwards", True, "a Bidirectional layer reads both ways "
                                    "already; wrap a layer with go_backwards=False")
        if self.bidirectional and self.zero_output_for_mask != self.return_sequences:
            raise UnsupportedConfig("zero_output_for_mask", self.zero_output_for_mask,
                                    "Keras' Bidirectional forces zero_output_for_mask = "
                                    f"return_sequences ({self.return_sequences})")
        if not self.reset_after and self.kind != "gru":
            raise UnsupportedConfig("reset_after", False, "only GRU has a reset_after variant")

    @property
    def cell(self) -> CellKind:
        return CELL_KINDS[self.kind]

    @property
    def np_dtype(self) -> np.dtype:
        if self.dtype == "bfloat16":
            import ml_dtypes  # shipped with TensorFlow/Keras and JAX
            return np.dtype(ml_dtypes.bfloat16)
        return np.dtype(self.dtype)

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def states_per_layer(self) -> int:
        """State tensors per layer and direction: (h,) or (h, c) for an LSTM."""
        return STATES_PER_LAYER[self.kind]

    @property
    def state_count(self) -> int:
        """Initial or final state tensors in all: per layer and direction, h (and c for an LSTM)."""
        return self.num_layers * self.directions * self.states_per_layer

    @property
    def biases_summed(self) -> bool:
        """Whether the two canonical biases only ever act as their sum (all but GRU reset_after)."""
        return not (self.kind == "gru" and self.reset_after)

    @property
    def output_size(self) -> int:
        """Features of the returned output (a bidirectional concat doubles them)."""
        doubled = self.bidirectional and self.merge_mode == "concat"
        return self.units * (2 if doubled else 1)

    def layer_input_size(self, layer: int) -> int:
        return self.input_size if layer == 0 else self.units * self.directions

    def replace(self, **changes) -> RecurrentSpec:
        return dataclasses.replace(self, **changes)

    def same_computation(self, other: RecurrentSpec) -> list[tuple[str, object, object]]:
        """Fields (name, mine, theirs) on which two specs describe different weights or maths."""
        fields = ("kind", "units", "input_size", "num_layers", "activation", "use_bias", "dtype",
                  "reset_after", "bidirectional")
        return [(f, getattr(self, f), getattr(other, f)) for f in fields
                if getattr(self, f) != getattr(other, f)]


def merge_directions(mode: str | None, y, y_rev, concat):
    """Keras' Bidirectional merge of the two directions' outputs (``concat`` joins on the last axis);
    ``None`` returns both."""
    if mode == "concat":
        return concat([y, y_rev])
    if mode == "sum":
        return y + y_rev
    if mode == "ave":
        return (y + y_rev) / 2
    if mode == "mul":
        return y * y_rev
    return y, y_rev


@dataclass(frozen=True)
class LayerWeights:
    """One layer (and direction)'s weights in the canonical layout: Keras orientation and gate
    order, float64.

    ``kernel`` (input, gates*units) and ``recurrent_kernel`` (units, gates*units) multiply from the
    right. ``bias`` is added to the input projection and ``recurrent_bias`` to the recurrent one,
    as torch's ``bias_ih`` and ``bias_hh``. Keras keeps only their sum, except for a GRU with
    ``reset_after`` (its bias has two rows: the same two vectors).

    Examples:
        >>> import parity, torch
        >>> spec, weights = parity.read(torch.nn.RNN(4, 2, batch_first=True))
        >>> [w.kernel.shape for w in weights], weights[0].kernel.dtype
        ([(4, 2)], dtype('float64'))
    """

    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray | None = None
    recurrent_bias: np.ndarray | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        # not dataclasses.asdict: it deep-copies, which would cut autograd graphs
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not None}


# One entry per layer and direction, torch's order: l0, l0 reverse, l1, l1 reverse, ...
Weights = tuple[LayerWeights, ...]


def weight_index(spec: RecurrentSpec, layer: int, direction: int) -> int:
    return layer * spec.directions + direction


def check_weights(spec: RecurrentSpec, weights: Weights) -> None:
    """Raise if ``weights`` do not have the shapes ``spec`` implies."""
    count = spec.num_layers * spec.directions
    if len(weights) != count:
        raise UnsupportedConfig("weights", f"{len(weights)} entries",
                                f"the spec needs {count} (layers x directions)")
    g, h = spec.cell.gates, spec.units
    for i, w in enumerate(weights):
        layer = i // spec.directions
        expected = {"kernel": (spec.layer_input_size(layer), g * h), "recurrent_kernel": (h, g * h)}
        if spec.use_bias:
            expected.update(bias=(g * h,), recurrent_bias=(g * h,))
        got = {k: v.shape for k, v in w.arrays().items()}
        if got != expected:
            raise UnsupportedConfig(f"weights[{i}]", got, f"expected shapes {expected}")


@dataclass(frozen=True)
class Outputs:
    """What a recurrent layer returned, as numpy arrays: the output (last step, or the whole sequence
    in processing order; a pair (forward, backward) for a Bidirectional with merge_mode=None) and
    the final states in the spec's order (see :class:`RecurrentSpec`).

    Examples:
        >>> import numpy as np, parity
        >>> out = parity.Outputs(np.zeros((1, 5, 2)), (np.zeros((1, 2)),))
        >>> sorted(out.named())
        ['output', 'state[0]']
    """

    output: np.ndarray | tuple[np.ndarray, np.ndarray]
    states: tuple[np.ndarray, ...]

    def named(self) -> dict[str, np.ndarray]:
        if isinstance(self.output, tuple):
            named = {"output[forward]": self.output[0], "output[backward]": self.output[1]}
        else:
            named = {"output": self.output}
        named.update({f"state[{i}]": s for i, s in enumerate(self.states)})
        return named
