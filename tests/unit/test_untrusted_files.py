"""No file runs code: model files holding Lambda layers, custom classes or pickles are refused
(exit 2) before anything in them is deserialised, and ``--trust-code`` is the only way past.
Each payload would leave a marker file if its code ran."""

from __future__ import annotations

import json
import os
import sys
import zipfile

import numpy as np
import pytest

import parity
from parity.cli import main
from parity.core.errors import InputFileError, NonFiniteInput
from parity.core.frameworks import keras, torch
from parity.core.spec import RecurrentSpec
from parity.layers.torch_side import KerasRNN
from parity.porting import files


def _writes(marker):
    """A lambda whose body writes ``marker`` (its bytecode holds the path: no closure)."""
    return eval(f"lambda x: (open({str(marker)!r}, 'w').write('ran'), x)[1]")


@pytest.fixture(scope="module")
def tfk():
    return pytest.importorskip("tf_keras")


def _refused(argv, marker, capsys, *words):
    out = argv[argv.index("--out") + 1]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert not marker.exists(), "the file's code ran"
    assert not os.path.exists(out)
    for word in words:
        assert word in err, err
    return err


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_a_keras2_lambda_is_refused_before_tf_keras_runs_it(tfk, tmp_path, capsys, suffix):
    marker = tmp_path / "ran"
    model = tfk.Sequential([tfk.layers.InputLayer((None, 3)),
                            tfk.layers.Lambda(_writes(marker), name="payload"), tfk.layers.GRU(2)])
    marker.unlink()  # building the model ran it once
    saved = tmp_path / f"k2{suffix}"
    model.save(saved)
    argv = ["port", str(saved), "--out", str(tmp_path / "o")]
    _refused(argv, marker, capsys, "Lambda 'payload'", "--trust-code", str(saved))
    with pytest.raises(InputFileError, match="trust_code=True"):
        parity.port(str(saved))
    assert not marker.exists()
    if suffix == ".h5":  # the payload is real: trusted, tf-keras runs it (the port then refuses)
        assert main(argv + ["--trust-code"]) == 2
        assert marker.exists() and "layer='Lambda'" in capsys.readouterr().err


def test_a_keras3_lambda_is_refused_and_trust_code_lets_it_load(tmp_path, capsys):
    marker = tmp_path / "ran"
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.Lambda(_writes(marker), name="payload"),
                              keras.layers.GRU(2)])
    marker.unlink(missing_ok=True)
    saved = tmp_path / "k3.keras"
    model.save(saved)
    _refused(["port", str(saved), "--out", str(tmp_path / "o")], marker, capsys,
             "Lambda 'payload'", "--trust-code")
    loaded = files.load_keras(saved, trust_code=True)  # what the opt-in is for
    assert any(isinstance(layer, keras.layers.Lambda) for layer in loaded.layers)


def _edit_config(path, edit):
    """Rewrite a .keras file's config.json through ``edit`` (config dict, in place)."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(parts["config.json"])
    edit(config)
    parts["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def _layer(config, class_name):
    return next(c for c in config["config"]["layers"] if c["class_name"] == class_name)


def test_a_keras2_class_from_a_foreign_module_is_refused_before_it_is_imported(
        tfk, tmp_path, monkeypatch, capsys):
    marker = tmp_path / "ran"
    (tmp_path / "evil_layers.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    saved = tmp_path / "k2.keras"
    tfk.Sequential([tfk.layers.InputLayer((None, 3)), tfk.layers.GRU(2)], name="rnn").save(saved)
    _edit_config(saved, lambda c: c.update(class_name="Tagger", module="evil_layers"))
    argv = ["port", str(saved), "--out", str(tmp_path / "o")]
    _refused(argv, marker, capsys, "Tagger 'rnn'", "from module 'evil_layers'", "--trust-code")
    assert main(argv + ["--trust-code"]) == 2  # the payload is real: tf-keras imports it
    assert marker.exists()


@pytest.mark.parametrize("edit, named", [
    (lambda layer: layer.update(class_name="NotAKerasLayer"), "'NotAKerasLayer' is not a class"),
    (lambda layer: layer.update(registered_name="my_pkg>Tagger"),
     "'my_pkg>Tagger' is a registered custom object"),
], ids=["unknown class", "registered custom object"])
def test_a_keras3_custom_object_is_refused(tmp_path, capsys, edit, named):
    saved = tmp_path / "k3.keras"
    keras.Sequential([keras.Input((None, 3)), keras.layers.GRU(2)]).save(saved)
    _edit_config(saved, lambda c: edit(_layer(c, "GRU")))
    _refused(["port", str(saved), "--out", str(tmp_path / "o")], tmp_path / "ran", capsys,
             named, "--trust-code")


def test_a_nested_lambda_in_an_h5_functional_model_is_found(tmp_path, capsys):
    marker = tmp_path / "ran"
    inputs = keras.Input((None, 3))
    wrapped = keras.layers.TimeDistributed(keras.layers.Lambda(_writes(marker), name="payload"))(inputs)
    saved = tmp_path / "k3.h5"
    keras.Model(inputs, keras.layers.GRU(2)(wrapped)).save(saved)
    marker.unlink(missing_ok=True)
    _refused(["port", str(saved), "--out", str(tmp_path / "o")], marker, capsys,
             "TimeDistributed", "Lambda", "--trust-code")


class _Payload:
    """A pickle that, unpickled, writes a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.fixture
