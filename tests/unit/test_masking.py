"""Masks: right-padded batches take torch's packed path, other patterns the step loop, and both
give Keras' values at every position."""

from __future__ import annotations

import numpy as np
import pytest

import parity
from parity.checks.cases import ParityCase, build_pair
from parity.checks.compare import assert_matches_oracle
from parity.core import masking
from parity.core.frameworks import torch
from parity.core.spec import RecurrentSpec
from parity.layers import torch_side


@pytest.mark.parametrize("rows,lengths", [
    ([[1, 1, 0], [1, 0, 0]], [2, 1]),
    ([[1, 1, 1]], [3]),
    ([[0, 1, 1]], None),   # left padding
    ([[1, 0, 1]], None),   # a gap
    ([[0, 0, 0]], None),   # fully masked: torch cannot pack a length-0 sequence
])
def test_right_padding_is_recognised_exactly(rows, lengths):
    got = masking.right_padded_lengths(np.array(rows, dtype=bool))
    assert (got is None) == (lengths is None)
    if lengths is not None:
        np.testing.assert_array_equal(got, lengths)


def _spy_on_packing(monkeypatch):
    calls = []
    real = torch.nn.utils.rnn.pack_padded_sequence

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.nn.utils.rnn, "pack_padded_sequence", spy)
    return calls


@pytest.mark.parametrize("kind", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_right_padded_batches_are_packed_and_match_keras(monkeypatch, kind, bidirectional):
    spec = RecurrentSpec(kind, 3, 2, num_layers=2, return_sequences=True,
                         bidirectional=bidirectional, zero_output_for_mask=bidirectional)
    case = ParityCase(spec, batch=4, steps=6, seed=5, mask="right_padded")
    keras_layer, module = build_pair(case, "keras_to_torch")
    calls = _spy_on_packing(monkeypatch)
    parity.assert_parity(keras_layer, module, case.inputs(), None, case.step_mask())
    assert calls, "a right-padded batch should go through pack_padded_sequence"


def test_packed_and_loop_paths_agree_on_the_same_right_padded_batch(monkeypatch):
    spec = RecurrentSpec("lstm", 4, 3, return_sequences=True, return_state=True)
    case = ParityCase(spec, batch=3, steps=7, seed=2, mask="right_padded", with_initial_state=True)
    module = case.torch_module()
    args = (case.inputs(), case.initial_state(), case.step_mask())
    packed = torch_side.run(module, *args)
    monkeypatch.setattr(masking, "right_padded_lengths", lambda mask: None)  # force the loop
    looped = torch_side.run(module, *args)
    for name, value in packed.named().items():
        np.testing.assert_allclose(value, looped.named()[name], rtol=0, atol=1e-5)
    assert_matches_oracle(module, packed, *args, label="packed path")


@pytest.mark.parametrize("pattern", ["gaps", "left_padded", "with_empty_row"])
def test_other_patterns_take_the_step_loop(monkeypatch, pattern):
    spec = RecurrentSpec("gru", 3, 3, return_sequences=True, return_state=True)
    case = ParityCase(spec, batch=4, steps=5, seed=9, mask=pattern)
    keras_layer, module = build_pair(case, "keras_to_torch")
    calls = _spy_on_packing(monkeypatch)
    parity.assert_parity(keras_layer, module, case.inputs(), None, case.step_mask())
    assert not calls


def test_a_fully_masked_sequence_keeps_its_initial_state_and_outputs_zeros():
    spec = RecurrentSpec("lstm", 2, 2, return_sequences=True, return_state=True)
    case = ParityCase(spec, batch=2, steps=3, seed=1, with_initial_state=True)
    keras_layer, module = build_pair(case, "keras_to_torch")
    mask = np.array([[False] * 3, [True] * 3])
    report = parity.assert_parity(keras_layer, module, case.inputs(), case.initial_state(), mask)
    out = torch_side.run(module, case.inputs(), case.initial_state(), mask)
    np.testing.assert_array_equal(out.output[0], 0.0)
    np.testing.assert_array_equal(out.states[0][0], case.initial_state()[0][0])
    assert report.ok
