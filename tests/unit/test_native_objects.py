"""The course's own objects in lock-step training: Keras and torch optimizers and losses,
tf.data, DataLoader, (x, y) pairs, labels of every rank Keras takes, a seeded per-epoch shuffle;
anything else refused by name."""

from __future__ import annotations

import numpy as np
import pytest

import parity
from parity.core.errors import UnsupportedConfig
from parity.core.frameworks import keras, torch
from parity.models import native


def _pair():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.SimpleRNN(4),
                              keras.layers.Dense(2)])
    return model, parity.to_torch(model)


def _data(n=4, steps=3):
    rng = np.random.default_rng(0)
    return rng.uniform(-1, 1, (n, steps, 3)).astype("float32"), rng.integers(0, 2, n)


def test_keras_adam_and_loss_and_tf_data_train_as_the_parity_objects_do():
    import tensorflow as tf

    x, y = _data()
    model, torch_model = _pair()
    native_run = parity.train_lockstep(
        model, torch_model, tf.data.Dataset.from_tensor_slices((x, y)).batch(2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.Adam(0.01), epochs=2)
    model, torch_model = _pair()
    plain = parity.train_lockstep(model, torch_model, [parity.Batch(x[:2], y[:2]),
                                                       parity.Batch(x[2:], y[2:])],
                                  loss=parity.SparseCrossEntropy(),
                                  optimizer=parity.Adam(0.01), epochs=2)
    assert native_run.ok, native_run.explain()
    assert native_run.losses("keras") == plain.losses("keras")
    assert native_run.losses("torch") == plain.losses("torch")
    assert any("epsilon: Keras' default is 1e-07, torch's 1e-08" in n for n in native_run.notes)


def test_torch_adam_summed_cross_entropy_and_a_dataloader():
    x, y = _data()
    model, torch_model = _pair()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=4)
    summed = parity.train_lockstep(
        model, torch_model, loader, loss=torch.nn.CrossEntropyLoss(reduction="sum"),
        optimizer=torch.optim.Adam(torch_model.parameters(), lr=0.01))
    assert summed.ok, summed.explain()
    model, torch_model = _pair()
    mean = parity.train_lockstep(model, torch_model, (x, y), loss=torch.nn.CrossEntropyLoss(),
                                 optimizer=torch.optim.SGD(torch_model.parameters(), lr=0.1))
    assert summed.steps[0].loss_torch == pytest.approx(4 * mean.steps[0].loss_torch, rel=1e-6)
    assert any("DataLoader read once" in n for n in summed.notes)


def test_torch_adams_epsilon_is_kept_in_torchs_convention():
    adam, notes = native.optimizer(torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))],
                                                    lr=0.1, betas=(0.8, 0.99)))
    assert adam == parity.Adam(0.1, 0.8, 0.99, 1e-8, epsilon_convention="torch")
    sgd, notes = native.optimizer(keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True))
    assert sgd == parity.SGD(0.1, 0.9, True) and "0.01, torch's 0.001" in notes[0]


@pytest.mark.parametrize("labels", ["(batch, 1)", "(time,)"])
def test_labels_of_the_shapes_keras_and_the_course_use(labels):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.SimpleRNN(4,
                              return_sequences=True)])
    torch_model = parity.to_torch(model)
    x, _ = _data(n=1, steps=5)
    y = np.array([[0, 1, 2, 3, 1]]).T if labels == "(batch, 1)" else np.array([0, 1, 2, 3, 1])
    if labels == "(batch, 1)":  # per-sequence labels with a trailing 1
        model = keras.Sequential([keras.Input((None, 3)), keras.layers.SimpleRNN(4)])
        torch_model = parity.to_torch(model)
        x, y = _data(n=5)[0], np.array([[0], [1], [2], [3], [1]])
    record = parity.train_lockstep(model, torch_model, (x, y), loss=parity.SparseCrossEntropy(),
                                   optimizer=parity.SGD(0.1), epochs=2)
    assert record.ok, record.explain()


def test_a_seeded_shuffle_gives_each_epoch_its_own_order_the_same_for_both():
    x, y = _data(n=6)
    data = native.data([(x[:2], y[:2]), (x[2:4], y[2:4]), (x[4:], y[4:])], shuffle_seed=5)
    first, second = data.epoch(0), data.epoch(1)
    assert [b.x.shape[0] for b in first] == [2, 2, 2]
    assert not all(np.array_equal(a.x, b.x) for a, b in zip(first, second))
    assert all(np.array_equal(a.x, b.x) for a, b in zip(first, data.epoch(0)))
    assert sorted(np.concatenate([b.y for b in second]).tolist()) == sorted(y.tolist())
    model, torch_model = _pair()
    record = parity.train_lockstep(model, torch_model, [(x[:3], y[:3]), (x[3:], y[3:])],
                                   loss=parity.SparseCrossEntropy(), optimizer=parity.SGD(0.1),
                                   epochs=2, shuffle_seed=5)
    assert record.ok and any("seed 5" in n for n in record.notes)


@pytest.mark.parametrize("what, make, match", [
    ("optimizer", lambda p: keras.optimizers.RMSprop(), "keras.*RMSprop.*pass one of"),
    ("optimizer", lambda p: torch.optim.Adam(p, weight_decay=0.1), "weight_decay=0.1 in torch"),
    ("optimizer", lambda p: keras.optimizers.Adam(clipnorm=1.0), "clipnorm=1.0"),
    ("loss", lambda p: keras.losses.SparseCategoricalCrossentropy(), "from_logits=False"),
    ("loss", lambda p: torch.nn.MSELoss(), "torch.nn.modules.loss.MSELoss.*pass one of"),
    ("batches", lambda p: {"x": 1}, "batches='builtins.dict': pass"),
])
def test_anything_else_is_refused_by_name_with_what_to_pass(what, make, match):
    model, torch_model = _pair()
    x, y = _data()
    kwargs = {"batches": (x, y), "loss": parity.SparseCrossEntropy(), "optimizer": parity.SGD(0.1)}
    kwargs[what] = make(list(torch_model.parameters()))
    with pytest.raises(UnsupportedConfig, match=match):
        parity.train_lockstep(model, torch_model, kwargs.pop("batches"), **kwargs)
