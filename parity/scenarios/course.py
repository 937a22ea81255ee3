"""The seed's course scenarios, reproduced in both frameworks and trained in lock step.

Each training scenario is a JSON file under ``parity/data/scenarios/`` holding the data, the model
(as the course wrote it, in the framework it was written for), the loss, the optimizer and the
accuracy the course code reaches. :func:`run` builds the course model with a fixed seed, ports it
with ``parity.to_torch`` / ``parity.to_keras``, trains both on the same batches in order (the
course shuffles; parity needs one order) with :func:`parity.models.training.train_lockstep`, and reports
losses per step, final predictions and accuracies. The data format is documented in
``parity/data/scenarios/README.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from parity.core import jsonfile
from parity.core.errors import InputFileError, UnsupportedConfig
from parity.core.frameworks import keras, torch
from parity.core.names import safe_component
from parity.layers.torch_side import KerasRNN
from parity.models import optim, training, transfer
from parity.scenarios.names import TRAINING, is_file_name  # noqa: F401  (re-exported)

LOSSES = {"sparse_cross_entropy": optim.SparseCrossEntropy,
          "masked_sequence_cross_entropy": optim.MaskedSequenceCrossEntropy}


def scenarios_dir() -> Path:
    """``$PARITY_FIXTURES/scenarios`` if set, else the scenarios installed with the package
    (``parity/data/scenarios``; ``fixtures/scenarios`` in the checkout points there)."""
    if "PARITY_FIXTURES" in os.environ:
        path = Path(os.environ["PARITY_FIXTURES"]) / "scenarios"
        if not path.is_dir():
            raise FileNotFoundError(f"PARITY_FIXTURES: {path} is not a folder of scenarios")
        return path
    return Path(str(resources.files("parity.data") / "scenarios"))


def load_fixture(name: str) -> dict:
    """The scenario ``name`` (shipped, or in ``PARITY_FIXTURES``) or the scenario file ``name`` (a
    user's ``.json``); either is read as a file a user may have written."""
    if is_file_name(name):
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such scenario file")
    else:
        path = scenarios_dir() / f"{name}.json"
        if not path.is_file():
            known = sorted(p.stem for p in path.parent.glob("*.json"))
            raise UnsupportedConfig("scenario", name, f"known scenarios are {known}")
    scenario = jsonfile.read(path, "a scenario file (parity/data/scenarios/README.md)")
    if not isinstance(scenario, dict):
        raise UnsupportedConfig("scenario file", str(path), "expected a JSON object (format: "
                                "parity/data/scenarios/README.md)")
    return scenario


# ------------------------------------------------------------------------------------- data

def vocabulary(scenario: dict, sequences: list) -> list[str]:
    """As the course builds it: ``['<pad>'] + sorted(set(...))`` (sorted: a set's order depends
    on PYTHONHASHSEED), or the explicit list the scenario gives."""
    rule = scenario["vocabulary"]
    if isinstance(rule, list):
        return rule
    if rule in ("pad_then_sorted_chars", "pad_then_sorted_tokens"):
        return ["<pad>"] + sorted({token for seq in sequences for token in seq})
    if rule == "ascii":  # the character's code is its id (0, NUL, pads), as str2ascii_arr
        return [chr(i) for i in range(128)]
    raise UnsupportedConfig("vocabulary", rule, "expected a list, 'pad_then_sorted_chars', "
                            "'pad_then_sorted_tokens' or 'ascii'")


def _ids(sequences: list, vocab: list[str], length: int) -> np.ndarray:
    """Token ids, padded (and truncated) at the end with 0, as ``pad_sequences(padding='post')``."""
    index = {token: i for i, token in enumerate(vocab)}
    out = np.zeros((len(sequences), length), dtype=np.int64)
    for row, seq in enumerate(sequences):
        ids = [index[token] for token in seq][:length]
        out[row, :len(ids)] = ids
    return out


@dataclass(frozen=True)
class Data:
    x: np.ndarray              # ids (examples, time) or one-hot features (examples, time, vocab)
    y: np.ndarray              # labels (examples,) or (examples, time)
    mask: np.ndarray | None    # loss/accuracy mask (examples, time) for sequence targets


def data(scenario: dict) -> Data:
    inputs = scenario["inputs"]
    vocab = vocabulary(scenario, inputs)
    length = scenario.get("max_length", max(len(s) for s in inputs))
    ids = _ids(inputs, vocab, length)
    x = np.eye(len(vocab), dtype=np.float32)[ids] if scenario["encoding"] == "one_hot" else ids
    if "labels" in scenario:
        return Data(x, np.asarray(scenario["labels"], dtype=np.int64), None)
    targets = scenario["targets"]
    same = scenario["encoding"] == "one_hot" or scenario.get("targets_in_input_vocabulary")
    target_vocab = vocab if same else vocabulary(
        dict(scenario, vocabulary="pad_then_sorted_tokens"), targets)
    y = _ids(targets, target_vocab, length)
    mask = np.zeros(y.shape, dtype=bool)
    for row, seq in enumerate(targets):
        mask[row, :min(len(seq), length)] = True
    return Data(x, y, None if scenario["encoding"] == "one_hot" or mask.all() else mask)


def batches(d: Data, size: int) -> list[training.Batch]:
    """In data order; a scenario's ``shuffle_seed`` reorders the examples every epoch, the same
    way for both frameworks (:func:`parity.train_lockstep`)."""
    return [training.Batch(d.x[i:i + size], d.y[i:i + size],
                           None if d.mask is None else d.mask[i:i + size])
            for i in range(0, len(d.x), size)]


# ------------------------------------------------------------------------------------- models

def _keras_layer(config: dict, vocab_size: int):
    options = {k: v for k, v in config.items() if k not in ("layer", "inner", "one_hot")}
    name = config["layer"]
    if name == "Embedding":
        initializer = keras.initializers.Constant(np.eye(vocab_size)) if config.get("one_hot") \
            else "uniform"
        return keras.layers.Embedding(vocab_size, vocab_size, embeddings_initializer=initializer,
                                      **options)
    if name in ("TimeDistributed", "Bidirectional"):
        return getattr(keras.layers, name)(_keras_layer(config["inner"], vocab_size), **options)
    return getattr(keras.layers, name)(**options)


def models(scenario: dict, vocab_size: int):
    """The course model in its framework (seeded) and its port: ``(keras_model, torch_model)``."""
    seed = scenario["seed"]
    if scenario["origin"] == "keras":
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((None,), dtype="int32"),
                                  *[_keras_layer(c, vocab_size) for c in scenario["model"]]])
        return model, transfer.to_torch(model)
    torch.manual_seed(seed)  # then built in the course's order: the same initial weights
    if len(scenario["model"]) == 1:  # a plain recurrent module whose outputs are the logits
        (config,) = scenario["model"]
        rnn = _torch_layer(config)
        if not isinstance(rnn, torch.nn.RNNBase):
            raise UnsupportedConfig("model", config["layer"], "a one-layer torch scenario holds a "
                                    "torch.nn.RNN or GRU")
        return transfer.to_keras(rnn), rnn
    module = torch.nn.Sequential(*[_torch_layer(c) for c in scenario["model"]])
    return transfer.to_keras(module), module


