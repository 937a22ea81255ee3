"""How two results differ, element by element, and the one way every check words it.

:func:`diff` compares two arrays against a per-element tolerance and keeps the elements a message
needs (largest absolute and relative difference, the element furthest beyond its tolerance, the
first non-finite one). :func:`format_point` is the single message builder (in the style of
``torch.testing``'s): where (batch, step, unit, or a weight's gate and unit), both values, by how
much, what was allowed, and how many times the rounding noise of a correct implementation that is.

Every check's result (layer, gradient, model, training, golden) follows :class:`Report`: ``ok``,
``summary()`` (one line: the largest difference and the tolerance used) and ``explain()`` (the
full message); :class:`parity.ParityError` carries it as ``report``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from parity.core.errors import TransferError
from parity.core.tolerances import POLICY

_AXES = {3: ("batch", "step", "unit"), 2: ("batch", "unit")}


@runtime_checkable
class Report(Protocol):
    """What every check returns and :class:`parity.ParityError` carries."""

    @property
    def ok(self) -> bool: ...

    def summary(self) -> str:
        """One line: verdict, largest difference and the share of the tolerance it used."""
        ...

    def explain(self) -> str:
        """The full message: where, by how much, what was allowed, how to reproduce."""
        ...


@dataclass(frozen=True)
class Point:
    """One element: its index, both values, their difference and what was allowed there."""

    index: tuple[int, ...]
    a: float
    b: float
    difference: float
    allowed: float

    @property
    def ratio(self) -> float:
        """Difference as a fraction of the tolerance (> 1 is a mismatch)."""
        if self.difference == 0:
            return 0.0
        return self.difference / self.allowed if self.allowed > 0 else float("inf")

    def where(self, axes: Sequence[str], gates: tuple[tuple[str, ...], int] | None = None) -> str:
        """The index by axis name; a weight's gate*unit axis also says which gate (``gates`` is the
        Keras gate order and the units)."""
        parts = []
        for name, i in zip(axes, self.index):
            if name == "gate*unit" and gates is not None:
                order, units = gates
                parts.append(f"gate={order[i // units]}, unit={i % units}")
            else:
                parts.append(f"{name}={i}")
        return "(" + ", ".join(parts) + ")"


@dataclass(frozen=True)
class TensorDiff:
    """How one returned tensor differs between two sources ``a`` and ``b``."""

    name: str
    a_name: str
    b_name: str
    shape: tuple[int, ...]
    mismatched: int
    max_abs: Point
    max_rel: Point
    worst: Point  # the element furthest beyond its tolerance (largest difference / allowed)
    scale: float  # largest finite |b|, to put differences in proportion
    axis_names: tuple[str, ...] | None = None  # default: by rank (batch, step, unit)
    gates: tuple[tuple[str, ...], int] | None = None  # for weights: gate order and units
    nonfinite: int = 0  # elements NaN or Inf on either side (all counted as mismatched)
    first_nonfinite: Point | None = None

    def nonfinite_note(self) -> str:
        """One line on the non-finite elements ("" if none)."""
        p = self.first_nonfinite
        if p is None:
            return ""
        return (f"non-finite: {self.nonfinite} element(s) NaN or Inf, first at {self.where(p)}: "
                f"{self.a_name} {p.a:.9g}, {self.b_name} {p.b:.9g}")

    @property
    def ok(self) -> bool:
        return self.mismatched == 0

    @property
    def axes(self) -> tuple[str, ...]:
        if self.axis_names is not None:
            return self.axis_names
        return _AXES.get(len(self.shape), tuple(f"dim{i}" for i in range(len(self.shape))))

    def where(self, p: Point) -> str:
        return p.where(self.axes, self.gates) if self.shape else "(scalar)"

    @property
    def total(self) -> int:
        return int(np.prod(self.shape))

    def headline(self) -> str:
        """One line: the count beyond tolerance and the worst element (the one formatter)."""
        detail = self.nonfinite_note() or f"worst {format_point(self, self.worst)}"
        return (f"{self.name} ({self.a_name} vs {self.b_name}): {self.mismatched} of {self.total} "
                f"elements beyond tolerance; {detail}")


def diff(name: str, a_name: str, a, b_name: str, b, allowed, *, axis_names=None,
         gates=None) -> TensorDiff:
    """Elementwise |a - b| against ``allowed``. NaN or Inf on either side is a mismatch, even where
    both sides hold the same one: no tolerance can vouch for it, and it is counted apart."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise TransferError(f"{name}.shape", a.shape, f"{b_name} returned shape {b.shape}")
    finite = np.isfinite(a) & np.isfinite(b)
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.where(finite, np.abs(a - b), np.inf)
    allowed = np.nan_to_num(np.broadcast_to(allowed, a.shape), nan=0.0, posinf=np.inf)
    bad = d > allowed
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rel = np.where(d == 0, 0.0, d / np.abs(b))
        ratio = np.where(d == 0, 0.0, d / allowed)
    rel = np.nan_to_num(rel, nan=np.inf)
    ratio = np.nan_to_num(ratio, nan=np.inf)

    def point(flat_index):
        i = np.unravel_index(flat_index, a.shape)
        return Point(tuple(int(k) for k in i), float(a[i]), float(b[i]), float(d[i]),
                     float(allowed[i]))

    finite_b = np.abs(b[np.isfinite(b)])
    nonfinite = int((~finite).sum())
    return TensorDiff(name, a_name, b_name, a.shape, int(bad.sum()), point(int(np.argmax(d))),
                      point(int(np.argmax(rel))), point(int(np.argmax(ratio))),
                      float(finite_b.max(initial=0.0)), axis_names, gates, nonfinite,
                      point(int(np.argmin(finite))) if nonfinite else None)


