"""The strategies produce what they promise, deterministically from their seeds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import parity
import parity.core.masking
from parity.checks import strategies as ps
from parity.core.spec import RecurrentSpec, check_weights

SPEC = RecurrentSpec("simple_rnn", 5, 3, num_layers=2, dtype="float64")


@given(ps.recurrent_specs(max_units=6, max_input_size=4, max_layers=2, dtypes=("float32",)))
def test_specs_respect_their_bounds(spec):
    assert 1 <= spec.units <= 6 and 1 <= spec.input_size <= 4 and spec.num_layers <= 2
    assert spec.dtype == "float32"


@given(ps.sequences(SPEC, min_steps=1, max_steps=3, max_magnitude=2.0))
def test_sequences_have_the_spec_shape_dtype_and_bound(x):
    assert x.dtype == np.float64 and x.shape[2] == 3 and 1 <= x.shape[1] <= 3
    assert np.abs(x).max() <= 2.0


@given(ps.initial_states(SPEC, batch=3))
def test_initial_states_are_one_per_layer(states):
    assert [s.shape for s in states] == [(3, 5), (3, 5)]


@given(ps.parity_cases(specs=st.just(SPEC)))
def test_cases_are_reproducible_from_their_repr(case):
    again = eval(repr(case), {"ParityCase": parity.ParityCase, "RecurrentSpec": RecurrentSpec})
    assert again == case
    np.testing.assert_array_equal(again.inputs(), case.inputs())
    check_weights(case.spec, case.weights())
    for a, b in zip(again.weights(torch_biases=True), case.weights(torch_biases=True)):
        np.testing.assert_array_equal(a.recurrent_kernel, b.recurrent_kernel)


def test_weights_are_exactly_representable_in_float32():
    case = parity.ParityCase(RecurrentSpec("simple_rnn", 4, 4), 1, 2, seed=5)
    for w in case.weights(torch_biases=True):
        for a in w.arrays().values():
            np.testing.assert_array_equal(a.astype(np.float32).astype(np.float64), a)


def test_the_default_specs_draw_square_layers_often():
    # square layers are the ones that hide transposition bugs; the meta tests rely on them
    square = []

    @settings(max_examples=50, derandomize=True, database=None)
    @given(ps.recurrent_specs())
    def collect(spec):
        square.append(spec.units == spec.input_size)

    collect()
    assert sum(square) >= 10, f"{sum(square)} of {len(square)} draws were square"


@given(ps.recurrent_specs(bidirectional=True, kinds=("lstm", "gru")))
def test_bidirectional_specs_are_ones_keras_can_build(spec):
    assert spec.bidirectional and not spec.go_backwards
    assert spec.zero_output_for_mask == spec.return_sequences  # Keras forces it
    assert not (spec.num_layers > 1 and spec.return_state)     # Keras cannot return those


@given(ps.parity_cases(masks=("right_padded", "left_padded", "gaps", "with_empty_row")))
def test_mask_patterns_are_what_they_say(case):
    mask = case.step_mask()
    assert mask.shape == (case.batch, case.steps) and mask.dtype == bool
    if case.mask == "right_padded":
        assert parity.core.masking.right_padded_lengths(mask) is not None and mask[0].all()
    if case.mask == "left_padded":
        assert all(row[-1] and (np.diff(row.astype(int)) >= 0).all() for row in mask)
    if case.mask == "with_empty_row":
        assert (~mask).all(axis=1).any()


def test_dtypes_keras_does_not_compute_in_their_precision_are_not_drawn(monkeypatch):
    from hypothesis import find
    from hypothesis.errors import InvalidArgument

    from parity.checks import capabilities
    from parity.checks import strategies as ps

    assert capabilities.keras_precision_reason("float64") is None  # TensorFlow computes float64
    monkeypatch.setattr(capabilities, "keras_precision_reason",
                        lambda d: "computes float64 in float32" if d == "float64" else None)
    spec = find(ps.recurrent_specs(), lambda s: True)
    assert spec.dtype == "float32"
    with pytest.raises(InvalidArgument, match="computes float64 in float32"):
        find(ps.recurrent_specs(dtypes=("float64",)), lambda s: True)