def factory(tmp_path, monkeypatch):
    """``package.module:factory`` of a torch GRU(3, 4), importable for this test only."""
    (tmp_path / "untrusted_factories.py").write_text(
        "import torch\n\ndef gru():\n    return torch.nn.GRU(3, 4, batch_first=True)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "untrusted_factories", raising=False)
    return "untrusted_factories:gru"


def test_a_pickled_state_dict_is_refused(tmp_path, capsys, factory):
    marker = tmp_path / "ran"
    torch.save({"weight_ih_l0": _Payload(marker)}, tmp_path / "evil.pt")
    _refused(["port", factory, "--state-dict", str(tmp_path / "evil.pt"), "--out",
              str(tmp_path / "o")], marker, capsys, "evil.pt: cannot be loaded", "weights_only")


def test_load_torch_refuses_a_pickled_state_dict_and_a_damaged_architecture(tmp_path):
    marker = tmp_path / "ran"
    module = KerasRNN(RecurrentSpec("gru", units=2, input_size=3))
    files.write_torch(tmp_path, module)
    assert isinstance(files.load_torch(tmp_path), KerasRNN)  # the folder as written loads
    torch.save({"x": _Payload(marker)}, tmp_path / files.STATE_DICT)
    with pytest.raises(InputFileError, match="state_dict.pt: cannot be loaded"):
        files.load_torch(tmp_path)
    assert not marker.exists()
    torch.load(tmp_path / files.STATE_DICT, weights_only=False)  # the payload is real
    assert marker.exists()
    arch = json.loads((tmp_path / files.ARCHITECTURE).read_text())
    (tmp_path / files.ARCHITECTURE).write_text(json.dumps({"format": arch["format"]}))
    with pytest.raises(InputFileError, match="architecture.json: not an architecture"):
        files.load_torch(tmp_path)


def test_non_finite_weights_are_refused_at_load(tmp_path, capsys, factory):
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.GRU(2)])
    weights = model.get_weights()
    weights[1][0, 1] = np.nan
    model.set_weights(weights)
    model.save(tmp_path / "nan.keras")
    _refused(["port", str(tmp_path / "nan.keras"), "--out", str(tmp_path / "o")],
             tmp_path / "ran", capsys, "recurrent_kernel", "nan at [0, 1]", "finite")
    state = torch.nn.GRU(3, 4, batch_first=True).state_dict()
    state["bias_hh_l0"][2] = float("inf")
    torch.save(state, tmp_path / "inf.pt")
    with pytest.raises(NonFiniteInput, match=r"bias_hh_l0.*inf at \[2\]"):
        files.load_factory(factory, tmp_path / "inf.pt")


def test_a_config_nested_too_deeply_is_bad_input(tmp_path, capsys):
    saved = tmp_path / "deep.keras"
    keras.Sequential([keras.Input((None, 3)), keras.layers.GRU(2)]).save(saved)
    depth = 5000  # written as text: the JSON encoder would refuse to write it from a dict
    deep = '{"class_name": "Dense", "config": {"inner": [' * depth + "1" + "]}}" * depth
    with zipfile.ZipFile(saved) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    parts["config.json"] = deep.encode()
    with zipfile.ZipFile(saved, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    _refused(["port", str(saved), "--out", str(tmp_path / "o")], tmp_path / "ran", capsys,
             "deep.keras", "no model config readable as JSON")
