"""Transfers are exact: round trips are bit-for-bit, and every Keras form of a stack reads alike."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

import parity
from parity.checks import strategies
from parity.checks.cases import build_pair
from parity.core.frameworks import keras, torch
from parity.core.spec import RecurrentSpec
from parity.layers import keras_side, torch_side


def _same_bits(a, b) -> bool:
    return all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@given(case=strategies.parity_cases())
def test_keras_to_torch_to_keras_is_bit_exact(case):
    # the checks' pair: a Keras layer of the spec (built once per spec, refilled) and its to_torch
    layer, module = build_pair(case, "keras_to_torch")
    back = parity.to_keras(module)
    assert _same_bits(layer.get_weights(), back.get_weights())
    assert keras_side.describe(back) == case.spec


@given(case=strategies.parity_cases())
def test_torch_to_keras_to_torch_is_bit_exact_when_bias_hh_is_zero(case):
    module = torch_side.KerasRNN(case.spec)
    torch_side.write_weights(module, case.weights())  # recurrent_bias is zero here
    back = parity.to_torch(parity.to_keras(module))
    assert _same_bits([p.detach().numpy() for p in module.parameters()],
                      [p.detach().numpy() for p in back.parameters()])
    assert torch_side.describe(back) == case.spec


def test_torch_biases_are_summed_into_the_keras_bias_with_one_rounding():
    rnn = torch.nn.RNN(3, 4, batch_first=True)
    layer = parity.to_keras(rnn)
    expected = (rnn.bias_ih_l0.detach() + rnn.bias_hh_l0.detach()).numpy()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.cell.bias), expected)
    back = parity.to_torch(layer)
    np.testing.assert_array_equal(back.rnn.bias_hh_l0.detach().numpy(), np.zeros(4, np.float32))


def test_plain_rnn_becomes_a_layer_returning_sequence_and_every_state():
    rnn = torch.nn.RNN(3, 4, num_layers=2, nonlinearity="relu", bias=False, dtype=torch.float64)
    layer = parity.to_keras(rnn)
    assert isinstance(layer.cell, keras.layers.StackedRNNCells)
    assert keras_side.describe(layer) == RecurrentSpec(
        "simple_rnn", 4, 3, num_layers=2, activation="relu", use_bias=False,
        return_sequences=True, return_state=True, dtype="float64")
    x = np.random.default_rng(0).uniform(-1, 1, (2, 5, 3))
    parity.assert_parity(layer, rnn, x)


def _stack_forms(spec: RecurrentSpec):
    """The same two-layer stack as a list, a Sequential, and one RNN over stacked cells."""
    def layers():
        return [keras.layers.SimpleRNN(spec.units, return_sequences=True),
                keras.layers.SimpleRNN(spec.units, return_sequences=spec.return_sequences)]
    as_list = layers()
    as_sequential = keras.Sequential([keras.Input((None, spec.input_size)), *layers()])
    for layer, size in zip(as_list, (spec.input_size, spec.units)):
        layer.build((None, None, size))
    return {"list": as_list, "sequential": as_sequential, "cells": keras_side.build(spec)}


@pytest.mark.parametrize("return_sequences", [False, True])
def test_every_keras_form_of_a_stack_reads_and_ports_alike(return_sequences):
    spec = RecurrentSpec("simple_rnn", 3, 2, num_layers=2, return_sequences=return_sequences)
    case = parity.ParityCase(spec, batch=2, steps=6, seed=7)
    x = case.inputs()
    for name, obj in _stack_forms(spec).items():
        keras_side.write_weights(obj, case.weights())
        assert keras_side.describe(obj) == spec, name
        for got, want in zip(keras_side.read_weights(obj), case.weights(), strict=True):
            assert _same_bits(got.arrays().values(), want.arrays().values()), name
        parity.assert_parity(obj, parity.to_torch(obj), x)


def test_copy_weights_into_existing_modules_both_ways():
    spec = RecurrentSpec("simple_rnn", 4, 3, num_layers=2)
    case = parity.ParityCase(spec, batch=3, steps=5, seed=3)
    layer = keras_side.build(spec)
    keras_side.write_weights(layer, case.weights())
    rnn = torch.nn.RNN(3, 4, num_layers=2, batch_first=True)
    parity.copy_weights(layer, rnn)
    target = keras_side.build(spec)
    parity.copy_weights(rnn, target)
    assert _same_bits(layer.get_weights(), target.get_weights())
    parity.assert_parity(target, rnn, case.inputs())
