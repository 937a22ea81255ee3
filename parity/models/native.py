"""The objects users already have, turned into what :func:`parity.train_lockstep` runs on:
Keras and torch Adam/SGD, Keras ``SparseCategoricalCrossentropy(from_logits=True)`` and
``torch.nn.CrossEntropyLoss``, and data as ``tf.data.Dataset``, ``torch.utils.data.DataLoader``,
an ``(x, y)`` pair of arrays or a list of ``(x, y)`` batches. Anything else is refused with a
typed error that names the object and what to pass instead.

Each adapter returns notes (where the two frameworks' defaults differ, or what was read once)
that the training record carries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from parity.core.errors import UnsupportedConfig
from parity.core.frameworks import keras, torch
from parity.models.optim import SGD, Adam, MaskedSequenceCrossEntropy, SparseCrossEntropy
from parity.models.training_record import Batch

OPTIMIZERS = ("parity.Adam", "parity.SGD", "keras.optimizers.Adam", "keras.optimizers.SGD",
              "torch.optim.Adam", "torch.optim.SGD")
LOSSES = ("parity.SparseCrossEntropy", "parity.MaskedSequenceCrossEntropy",
          "keras.losses.SparseCategoricalCrossentropy(from_logits=True)",
          "torch.nn.CrossEntropyLoss()")
DATA = ("a list of parity.Batch or (x, y) batches", "an (x, y) pair of arrays (one batch)",
        "a batched tf.data.Dataset", "a torch.utils.data.DataLoader")
# (Keras default, torch default) where the two frameworks' optimizers differ
_DEFAULTS = {"Adam": {"epsilon": (1e-7, 1e-8)}, "SGD": {"learning_rate": (0.01, 0.001)}}


def _type_name(obj) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _decimal(value) -> float:
    """A Keras hyperparameter stored as a float32 variable, as the decimal the user typed."""
    value = np.asarray(keras.ops.convert_to_numpy(value) if not isinstance(value, float)
                       else value)
    return float(str(np.float32(value))) if value.dtype == np.float32 else float(value)


def _refuse_extras(obj, options: dict, expected: str) -> None:
    for option, value in options.items():
        if value:
            raise UnsupportedConfig(option, value, f"{expected} (parity's lock-step training "
                                    "matches plain Adam and SGD only)",
                                    where=_type_name(obj))


def _defaults_note(kind: str, given: dict[str, float], source: str) -> list[str]:
    notes = []
    for option, (k_default, t_default) in _DEFAULTS[kind].items():
        notes.append(f"{kind} {option}: Keras' default is {k_default:g}, torch's {t_default:g}; "
                     f"both sides use the {source} optimizer's {given[option]:g}"
                     + (" (Adam's epsilon translated to the other framework's formula at every "
                        "step, see parity.models.optim)" if option == "epsilon" else ""))
    return notes


def optimizer(obj) -> tuple[SGD | Adam, list[str]]:
    """``obj`` as a :class:`parity.Adam` or :class:`parity.SGD`, and notes."""
    if isinstance(obj, (SGD, Adam)):
        return obj, []
    if isinstance(obj, keras.optimizers.Optimizer):
        return _keras_optimizer(obj)
    if isinstance(obj, torch.optim.Optimizer):
        return _torch_optimizer(obj)
    raise UnsupportedConfig("optimizer", _type_name(obj), f"pass one of {', '.join(OPTIMIZERS)}")


def _keras_optimizer(obj) -> tuple[SGD | Adam, list[str]]:
    kind = type(obj).__name__
    # Keras' own Adam or SGD; on the torch backend that is a backend subclass of the same name,
    # while AdamW (a subclass too) or a user's subclass has another name or module
    known = {"Adam": keras.optimizers.Adam, "SGD": keras.optimizers.SGD}
    if not (kind in known and isinstance(obj, known[kind])
            and type(obj).__module__.startswith("keras.")):
        raise UnsupportedConfig("optimizer", _type_name(obj), f"pass one of {', '.join(OPTIMIZERS)}")
    if isinstance(obj._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        raise UnsupportedConfig("learning_rate", type(obj._learning_rate).__name__,
                                "a constant learning rate (schedules are not matched)",
                                where=_type_name(obj))
    extras = {o: getattr(obj, o, None) for o in ("weight_decay", "clipnorm", "clipvalue",
                                                  "global_clipnorm", "use_ema",
                                                  "gradient_accumulation_steps",
                                                  "loss_scale_factor")}
    if kind == "Adam":
        extras["amsgrad"] = obj.amsgrad
    _refuse_extras(obj, extras, "leave it unset")
    lr = _decimal(obj.learning_rate)
    if kind == "SGD":
        return (SGD(lr, momentum=float(obj.momentum), nesterov=bool(obj.nesterov)),
                _defaults_note("SGD", {"learning_rate": lr}, "Keras"))
    betas = [b() if callable(b) else b for b in (obj.beta_1, obj.beta_2)]
    eps = float(obj.epsilon)
    return (Adam(lr, float(betas[0]), float(betas[1]), eps, epsilon_convention="keras"),
            _defaults_note("Adam", {"epsilon": eps}, "Keras"))


def _torch_optimizer(obj) -> tuple[SGD | Adam, list[str]]:
    if type(obj) not in (torch.optim.Adam, torch.optim.SGD):
        raise UnsupportedConfig("optimizer", _type_name(obj), f"pass one of {', '.join(OPTIMIZERS)}")
    groups = obj.param_groups
    keys = ("lr", "betas", "eps", "momentum", "nesterov", "weight_decay", "dampening")
    first = {k: groups[0].get(k) for k in keys}
    if any({k: g.get(k) for k in keys} != first for g in groups[1:]):
        raise UnsupportedConfig("param_groups", len(groups), "one set of hyperparameters for every "
                                "parameter", where=_type_name(obj))
    group = groups[0]
    extras = {"weight_decay": group.get("weight_decay"), "maximize": group.get("maximize"),
              "amsgrad": group.get("amsgrad"), "dampening": group.get("dampening")}
    _refuse_extras(obj, extras, "leave it at 0 / False")
    lr = float(group["lr"])
    if isinstance(obj, torch.optim.SGD):
        return (SGD(lr, momentum=float(group["momentum"]), nesterov=bool(group["nesterov"])),
                _defaults_note("SGD", {"learning_rate": lr}, "torch"))
    b1, b2 = (float(b) for b in group["betas"])
    eps = float(group["eps"])
    return (Adam(lr, b1, b2, eps, epsilon_convention="torch"),
            _defaults_note("Adam", {"epsilon": eps}, "torch"))


def loss(obj) -> SparseCrossEntropy | MaskedSequenceCrossEntropy:
    """``obj`` as one of parity's losses (softmax cross-entropy from logits, mean or sum)."""
    if isinstance(obj, (SparseCrossEntropy, MaskedSequenceCrossEntropy)):
        return obj
    if isinstance(obj, keras.losses.SparseCategoricalCrossentropy):
        config = obj.get_config()
        if not config["from_logits"]:
            raise UnsupportedConfig("from_logits", False, "the model must output logits and the "
                                    "loss take them: from_logits=True with a linear last layer",
                                    where=_type_name(obj))
        if config.get("ignore_class") is not None:
            raise UnsupportedConfig("ignore_class", config["ignore_class"], "leave it None; pass a "
                                    "loss mask in parity.Batch(mask=...) instead",
                                    where=_type_name(obj))
        reductions = {"sum_over_batch_size": "mean", "sum": "sum"}
        if config["reduction"] not in reductions:
            raise UnsupportedConfig("reduction", config["reduction"],
                                    f"one of {sorted(reductions)}", where=_type_name(obj))
        return SparseCrossEntropy(reduction=reductions[config["reduction"]])
    if isinstance(obj, torch.nn.CrossEntropyLoss):
        if obj.weight is not None or obj.label_smoothing:
            raise UnsupportedConfig("weight/label_smoothing", (obj.weight, obj.label_smoothing),
                                    "leave them unset (None, 0.0)", where=_type_name(obj))
        if obj.reduction not in ("mean", "sum"):
            raise UnsupportedConfig("reduction", obj.reduction, "'mean' or 'sum'",
                                    where=_type_name(obj))
        return SparseCrossEntropy(reduction=obj.reduction)
    raise UnsupportedConfig("loss", _type_name(obj), f"pass one of {', '.join(LOSSES)}")


