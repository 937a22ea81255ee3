"""A parity case: a spec plus a seed from which weights, inputs and initial states are made.

Hypothesis draws the small, shrinkable parts (spec, sizes, seed, scales); numpy fills dense arrays from
the seed. Dense random weights matter: mostly-constant arrays (what array strategies favour) hide
transposition and gate-order bugs. A case's ``repr`` is valid Python, so a failure reproduces by
pasting it: ``check_case(ParityCase(...), "keras_to_torch")``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from parity.checks.compare import ParityReport, assert_parity
from parity.core.errors import UnsupportedConfig
from parity.core.spec import LayerWeights, RecurrentSpec, Weights
from parity.layers import keras_side, torch_side
from parity.models.transfer import copy_weights, to_keras, to_torch


@dataclass(frozen=True)
class ParityCase:
    """One drawn case: a layer description, the batch and sequence sizes, and a seed from which
    the weights, inputs, initial state and mask are made (``weights()``, ``inputs()``,
    ``initial_state()``, ``step_mask()``). ``recurrent_gain`` scales the recurrent kernel (about
    its spectral radius: above 1 errors grow); ``mask`` is one of ``MASK_PATTERNS``.

    Raises:
        UnsupportedConfig: an unknown mask pattern.

    Examples:
        >>> import parity
        >>> case = parity.ParityCase(parity.RecurrentSpec("simple_rnn", 4, 3), batch=2, steps=5,
        ...                          seed=7, mask="right_padded")
        >>> case.inputs().shape, case.step_mask().shape
        ((2, 5, 3), (2, 5))
    """

    spec: RecurrentSpec
    batch: int
    steps: int
    seed: int
    recurrent_gain: float = 1.0  # ~ spectral radius of the recurrent kernel: > 1 expands errors
    input_scale: float = 1.0
    with_initial_state: bool = False
    mask: str = "none"  # one of MASK_PATTERNS

    def __post_init__(self) -> None:
        if self.mask not in MASK_PATTERNS:
            raise UnsupportedConfig("mask", self.mask, f"one of {MASK_PATTERNS}")

    def _rng(self, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, stream])

    def _representable(self, a: np.ndarray) -> np.ndarray:
        """Values the layer's dtype holds exactly, so every side starts from identical numbers."""
        return a.astype(self.spec.np_dtype).astype(np.float64)

    def weights(self, *, torch_biases: bool = False) -> Weights:
        """Canonical weights. Kernels scale as 1/sqrt(fan-in) (so the recurrent gain is what is
        asked for); biases are dense and nonzero. ``torch_biases`` gives torch's second bias values
        too (a GRU with reset_after always has both, in Keras as well)."""
        rng, spec, out = self._rng(0), self.spec, []
        rows = spec.cell.gates * spec.units
        two_biases = torch_biases or not spec.biases_summed
        for index in range(spec.num_layers * spec.directions):
            fan_in = spec.layer_input_size(index // spec.directions)
            kernel = rng.uniform(-1, 1, (fan_in, rows)) * np.sqrt(3.0 / fan_in)
            recurrent = rng.uniform(-1, 1, (spec.units, rows)) * np.sqrt(3.0 / spec.units)
            bias = rng.uniform(-0.5, 0.5, rows)
            recurrent_bias = rng.uniform(-0.5, 0.5, rows) if two_biases else np.zeros(rows)
            out.append(LayerWeights(
                kernel=self._representable(kernel),
                recurrent_kernel=self._representable(recurrent * self.recurrent_gain),
                bias=self._representable(bias) if spec.use_bias else None,
                recurrent_bias=self._representable(recurrent_bias) if spec.use_bias else None))
        return tuple(out)

    def torch_module(self, device: str = "cpu") -> torch_side.KerasRNN:
        """A ``parity.KerasRNN`` of the spec holding the case's weights (torch's two biases), on
        ``device``."""
        module = torch_side.KerasRNN(self.spec)
        torch_side.write_weights(module, self.weights(torch_biases=True))
        return module.to(device)

    def inputs(self) -> np.ndarray:
        x = self._rng(1).uniform(-1, 1, (self.batch, self.steps, self.spec.input_size))
        return (x * self.input_scale).astype(self.spec.np_dtype)

    def initial_state(self) -> tuple[np.ndarray, ...] | None:
        """Keras order: per layer and direction, h (and c for an LSTM)."""
        if not self.with_initial_state:
            return None
        rng, spec = self._rng(2), self.spec
        return tuple(rng.uniform(-1, 1, (self.batch, spec.units)).astype(spec.np_dtype)
                     for _ in range(spec.state_count))

    def step_mask(self) -> np.ndarray | None:
        """A (batch, steps) boolean mask of the case's pattern (True = keep), or None."""
        if self.mask == "none":
            return None
        rng, b, t = self._rng(3), self.batch, self.steps
        steps = np.arange(t)[None, :]
        if self.mask == "right_padded":
            lengths = rng.integers(1, t + 1, size=b)
            lengths[0] = t  # as a padded batch has: one full-length row
            return steps < lengths[:, None]
        if self.mask == "left_padded":
            lengths = rng.integers(1, t + 1, size=b)
            return steps >= (t - lengths)[:, None]
        mask = rng.random((b, t)) < 0.7  # "gaps": holes anywhere, first and last steps included
        if self.mask == "with_empty_row":
            mask[rng.integers(0, b)] = False
        return mask


DIRECTIONS = ("keras_to_torch", "torch_to_keras", "copy_into_torch")
MASK_PATTERNS = ("none", "right_padded", "left_padded", "gaps", "with_empty_row")


@functools.lru_cache(maxsize=64)
def _built(spec: RecurrentSpec):
    return keras_side.build(spec)


def _keras_layer(case: ParityCase):
    """A Keras object for the case's spec holding the case's weights. Objects are built once per
    spec and refilled (a drawn run repeats specs: 102 distinct among 217 builds in
    test_recurrent.py, and building a Keras layer costs more than calling it); every weight is
    first set to NaN, so one the refill missed cannot pass for a right one."""
    layer = _built(case.spec)
    for variable in keras_side.variables(layer):
        variable.assign(np.full(tuple(variable.shape), np.nan, dtype=variable.dtype))
    keras_side.write_weights(layer, case.weights())
    return layer


def build_pair(case: ParityCase, direction: str):
    """(keras object, torch object) holding the case's weights, made the way ``direction`` says:
    ``keras_to_torch`` builds Keras and converts with to_torch; ``torch_to_keras`` builds a plain
    nn.RNN (two nonzero biases) and converts with to_keras; ``copy_into_torch`` copies a Keras
    layer into an existing module with copy_weights."""
    spec = case.spec
    if direction == "keras_to_torch":
        layer = _keras_layer(case)
        return layer, to_torch(layer)
    if direction == "torch_to_keras":
        module = case.torch_module()
        return to_keras(module), module
    if direction == "copy_into_torch":
        layer = _keras_layer(case)
        module = torch_side.KerasRNN(spec)
        copy_weights(layer, module)
        return layer, module
    raise UnsupportedConfig("direction", direction, f"expected one of {DIRECTIONS}")


def check_case(case: ParityCase, direction: str = "keras_to_torch", *,
               onnx: bool | str | tuple[str, ...] = False) -> ParityReport:
    """Build the pair for ``case`` and assert parity.

    Args:
        case: a drawn or hand-written :class:`ParityCase`.
        direction: how the pair is made: ``"keras_to_torch"`` (``parity.to_torch``),
            ``"torch_to_keras"`` (``parity.to_keras``) or ``"copy_into_torch"``
            (``parity.copy_weights`` into a plain torch module).
        onnx: exporters whose graphs onnxruntime runs as further columns (see
            :func:`parity.compare`).

    Returns:
        The :class:`parity.ParityReport`.

    Raises:
        ParityError: parity is broken; the message ends with this call, to reproduce.
        UnsupportedConfig, MissingDependency: with ``onnx``, as for :func:`parity.compare`.

    Examples:
        >>> import parity
        >>> spec = parity.RecurrentSpec("gru", units=3, input_size=2, return_sequences=True)
        >>> parity.check_case(parity.ParityCase(spec, batch=2, steps=4, seed=1)).ok
        True
    """
    __tracebackhide__ = True
    keras_obj, torch_obj = build_pair(case, direction)
    call = f"check_case({case!r}, {direction!r}" + (f", onnx={onnx!r})" if onnx else ")")
    return assert_parity(keras_obj, torch_obj, case.inputs(), case.initial_state(),
                         case.step_mask(), context=call, onnx=onnx)


def check_gradients(case: ParityCase, direction: str = "keras_to_torch") -> ParityReport:
    """Build the pair for ``case`` and assert gradient parity.

    Args:
        case: as for :func:`check_case`.
        direction: as for :func:`check_case`.

    Returns:
        The :class:`parity.ParityReport` over the gradients.

    Raises:
        ParityError: a gradient differs beyond what is allowed.

    Examples:
        >>> import parity
        >>> spec = parity.RecurrentSpec("lstm", units=3, input_size=2)
        >>> parity.check_gradients(parity.ParityCase(spec, batch=2, steps=4, seed=1)).ok
        True
    """
    __tracebackhide__ = True
    from parity.checks.gradients import assert_gradient_parity

    keras_obj, torch_obj = build_pair(case, direction)
    return assert_gradient_parity(keras_obj, torch_obj, case.inputs(), case.initial_state(),
                                  case.step_mask(), seed=case.seed,
                                  context=f"check_gradients({case!r}, {direction!r})")
