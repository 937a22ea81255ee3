"""Every refusal is a typed error that names the option, the value, and what would work."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis.errors import InvalidArgument

import parity
from parity.checks import strategies
from parity.core.errors import ParityConfigError, TransferError, UnsupportedConfig
from parity.core.frameworks import keras, torch
from parity.core.spec import RecurrentSpec


def built(layer, input_size=3):
    layer.build((None, None, input_size))
    return layer


def simple(units=4, **kw):
    return built(keras.layers.SimpleRNN(units, **kw))


SPEC = RecurrentSpec("simple_rnn", 4, 3)
X = np.zeros((2, 5, 3), np.float32)

REFUSALS = {
    "keras activation": (lambda: parity.to_torch(simple(activation="sigmoid")),
                         UnsupportedConfig, "activation", "sigmoid"),
    "keras linear activation": (lambda: parity.to_torch(simple(activation=None)),
                                UnsupportedConfig, "activation", "linear"),
    "keras dropout": (lambda: parity.to_torch(simple(dropout=0.2)),
                      UnsupportedConfig, "dropout", "0.2"),
    "keras recurrent dropout": (lambda: parity.to_torch(simple(recurrent_dropout=0.1)),
                                UnsupportedConfig, "recurrent_dropout", "0.1"),
    "keras stateful": (lambda: parity.to_torch(_stateful()), UnsupportedConfig,
                       "stateful", "True"),
    "keras not built": (lambda: parity.to_torch(keras.layers.SimpleRNN(4)),
                        TransferError, "built", "False"),
    "keras mixed precision": (lambda: parity.to_torch(simple(dtype="mixed_float16")),
                              UnsupportedConfig, "dtype", "mixed_float16"),
    "keras LSTM hard_sigmoid": (
        lambda: parity.to_torch(built(keras.layers.LSTM(4, recurrent_activation="hard_sigmoid"))),
        UnsupportedConfig, "recurrent_activation", "hard_sigmoid"),
    "keras GRU relu": (lambda: parity.to_torch(built(keras.layers.GRU(4, activation="relu"))),
                       UnsupportedConfig, "activation", "relu"),
    "keras Bidirectional with another backward layer": (
        lambda: parity.to_torch(built(keras.layers.Bidirectional(
            keras.layers.GRU(4), backward_layer=keras.layers.GRU(4, go_backwards=True,
                                                                 use_bias=False)))),
        UnsupportedConfig, "backward_layer", "use_bias"),
    "keras Bidirectional over stacked cells": (
        lambda: parity.to_torch(built(keras.layers.Bidirectional(keras.layers.RNN(
            [keras.layers.LSTMCell(4), keras.layers.LSTMCell(4)])))),
        UnsupportedConfig, "layer", "stacked cells"),
    "keras bidirectional stack with a lower sum": (
        lambda: parity.to_torch([
            built(keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True),
                                             merge_mode="sum")),
            built(keras.layers.Bidirectional(keras.layers.LSTM(4)), 4)]),
        UnsupportedConfig, "merge_mode", "sum"),
    "keras stack mixing directions": (
        lambda: parity.to_torch([
            built(keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True))),
            built(keras.layers.GRU(4), 8)]),
        UnsupportedConfig, "layers", "Bidirectional mixed"),
    "keras stack mixing cells": (
        lambda: parity.to_torch(built(keras.layers.RNN(
            [keras.layers.LSTMCell(4), keras.layers.GRUCell(4)]))),
        UnsupportedConfig, "kind", "gru"),
    "stack of mixed activations": (
        lambda: parity.to_torch([simple(return_sequences=True),
                                 built(keras.layers.SimpleRNN(4, activation="relu"), 4)]),
        UnsupportedConfig, "activation", "relu"),
    "stack middle layer without sequences": (
        lambda: parity.to_torch([simple(), built(keras.layers.SimpleRNN(4), 4)]),
        UnsupportedConfig, "return_sequences", "False"),
    "stack upper layer backwards": (
        lambda: parity.to_torch([simple(return_sequences=True),
                                 built(keras.layers.SimpleRNN(4, go_backwards=True), 4)]),
        UnsupportedConfig, "go_backwards", "True"),
    "stack list with return_state": (
        lambda: parity.to_torch([simple(return_sequences=True),
                                 built(keras.layers.SimpleRNN(4, return_state=True), 4)]),
        UnsupportedConfig, "return_state", "True"),
    "sequential with a Conv1D layer": (
        lambda: parity.to_torch(keras.Sequential([keras.Input((5, 3)), keras.layers.SimpleRNN(
            2, return_sequences=True), keras.layers.Conv1D(2, 3)])),
        UnsupportedConfig, "layer", "Conv1D"),
    "torch dropout between layers": (
        lambda: parity.to_keras(torch.nn.RNN(3, 4, num_layers=2, dropout=0.5)),
        UnsupportedConfig, "dropout", "0.5"),
    "torch LSTM projection": (lambda: parity.to_keras(torch.nn.LSTM(3, 4, proj_size=2)),
                              UnsupportedConfig, "proj_size", "2"),
    "torch module of another kind": (lambda: parity.to_keras(torch.nn.Linear(3, 4)),
                             UnsupportedConfig, "module", "Linear"),
    "keras states of a bidirectional stack": (
        lambda: parity.to_keras(parity.KerasRNN(RecurrentSpec(
            "lstm", 4, 3, num_layers=2, bidirectional=True, return_state=True))),
        UnsupportedConfig, "return_state", "True"),
    "spec with inconsistent Bidirectional mask output": (
        lambda: RecurrentSpec("gru", 4, 3, bidirectional=True, return_sequences=True),
        UnsupportedConfig, "zero_output_for_mask", "False"),
    "spec with reset_after on an LSTM": (
        lambda: RecurrentSpec("lstm", 4, 3, reset_after=False),
        UnsupportedConfig, "reset_after", "False"),
    "compare with a non-boolean mask": (
        lambda: parity.compare(simple(), torch.nn.RNN(3, 4), X, None, np.ones((2, 5))),
        UnsupportedConfig, "mask.dtype", "float64"),
    "compare with a mask of the wrong shape": (
        lambda: parity.compare(simple(), torch.nn.RNN(3, 4), X, None, np.ones((2, 4), bool)),
        UnsupportedConfig, "mask.shape", "(2, 4)"),
    "to_torch of a torch module": (lambda: parity.to_torch(torch.nn.RNN(3, 4)),
                                   TransferError, "keras_obj", "RNN"),
    "to_keras of a Keras layer": (lambda: parity.to_keras(simple()),
                                  TransferError, "torch_obj", "SimpleRNN"),
    "copy between the same framework": (
        lambda: parity.copy_weights(torch.nn.RNN(3, 4), torch.nn.RNN(3, 4)),
        TransferError, "dst", "RNN"),
    "copy into a different size": (lambda: parity.copy_weights(simple(), torch.nn.RNN(3, 5)),
                                   TransferError, "units", "4"),
    "copy into a different input size": (
        lambda: parity.copy_weights(simple(), torch.nn.RNN(2, 4)),
        TransferError, "input_size", "3"),
    "copy into another dtype": (
        lambda: parity.copy_weights(simple(), torch.nn.RNN(3, 4, dtype=torch.float64)),
        TransferError, "dtype", "float32"),
    "copy into another activation": (
        lambda: parity.copy_weights(simple(), torch.nn.RNN(3, 4, nonlinearity="relu")),
        TransferError, "activation", "tanh"),
    "copy a biased layer into a bias-free one": (
        lambda: parity.copy_weights(simple(), torch.nn.RNN(3, 4, bias=False)),
        TransferError, "use_bias", "True"),
    "copy go_backwards into a plain nn.RNN": (
        lambda: parity.copy_weights(simple(go_backwards=True), torch.nn.RNN(3, 4)),
        TransferError, "go_backwards", "True"),
    "compare input in the wrong dtype": (
        lambda: parity.compare(simple(), torch.nn.RNN(3, 4), X.astype(np.float64)),
        UnsupportedConfig, "x.dtype", "float64"),
    "compare input of the wrong width": (
        lambda: parity.compare(simple(), torch.nn.RNN(3, 4), np.zeros((2, 5, 2), np.float32)),
        UnsupportedConfig, "x.shape", "(2, 5, 2)"),
    "compare an empty sequence": (
        lambda: parity.compare(simple(), torch.nn.RNN(3, 4), np.zeros((2, 0, 3), np.float32)),
        UnsupportedConfig, "x.shape", "(2, 0, 3)"),
    "compare with a wrong initial state": (
        lambda: parity.compare(simple(), parity.to_torch(simple()), X, [np.zeros((2, 5))]),
        UnsupportedConfig, "initial_state", "(2, 5)"),
    "module called with a wrong initial state": (
        lambda: parity.to_torch(simple())(torch.zeros(2, 5, 3), torch.zeros(3, 4)),
        UnsupportedConfig, "initial_state", "(3, 4)"),
    "spec with zero units": (lambda: RecurrentSpec("simple_rnn", 0, 3),
                             UnsupportedConfig, "units", "0"),
    "spec with an unknown kind": (lambda: RecurrentSpec("lstm2", 4, 3),
                                  UnsupportedConfig, "kind", "lstm2"),
    "check_case with an unknown direction": (
        lambda: parity.check_case(parity.ParityCase(SPEC, 1, 2, 0), "sideways"),
        UnsupportedConfig, "direction", "sideways"),
}


def _stateful():
    layer = keras.layers.SimpleRNN(4, stateful=True)
    layer.build((2, 5, 3))
    return layer


@pytest.mark.parametrize("name", REFUSALS)
def test_refusal_names_option_value_and_remedy(name):
    make, error, option, value = REFUSALS[name]
    with pytest.raises(error) as info:
        make()
    assert isinstance(info.value, ParityConfigError)
    assert info.value.option == option
    message = str(info.value)
    assert option in message and value in message
    assert len(info.value.expected) > 10  # says what would work


def test_a_refused_copy_writes_nothing():
    rnn = torch.nn.RNN(3, 4, bias=False)
    before = [p.detach().clone() for p in rnn.parameters()]
    with pytest.raises(TransferError):
        parity.copy_weights(simple(), rnn)
    assert all(torch.equal(a, b) for a, b in zip(before, rnn.parameters()))


@pytest.mark.parametrize("make", [
    lambda: strategies.recurrent_specs(min_units=0),
    lambda: strategies.recurrent_specs(min_units=5, max_units=2),
    lambda: strategies.recurrent_specs(activations=("sigmoid",)),
    lambda: strategies.recurrent_specs(dtypes=()),
    lambda: strategies.parity_cases(min_steps=0),
    lambda: strategies.parity_cases(specs=SPEC),
    lambda: strategies.parity_cases(wide="yes"),
    lambda: strategies.parity_cases(masks=("diagonal",)),
    lambda: strategies.recurrent_specs(bidirectional="both"),
    lambda: strategies.recurrent_specs(merge_modes=("max",)),
    lambda: strategies.recurrent_specs(kinds=("conv_lstm",)),
])
def test_invalid_strategy_arguments_raise(make):
    with pytest.raises(InvalidArgument):
        make().example()
