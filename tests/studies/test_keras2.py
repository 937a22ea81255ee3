"""Keras 2 (tf-keras) layers, models and files: recognised without importing tf_keras, converted
through a Keras 3 twin that holds their weights bit for bit, judged on their own outputs, and
refused with the Keras version named where they cannot be."""

from __future__ import annotations

import importlib.util
import re
import sys

import h5py
import numpy as np
import pytest

import parity
from parity.checks import compare
from parity.cli import main
from parity.core.errors import InputFileError, TransferError, UnsupportedConfig
from parity.core.frameworks import keras, torch
from parity.models import keras2
from parity.porting import convert, files

X = np.random.default_rng(0).uniform(-1, 1, (2, 5, 3)).astype("float32")
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
IDS = np.array([[1, 2, 3, 0, 0, 0], [4, 5, 6, 7, 8, 1]])


@pytest.fixture(scope="module")
def tfk():
    return pytest.importorskip("tf_keras")


def _built(layer, input_size=3):
    layer.build((None, None, input_size))
    return layer


@pytest.fixture(scope="module")
def layers(tfk):
    tfk.utils.set_random_seed(1)
    return {
        "simple_rnn relu": _built(tfk.layers.SimpleRNN(4, activation="relu", return_sequences=True)),
        "lstm states": _built(tfk.layers.LSTM(4, return_state=True)),
        "gru backwards": _built(tfk.layers.GRU(3, go_backwards=True, return_sequences=True)),
        "bidirectional lstm": _built(tfk.layers.Bidirectional(
            tfk.layers.LSTM(4, return_sequences=True, return_state=True), merge_mode="sum")),
        "stacked cells": _built(tfk.layers.RNN([tfk.layers.GRUCell(4), tfk.layers.GRUCell(4)])),
    }


@pytest.fixture(scope="module")
def tagger(tfk):
    """The course's bidirectional tagger shape: Embedding(mask_zero) -> Bidirectional ->
    TimeDistributed(Dropout) -> GRU -> Dense."""
    tfk.utils.set_random_seed(2)
    model = tfk.Sequential([tfk.layers.Embedding(11, 5, mask_zero=True, input_length=6),
                            tfk.layers.Bidirectional(tfk.layers.SimpleRNN(4, return_sequences=True)),
                            tfk.layers.TimeDistributed(tfk.layers.Dropout(0.2)),
                            tfk.layers.GRU(3, return_sequences=True),
                            tfk.layers.TimeDistributed(tfk.layers.Dense(2))])
    model.build((None, 6))
    return model


def test_keras2_objects_are_recognised_by_their_class_module_without_importing_tf_keras():
    legacy = type("LSTM", (), {"__module__": "tf_keras.src.layers.rnn.lstm"})
    subclass = type("MyLSTM", (legacy,), {"__module__": "user_code"})
    assert keras2.is_keras2(legacy()) and keras2.is_keras2(subclass())
    assert keras2.is_keras2([legacy(), subclass()]) and not keras2.is_keras2([legacy(), 3])
    assert not keras2.is_keras2(keras.layers.LSTM(3))
    assert not keras2.is_keras2(torch.nn.LSTM(3, 4)) and not keras2.is_keras2([])


@pytest.mark.parametrize("name", ["simple_rnn relu", "lstm states", "gru backwards",
                                  "bidirectional lstm", "stacked cells"])
def test_a_keras2_layer_ports_and_its_own_outputs_match_torch(layers, name):
    layer = layers[name]
    module = parity.to_torch(layer)
    report = parity.assert_parity(layer, module, X, mask=MASK)
    assert "tf-keras" in report.context
    spec, weights = parity.read(layer)
    assert spec == parity.read(module)[0]
    # the Keras side of the report is the Keras 2 layer itself, not its twin
    expected = layer(X, mask=MASK)
    first = expected[0] if isinstance(expected, list) else expected
    with torch.no_grad():
        got = module(torch.from_numpy(X), mask=torch.from_numpy(MASK))
    got = got[0] if isinstance(got, (tuple, list)) else got
    np.testing.assert_allclose(got.numpy(), np.asarray(first), rtol=1e-5, atol=1e-6)


