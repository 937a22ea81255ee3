"""What a user meets first: messages that name the user's own object (an unbuilt model, a module
class of their own called RNN, a plain recurrent module in nn.Sequential) and say how to go on,
and the user's torch modules left as they were found after a check."""

from __future__ import annotations

import numpy as np
import pytest

import parity
from parity.core.errors import TransferError, UnsupportedConfig
from parity.core.frameworks import keras, torch
from parity.models import training


def test_an_unbuilt_sequential_is_named_as_the_model_with_how_to_build_it():
    model = keras.Sequential([keras.layers.SimpleRNN(2), keras.layers.Dense(3)], name="course")
    with pytest.raises(TransferError, match="Keras Sequential 'course'.*keras.Input") as info:
        parity.to_torch(model)
    assert "cell" not in str(info.value)


class RNN(torch.nn.Module):  # the course's own class name
    def __init__(self) -> None:
        super().__init__()
        self.rnn = torch.nn.RNN(4, 2, batch_first=True)

    def forward(self, x):
        return self.rnn(x)


def test_a_users_class_called_rnn_is_not_confused_with_torchs():
    with pytest.raises(UnsupportedConfig) as info:
        parity.to_keras(RNN())
    message = str(info.value)
    assert f"module='{__name__}.RNN'" in message and "torch.nn.RNN" in message
    assert "pass that attribute (e.g. model.rnn)" in message


def test_the_advice_for_a_plain_module_in_sequential_works_as_written():
    torch.manual_seed(0)
    module = torch.nn.RNN(4, 2, batch_first=True)
    with pytest.raises(UnsupportedConfig, match=r"item 0.*parity.read\(module\)\[0\]"
                       r"\.replace\(return_state=False\)"):
        parity.to_keras(torch.nn.Sequential(module, torch.nn.Linear(2, 3)))
    wrapped = parity.KerasRNN(parity.read(module)[0].replace(return_state=False), rnn=module)
    seq = torch.nn.Sequential(wrapped, torch.nn.Linear(2, 3))
    x = np.random.default_rng(0).uniform(-1, 1, (2, 5, 4)).astype("float32")
    parity.assert_model_parity(parity.to_keras(seq), seq, x)


def test_a_spec_that_returns_states_is_refused_inside_a_model_by_name():
    module = torch.nn.GRU(4, 2, batch_first=True)
    seq = torch.nn.Sequential(parity.KerasRNN(parity.read(module)[0], rnn=module),
                              torch.nn.Linear(2, 3))
    with pytest.raises(UnsupportedConfig, match="return_state=True in layer 0.*replace"):
        parity.to_keras(seq)


def _course_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((None, 3)), keras.layers.SimpleRNN(4),
                             keras.layers.Dense(2)])


def test_train_lockstep_leaves_the_users_module_as_found():
    model = _course_model()
    torch_model = parity.to_torch(model)
    torch_model.train()
    torch_model.layers[1].eval()  # a user's own mix of modes is kept too
    before = {n: p.requires_grad for n, p in torch_model.named_parameters()}
    rng = np.random.default_rng(0)
    batches = [parity.Batch(rng.uniform(-1, 1, (2, 3, 3)).astype("float32"),
                            rng.integers(0, 2, 2))]
    start = torch_model.layers[1].weight.detach().clone()
    record = parity.train_lockstep(model, torch_model, batches, loss=parity.SparseCrossEntropy(),
                                   optimizer=parity.SGD(0.1))
    assert record.ok, record.explain()
    assert any("bias_hh" in note for note in record.notes)  # frozen for the run ...
    assert {n: p.requires_grad for n, p in torch_model.named_parameters()} == before  # ... only
    assert torch_model.training and not torch_model.layers[1].training
    assert torch_model.layers[0].training
    assert not torch.equal(start, torch_model.layers[1].weight)  # the run's training is kept


def test_a_forward_check_leaves_the_module_in_training_mode():
    model = _course_model()
    torch_model = parity.to_torch(model).train()
    training.predict(torch_model, np.zeros((1, 2, 3), "float32"))
    parity.assert_model_parity(model, torch_model, np.ones((1, 2, 3), "float32"))
    assert all(m.training for m in torch_model.modules())