_TORCH_LAYERS = ("torch.nn.Embedding", "torch.nn.RNN", "torch.nn.GRU", "torch.nn.LSTM",
                 "torch.nn.Linear")


def _torch_layer(config: dict):
    """One layer of a torch scenario; a recurrent one inside a chain is wrapped to return what
    the course takes from it (the sequence, or with ``"last": true`` the last step)."""
    name = config["layer"]
    options = {k: v for k, v in config.items() if k not in ("layer", "last", "in_chain")}
    if name not in _TORCH_LAYERS:
        raise UnsupportedConfig("layer", name, f"torch scenarios take {_TORCH_LAYERS}")
    cls = getattr(torch.nn, name.rsplit(".", 1)[1])
    if not issubclass(cls, torch.nn.RNNBase):
        return cls(**options)
    rnn = cls(batch_first=True, **options)
    if not config.get("in_chain"):
        return rnn
    spec = transfer.read(rnn)[0].replace(return_state=False,
                                         return_sequences=not config.get("last"))
    return KerasRNN(spec, rnn=rnn)


def optimizer(config: dict) -> optim.Optimizer:
    options = {k: v for k, v in config.items() if k != "name"}
    if config["name"] == "adam":
        return optim.Adam(**options)
    if config["name"] == "sgd":
        return optim.SGD(**options)
    raise UnsupportedConfig("optimizer", config["name"], "expected 'adam' or 'sgd'")


# ------------------------------------------------------------------------------------- running

@dataclass
class Result:
    name: str
    record: training.TrainingRecord
    accuracy_keras: float
    accuracy_torch: float
    target_accuracy: float
    predictions_differ: int      # positions where the argmax differs beyond a genuine near-tie
    known_cause: str = ""        # a documented framework difference this run shows, if any
    partial: bool = False        # fewer epochs than the course: its accuracy is not expected

    @property
    def verdict(self) -> str:
        """``pass``; ``known difference`` (the scenario's declared cause, named in the record,
        explains the mismatch); or ``FAIL``."""
        if self.known_cause and not self.record.ok:
            return "known difference"
        trained_alike = (self.record.ok and not self.predictions_differ
                         and (self.partial or self.reaches_target))
        return "pass" if trained_alike else "FAIL"

    @property
    def reaches_target(self) -> bool:
        return min(self.accuracy_keras, self.accuracy_torch) >= self.target_accuracy

    @property
    def ok(self) -> bool:
        return self.verdict != "FAIL"

    def problems(self) -> list[str]:
        if self.verdict == "known difference":
            return [f"known difference: {self.known_cause}", self.record.explain()]
        out = [] if self.record.ok else [self.record.explain()]
        if self.predictions_differ:
            out.append(f"final predictions differ at {self.predictions_differ} position(s)")
        for side, acc in (("keras", self.accuracy_keras), ("torch", self.accuracy_torch)):
            if acc < self.target_accuracy and not self.partial:
                out.append(f"{side} reaches accuracy {acc:.1%}, the course reaches "
                           f"{self.target_accuracy:.1%}")
        return out


