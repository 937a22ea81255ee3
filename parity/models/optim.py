"""Optimizers and losses with one meaning in both frameworks.

Adam is where the frameworks' defaults and formulas part ways (Keras 3 ``optimizers/adam.py``,
torch ``optim/adam.py``, both with bias correction):

- Keras: ``var -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``, default eps 1e-7;
- torch: ``param -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``, default eps 1e-8.

So torch's eps acts on the bias-corrected ``sqrt(v_hat)`` and Keras' on the uncorrected
``sqrt(v)``: the same number means a different update, by a factor that changes every step. An
:class:`Adam` here states its epsilon in one framework's convention, and at every step the other
framework's optimizer is given the equivalent epsilon (``eps_torch = eps_keras / sqrt(1 - b2^t)``),
so both compute the same update up to rounding. SGD (with momentum and Nesterov) means the same in
both for a constant learning rate.

Losses take logits, integer labels and an optional loss mask (batch, time) and return a scalar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from parity.core.errors import UnsupportedConfig
from parity.core.frameworks import keras, torch

CONVENTIONS = ("keras", "torch")


@dataclass(frozen=True)
class SGD:
    """Stochastic gradient descent, the same in both frameworks (Keras' and torch's SGD).

    Args:
        learning_rate: positive step size.
        momentum: 0 <= momentum < 1.
        nesterov: Nesterov momentum.

    Raises:
        UnsupportedConfig: a learning rate or momentum outside those ranges.

    Examples:
        >>> import parity
        >>> type(parity.SGD(0.1, momentum=0.9).keras()).__name__
        'SGD'
    """

    learning_rate: float
    momentum: float = 0.0
    nesterov: bool = False

    def __post_init__(self) -> None:
        _check_positive("learning_rate", self.learning_rate)
        if not 0.0 <= self.momentum < 1.0:
            raise UnsupportedConfig("momentum", self.momentum, "expected 0 <= momentum < 1")

    def keras(self):
        return keras.optimizers.SGD(self.learning_rate, momentum=self.momentum,
                                    nesterov=self.nesterov)

    def torch(self, params):
        return torch.optim.SGD(params, lr=self.learning_rate, momentum=self.momentum,
                               nesterov=self.nesterov)

    def before_step(self, step: int, keras_optimizer, torch_optimizers) -> None:
        """Nothing to adjust: SGD has no step-dependent hyperparameters."""

    def step_size_condition(self, step: int) -> float:
        """Relative error of the step size per unit roundoff of the dtype computing it."""
        return 1.0


@dataclass(frozen=True)
class Adam:
    """Adam with bias correction, taking the same steps in both frameworks.

    Keras adds ``epsilon`` to sqrt(v_hat) scaled differently from torch (Keras 1e-7 and torch
    1e-8 by default, in formulas that differ by the bias correction); each side gets the epsilon
    its own formula needs for the update ``epsilon_convention``'s framework would take.

    Args:
        learning_rate: positive step size.
        beta_1: decay rates, 0 <= beta < 1.
        beta_2: decay rates, 0 <= beta < 1.
        epsilon: positive, meant as ``epsilon_convention``'s framework reads it.
        epsilon_convention: ``"keras"`` or ``"torch"``.

    Raises:
        UnsupportedConfig: a value outside those ranges, or an unknown convention.

    Examples:
        >>> import parity
        >>> adam = parity.Adam(0.01)
        >>> adam.epsilon_for("keras", step=1) == 1e-7
        True
    """

    learning_rate: float
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    epsilon_convention: str = "keras"

    def __post_init__(self) -> None:
        _check_positive("learning_rate", self.learning_rate)
        _check_positive("epsilon", self.epsilon)
        for name in ("beta_1", "beta_2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise UnsupportedConfig(name, getattr(self, name), f"expected 0 <= {name} < 1")
        if self.epsilon_convention not in CONVENTIONS:
            raise UnsupportedConfig("epsilon_convention", self.epsilon_convention,
                                    f"expected one of {CONVENTIONS}: the framework whose "
                                    "formula the epsilon is meant for")

    def epsilon_for(self, framework: str, step: int) -> float:
        """The epsilon ``framework``'s Adam needs at 1-based ``step`` to take this update."""
        if framework == self.epsilon_convention:
            return self.epsilon
        correction = math.sqrt(1.0 - self.beta_2 ** step)
        return self.epsilon / correction if framework == "torch" else self.epsilon * correction

    def keras(self):
        return keras.optimizers.Adam(self.learning_rate, beta_1=self.beta_1, beta_2=self.beta_2,
                                     epsilon=self.epsilon_for("keras", 1))

    def torch(self, params):
        return torch.optim.Adam(params, lr=self.learning_rate, betas=(self.beta_1, self.beta_2),
                                eps=self.epsilon_for("torch", 1))

    def before_step(self, step: int, keras_optimizer, torch_optimizers) -> None:
        """Give each optimizer the epsilon that step ``step`` (1-based) needs; Keras reads its
        ``epsilon`` attribute at every update, torch its param group's ``eps``."""
        if keras_optimizer is not None:
            keras_optimizer.epsilon = self.epsilon_for("keras", step)
        for optimizer in torch_optimizers:
            for group in optimizer.param_groups:
                group["eps"] = self.epsilon_for("torch", step)

    def step_size_condition(self, step: int) -> float:
        """``lr sqrt(1 - b2^t) / (1 - b1^t)`` computed in the model's dtype (as Keras does): ``b``
        rounded to the dtype is off by u, so ``b^t`` by ``t u`` (plus the power's own u), and each
        ``1 - b^t`` cancels, amplifying that by ``b^t / (1 - b^t)``. With b2 = 0.999 this is ~500 u
        for the first hundreds of steps: Keras' float32 step size is off by ~6e-6 throughout."""
        b1, b2 = self.beta_1 ** step, self.beta_2 ** step
        return 2.0 + (step + 1) * (b1 / (1.0 - b1) + 0.5 * b2 / (1.0 - b2))


