"""What a lock-step training run records: the batches it trains on (:class:`Batch`), each step's
losses and weight gaps (:class:`Step`) and the whole run (:class:`TrainingRecord`) with its
verdict, summary and explanation (:mod:`parity.models.training` runs it)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Batch:
    """Inputs (token ids (batch, time) or features (batch, time, features)), integer labels and an
    optional boolean loss mask (batch, time).

    Examples:
        >>> import numpy as np, parity
        >>> batch = parity.Batch(np.array([[1, 2, 3]]), np.array([1]))
        >>> batch.x.shape, batch.mask is None
        ((1, 3), True)
    """

    x: np.ndarray
    y: np.ndarray
    mask: np.ndarray | None = None


@dataclass(frozen=True)
class Step:
    """One optimizer step: the losses computed before it, the weights after it."""

    index: int
    loss_keras: float
    loss_torch: float
    loss_reference: float
    loss_allowed: float          # one framework vs the reference; the frameworks may differ by 2x
    param_gap: float             # largest |keras - torch| over every weight element
    param_where: str             # which weight and element
    param_allowed: float         # the cross-framework tolerance at that element
    share_used: float            # largest |difference| / tolerance over losses and weights, 3 pairs
    tightest: str                # the comparison that used that share
    failure: str = ""            # the first broken comparison of this step, if any

    @property
    def loss_gap(self) -> float:
        return abs(self.loss_keras - self.loss_torch)


@dataclass
class TrainingRecord:
    """Every step of a lock-step run: both frameworks' losses and the float64 reference's, the
    largest weight gap, the share of the tolerance used and the first failure (``steps``); the
    notes on what was translated (optimizer defaults, data); ``ok``, ``summary()``,
    ``explain()``, ``losses(framework)``, ``share_used``.

    Examples:
        >>> import keras, numpy as np, parity
        >>> model = keras.Sequential([keras.Input((3, 2)), keras.layers.LSTM(2),
        ...                           keras.layers.Dense(2)])
        >>> x, y = np.ones((2, 3, 2), dtype="float32"), np.array([0, 1])
        >>> record = parity.train_lockstep(model, parity.to_torch(model), (x, y),
        ...                                loss=parity.SparseCrossEntropy(),
        ...                                optimizer=parity.SGD(0.1), epochs=3)
        >>> record.ok, len(record.losses("keras")), record.summary().split(";")[0]
        (True, 3, 'training parity holds over 3 steps')
    """

    steps: list[Step] = field(default_factory=list)
    context: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(not s.failure for s in self.steps)

    @property
    def largest_loss_gap(self) -> float:
        return max((s.loss_gap for s in self.steps), default=0.0)

    @property
    def largest_param_gap(self) -> float:
        return max((s.param_gap for s in self.steps), default=0.0)

    @property
    def share_used(self) -> float:
        return max((s.share_used for s in self.steps), default=0.0)

    def losses(self, side: str) -> list[float]:
        return [getattr(s, f"loss_{side}") for s in self.steps]

    def summary(self) -> str:
        """One line: verdict, largest loss and weight gaps, share of the tolerance used."""
        failed = any(s.failure for s in self.steps)
        return (f"training parity {'broken' if failed else 'holds'} over {len(self.steps)} steps; "
                f"largest loss gap {self.largest_loss_gap:.3g}, largest weight gap "
                f"{self.largest_param_gap:.3g}, {self.share_used:.1%} of tolerance used")

    def explain(self) -> str:
        failed = [s for s in self.steps if s.failure]
        lines = [self.summary()]
        if failed:
            first = failed[0]
            lines += [f"first failure at step {first.index}: {first.failure}",
                      f"  losses there: keras {first.loss_keras:.9g}, torch {first.loss_torch:.9g}, "
                      f"float64 reference {first.loss_reference:.9g} (allowed +-{first.loss_allowed:.3g})",
                      f"  {len(failed)} of {len(self.steps)} steps fail"]
        lines += [f"note: {n}" for n in self.notes]
        if self.context:
            lines.append(f"reproduce: {self.context}")
        return "\n".join(lines)

