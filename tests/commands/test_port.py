"""Porting a model: parity.port and ``python -m parity port`` in both directions, the files they
write, the verdict table, and that a broken conversion is reported (exit 1), bad input refused
(exit 2) and nothing overwritten."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import parity
from parity.cli import main
from parity.core.frameworks import keras, torch
from parity.porting import convert, files


def _keras_model():
    keras.utils.set_random_seed(3)
    return keras.Sequential([keras.Input((None,), dtype="int32"),
                             keras.layers.Embedding(9, 4, mask_zero=True),
                             keras.layers.SimpleRNN(5, return_sequences=True),
                             keras.layers.Dropout(0.2),
                             keras.layers.LSTM(3),
                             keras.layers.Dense(2)])


def test_port_returns_the_torch_model_and_a_verdict_row_per_layer_and_check():
    model = _keras_model()
    torch_model, verdict = parity.port(model)
    assert isinstance(torch_model, parity.KerasSequential)
    assert verdict.ok, verdict.explain()
    checks = [(r.layer, r.check) for r in verdict.rows]
    assert checks == [("0 Embedding", "weights"), ("1 simple_rnn", "weights"),
                      ("1 simple_rnn", "forward"), ("1 simple_rnn", "gradients"),
                      ("3 lstm", "weights"), ("3 lstm", "forward"), ("3 lstm", "gradients"),
                      ("4 Dense", "weights"), ("model", "output")]
    assert all(0 <= r.share <= 1 and r.difference <= r.allowed for r in verdict.rows
               if r.check != "weights")
    assert "\n" not in verdict.summary() and "parity holds" in verdict.summary()
    table = verdict.explain()
    assert "| 3 lstm | gradients |" in table and "Dropout is compared in inference mode" in table
    ids = np.array([[1, 2, 3, 0], [4, 5, 0, 0]])
    expected = keras.ops.convert_to_numpy(model(ids.astype("int32")))
    torch_model.eval()  # returned as built, in training mode (Dropout active), like parity.to_torch
    with torch.no_grad():
        got = torch_model(torch.from_numpy(ids)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_port_goes_from_torch_to_keras_and_takes_a_layer():
    torch.manual_seed(0)
    layer, verdict = parity.port(torch.nn.GRU(3, 4, batch_first=True))
    assert isinstance(layer, keras.layers.GRU) and verdict.ok, verdict.explain()
    assert [r.check for r in verdict.rows] == ["weights", "forward", "gradients"]


def test_a_broken_conversion_fails_the_layer_it_breaks():
    model = _keras_model()
    torch_model = parity.to_torch(model)
    with torch.no_grad():
        torch_model.layers[3].rnn.weight_hh_l0[0, 0] += 1e-3  # a transfer that lost precision
    verdict = convert.check_port(model, torch_model)
    failing = {(r.layer, r.check) for r in verdict.rows if not r.ok}
    assert ("3 lstm", "weights") in failing and ("3 lstm", "forward") in failing
    assert ("1 simple_rnn", "forward") not in failing
    assert not verdict.ok and "BROKEN" in verdict.summary()
    assert "weight_hh" in verdict.explain() or "recurrent_kernel" in verdict.explain()


def test_parity_port_is_the_function_whatever_is_imported():
    importlib.import_module("parity.porting.cli")  # the package is parity.porting, never parity.port
    from parity.porting.convert import port

    assert parity.port is port
    with pytest.raises(parity.TransferError, match="parity.port takes"):
        parity.port(3)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_cli_ports_a_saved_keras_model_to_a_loadable_state_dict(tmp_path, capsys, suffix):
    model = _keras_model()
    saved = tmp_path / f"model{suffix}"
    model.save(saved)
    out = tmp_path / "ported"
    assert main(["port", str(saved), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| model | output |" in printed and "parity holds" in printed
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [files.STATE_DICT, files.ARCHITECTURE, files.LOADER, "verdict.md"])
    loader = importlib.util.spec_from_file_location(f"loader_{suffix[1:]}", out / files.LOADER)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    rebuilt = module.load().eval()  # a new torch module trains (Dropout active) until eval()
    ids = np.array([[1, 2, 3, 0], [4, 5, 0, 0]])
    with torch.no_grad():
        got = rebuilt(torch.from_numpy(ids)).numpy()
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(model(ids.astype("int32"))),
                               rtol=1e-5, atol=1e-6)
    assert main(["port", str(saved), "--out", str(out)]) == 2  # never overwrites
    assert "exists" in capsys.readouterr().err


def test_cli_ports_a_torch_factory_and_state_dict_to_a_keras_file(tmp_path, monkeypatch, capsys):
    (tmp_path / "user_models.py").write_text(
        "import torch\n\n"
        "def tagger():\n"
        "    return torch.nn.LSTM(3, 4, batch_first=True)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    torch.manual_seed(1)
    trained = torch.nn.LSTM(3, 4, batch_first=True)
    torch.save(trained.state_dict(), tmp_path / "weights.pt")
    out = tmp_path / "to_keras"
    assert main(["port", "user_models:tagger", "--state-dict", str(tmp_path / "weights.pt"),
                 "--out", str(out)]) == 0
    assert "| 0 lstm | gradients |" in capsys.readouterr().out
    loaded = keras.saving.load_model(out / files.KERAS_FILE)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 5, 3)).astype("float32")
    with torch.no_grad():
        expected = trained(torch.from_numpy(x))[0].numpy()
    got = keras.ops.convert_to_numpy(loaded(x)[0])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # a state dict of another shape is bad input, named
    torch.save(torch.nn.LSTM(3, 5, batch_first=True).state_dict(), tmp_path / "other.pt")
    assert main(["port", "user_models:tagger", "--state-dict", str(tmp_path / "other.pt"),
                 "--out", str(tmp_path / "x")]) == 2
    assert "other.pt: cannot be loaded" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_cli_reports_a_broken_port_with_exit_1(tmp_path, monkeypatch, capsys):
    model = _keras_model()
    saved = tmp_path / "model.keras"
    model.save(saved)
    to_torch = convert.model_transfer.to_torch

    def lossy(obj):  # a conversion that rounds the Dense kernel to float16
        module = to_torch(obj)
        with torch.no_grad():
            weight = module.layers[4].weight
            weight.copy_(weight.half().float())
        return module

    monkeypatch.setattr(convert.model_transfer, "to_torch", lossy)
    assert main(["port", str(saved), "--out", str(tmp_path / "out")]) == 1
    printed = capsys.readouterr().out
    assert "| 4 Dense | weights |" in printed and "FAIL" in printed
    assert (tmp_path / "out" / "verdict.md").exists()  # the converted model and verdict are kept


@pytest.mark.parametrize("argv, message", [
    (["port", "missing.keras", "--out", "o"], "no such file"),
    (["port", "model.txt", "--out", "o"], "expected a Keras file"),
    (["port", "no_such_module:make", "--out", "o"], "cannot import"),
    (["port", "m.keras", "--state-dict", "w.pt", "--out", "o"], "holds its own weights"),
])
def test_cli_refuses_bad_input_with_exit_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_file_that_is_not_a_model_is_refused(tmp_path, capsys):
    bad = tmp_path / "model.keras"
    bad.write_text("not a zip")
    assert main(["port", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert f"Keras {keras.__version__} cannot load it" in capsys.readouterr().err


def test_a_model_of_recurrent_layers_torch_cannot_stack_ports_layer_by_layer():
    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(4, return_sequences=True),
                              keras.layers.GRU(2)])
    torch_model, verdict = parity.port(model)
    assert isinstance(torch_model, parity.KerasSequential) and verdict.ok, verdict.explain()
    assert [r.layer for r in verdict.rows if r.check == "gradients"] == ["0 lstm", "1 gru"]
