"""Whole-model transfer, matched optimizers and lock-step training: exactness, typed errors, and
that real porting mistakes (optimizer defaults, the second torch bias, loss reduction, a Dense
kernel not transposed, the mask not flowing) are caught."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import Phase, given, settings

import parity
from parity.checks import strategies
from parity.checks.model_parity import ModelCase
from parity.core.errors import ParityError, TransferError, UnsupportedConfig
from parity.core.frameworks import keras, torch
from parity.models import chains as models
from parity.models import optim, training
from parity.scenarios import course as scenarios
from parity.suite import test_models as model_checks


def run_default_profile(body) -> None:
    profile = settings.get_profile("parity-ci")
    fast = settings(profile, phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False)
    fast(given(case=strategies.model_cases())(body))()


# ----------------------------------------------------------------------------- optimizers

def _updates(optimizer, keras_eps, torch_eps, adjust, grads):
    """Apply the same gradient sequence to one float64 weight in each framework."""
    start = np.linspace(-1, 1, grads.shape[1])
    kv = keras.Variable(start.copy(), dtype="float64")
    kopt = keras_eps(optimizer)
    kopt.build([kv])
    tp = torch.nn.Parameter(torch.from_numpy(start.copy()))
    topt = torch_eps(optimizer, [tp])
    for step, g in enumerate(grads, start=1):
        if adjust:
            optimizer.before_step(step, kopt, [topt])
        kopt.apply_gradients([(keras.ops.convert_to_tensor(g), kv)])
        tp.grad = torch.from_numpy(g.copy())
        topt.step()
    return keras.ops.convert_to_numpy(kv), tp.detach().numpy()


# gradients of 1e-7..1e-6: where epsilon is not negligible next to sqrt(v)
GRADS = np.random.default_rng(0).uniform(-1e-6, 1e-6, (25, 8))


@pytest.mark.parametrize("convention", ["keras", "torch"])
def test_adam_epsilon_is_matched_in_either_convention(convention):
    # betas and rate exact in float32: see test_keras_adam_bias_correction_rounds_betas_to_float32
    adam = optim.Adam(2.0**-7, beta_1=0.5, beta_2=0.75, epsilon=1e-7,
                      epsilon_convention=convention)
    k, t = _updates(adam, lambda o: o.keras(), lambda o, p: o.torch(p), True, GRADS)
    np.testing.assert_allclose(k, t, rtol=1e-12, atol=1e-15)


def test_keras_adam_bias_correction_rounds_betas_to_float32():
    """A Keras quirk the training tolerance models (perturbation.Perturbation.step_size): under the
    TensorFlow backend, Python-float betas become float32 constants before the cast to the
    variable's dtype, so even a float64 weight's first Adam step is off by ~6.7e-6. If this test
    starts failing after an upgrade, the quirk is gone and that float32 floor can go too."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("a TensorFlow-backend quirk")
    kv = keras.Variable(np.zeros(1), dtype="float64")
    adam = keras.optimizers.Adam(2.0**-7, beta_1=0.5, beta_2=0.999, epsilon=1e-30)
    adam.build([kv])
    adam.apply_gradients([(keras.ops.convert_to_tensor(np.array([1e-3])), kv)])
    relative = float(keras.ops.convert_to_numpy(kv)[0]) / -2.0**-7 - 1
    # sqrt(1 - b2) with b2 rounded up to float32: -0.5 * (b2_f32 - b2) / (1 - b2) = -6.4e-6
    expected = -0.5 * (float(np.float32(0.999)) - 0.999) / (1 - 0.999)
    assert relative == pytest.approx(expected, rel=0.01)


