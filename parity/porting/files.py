"""Saved models in and out of :func:`parity.port`.

In: a Keras ``.keras`` or legacy ``.h5`` file (one written by Keras 2 is loaded with tf-keras,
decided by the version the file records), or a torch module named ``package.module:factory``
(a callable returning the module) with an optional state dict file.

Out (Keras -> torch): ``state_dict.pt`` (``torch.save(module.state_dict())``),
``architecture.json`` (what :func:`load_torch` rebuilds the module from) and ``load_model.py``, a
loader script (``from load_model import load``). Out (torch -> Keras): ``model.keras``.
"""

from __future__ import annotations

import dataclasses
import errno
import importlib
import json
import re
import zipfile
from pathlib import Path

from parity.core import jsonfile, outputs
from parity.core.errors import InputFileError
from parity.core.frameworks import keras, torch
from parity.core.inputs import check_finite_weights
from parity.core.spec import RecurrentSpec
from parity.layers import keras_side, torch_side
from parity.models import blocks, keras2, torch_blocks
from parity.porting import trust

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
FORMAT = "rnn-parity port 1"
STATE_DICT, ARCHITECTURE, LOADER, KERAS_FILE = ("state_dict.pt", "architecture.json",
                                                "load_model.py", "model.keras")
_BLOCKS = {cls.__name__: cls for cls in (blocks.Embedding, blocks.Masking, blocks.Recurrent,
                                         blocks.Dropout, blocks.Dense)}

_LOADER_TEXT = '''"""Rebuild the torch port that `python -m parity port` wrote into this folder.

    from load_model import load
    model = load()   # a parity.KerasSequential or parity.KerasRNN holding the converted weights
    model.eval()     # as for any new torch module: inference mode (Dropout off) before predicting

It needs rnn-parity (and torch) installed; the architecture is in architecture.json, the
weights in state_dict.pt (torch.save of the module's state_dict).
"""

from pathlib import Path

from parity.porting.files import load_torch


def load():
    return load_torch(Path(__file__).resolve().parent)
'''


def is_keras_file(text: str) -> bool:
    """Whether ``text`` names a saved Keras model (a file by its suffix, or a SavedModel folder)."""
    return Path(text).suffix.lower() in KERAS_SUFFIXES or is_saved_model(text)


def is_saved_model(text) -> bool:
    return (Path(text) / "saved_model.pb").is_file()


def saved_by(path) -> str | None:
    """The Keras version a ``.h5`` or ``.keras`` file records having written it (None if none)."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".keras":
            with zipfile.ZipFile(path) as archive:
                return str(json.loads(archive.read("metadata.json"))["keras_version"])
        import h5py  # a Keras dependency

        with h5py.File(path, "r") as f:
            found = f.attrs.get("keras_version")
    except (OSError, KeyError, ValueError, TypeError, RecursionError, NotImplementedError,
            zipfile.BadZipFile):
        return None
    return found.decode() if isinstance(found, bytes) else (None if found is None else str(found))


def _saved_model_error(path: Path) -> InputFileError:
    metadata = path / "keras_metadata.pb"
    found = re.search(rb'"keras_version": "([^"]+)"', metadata.read_bytes()) \
        if metadata.is_file() else None
    if found:
        seen = f"written by Keras {found.group(1).decode()}"
        remedy = ("load it in tf-keras (tf_keras.models.load_model(path)) and save it as .h5 or "
                  ".keras, or pass the loaded model to parity.port")
    else:
        seen = ("no Keras metadata (exported by Keras 3's model.export or tf.saved_model.save; "
                f"Keras {keras.__version__} reads it only as an inference layer whose recurrent "
                "layers it cannot see)")
        remedy = "save the original Keras model as .keras, or pass the model object to parity.port"
    return InputFileError(f"{path}: a TensorFlow SavedModel folder, {seen}; port takes a Keras "
                          f"model file ({', '.join(KERAS_SUFFIXES)}) or object: {remedy}")


def _load_keras2(path: Path, version: str, trust_code: bool):
    try:
        import tf_keras
    except ImportError as e:
        raise InputFileError(f"{path}: written by Keras {version} (Keras 2); Keras "
                             f"{keras.__version__} cannot read it and tf-keras is not installed: "
                             f"{keras2.INSTALL} (or load it in tf-keras and pass the model)") from e
    if not trust_code:
        trust.refuse_code(path, keras2=True)
    try:  # safe_mode: tf-keras's own lambda refusal for .keras files (.h5 has none: see trust)
        return tf_keras.models.load_model(path, compile=False, safe_mode=not trust_code)
    except Exception as e:  # tf-keras raises many kinds for a file it cannot read
        raise InputFileError(f"{path}: written by Keras {version}; tf-keras {tf_keras.__version__} "
                             f"cannot load it as a model ({type(e).__name__}: {e})") from e


def load_keras(path, trust_code: bool = False):
    """The Keras model saved in ``path`` (``.keras`` or ``.h5``), without its training config; a
    file written by Keras 2 is loaded with tf-keras (the ``keras2`` extra).

    A file whose stored config holds a ``Lambda`` layer, a custom (non-Keras) class or anything
    else that could run code while loading is refused (InputFileError) before anything in it is
    deserialised, unless ``trust_code`` (the risk: the file's code runs in this process). A file
    with NaN or Inf weights is refused too (NonFiniteWeight)."""
    path = Path(path)
    if is_saved_model(path):
        raise _saved_model_error(path)
    if path.suffix.lower() not in KERAS_SUFFIXES:
        raise InputFileError(f"{path}: expected a Keras model file ({', '.join(KERAS_SUFFIXES)}); "
                             "for a torch module give package.module:factory")
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    version = saved_by(path)
    if version is not None and version.split(".")[0] == "2":
        model = _load_keras2(path, version, trust_code)
    else:
        if not trust_code:
            trust.refuse_code(path)
        try:
            model = keras.saving.load_model(path, compile=False, safe_mode=not trust_code)
        except Exception as e:  # Keras raises many kinds for a file it cannot read
            raise InputFileError(f"{path}: Keras {keras.__version__} cannot load it as a model "
                                 f"(written by Keras {version or 'of unrecorded version'}; "
                                 f"{type(e).__name__}: {e})") from e
    check_finite_weights(model, "keras", where=str(path))
    return model


def load_factory(target: str, state_dict=None):
    """The torch module ``package.module:factory()`` returns, with ``state_dict`` (a file written by
    ``torch.save(module.state_dict())``) loaded into it strictly."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise InputFileError(f"{target}: expected a Keras file ({', '.join(KERAS_SUFFIXES)}) or a "
                             "torch module as package.module:factory")
    try:
        factory = importlib.import_module(module_name)
        for part in attr.split("."):
            factory = getattr(factory, part)
    except (ImportError, AttributeError) as e:
        raise InputFileError(f"{target}: cannot import it ({type(e).__name__}: {e}); the module "
                             "must be importable from the current folder or sys.path") from e
    module = factory() if callable(factory) and not isinstance(factory, torch.nn.Module) \
        else factory
    if not isinstance(module, torch.nn.Module):
        raise InputFileError(f"{target}: returned {type(module).__name__}, not a torch.nn.Module")
    if state_dict is not None:
        path = Path(state_dict)
        if not path.is_file():
            raise InputFileError(f"{path}: no such file")
        try:
            # weights_only: tensors only, never an arbitrary pickle
            weights = torch.load(path, map_location="cpu", weights_only=True)
            module.load_state_dict(weights)
        except Exception as e:  # unpickling errors, missing or unexpected keys, shapes
            raise InputFileError(f"{path}: cannot be loaded into {target}'s module "
                                 f"({type(e).__name__}: {e})") from e
        check_finite_weights(module, "torch", where=str(path))
    return module


