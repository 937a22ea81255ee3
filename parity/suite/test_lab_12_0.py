"""The seed's lab-12-0: one-hot "hello" through SimpleRNN(2) and torch.nn.RNN(4, 2).

Keras: ``SimpleRNN(units=2, return_sequences=True, return_state=True)`` on "h", "hello" and the
batch "hello", "eolll", "lleel". torch: ``nn.RNN(input_size=4, hidden_size=2, batch_first=True)``
fed one character at a time with the state carried, which must equal the whole-sequence call, and
batch-first must equal time-major.
"""

from __future__ import annotations

import numpy as np
import pytest

import parity
from parity.checks.compare import assert_matches_oracle
from parity.core.frameworks import keras, torch
from parity.core.spec import Outputs
from parity.scenarios.course import load_fixture

LAB = load_fixture("lab_12_0")
ONE_HOT, WORDS = LAB["one_hot"], LAB["words"]


def one_hot(words: list[str]) -> np.ndarray:
    return np.array([[ONE_HOT[c] for c in w] for w in words], dtype=np.float32)


@pytest.fixture
def keras_rnn():
    keras.utils.set_random_seed(LAB["seed"])  # Keras' own initialisers, as in the lab
    layer = keras.layers.SimpleRNN(units=LAB["units"], return_sequences=True, return_state=True)
    layer.build((None, None, 4))
    return layer


@pytest.fixture
def torch_rnn():
    torch.manual_seed(LAB["seed"])
    return torch.nn.RNN(input_size=4, hidden_size=LAB["units"], batch_first=True)


@pytest.mark.parametrize("words", WORDS.values(), ids=WORDS.keys())
def test_keras_simple_rnn_matches_its_torch_port(keras_rnn, words):
    outputs, state = keras_rnn(one_hot(words))
    assert outputs.shape == (len(words), len(words[0]), 2) and state.shape == (len(words), 2)
    parity.assert_parity(keras_rnn, parity.to_torch(keras_rnn), one_hot(words))


@pytest.mark.parametrize("words", WORDS.values(), ids=WORDS.keys())
def test_torch_rnn_matches_its_keras_port(torch_rnn, words):
    parity.assert_parity(parity.to_keras(torch_rnn), torch_rnn, one_hot(words))


@pytest.mark.parametrize("words", WORDS.values(), ids=WORDS.keys())
def test_torch_one_character_at_a_time_equals_whole_sequence(torch_rnn, words):
    x = one_hot(words)
    h0 = np.random.default_rng(0).standard_normal((1, len(words), 2)).astype(np.float32)
    hidden, outs = torch.from_numpy(h0), []
    with torch.no_grad():
        for t in range(x.shape[1]):
            out, hidden = torch_rnn(torch.from_numpy(x[:, t:t + 1]), hidden)
            outs.append(out)
    stepped = Outputs(torch.cat(outs, 1).numpy(), (hidden[0].numpy(),))
    assert_matches_oracle(torch_rnn, stepped, x, [h0[0]], label="torch one step at a time")


@pytest.mark.parametrize("words", WORDS.values(), ids=WORDS.keys())
def test_keras_one_character_at_a_time_equals_whole_sequence(keras_rnn, words):
    x = one_hot(words)
    state, outs = np.zeros((len(words), 2), np.float32), []
    for t in range(x.shape[1]):
        out, state = keras_rnn(x[:, t:t + 1], initial_state=[state])
        outs.append(keras.ops.convert_to_numpy(out))
    stepped = Outputs(np.concatenate(outs, 1), (keras.ops.convert_to_numpy(state),))
    assert_matches_oracle(keras_rnn, stepped, x, label="keras one step at a time")


def test_batch_first_equals_time_major(keras_rnn):
    x = one_hot(WORDS["batch"])
    time_major = torch.nn.RNN(input_size=4, hidden_size=LAB["units"], batch_first=False)
    parity.copy_weights(keras_rnn, time_major)
    with torch.no_grad():
        seq, h_n = time_major(torch.from_numpy(x).transpose(0, 1))
    result = Outputs(seq.transpose(0, 1).numpy(), (h_n[0].numpy(),))
    assert_matches_oracle(keras_rnn, result, x, label="time-major torch.nn.RNN")
    parity.assert_parity(keras_rnn, time_major, x)  # the Keras-semantics wrapper, time-major inside