def _check_positive(option: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and value > 0):
        raise UnsupportedConfig(option, value, "expected a positive number")


@dataclass(frozen=True)
class SparseCrossEntropy:
    """Softmax cross-entropy from logits over every labelled position (batch, or batch x time):
    their mean (``reduction="mean"``: Keras' ``sum_over_batch_size``, torch's ``mean``) or sum
    (``"sum"``, as the torch course's summed per-character loss). With a loss mask, the positions
    it keeps (the mean over those: Keras' ``sample_weight`` with ``sum_over_batch_size`` divides
    by all positions instead; say so by using this loss only on unmasked data or with the mask
    you mean).

    Args:
        reduction: ``"mean"`` or ``"sum"``.

    Raises:
        UnsupportedConfig: another reduction; labels whose shape does not match the logits'.

    Examples:
        >>> import numpy as np, parity, torch
        >>> logits, labels = torch.zeros(2, 3, 5), torch.ones(2, 3, dtype=torch.long)
        >>> round(float(parity.SparseCrossEntropy().torch(logits, labels)), 6)  # log(5)
        1.609438
    """

    reduction: str = "mean"

    def __post_init__(self) -> None:
        if self.reduction not in ("mean", "sum"):
            raise UnsupportedConfig("reduction", self.reduction, "'mean' or 'sum'")

    def keras(self, logits, labels, mask=None):
        ce = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        if mask is None:
            return keras.ops.sum(ce) if self.reduction == "sum" else keras.ops.mean(ce)
        m = keras.ops.cast(mask, ce.dtype)
        total = keras.ops.sum(ce * m)
        return total if self.reduction == "sum" else total / keras.ops.sum(m)

    def torch(self, logits, labels, mask=None):
        ce = _torch_ce(logits, labels)
        if mask is None:
            return ce.sum() if self.reduction == "sum" else ce.mean()
        m = mask.to(ce.dtype)
        total = (ce * m).sum()
        return total if self.reduction == "sum" else total / m.sum()


@dataclass(frozen=True)
class MaskedSequenceCrossEntropy:
    """The seed's tagging loss: cross-entropy per step, masked, averaged over each sequence's
    valid steps, then over the batch (``reduce_sum(ce * mask, -1) / length``, then the mean).

    Examples:
        >>> import parity, torch
        >>> logits, labels = torch.zeros(1, 4, 5), torch.zeros(1, 4, dtype=torch.long)
        >>> mask = torch.tensor([[True, True, False, False]])
        >>> round(float(parity.MaskedSequenceCrossEntropy().torch(logits, labels, mask)), 6)
        1.609438
    """

    def keras(self, logits, labels, mask=None):
        ce = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        m = keras.ops.ones_like(ce) if mask is None else keras.ops.cast(mask, ce.dtype)
        return keras.ops.mean(keras.ops.sum(ce * m, axis=-1) / keras.ops.sum(m, axis=-1))

    def torch(self, logits, labels, mask=None):
        ce = _torch_ce(logits, labels)
        m = torch.ones_like(ce) if mask is None else mask.to(ce.dtype)
        return ((ce * m).sum(-1) / m.sum(-1)).mean()


def _torch_ce(logits, labels):
    if labels.shape == logits.shape[:-1] + (1,):  # dropped, as Keras' sparse cross-entropy does
        labels = labels.squeeze(-1)
    if logits.shape[:-1] != labels.shape:
        raise UnsupportedConfig("labels.shape", tuple(labels.shape),
                                f"expected the logits' leading shape {tuple(logits.shape[:-1])}")
    flat = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                             labels.reshape(-1).long(), reduction="none")
    return flat.reshape(labels.shape)


Optimizer = SGD | Adam
Loss = SparseCrossEntropy | MaskedSequenceCrossEntropy
