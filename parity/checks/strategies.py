"""Hypothesis strategies for recurrent-layer parity, for this suite's checks and for users' tests.

    from hypothesis import given
    from parity import check_case
    from parity.checks import strategies as ps

    @given(ps.parity_cases(specs=ps.recurrent_specs(max_units=8)))
    def test_my_port(case):
        check_case(case)

Defaults keep magnitudes bounded (inputs in [-1, 1], recurrent gain <= 1.5) so tolerances stay sharp;
``wide=True`` opts in to large inputs, expanding (chaotic) recurrences and longer sequences.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from parity.checks.cases import MASK_PATTERNS, ParityCase
from parity.checks.known_differences import for_backend, known_differences
from parity.core.spec import ACTIVATIONS, CELL_KINDS, DTYPES, MERGE_MODES, RecurrentSpec

__all__ = ["recurrent_specs", "parity_cases", "sequences", "initial_states", "model_cases"]


def _check_range(name: str, low: int, high: int, floor: int = 1) -> None:
    integers = all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high))
    if not integers:
        raise InvalidArgument(f"min_{name}={low!r}, max_{name}={high!r}: must be integers")
    if low < floor or high < low:
        raise InvalidArgument(f"min_{name}={low!r}, max_{name}={high!r}: need "
                              f"{floor} <= min_{name} <= max_{name}")


def _check_choices(name: str, given, allowed) -> tuple:
    values = tuple(given)
    if not values or any(v not in allowed for v in values):
        raise InvalidArgument(f"{name}={values!r}: choose a non-empty subset of {tuple(allowed)}")
    return values


def _computable(dtypes) -> tuple[str, ...]:
    """The dtypes Keras computes in their own precision on its backend (probed once, when the
    strategy is made): a float64 case Keras computes in float32 would fail as drift. Refuses when
    none is left."""
    from parity.checks.capabilities import computable_dtypes, keras_precision_reason

    kept = computable_dtypes(dtypes)
    if not kept:
        raise InvalidArgument(f"dtypes={tuple(dtypes)!r}: none is computed in its own precision "
                              f"here: {keras_precision_reason(dtypes[0])}")
    return kept


def recurrent_specs(*, kinds=tuple(CELL_KINDS), min_units: int = 1, max_units: int = 16,
                    min_input_size: int = 1, max_input_size: int = 16, min_layers: int = 1,
                    max_layers: int = 3, activations=ACTIVATIONS, dtypes=("float32", "float64"),
                    bidirectional: bool | None = None,
                    merge_modes=MERGE_MODES) -> st.SearchStrategy[RecurrentSpec]:
    """Layer descriptions with every option drawn: cell kind, GRU variant, directions and merge
    mode, return flags, go_backwards, bias, zero_output_for_mask, dtype. ``bidirectional`` None
    draws both; half precisions are opt-in through ``dtypes``."""
    _check_range("units", min_units, max_units)
    _check_range("input_size", min_input_size, max_input_size)
    _check_range("layers", min_layers, max_layers)
    kinds = _check_choices("kinds", kinds, CELL_KINDS)
    activations = _check_choices("activations", activations, ACTIVATIONS)
    dtypes = _computable(_check_choices("dtypes", dtypes, DTYPES))
    merge_modes = _check_choices("merge_modes", merge_modes, MERGE_MODES)
    if bidirectional not in (None, True, False):
        raise InvalidArgument(f"bidirectional={bidirectional!r}: True, False or None (both)")
    units = st.integers(min_units, max_units)
    sizes = st.integers(min_input_size, max_input_size)
    directions = st.booleans() if bidirectional is None else st.just(bidirectional)

    @st.composite
    def specs(draw):
        kind = draw(st.sampled_from(kinds), label="kind")
        n_units = draw(units, label="units")
        # Square layers (input_size == units) are drawn often: they hide transposition bugs
        # that non-square layers turn into shape errors.
        square_ok = min_input_size <= n_units <= max_input_size
        input_size = draw(st.one_of(st.just(n_units), sizes) if square_ok else sizes,
                          label="input_size")
        layers = draw(st.integers(min_layers, max_layers), label="num_layers")
        bi = draw(directions, label="bidirectional")
        return_sequences = draw(st.booleans(), label="return_sequences")
        return RecurrentSpec(
            kind=kind, units=n_units, input_size=input_size, num_layers=layers,
            activation=draw(st.sampled_from(activations), label="activation")
            if kind == "simple_rnn" else "tanh",
            use_bias=draw(st.booleans(), label="use_bias"),
            return_sequences=return_sequences,
            # Keras cannot return the states of a stack of Bidirectional layers
            return_state=draw(st.booleans(), label="return_state") if not (bi and layers > 1)
            else False,
            go_backwards=False if bi else draw(st.booleans(), label="go_backwards"),
            dtype=draw(st.sampled_from(dtypes), label="dtype"),
            reset_after=draw(st.booleans(), label="reset_after") if kind == "gru" else True,
            bidirectional=bi,
            merge_mode=draw(st.sampled_from(merge_modes), label="merge_mode") if bi else "concat",
            # Keras' Bidirectional forces zero_output_for_mask = return_sequences
            zero_output_for_mask=return_sequences if bi
            else draw(st.booleans(), label="zero_output_for_mask"))

    return specs()


def parity_cases(*, specs: st.SearchStrategy[RecurrentSpec] | None = None, min_batch: int = 1,
                 max_batch: int = 4, min_steps: int = 1, max_steps: int | None = None,
                 wide: bool = False, masks=MASK_PATTERNS) -> st.SearchStrategy[ParityCase]:
    """Whole cases: a spec, batch and sequence sizes (length 1 included), a seed for dense random
    weights, inputs, (sometimes) initial states and a mask pattern (``masks``: a subset of
    ``MASK_PATTERNS``; ("none",) for unmasked only). ``wide`` adds inputs up to 10x larger,
    recurrent gains up to 3 (expanding, chaotic regimes) and sequences up to 64 steps. Cases running
    into a known difference of Keras' current backend (:mod:`parity.checks.known_differences`)
    are left out."""
    masks = _check_choices("masks", masks, MASK_PATTERNS)
    if max_steps is None:
        max_steps = 64 if wide else 24
    _check_range("batch", min_batch, max_batch)
    _check_range("steps", min_steps, max_steps)
    if not isinstance(wide, bool):
        raise InvalidArgument(f"wide={wide!r}: must be True or False")
    if specs is None:
        specs = recurrent_specs()
    elif not isinstance(specs, st.SearchStrategy):
        raise InvalidArgument(f"specs={specs!r}: must be a strategy, e.g. recurrent_specs()")
    gains = (0.25, 1.0, 1.5) + ((2.0, 3.0) if wide else ())
    scales = (1.0,) + ((3.0, 10.0) if wide else ())
    cases = st.builds(
        ParityCase, spec=specs, batch=st.integers(min_batch, max_batch),
        steps=st.integers(min_steps, max_steps), seed=st.integers(0, 2**32 - 1),
        recurrent_gain=st.sampled_from(gains), input_scale=st.sampled_from(scales),
        with_initial_state=st.booleans(), mask=st.sampled_from(masks))
    if not for_backend():
        return cases
    # Keras on this backend computes these cases differently by design: they are not drawn, and
    # the shipped test_known_differences shows each difference as an expected failure
    return cases.filter(lambda c: not known_differences(c.spec, c.step_mask(), c.initial_state()))


def sequences(spec: RecurrentSpec, *, min_batch: int = 1, max_batch: int = 4, min_steps: int = 1,
              max_steps: int = 24, max_magnitude: float = 1.0) -> st.SearchStrategy[np.ndarray]:
    """Dense batch-first inputs (batch, steps, spec.input_size) in the spec's dtype, uniform in
    [-max_magnitude, max_magnitude]."""
    _check_range("batch", min_batch, max_batch)
    _check_range("steps", min_steps, max_steps)
    if not isinstance(spec, RecurrentSpec):
        raise InvalidArgument(f"spec={spec!r}: must be a RecurrentSpec")
    if not (isinstance(max_magnitude, (int, float)) and 0 < max_magnitude < float("inf")):
        raise InvalidArgument(f"max_magnitude={max_magnitude!r}: must be a positive finite number")
    return st.builds(
        lambda b, t, seed: ParityCase(spec, b, t, seed, input_scale=float(max_magnitude)).inputs(),
        st.integers(min_batch, max_batch), st.integers(min_steps, max_steps),
        st.integers(0, 2**32 - 1))


def initial_states(spec: RecurrentSpec, batch: int) -> st.SearchStrategy[tuple[np.ndarray, ...]]:
    """Initial states in Keras order (per layer and direction: h, and c for an LSTM), each
    (batch, units), uniform in [-1, 1], in the spec's dtype."""
    if not isinstance(spec, RecurrentSpec):
        raise InvalidArgument(f"spec={spec!r}: must be a RecurrentSpec")
    _check_range("batch", batch, batch)
    return st.builds(
        lambda seed: ParityCase(spec, batch, 1, seed, with_initial_state=True).initial_state(),
        st.integers(0, 2**32 - 1))