def test_copy_weights_goes_both_ways_bit_for_bit(layers):
    layer = layers["lstm states"]
    torch.manual_seed(3)
    module = torch.nn.LSTM(3, 4, batch_first=True)
    parity.copy_weights(module, layer)
    kernel, recurrent, bias = layer.get_weights()
    assert np.array_equal(kernel, module.weight_ih_l0.detach().numpy().T)
    assert np.array_equal(recurrent, module.weight_hh_l0.detach().numpy().T)
    back = parity.to_torch(layer)  # the twin follows the Keras 2 layer's new weights
    assert np.array_equal(back.rnn.weight_ih_l0.detach().numpy(), module.weight_ih_l0.detach().numpy())
    other = torch.nn.LSTM(3, 4, batch_first=True)
    parity.copy_weights(layer, other)
    assert np.array_equal(other.weight_hh_l0.detach().numpy(), recurrent.T)
    parity.assert_parity(layer, parity.to_torch(layer), X)


def test_a_keras2_model_ports_with_rows_for_the_keras2_step(tagger):
    torch_model, verdict = parity.port(tagger)
    assert verdict.ok, verdict.explain()
    rows = {(r.layer, r.check): r for r in verdict.rows}
    assert rows[("keras 2 -> 3", "weights")].difference == 0
    assert rows[("keras 2 -> 3", "output")].difference <= rows[("keras 2 -> 3", "output")].allowed
    assert ("keras 2 model", "output") in rows and ("model", "output") in rows
    assert verdict.source.startswith(f"Keras 2 (tf-keras {keras2.version()}) Sequential")
    torch_model.eval()
    with torch.no_grad():
        got = torch_model(torch.from_numpy(IDS)).numpy()
    np.testing.assert_allclose(got, tagger(IDS, training=False).numpy(), rtol=1e-5, atol=1e-6)


def test_the_keras2_row_fails_when_the_keras2_model_computes_something_else(tagger, monkeypatch):
    real = keras2.predict
    monkeypatch.setattr(keras2, "predict", lambda model, x: real(model, x) + 1e-4)
    _, verdict = parity.port(tagger)
    failing = [(r.layer, r.check) for r in verdict.rows if not r.ok]
    assert failing == [("keras 2 -> 3", "output"), ("keras 2 model", "output")]
    assert "keras 3 twin" in verdict.explain()


def test_a_chain_functional_keras2_model_ports_and_a_branching_one_is_refused(tfk):
    inputs = tfk.Input((None, 3))
    hidden = tfk.layers.LSTM(4, return_sequences=True)(inputs)
    chain = tfk.Model(inputs, tfk.layers.Dense(2)(tfk.layers.GRU(3)(hidden)))
    _, verdict = parity.port(chain)
    assert verdict.ok and ("keras 2 model", "output") in [(r.layer, r.check) for r in verdict.rows]
    branching = tfk.Model(inputs, tfk.layers.Add()([hidden, tfk.layers.LSTM(
        4, return_sequences=True)(inputs)]))
    with pytest.raises(UnsupportedConfig, match=rf"one chain.*tf-keras {keras2.version()}"):
        parity.to_torch(branching)