def noise_multiple(p: Point, pair_scale: float, policy=POLICY) -> float:
    """``p``'s difference in units of the rounding noise of one correct implementation: the
    allowed difference is ``pair_scale`` (sqrt(2) for two implementations, ~1 for one against the
    oracle) x the policy's factor x that noise."""
    return p.ratio * policy.factor * pair_scale


def format_point(t: TensorDiff, p: Point, a_name: str | None = None, b_name: str | None = None,
                 *, dtype: str | None = None, pair_scale: float = 1.0) -> str:
    """The one mismatch formatter: "<difference> at (where): a <value>, b <value>, allowed
    <tolerance>", and with ``dtype`` how many times the rounding noise of a correct ``dtype``
    implementation the difference is."""
    a_name, b_name = a_name or t.a_name, b_name or t.b_name
    text = (f"{p.difference:.3g} at {t.where(p)}: {a_name} {p.a:.9g}, {b_name} {p.b:.9g}, "
            f"allowed {p.allowed:.3g}")
    if dtype is not None and p.difference > 0 and np.isfinite(p.ratio):
        m = noise_multiple(p, pair_scale)
        text += (f" ({m:,.0f}x" if m >= 10 else f" ({m:.2g}x") + (
            f" the rounding noise of a correct {dtype} implementation)")
    return text


def summary_line(what: str, ok: bool, diffs: Sequence[TensorDiff], extra: str = "") -> str:
    """The one-line summary of a check over ``diffs``: verdict, largest difference, share of the
    tolerance used (largest difference / allowed over every element), and the worst tensor."""
    largest = max((d.max_abs.difference for d in diffs), default=0.0)
    worst = max(diffs, key=lambda d: d.worst.ratio, default=None)
    used = 0.0 if worst is None else worst.worst.ratio
    where = "" if worst is None or used == 0 else \
        f" at {worst.name} {worst.where(worst.worst)} ({worst.a_name} vs {worst.b_name})"
    share = f"{used:.1%} of the tolerance used" if used < 10 else f"{used:,.0f}x the tolerance"
    return (f"{what} parity {'holds' if ok else 'FAILS'}: largest difference {largest:.3g}, "
            f"{share}{where}{extra}")


def reproduce_line(nodeid: str | None = None) -> str:
    """How to rerun the pytest test that is running ("" outside pytest)."""
    nodeid = nodeid or os.environ.get("PYTEST_CURRENT_TEST")
    if not nodeid:
        return ""
    test = nodeid.rsplit(" ", 1)[0]
    return (f"reproduce: pytest '{test}' (the default hypothesis profile is derandomised, so the "
            "same command replays it; hypothesis prints the falsifying example and a "
            "@reproduce_failure line below)")