def model_cases(*, kinds=tuple(CELL_KINDS), max_units: int = 6, max_vocab: int = 12,
                max_batch: int = 4, max_steps: int = 8,
                dtypes=("float32", "float64")) -> st.SearchStrategy:
    """Whole models as :class:`parity.checks.model_parity.ModelCase`: Embedding (mask_zero drawn), one
    or two recurrent layers (cell, units, bias, GRU variant, Bidirectional with concat/sum drawn),
    Dropout drawn after each, a Dense head (activation drawn; time-distributed on sequences), and
    token ids whose zeros (padding, and gaps inside sequences) Keras masks."""
    from parity.checks.model_parity import ModelCase
    from parity.models import blocks as models

    kinds = _check_choices("kinds", kinds, CELL_KINDS)
    dtypes = _computable(_check_choices("dtypes", dtypes, DTYPES))
    for name, value in (("units", max_units), ("vocab", max_vocab), ("batch", max_batch),
                        ("steps", max_steps)):
        _check_range(name, 2 if name == "vocab" else 1, value)

    @st.composite
    def cases(draw):
        dtype = draw(st.sampled_from(dtypes), label="dtype")
        vocab = draw(st.integers(2, max_vocab), label="vocab")
        width = draw(st.integers(1, max_units), label="embedding dim")
        blocks = [models.Embedding(vocab, width, mask_zero=draw(st.booleans(), label="mask_zero"),
                                   dtype=dtype)]
        layers = draw(st.integers(1, 2), label="recurrent layers")
        size = width
        for i in range(layers):
            last = i == layers - 1
            kind = draw(st.sampled_from(kinds), label="kind")
            bi = draw(st.booleans(), label="bidirectional")
            sequences = True if not last else draw(st.booleans(), label="return_sequences")
            spec = RecurrentSpec(
                kind=kind, units=draw(st.integers(1, max_units), label="units"), input_size=size,
                use_bias=draw(st.booleans(), label="use_bias"), return_sequences=sequences,
                dtype=dtype, reset_after=draw(st.booleans(), label="reset_after")
                if kind == "gru" else True, bidirectional=bi,
                merge_mode=draw(st.sampled_from(["concat", "sum"]), label="merge_mode")
                if bi else "concat", zero_output_for_mask=sequences if bi else False)
            blocks.append(models.Recurrent(spec))
            size = spec.output_size
            if draw(st.booleans(), label="dropout"):
                blocks.append(models.Dropout(0.5, time_distributed=sequences))
        head = draw(st.sampled_from(["linear", "relu", "tanh", "sigmoid", "softmax"]),
                    label="activation")
        low = 2 if head == "softmax" else 1  # a softmax over one unit is constant
        blocks.append(models.Dense(size, draw(st.integers(low, max(low, max_units)),
                                              label="head units"),
                                   head, time_distributed=sequences, dtype=dtype))
        batch = draw(st.integers(1, max_batch), label="batch")
        steps = draw(st.integers(1, max_steps), label="steps")
        seed = draw(st.integers(0, 2**32 - 1), label="seed")
        rng = np.random.default_rng(seed)
        ids = rng.integers(0, vocab, (batch, steps))
        lengths = rng.integers(1, steps + 1, batch)  # post padding, and zeros inside as gaps
        ids[np.arange(steps)[None, :] >= lengths[:, None]] = 0
        return ModelCase(tuple(blocks), ids, seed)

    return cases()