def test_adam_epsilon_unconverted_differs():
    adam = optim.Adam(0.01, epsilon=1e-7)
    k, t = _updates(adam, lambda o: o.keras(), lambda o, p: torch.optim.Adam(p, lr=0.01, eps=1e-7),
                    False, GRADS)
    assert np.abs(k - t).max() > 1e-4  # the same number means a different update


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.875, False), (0.875, True)])
def test_sgd_means_the_same(momentum, nesterov):
    sgd = optim.SGD(2.0**-4, momentum=momentum, nesterov=nesterov)  # exact in float32 too
    k, t = _updates(sgd, lambda o: o.keras(), lambda o, p: o.torch(p), True, GRADS * 1e6)
    np.testing.assert_allclose(k, t, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("bad", [dict(learning_rate=0), dict(learning_rate=0.1, beta_2=1.0),
                                 dict(learning_rate=0.1, epsilon_convention="jax")])
def test_adam_refuses_bad_hyperparameters(bad):
    with pytest.raises(UnsupportedConfig) as info:
        optim.Adam(**bad)
    assert info.value.option in bad


def test_losses_agree_and_mask_as_the_course_does():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3, 5, 4))
    labels = rng.integers(0, 4, (3, 5))
    mask = np.arange(5)[None, :] < np.array([[2], [5], [1]])
    ce = -np.take_along_axis(logits - np.log(np.exp(logits).sum(-1, keepdims=True)),
                             labels[..., None], -1)[..., 0]
    expected = ((ce * mask).sum(-1) / mask.sum(-1)).mean()
    loss = optim.MaskedSequenceCrossEntropy()
    k = float(keras.ops.convert_to_numpy(loss.keras(logits, labels, mask)))
    t = float(loss.torch(torch.from_numpy(logits), torch.from_numpy(labels), torch.from_numpy(mask)))
    assert k == pytest.approx(expected, rel=1e-12) and t == pytest.approx(expected, rel=1e-12)
    flat = optim.SparseCrossEntropy()
    assert float(flat.torch(torch.from_numpy(logits), torch.from_numpy(labels))) == \
        pytest.approx(ce.mean(), rel=1e-12)


# ----------------------------------------------------------------------------- wrong settings

class FrameworkDefaults(optim.Adam):
    """Each framework's Adam at its own default epsilon (Keras 1e-7, torch 1e-8), unconverted."""

    def keras(self):
        return keras.optimizers.Adam(self.learning_rate)

    def torch(self, params):
        return torch.optim.Adam(params, lr=self.learning_rate)

    def before_step(self, *args):
        pass


@pytest.mark.parametrize("name", ["hihello", "many_to_one", "pos_tagger"])
def test_adam_left_at_framework_defaults_is_caught(name):
    lr = scenarios.load_fixture(name)["optimizer"]["learning_rate"]
    result = scenarios.run(name, epochs=2, optimizer_override=FrameworkDefaults(lr))
    assert not result.record.ok
    assert result.record.steps[0].failure  # caught at the very first step


def test_second_torch_bias_left_trainable_is_caught(monkeypatch):
    monkeypatch.setattr(training, "_freeze_second_biases", lambda module: [])
    result = scenarios.run("many_to_one", epochs=1)
    assert "bias" in result.record.steps[0].failure


def test_loss_summed_instead_of_averaged_is_caught(monkeypatch):
    real = optim.SparseCrossEntropy.torch
    monkeypatch.setattr(optim.SparseCrossEntropy, "torch",
                        lambda self, logits, labels, mask=None:
                        real(self, logits, labels, mask) * labels.numel())
    result = scenarios.run("many_to_one", epochs=1)
    assert not result.record.ok and "loss" in result.record.steps[0].failure


def test_failure_names_step_weight_and_reproduction(monkeypatch):
    monkeypatch.setattr(training, "_freeze_second_biases", lambda module: [])
    with pytest.raises(ParityError) as info:
        scenario = scenarios.load_fixture("hihello")
        d = scenarios.data(scenario)
        k, t = scenarios.models(scenario, 5)
        training.assert_training_parity(k, t, scenarios.batches(d, 1),
                                        loss=optim.SparseCrossEntropy(),
                                        optimizer=optim.Adam(0.1), context="my-repro-command")
    message = str(info.value)
    assert "first failure at step 1" in message and "simple_rnn[0].bias" in message
    assert "my-repro-command" in message and isinstance(info.value.report, training.TrainingRecord)


