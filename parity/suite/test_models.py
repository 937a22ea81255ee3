"""Whole models: hypothesis-drawn Keras models (Embedding with masks, recurrent layers,
Bidirectional, Dropout, Dense heads) ported to torch compute the same, and port back exactly."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import parity
from parity.checks import strategies
from parity.checks.model_parity import ModelCase, assert_model_parity
from parity.models import blocks as models
from parity.models import chains, optim, training


def keras_model_to_torch(case: ModelCase) -> None:
    keras_model = case.keras_model()
    torch_model = parity.to_torch(keras_model)
    assert_model_parity(keras_model, torch_model, case.ids, context=repr(case))
    back = chains.named_arrays(*chains.read(parity.to_keras(torch_model)))
    start = chains.named_arrays(*chains.read(keras_model))
    assert back.keys() == start.keys()
    for name, value in start.items():
        np.testing.assert_array_equal(back[name], value, err_msg=name)


@given(case=strategies.model_cases())
def test_keras_model_to_torch(case):
    keras_model_to_torch(case)


def model_trains_the_same(case: ModelCase, optimizer: optim.Optimizer) -> None:
    """Two batches, two epochs, in lock step: every cell, Bidirectional, masks and heads train
    alike (the course scenarios cover SimpleRNN only). The head outputs logits; under Adam the
    Embedding is frozen, as in
    the course: Keras' sparse Adam differs from dense Adam on repeated tokens (see
    tests/unit/test_models_training.py::test_keras_sparse_adam_on_repeated_tokens_is_caught)."""
    head = case.blocks[-1]
    if head.activation in ("softmax", "sigmoid"):  # the loss takes logits (training_start.check_logits)
        head = dataclasses.replace(head, activation="linear")
    embedding = case.blocks[0]
    if isinstance(optimizer, optim.Adam):
        embedding = dataclasses.replace(embedding, trainable=False)
    case = dataclasses.replace(case, blocks=(embedding, *case.blocks[1:-1], head))
    keras_model = case.keras_model()
    torch_model = parity.to_torch(keras_model)
    rng = np.random.default_rng(case.seed)
    head = case.blocks[-1].units
    sequences = case.blocks[-2 if not isinstance(case.blocks[-2], models.Dropout) else -3] \
        .spec.return_sequences
    labels = rng.integers(0, head, case.ids.shape if sequences else case.ids.shape[:1])
    half = max(1, len(case.ids) // 2)
    batches = [training.Batch(case.ids[:half], labels[:half]),
               training.Batch(case.ids[half:], labels[half:])] if len(case.ids) > 1 else \
        [training.Batch(case.ids, labels)]
    training.assert_training_parity(keras_model, torch_model, batches,
                                    loss=optim.SparseCrossEntropy(), optimizer=optimizer,
                                    epochs=2, context=repr(case))


@given(case=strategies.model_cases(), optimizer=st.sampled_from(
    [optim.Adam(0.01), optim.Adam(0.1, epsilon=1e-8, epsilon_convention="torch"),
     optim.SGD(0.1, momentum=0.9)]))
def test_model_trains_the_same(case, optimizer):
    model_trains_the_same(case, optimizer)
