"""The verdict on a port: one row per layer and check (weights, forward, gradients) and one for
the whole model's output, each with its largest difference, the tolerance there and the share of
the tolerance used."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Row:
    """One check of one layer.

    ``difference`` is the largest |keras - torch| over every element compared; ``allowed`` the
    tolerance at that element (0 where weights must be bit-identical);
    ``share`` the largest difference / tolerance over the cross-framework and the
    framework-vs-float64 comparisons (> 1 fails); ``detail`` the full explanation of a failure."""

    layer: str
    check: str
    difference: float
    allowed: float
    share: float
    ok: bool
    detail: str = ""


@dataclass
class PortVerdict:
    """Result of :func:`parity.port`: ``ok``, ``summary()`` (one line), ``explain()`` (the table
    and every failure's explanation)."""

    source: str                 # what was ported, e.g. "Keras Sequential 'model'"
    target: str                 # what it became, e.g. "parity.KerasSequential"
    inputs: str                 # the drawn inputs, shapes and seed
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r.ok for r in self.rows)

    @property
    def max_abs(self) -> float:
        """The largest |keras - torch| over every check."""
        return max((r.difference for r in self.rows), default=0.0)

    @property
    def share_used(self) -> float:
        return max((r.share for r in self.rows), default=0.0)

    def summary(self) -> str:
        failing = [r for r in self.rows if not r.ok]
        state = "holds" if not failing else f"BROKEN in {len(failing)} of {len(self.rows)} checks"
        text = (f"port {self.source} -> {self.target}: parity {state}; largest difference "
                f"{self.max_abs:.3g}, {self.share_used:.1%} of tolerance used")
        if failing:
            text += f"; first failure: {failing[0].layer} {failing[0].check}"
        return text

    def table(self) -> str:
        head = ("| layer | check | largest difference | tolerance there | tolerance used | ok |",
                "|---|---|---:|---:|---:|---|")
        body = [f"| {r.layer} | {r.check} | {r.difference:.3g} | {_tolerance(r)} | "
                f"{r.share:.1%} | {'ok' if r.ok else 'FAIL'} |" for r in self.rows]
        return "\n".join([*head, *body])

    def explain(self) -> str:
        lines = [self.summary(), f"inputs: {self.inputs}", "", self.table()]
        lines += [f"note: {n}" for n in self.notes]
        for r in self.rows:
            if not r.ok and r.detail:
                lines += ["", f"{r.layer} {r.check}:", r.detail]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.explain()


def _tolerance(row: Row) -> str:
    if row.check != "weights":
        return f"{row.allowed:.3g}"
    return "bit-identical" if row.allowed == 0 else f"{row.allowed:.3g} (bias sum: one rounding)"