def test_the_unbroken_scenarios_hold_with_margin():
    result = scenarios.run("many_to_one", epochs=3)
    assert result.record.ok and result.record.share_used < 0.5


# ----------------------------------------------------------------------------- model transfer

def _dense_not_transposed(monkeypatch):
    real = models.write_torch

    def write(module, weights):
        weights = [dict(w, kernel=w["kernel"].T) if isinstance(w, dict) and "kernel" in w
                   and w["kernel"].shape[0] == w["kernel"].shape[1] else w for w in weights]
        real(module, weights)
    monkeypatch.setattr(models, "write_torch", write)


def _mask_not_flowing(monkeypatch):
    real = models.KerasSequential.forward
    monkeypatch.setattr(models.KerasSequential, "forward",
                        lambda self, x, mask=None: real(self, x.clamp(min=1), mask))


@pytest.fixture(scope="module")
def keras_models_of_the_cases():
    """The drawn cases' Keras models, by the case's repr (every block, the ids and the seed): the
    bugs break the torch side, which the check builds anew each time, so both bug tests can read
    one Keras model per case (building one costs more than checking it)."""
    return {}


@pytest.mark.parametrize("bug", [_dense_not_transposed, _mask_not_flowing])
def test_model_transfer_bugs_are_caught(monkeypatch, bug, keras_models_of_the_cases):
    built, real = keras_models_of_the_cases, ModelCase.keras_model

    def keras_model(case):
        if repr(case) not in built:
            built[repr(case)] = real(case)
        return built[repr(case)]

    monkeypatch.setattr(ModelCase, "keras_model", keras_model)
    bug(monkeypatch)
    with pytest.raises(ParityError):
        run_default_profile(model_checks.keras_model_to_torch)


def _seed_models():
    scenario = scenarios.load_fixture("stacked_many_to_one")
    return scenarios.models(scenario, len(scenarios.vocabulary(scenario, scenario["inputs"])))


def test_round_trip_is_exact_and_keeps_frozen_layers():
    keras_model, torch_model = _seed_models()
    assert not torch_model.layers[0].weight.requires_grad  # trainable=False Embedding
    back = parity.to_keras(torch_model)
    assert not back.layers[0].trainable
    a, b = (models.named_arrays(*models.read(m)) for m in (keras_model, back))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_nn_sequential_ports_to_keras():
    torch.manual_seed(0)
    spec = parity.RecurrentSpec("gru", 4, 3, return_sequences=True)
    seq = torch.nn.Sequential(torch.nn.Embedding(6, 3), parity.KerasRNN(spec), torch.nn.Dropout(0.1),
                              torch.nn.Linear(4, 2), torch.nn.Softmax(dim=-1)).eval()
    keras_model = parity.to_keras(seq)
    assert [type(layer).__name__ for layer in keras_model.layers] == \
        ["Embedding", "GRU", "Dropout", "Dense"]
    ids = np.array([[1, 2, 3], [5, 0, 4]])
    np.testing.assert_allclose(training.predict(keras_model, ids), training.predict(seq, ids),
                               rtol=1e-5, atol=1e-6)


def test_copy_weights_between_models():
    keras_model, torch_model = _seed_models()
    other = models.KerasSequential(torch_model.blocks)
    parity.copy_weights(keras_model, other)
    a, b = (models.named_arrays(*models.read(m)) for m in (keras_model, other))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    with pytest.raises(TransferError, match="layers"):
        parity.copy_weights(keras_model, models.KerasSequential(torch_model.blocks[:-1]))


def test_unsupported_layer_is_named_with_what_is_supported():
    model = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(5, 3),
                              keras.layers.SimpleRNN(2), keras.layers.BatchNormalization()])
    with pytest.raises(UnsupportedConfig) as info:
        parity.to_torch(model)
    assert info.value.value == "BatchNormalization" and "Dense" in info.value.expected