def _encode(block) -> dict:
    return {"type": type(block).__name__, **dataclasses.asdict(block)}


def _decode(entry: dict):
    entry = dict(entry)
    cls = _BLOCKS[entry.pop("type")]
    if cls is blocks.Recurrent:
        return blocks.Recurrent(RecurrentSpec(**entry["spec"]))
    return cls(**entry)


def write_torch(folder: Path, module) -> list[Path]:
    """Write ``module`` (a ``KerasSequential`` or ``KerasRNN``) as state dict, architecture and
    loader script into ``folder``; the paths written."""
    if isinstance(module, torch_blocks.KerasSequential):
        arch = {"format": FORMAT, "module": "KerasSequential",
                "blocks": [_encode(b) for b in module.blocks]}
    else:
        arch = {"format": FORMAT, "module": "KerasRNN", "spec": dataclasses.asdict(module.spec)}
    target = folder / STATE_DICT
    try:  # through a Python file, so that a failed write (disk full) keeps its errno
        with open(target, "wb") as f:
            torch.save(module.state_dict(), f)
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(target)) from e
    except RuntimeError as e:  # torch's zip writer reports some failed writes so
        if not outputs.torch_write_failure(e):
            raise
        raise OSError(errno.EIO, f"torch.save failed: {e}", str(target)) from e
    (folder / ARCHITECTURE).write_text(json.dumps(arch, indent=1) + "\n")
    (folder / LOADER).write_text(_LOADER_TEXT)
    return [folder / STATE_DICT, folder / ARCHITECTURE, folder / LOADER]


def load_torch(folder):
    """The module :func:`write_torch` wrote into ``folder``, weights loaded."""
    folder = Path(folder)
    arch = jsonfile.read(folder / ARCHITECTURE, f"an architecture {FORMAT!r} describes")
    if not isinstance(arch, dict) or arch.get("format") != FORMAT:
        found = arch.get("format") if isinstance(arch, dict) else type(arch).__name__
        raise InputFileError(f"{folder / ARCHITECTURE}: format {found!r}, expected {FORMAT!r}")
    try:
        if arch["module"] == "KerasSequential":
            module = torch_blocks.KerasSequential(tuple(_decode(b) for b in arch["blocks"]))
        else:
            module = torch_side.KerasRNN(RecurrentSpec(**arch["spec"]))
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise InputFileError(f"{folder / ARCHITECTURE}: not an architecture {FORMAT!r} "
                             f"describes ({type(e).__name__}: {e})") from e
    try:  # weights_only: tensors only, never an arbitrary pickle
        weights = torch.load(folder / STATE_DICT, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors of a foreign or damaged file
        raise InputFileError(f"{folder / STATE_DICT}: cannot be loaded as a state dict "
                             f"({type(e).__name__}: {e})") from e
    try:
        module.load_state_dict(weights)
    except (RuntimeError, TypeError, AttributeError) as e:  # keys or shapes of another module
        raise InputFileError(f"{folder / STATE_DICT}: does not hold the weights "
                             f"{folder / ARCHITECTURE} describes ({e})") from e
    return module


def write_keras(folder: Path, obj) -> Path:
    """Save a Keras model or built layer as ``folder/model.keras`` (a layer inside a functional
    model that returns what the layer returns)."""
    model = obj
    if not isinstance(obj, keras.Model):
        inputs = keras.Input((None, keras_side.describe(obj).input_size), dtype=obj.dtype)
        model = keras.Model(inputs, obj(inputs))
    model.save(folder / KERAS_FILE)
    return folder / KERAS_FILE
