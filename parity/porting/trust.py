"""What a saved Keras model file may hold before it is loaded: read its stored config (JSON, no
deserialisation) and refuse what could run code when Keras rebuilds it.

Keras 3 refuses Python lambdas in ``.keras`` files itself (``safe_mode``), but tf-keras runs the
marshalled bytecode of a Keras 2 ``.h5`` file's ``Lambda`` layer while loading it, and both
import the module a config names. So, before either loads a file, every object in its config
must be a data-only entry or a class Keras itself defines (a layer, cell, model, op,
initializer, regularizer, constraint or dtype policy), named from a ``keras`` / ``tf_keras``
module; ``Lambda`` and the layers that wrap foreign code are refused. ``trust_code=True`` (the
command line's ``--trust-code``) skips this for files the user trusts.
"""

from __future__ import annotations

import functools
import json
import zipfile
from pathlib import Path

from parity.core.errors import InputFileError

OPT_IN = ("--trust-code (parity.port(..., trust_code=True)) loads it anyway, running whatever "
          "code it holds: only for a file from a source you trust")
# layers that run code the file stores or names (bytecode, a SavedModel graph, a pickled torch
# module, tf ops rebuilt from names)
CODE = frozenset({"Lambda", "__lambda__", "TFSMLayer", "TorchModuleWrapper", "JaxLayer",
                  "FlaxLayer", "TFOpLambda", "SlicingOpLambda", "TensorFlowOpLayer",
                  "ClassMethod", "InstanceMethod", "InstanceProperty", "__typespec__"})
# serialisation entries that hold data only (tensors, arrays, slices)
DATA = frozenset({"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__ellipsis__",
                  "__slice__"})
_ROOTS = ("keras", "tf_keras")
_SKIPPED = ("compile_config",)  # not deserialised: files are loaded with compile=False


def stored_config(path: Path):
    """The model config a ``.keras`` (``config.json``) or ``.h5`` (``model_config``) file
    stores, parsed as JSON only."""
    try:
        if path.suffix.lower() == ".keras":
            with zipfile.ZipFile(path) as archive:
                text = archive.read("config.json")
        else:
            import h5py  # a Keras dependency

            with h5py.File(path, "r") as f:
                text = f.attrs.get("model_config")
        if text is None:
            raise KeyError("model_config")
        return json.loads(text)
    except (OSError, KeyError, ValueError, RecursionError, NotImplementedError,
            zipfile.BadZipFile) as e:  # zipfile: NotImplementedError for an unknown version
        import keras

        raise InputFileError(f"{path}: Keras {keras.__version__} cannot load it as a model (no "
                             f"model config readable as JSON; {type(e).__name__}: {e}); expected "
                             "a file written by model.save") from e


@functools.cache
def _known(keras2: bool) -> frozenset:
    """Names of the classes Keras (and tf-keras, for a Keras 2 file) define for what a config
    may hold; user subclasses (defined outside those packages) are not among them."""
    import keras

    bases = [keras.Operation, keras.initializers.Initializer, keras.regularizers.Regularizer,
             keras.constraints.Constraint, keras.DTypePolicy]
    if keras2:
        import tf_keras

        bases += [tf_keras.layers.Layer, tf_keras.initializers.Initializer,
                  tf_keras.regularizers.Regularizer, tf_keras.constraints.Constraint,
                  tf_keras.mixed_precision.Policy]
    seen, todo = set(), list(bases)
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.add(cls)
            todo.extend(cls.__subclasses__())
    return frozenset(c.__name__ for c in seen if c.__module__.split(".")[0] in _ROOTS) - CODE


def _entries(node, where: str):
    """(where, entry) for every serialised object (a dict with ``class_name``) in ``node``."""
    if isinstance(node, dict):
        if isinstance(node.get("class_name"), str):
            where = f"{where} > {node['class_name']}" if where else node["class_name"]
            if isinstance(node.get("config"), dict) and isinstance(node["config"].get("name"),
                                                                   str):
                where += f" {node['config']['name']!r}"
            yield where, node
        for key, value in node.items():
            if key not in _SKIPPED:
                yield from _entries(value, where)
    elif isinstance(node, list):
        for value in node:
            yield from _entries(value, where)


def _objection(entry: dict, keras2: bool) -> str | None:
    """Why loading ``entry`` could run code not in Keras (None when it cannot)."""
    name, module = entry["class_name"], entry.get("module")
    registered = entry.get("registered_name")
    if name in CODE:
        return f"a {name} layer runs code stored in or named by the file"
    if name in DATA:
        return None
    if module is not None and (not isinstance(module, str)
                               or module.split(".")[0] not in _ROOTS):
        return f"class {name!r} comes from module {module!r}, not Keras (a custom object)"
    if isinstance(registered, str) and ">" in registered:
        return f"{registered!r} is a registered custom object"
    if name == "function":
        return None if module is not None else "a function of no module"
    if name not in _known(keras2):
        return f"{name!r} is not a class Keras defines (a custom object)"
    return None


def refuse_code(path: Path, keras2: bool = False) -> None:
    """Raise InputFileError when the model file ``path`` (written by Keras 2 when ``keras2``,
    which needs tf-keras installed) holds anything that could run code on loading: names the
    layer (its place in the config) and the opt-in."""
    try:
        objections = [(where, _objection(entry, keras2))
                      for where, entry in _entries(stored_config(path), "")]
    except RecursionError as e:
        raise InputFileError(f"{path}: its model config is nested too deeply to be a Keras "
                             "model's") from e
    for where, objection in objections:
        if objection:
            raise InputFileError(f"{path}: {where}: {objection}; refused before loading, as "
                                 f"loading could run it. {OPT_IN}")