def test_branching_functional_model_is_refused():
    inputs = keras.Input((None, 3))
    a = keras.layers.SimpleRNN(2, return_sequences=True)(inputs)
    out = keras.layers.Dense(2)(keras.layers.Concatenate()([a, inputs]))
    with pytest.raises(UnsupportedConfig, match="one chain"):
        parity.to_torch(keras.Model(inputs, out))


def test_plain_recurrent_module_in_nn_sequential_is_refused():
    with pytest.raises(UnsupportedConfig, match="KerasRNN"):
        parity.to_keras(torch.nn.Sequential(torch.nn.RNN(3, 2), torch.nn.Linear(2, 1)))


def test_float32_wrapper_in_float64_model_is_refused():
    model = keras.Sequential([keras.Input((None, 3), dtype="float64"),
                              keras.layers.SimpleRNN(2, return_sequences=True, dtype="float64"),
                              keras.layers.TimeDistributed(keras.layers.Dense(2, dtype="float64"))])
    with pytest.raises(UnsupportedConfig, match="dtype"):
        parity.to_torch(model)


def test_training_refuses_different_starting_weights_and_trainability():
    keras_model, torch_model = _seed_models()
    batch = [training.Batch(np.array([[1, 2, 0]]), np.array([1]))]
    kwargs = dict(loss=optim.SparseCrossEntropy(), optimizer=optim.SGD(0.1))
    torch_model.layers[0].weight.requires_grad_(True)
    with pytest.raises(TransferError, match="trainable"):
        training.train_lockstep(keras_model, torch_model, batch, **kwargs)
    torch_model.layers[0].weight.requires_grad_(False)
    with torch.no_grad():
        torch_model.layers[-1].bias.add_(1e-3)
    with pytest.raises(TransferError, match="same weights"):
        training.train_lockstep(keras_model, torch_model, batch, **kwargs)


def _embedding_model(trainable: bool):
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((None,), dtype="int32"),
                              keras.layers.Embedding(4, 3, trainable=trainable),
                              keras.layers.SimpleRNN(2), keras.layers.Dense(2)])
    return model, parity.to_torch(model)


def test_keras_sparse_adam_on_repeated_tokens_is_caught():
    """Keras 3 (TF backend) squares an Embedding's IndexedSlices gradient slice by slice, so a
    token repeated in a batch gets a different Adam second moment than torch's dense gradient.
    If this starts failing after an upgrade, Keras fixed it: drop the note in training.py and the
    freeze in parity/suite/test_models.py."""
    keras_model, torch_model = _embedding_model(trainable=True)
    batches = [training.Batch(np.array([[1, 1, 2], [1, 3, 3]]), np.array([0, 1]))]
    record = training.train_lockstep(keras_model, torch_model, batches,
                                     loss=optim.SparseCrossEntropy(), optimizer=optim.Adam(0.01))
    assert not record.ok and "0.embedding.embeddings" in record.steps[0].failure
    assert any("sparse gradient" in note for note in record.notes)
    keras_model, torch_model = _embedding_model(trainable=True)  # SGD: slices sum exactly
    assert training.train_lockstep(keras_model, torch_model, batches,
                                   loss=optim.SparseCrossEntropy(), optimizer=optim.SGD(0.1)).ok


def test_activated_head_is_refused_for_logit_losses():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(4, 3),
                              keras.layers.SimpleRNN(2), keras.layers.Dense(2, activation="softmax")])
    with pytest.raises(UnsupportedConfig) as info:
        training.train_lockstep(model, parity.to_torch(model),
                                [training.Batch(np.array([[1, 2]]), np.array([0]))],
                                loss=optim.SparseCrossEntropy(), optimizer=optim.SGD(0.1))
    assert info.value.option == "activation" and "_get_logits" in info.value.expected