# ------------------------------------------------------------------------------- data

def _numpy(a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    if hasattr(a, "numpy") and not isinstance(a, np.ndarray):  # tf.Tensor
        a = a.numpy()
    return np.array(a)  # a copy: tf.data hands out read-only arrays torch warns about


def _labels(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Labels of one batch in the model's leading shape. A single sequence's per-step labels
    may come flat, (time,), as the torch course feeds them (``Y.view(-1)``); a trailing axis of
    1 is left for the loss, which drops it as Keras does."""
    if y.ndim == 1 and x.shape[0] == 1 and x.ndim >= 2 and y.shape[0] == x.shape[1] > 1:
        return y.reshape(1, -1)
    if y.shape[:1] != x.shape[:1]:
        raise UnsupportedConfig("y.shape", y.shape, f"labels for a batch of {x.shape[0]}: "
                                f"({x.shape[0]},) or ({x.shape[0]}, 1) per sequence, "
                                f"({x.shape[0]}, {x.shape[1] if x.ndim > 1 else 'time'}) per step")
    return y


def _batch(item, index: int):
    if isinstance(item, Batch):
        return Batch(item.x, _labels(np.asarray(item.x), np.asarray(item.y)), item.mask)
    if isinstance(item, (tuple, list)) and len(item) in (2, 3):
        x, y = _numpy(item[0]), _numpy(item[1])
        mask = None if len(item) == 2 else _numpy(item[2]).astype(bool)
        return Batch(x, _labels(x, y), mask)
    raise UnsupportedConfig(f"batches[{index}]", _type_name(item),
                            "each batch is a parity.Batch or an (x, y) or (x, y, mask) tuple")


@dataclass(frozen=True)
class Data:
    """Batches read from the user's data, and how each epoch orders them."""

    batches: list
    shuffle_seed: int | None = None
    notes: tuple[str, ...] = ()

    def epoch(self, index: int) -> list:
        """The batches of epoch ``index`` (0-based): in order, or with ``shuffle_seed`` the
        examples drawn into a new order for this epoch (the same for both frameworks) and cut
        into batches of the first batch's size."""
        if self.shuffle_seed is None:
            return self.batches
        x = np.concatenate([b.x for b in self.batches])
        y = np.concatenate([b.y for b in self.batches])
        masks = [b.mask for b in self.batches]
        mask = None if masks[0] is None else np.concatenate(masks)
        order = np.random.default_rng([self.shuffle_seed, index]).permutation(len(x))
        size = len(self.batches[0].x)
        return [Batch(x[i], y[i], None if mask is None else mask[i])
                for i in (order[k:k + size] for k in range(0, len(order), size))]


def data(obj, *, shuffle_seed: int | None = None) -> Data:
    """Read ``obj`` (see :data:`DATA`) into batches once."""
    notes = []
    if _is_tf_dataset(obj):
        items = list(obj.as_numpy_iterator())
        notes.append("tf.data.Dataset read once, in the order it gave"
                     + ("" if shuffle_seed is not None else "; pass shuffle_seed= for a seeded "
                        "per-epoch shuffle given to both frameworks"))
    elif isinstance(obj, torch.utils.data.DataLoader):
        items = list(obj)
        notes.append("DataLoader read once, in the order it gave"
                     + ("" if shuffle_seed is not None else "; pass shuffle_seed= for a seeded "
                        "per-epoch shuffle given to both frameworks"))
    elif isinstance(obj, tuple) and len(obj) == 2 and not _is_batch_like(obj[0]):
        items = [obj]  # (x, y): one batch
    elif isinstance(obj, list):
        items = obj
    else:
        raise UnsupportedConfig("batches", _type_name(obj), f"pass {', '.join(DATA)}")
    if not items:
        raise UnsupportedConfig("batches", "[]", "give at least one batch")
    batches = [_batch(item, i) for i, item in enumerate(items)]
    if shuffle_seed is not None:
        shapes = {(b.x.shape[1:], b.y.shape[1:]) for b in batches}
        if len(shapes) > 1:
            raise UnsupportedConfig("shuffle_seed", shuffle_seed, "shuffling regroups examples, "
                                    f"so every batch needs the same per-example shapes; seen "
                                    f"{sorted(map(str, shapes))}")
        notes.append(f"examples shuffled every epoch with seed {shuffle_seed} (the same order "
                     "for both frameworks)")
    return Data(batches, shuffle_seed, tuple(notes))


def _is_batch_like(obj) -> bool:
    """A batch (of the list-of-batches form) rather than an array."""
    return isinstance(obj, (tuple, list)) or type(obj).__name__ == "Batch"


def _is_tf_dataset(obj) -> bool:
    module = type(obj).__module__
    if not module.startswith("tensorflow"):
        return False
    import tensorflow as tf

    return isinstance(obj, tf.data.Dataset)

