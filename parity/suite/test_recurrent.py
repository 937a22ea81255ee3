"""Keras <-> torch parity (SimpleRNN, LSTM, GRU, Bidirectional, stacks, masks) on hypothesis-drawn
layers, weights, sequences, states and masks.

The check bodies are plain functions so the meta tests (tests/studies/test_broken_transfers.py) can run the
very same property, under the same derandomised examples, against deliberately broken transfers.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from parity.checks import strategies
from parity.checks.capabilities import unsupported_reason
from parity.checks.cases import ParityCase, check_case, check_gradients
from parity.checks.compare import assert_matches_oracle
from parity.core import exercised
from parity.core.spec import Outputs
from parity.layers import keras_side, torch_side

CASES = strategies.parity_cases()


def keras_to_torch(case: ParityCase) -> None:
    check_case(case, "keras_to_torch")


def torch_to_keras(case: ParityCase) -> None:
    check_case(case, "torch_to_keras")


def copy_into_torch(case: ParityCase) -> None:
    check_case(case, "copy_into_torch")


def gradients(case: ParityCase) -> None:
    check_gradients(case, "keras_to_torch")


test_keras_to_torch = given(case=CASES)(keras_to_torch)
test_gradients_match = given(case=CASES)(gradients)
test_torch_to_keras = given(case=CASES)(torch_to_keras)
test_copy_weights_into_existing_module = given(case=CASES)(copy_into_torch)


FORWARD_SEQUENCE_CASES = strategies.parity_cases(
    specs=strategies.recurrent_specs(bidirectional=False), min_steps=2, masks=("none",)).filter(
    lambda c: not c.spec.go_backwards)


@given(case=FORWARD_SEQUENCE_CASES, data=st.data())
def test_state_carried_across_a_split_equals_the_whole_sequence(case, data):
    """Running x[:, :k] then x[:, k:] from the carried final states gives the whole-sequence result,
    in both frameworks (what a streaming or stateful user relies on)."""
    spec = case.spec.replace(return_sequences=True, return_state=True)
    case = dataclasses.replace(case, spec=spec)
    split = data.draw(st.integers(1, case.steps - 1), label="split")
    x, h0 = case.inputs(), case.initial_state()
    layer = keras_side.build(spec)
    keras_side.write_weights(layer, case.weights())
    module = case.torch_module()
    with exercised.checking(spec, "stateful", initial_state=h0 is not None):
        for name, side, obj in (("keras", keras_side, layer), ("torch", torch_side, module)):
            first = side.run(obj, x[:, :split], h0)
            second = side.run(obj, x[:, split:], first.states)
            joined = Outputs(np.concatenate([first.output, second.output], axis=1), second.states)
            assert_matches_oracle(obj, joined, x, h0, label=f"{name} run in two parts")


HALF_CASES = strategies.parity_cases(specs=strategies.recurrent_specs(
    dtypes=("float16", "bfloat16"), activations=("tanh",), max_units=8, max_input_size=8,
    max_layers=2), max_steps=12)


@given(case=HALF_CASES)
def test_half_precision_forward_and_gradients(case):
    """float16 and bfloat16, where both frameworks run them here; tanh only, so that overflow
    (a limitation of the format, not a porting bug) stays out of the comparison."""
    reason = unsupported_reason(case.spec.dtype, case.spec.kind)
    if reason:
        options = dict(masked=case.mask != "none", initial_state=case.with_initial_state)
        with exercised.checking(case.spec, "forward", **options), \
                exercised.checking(case.spec, "gradients", **options):
            pytest.skip(reason)
    check_case(case, "keras_to_torch")
    check_gradients(case, "keras_to_torch")
