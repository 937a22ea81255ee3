"""Bad input is never a finding: non-finite weights and dtypes a backend cannot compute are
refused as bad input (a typed error, exit 2), naming the framework, the weight and the element,
by every check a user calls and by ``port``; never blamed on the frameworks."""

from __future__ import annotations

import numpy as np
import pytest

import parity
from parity.checks import capabilities
from parity.cli import main
from parity.core.errors import NonFiniteInput, NonFiniteWeight, UnsupportedConfig
from parity.core.frameworks import keras, torch

X = np.eye(4, dtype="float32")[[0, 1, 2, 2, 3]][None]  # one-hot "hello"


def _layer_with(value, *, index=(1, 0)):
    layer = keras.layers.SimpleRNN(2, return_sequences=True)
    layer.build((None, 5, 4))
    kernel, recurrent, bias = layer.get_weights()
    kernel[index] = value
    layer.set_weights([kernel, recurrent, bias])
    return layer


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_identical_non_finite_weights_are_refused_not_blamed_on_both(value):
    layer = _layer_with(value)
    module = parity.to_torch(layer)  # an exact copy: the same NaN on both sides
    for check in (parity.compare, parity.assert_parity, parity.assert_gradient_parity):
        with pytest.raises(NonFiniteWeight, match=r"keras weight .*kernel='.* at \[1, 0\]': 1 of 8"):
            check(layer, module, X)


def test_a_non_finite_torch_weight_is_named_by_its_parameter():
    layer = _layer_with(0.5)
    module = parity.to_torch(layer)
    with torch.no_grad():
        module.rnn.weight_hh_l0[1, 1] = float("nan")
    with pytest.raises(NonFiniteWeight, match=r"torch weight rnn\.weight_hh_l0=.* at \[1, 1\]'"):
        parity.assert_parity(layer, module, X)
    assert issubclass(NonFiniteWeight, NonFiniteInput)  # `except NonFiniteInput` code still works


def _model(value):
    model = keras.Sequential([keras.Input((6,), dtype="int32"),
                              keras.layers.Embedding(11, 4, mask_zero=True),
                              keras.layers.SimpleRNN(5), keras.layers.Dense(2)])
    weights = model.get_weights()
    weights[0][3, 2] = value  # the embedding of token 3
    model.set_weights(weights)
    return model


def test_models_and_training_refuse_non_finite_weights():
    model = _model(np.inf)
    torch_model = parity.to_torch(model)
    ids = np.array([[3, 4, 5, 0, 0, 0], [1, 2, 3, 4, 5, 6]])
    with pytest.raises(NonFiniteWeight, match=r"keras weight .*embeddings=.* at \[3, 2\]'"):
        parity.assert_model_parity(model, torch_model, ids)
    with pytest.raises(NonFiniteWeight, match="embeddings"):
        parity.assert_training_parity(model, torch_model, (ids, np.array([0, 1])),
                                      loss=parity.SparseCrossEntropy(), optimizer=parity.SGD(0.1))


def test_port_of_a_saved_model_with_a_nan_weight_exits_2_and_writes_nothing(tmp_path, capsys):
    model = keras.Sequential([keras.Input((5, 4)), keras.layers.SimpleRNN(3),
                              keras.layers.Dense(2)])
    weights = model.get_weights()
    weights[2][1] = np.nan  # the recurrent layer's bias
    model.set_weights(weights)
    model.save(tmp_path / "nan.keras")
    assert main(["port", str(tmp_path / "nan.keras"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "keras weight" in err and "bias" in err and "NaN or Inf" in err
    assert not (tmp_path / "out").exists()
    with pytest.raises(NonFiniteWeight, match=r"bias='.* at \[1\]'"):
        parity.port(str(tmp_path / "nan.keras"))


def test_a_dtype_the_backend_computes_in_another_precision_is_refused_with_the_probe(monkeypatch):
    probe = ("Keras 3 on its jax backend (JAX_ENABLE_X64=unset) computes float64 simple_rnn layers "
             "in float32 (probe: largest error 3e-08 against the float64 oracle)")
    monkeypatch.setattr(capabilities, "keras_precision_reason",
                        lambda dtype: probe if dtype == "float64" else None)
    layer = keras.layers.SimpleRNN(2, return_sequences=True, dtype="float64")
    layer.build((None, 5, 4))
    module = parity.to_torch(layer)
    with pytest.raises(UnsupportedConfig, match=r"dtype='float64' in a simple_rnn layer: Keras 3 "
                       r"on its jax backend .* in float32 .*not the port"):
        parity.assert_parity(layer, module, X.astype("float64"))
    # float32 is computed as asked: the check runs and passes
    finite = _layer_with(0.5)
    assert parity.assert_parity(finite, parity.to_torch(finite), X).ok