def test_refusals_name_the_keras_version_seen(tfk):
    with pytest.raises(UnsupportedConfig, match=r"time_major=True.*tf-keras \d"):
        parity.to_torch(_built(tfk.layers.LSTM(3, time_major=True)))
    # refused by the Keras 3 machinery on the twin: the message still names Keras 2
    hard = _built(tfk.layers.GRU(3, recurrent_activation="hard_sigmoid"))
    with pytest.raises(UnsupportedConfig, match=rf"hard_sigmoid.*tf-keras {keras2.version()}.*"
                       rf"rebuilt in Keras {keras.__version__}"):
        parity.to_torch(hard)
    # a Keras 2 dtype policy reaches Keras 3 as its name, which the Keras 3 path refuses
    with pytest.raises(UnsupportedConfig, match=r"mixed_float16.*tf-keras.*mixed precision"):
        parity.to_torch(_built(tfk.layers.LSTM(3, dtype=tfk.mixed_precision.Policy(
            "mixed_float16"))))
    with pytest.raises(TransferError, match=r"build the Keras 2 \(tf-keras"):
        parity.to_torch(tfk.layers.SimpleRNN(2))
    dense = tfk.layers.Dense(2)
    dense.build((None, 3))
    with pytest.raises(UnsupportedConfig, match=r"layer='Dense'.*Keras 2 \(tf-keras"):
        parity.assert_parity(dense, torch.nn.RNN(3, 2, batch_first=True), X)


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_cli_ports_a_keras2_file(tfk, tagger, tmp_path, capsys, suffix):
    saved = tmp_path / f"tagger{suffix}"
    tagger.save(saved)
    assert files.saved_by(saved) == tfk.__version__
    out = tmp_path / "ported"
    assert main(["port", str(saved), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| keras 2 model | output |" in printed and "parity holds" in printed
    loader = importlib.util.spec_from_file_location(f"k2_loader_{suffix[1:]}", out / files.LOADER)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    with torch.no_grad():
        got = module.load().eval()(torch.from_numpy(IDS)).numpy()
    np.testing.assert_allclose(got, tagger(IDS, training=False).numpy(), rtol=1e-5, atol=1e-6)


def _keras2_h5(path):
    """An .h5 file whose root attributes say Keras 2 wrote it (all the loader reads first)."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.21.0"
        f.attrs["backend"] = "tensorflow"
    return path


def test_a_keras2_file_without_tf_keras_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tf_keras", None)  # `import tf_keras` raises ImportError
    saved = _keras2_h5(tmp_path / "old.h5")
    with pytest.raises(InputFileError, match=r"Keras 2\.21\.0 \(Keras 2\).*pip install "
                       r"tf-keras"):
        files.load_keras(saved)
    assert main(["port", str(saved), "--out", str(tmp_path / "o")]) == 2
    assert "pip install tf-keras" in capsys.readouterr().err and not (tmp_path / "o").exists()


@pytest.mark.parametrize("metadata, seen, remedy", [
    (b'\x12{"class_name": "Sequential", "keras_version": "2.21.0", "backend": "tensorflow"}',
     "written by Keras 2.21.0", "save it as .h5 or .keras"),
    (None, "no Keras metadata", "save the original Keras model as .keras"),
], ids=["keras 2 metadata", "no keras metadata"])
def test_a_saved_model_folder_is_refused_with_what_to_do(tmp_path, capsys, metadata, seen, remedy):
    folder = tmp_path / "exported"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"\x08\x01")
    if metadata is not None:
        (folder / "keras_metadata.pb").write_bytes(metadata)
    with pytest.raises(InputFileError, match="SavedModel") as error:
        parity.port(str(folder))
    assert seen in str(error.value) and remedy in str(error.value)
    assert main(["port", str(folder), "--out", str(tmp_path / "o")]) == 2
    assert seen in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_a_real_keras2_saved_model_is_refused_naming_its_version(tfk, tmp_path):
    folder = tmp_path / "saved"
    tfk.Sequential([tfk.Input((2,)), tfk.layers.Dense(1)]).save(folder, save_format="tf")
    with pytest.raises(InputFileError, match=f"written by Keras {tfk.__version__}"):
        convert.port(str(folder))


def test_entry_points_that_take_keras3_only_name_the_keras2_object_and_the_twin(layers):
    layer = layers["lstm states"]
    module = parity.to_torch(layer)
    for call in (lambda: parity.compare_gradients(layer, module, X),
                 lambda: parity.to_keras(layer),
                 lambda: compare.oracle_bounds(layer, X)):
        with pytest.raises(TransferError, match=rf"{re.escape(keras2.label())}.*keras2.twin"):
            call()
    twin = keras2.twin(layer)
    assert parity.compare_gradients(twin, module, X).ok


def test_copy_weights_fills_a_keras2_model_from_its_torch_port(tfk):
    model = tfk.Sequential([tfk.Input((None, 3)), tfk.layers.Masking(), tfk.layers.LSTM(4),
                            tfk.layers.Dense(2)])
    ported = parity.to_torch(model)
    with torch.no_grad():
        for p in ported.parameters():
            p.mul_(1.5)
    parity.copy_weights(ported, model)
    dense = ported.layers[2].weight.detach().numpy()
    assert np.array_equal(model.layers[-1].get_weights()[0], dense.T)
    assert parity.assert_model_parity(model, ported, X * MASK[..., None]).ok


def test_a_keras2_layer_port_judges_the_layer_itself(layers, monkeypatch):
    layer = layers["bidirectional lstm"]
    _, verdict = parity.port(layer)
    assert verdict.ok, verdict.explain()
    checks = [(r.layer, r.check) for r in verdict.rows]
    assert checks[-3:] == [("keras 2 -> 3", "weights"), ("keras 2 -> 3", "output"),
                           ("keras 2 layer", "forward")]
    real = keras2.run

    def drifting(obj, x, *args):  # a Keras 2 layer that computes something else than its twin
        out = real(obj, x, *args)
        return type(out)(out.output + 1e-4, out.states)

    monkeypatch.setattr(keras2, "run", drifting)
    _, verdict = parity.port(layer)
    assert [(r.layer, r.check) for r in verdict.rows if not r.ok] == checks[-2:]