def _accuracy(logits: np.ndarray, d: Data) -> float:
    right = logits.argmax(-1) == d.y
    return float(right[d.mask].mean() if d.mask is not None else right.mean())


def _differing_predictions(keras_logits, torch_logits, d: Data) -> int:
    """Positions whose argmax differs, except genuine near-ties: where the two frameworks' logits
    differ by more than the margin between their top two classes."""
    differ = keras_logits.argmax(-1) != torch_logits.argmax(-1)
    top2 = np.sort(keras_logits, axis=-1)[..., -2:]
    margin = top2[..., 1] - top2[..., 0]
    near_tie = np.abs(keras_logits - torch_logits).max(-1) >= margin
    bad = differ & ~near_tie
    return int(bad[d.mask].sum() if d.mask is not None else bad.sum())


def fingerprint(name: str) -> str:
    """A digest of the scenario's definition (data, model, loss, optimizer, epochs, seeds): a
    recorded trajectory is comparable with a new one only while this is unchanged."""
    canonical = json.dumps(load_fixture(name), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def epochs_for(name: str, steps: int) -> int:
    """The fewest whole epochs of scenario ``name`` that train at least ``steps`` steps (one at
    least, the course's epochs at most)."""
    scenario = load_fixture(name)
    per_epoch = -(-len(data(scenario).x) // scenario["batch_size"])
    return max(1, min(scenario["epochs"], -(-steps // per_epoch)))


def run(name: str, *, epochs: int | None = None, optimizer_override: optim.Optimizer | None = None,
        context: str = "") -> Result:
    """Train scenario ``name`` in both frameworks in lock step and evaluate both: the course's
    epochs, or the first ``epochs`` (then the course's accuracy is not expected)."""
    scenario = load_fixture(name)
    if not is_file_name(name) and name not in TRAINING:
        raise UnsupportedConfig("scenario", name, f"training scenarios are {TRAINING}")
    for key in ("origin", "inputs", "model", "loss", "optimizer", "epochs", "batch_size", "seed",
                "target_accuracy"):
        if key not in scenario:
            raise UnsupportedConfig("scenario", name, f"a training scenario needs '{key}' (format: "
                                    "parity/data/scenarios/README.md)")
    d = data(scenario)
    vocab_size = len(vocabulary(scenario, scenario["inputs"]))
    keras_model, torch_model = models(scenario, vocab_size)
    chosen = optimizer_override or optimizer(scenario["optimizer"])
    loss = LOSSES[scenario["loss"]]
    record = training.train_lockstep(
        keras_model, torch_model, batches(d, scenario["batch_size"]),
        loss=loss(scenario["loss_reduction"]) if "loss_reduction" in scenario else loss(),
        optimizer=chosen, epochs=epochs or scenario["epochs"],
        shuffle_seed=scenario.get("shuffle_seed"),
        context=context or f"python -m parity scenarios {name}")
    keras_logits, torch_logits = training.predict(keras_model, d.x), training.predict(torch_model, d.x)
    return Result(_label(name, scenario), record, _accuracy(keras_logits, d),
                  _accuracy(torch_logits, d), scenario["target_accuracy"],
                  _differing_predictions(keras_logits, torch_logits, d),
                  _known_cause(scenario, record),
                  partial=(epochs or scenario["epochs"]) < scenario["epochs"])


def _label(name: str, scenario: dict) -> str:
    """The scenario's name in reports, and its plot's file name: its ``"name"``, else its file's
    stem; refused unless one plain file name (it must not lead outside the output folder)."""
    label = scenario.get("name", Path(name).stem if is_file_name(name) else name)
    return safe_component(label, f"{name}: scenario name")


def labels(names) -> list[str]:
    """The report names of scenarios ``names`` (shipped names or files), checked before any
    scenario runs: each one plain file name, no two the same (each names a plot)."""
    found = [_label(name, load_fixture(name)) for name in names]
    twice = sorted({label for label in found if found.count(label) > 1})
    if twice:
        raise InputFileError(f"scenarios {list(names)}: more than one is named {twice}; each "
                             "names its plot file, so the names must differ")
    return found


# the documented differences a scenario may declare, and the record note that shows each applies
KNOWN_DIFFERENCES = {"sparse_adam": "applies Adam to an Embedding's sparse gradient"}


def _known_cause(scenario: dict, record) -> str:
    """The scenario's declared known difference, when this run's record names it."""
    known = scenario.get("known_difference")
    if not known:
        return ""
    if known["cause"] not in KNOWN_DIFFERENCES:
        raise UnsupportedConfig("known_difference", known["cause"],
                                f"known causes are {sorted(KNOWN_DIFFERENCES)}")
    marker = KNOWN_DIFFERENCES[known["cause"]]
    return known["why"] if any(marker in note for note in record.notes) else ""
