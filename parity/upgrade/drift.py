"""What comparing a golden baseline found (:func:`parity.upgrade.golden.compare`): which cases
it judges (:class:`Coverage`), each tensor's verdict (:class:`Drift`) and the whole report
(:class:`DriftReport`) with its summary and Markdown table.

Drift: for each case, framework and tensor, ``|today - recorded|`` per element against what two
correct implementations may differ by (the cross-framework tolerance of the forward, gradient and
training checks): "identical" (bit for bit), "rounding" (within it) or "drift" (beyond it: the
framework now computes something else).

Coverage: a comparison judges only the canonical cases the baseline holds with tensors and, for
scenarios, from today's definition. A baseline that judges fewer than the whole canonical set
(nothing, only stale scenarios, a subset) is *incomplete*: ``golden compare`` refuses it (exit 2),
the gate reports an environment problem. Cases the baseline holds that the canonical set no
longer has are *extra*: named, not judged; they do not make a baseline incomplete.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from parity.upgrade.baseline import RERECORD, Baseline

FAILING = ("drift", "non-finite", "missing")  # verdicts that fail the comparison
# environment variables that change what is compared or how it is computed, named when set
ENVIRONMENT = {"PARITY_FIXTURES": "scenarios read from $PARITY_FIXTURES/scenarios, not the "
                                  "installed ones",
               "KERAS_BACKEND": "the Keras backend that computes Keras' values",
               "TF_ENABLE_ONEDNN_OPTS": "TensorFlow's oneDNN kernels (another rounding) on or off"}


def active_environment() -> dict[str, str]:
    """The variables of :data:`ENVIRONMENT` that are set, with their values."""
    return {k: os.environ[k] for k in ENVIRONMENT if k in os.environ}


@dataclass
class Coverage:
    """Which cases a comparison judges: the canonical ones the baseline holds with tensors and, for
    scenarios, from today's definition."""

    canonical: list[str]           # the canonical set (case_ids())
    recorded: list[str]            # the baseline's cases
    stale: dict[str, str]          # recorded scenario -> why it cannot be compared
    empty: list[str]               # recorded with no tensors
    environment: dict[str, str] = field(default_factory=active_environment)

    @property
    def compared(self) -> list[str]:
        held = set(self.recorded) - set(self.stale) - set(self.empty)
        return [i for i in self.canonical if i in held]

    @property
    def missing(self) -> list[str]:
        """Canonical cases not judged: not recorded, stale or without tensors."""
        compared = set(self.compared)
        return [i for i in self.canonical if i not in compared]

    @property
    def extra(self) -> list[str]:
        """Recorded cases the canonical set no longer has: named, not judged."""
        return [i for i in self.recorded if i not in set(self.canonical)]

    @property
    def incomplete(self) -> str:
        """Why the baseline cannot judge the canonical set; empty when it can."""
        if not self.missing:
            return ""
        recorded = set(self.recorded)
        parts = [f"{len(ids)} {what}" for ids, what in (
            ([i for i in self.missing if i not in recorded], "not recorded"),
            ([i for i in self.missing if i in self.stale], "stale"),
            ([i for i in self.missing if i in self.empty], "without tensors")) if ids]
        shown = ", ".join(self.missing[:4]) + (", ..." if len(self.missing) > 4 else "")
        return (f"incomplete golden baseline: it judges {len(self.compared)} of the "
                f"{len(self.canonical)} canonical cases; {len(self.missing)} missing "
                f"({', '.join(parts)}): {shown}; {RERECORD}")

    def line(self) -> str:
        extra = f"; {len(self.extra)} extra, not judged: {', '.join(self.extra)}" \
            if self.extra else ""
        return (f"Compared {len(self.compared)} of the baseline's {len(self.recorded)} cases; "
                f"the canonical set holds {len(self.canonical)}"
                f" ({'complete' if not self.missing else f'{len(self.missing)} not judged'})"
                f"{extra}.")

    def environment_line(self) -> str:
        return "Environment: " + ("; ".join(f"{k}={v} ({ENVIRONMENT[k]})"
                                            for k, v in self.environment.items()) or
                                  "none of " + ", ".join(ENVIRONMENT) + " set") + "."



@dataclass
class Drift:
    case: str
    framework: str
    tensor: str
    largest_change: float        # max |today - recorded|
    share: float                 # max |today - recorded| / allowed
    verdict: str                 # "identical", "rounding", "drift", "non-finite", "missing" or
                                 # "stale" (a scenario recorded from another definition)
    detail: str = ""             # for "non-finite": how many, where, both values

    @property
    def cell(self) -> str:
        return self.case.split("/", 1)[0] if not self.case.startswith("scenario/") else "scenarios"

    def describe(self) -> str:
        return f"{self.case} {self.framework} {self.tensor}: {self.verdict}, " + (
            self.detail or f"largest change {self.largest_change:.3g} = {self.share:.1f}x the "
            "allowed difference")


@dataclass
class DriftReport:
    baseline: Baseline
    today: dict[str, str]
    coverage: Coverage
    rows: list[Drift] = field(default_factory=list)

    @property
    def drifted(self) -> list[Drift]:
        return [r for r in self.rows if r.verdict in FAILING]

    @property
    def ok(self) -> bool:
        """No drift, and the whole canonical set judged."""
        return not self.drifted and not self.coverage.incomplete

    def groups(self) -> dict[tuple[str, str], list[Drift]]:
        """Rows by (cell, framework), in the order the cases were recorded."""
        groups: dict[tuple[str, str], list[Drift]] = {}
        for r in self.rows:
            groups.setdefault((r.cell, r.framework), []).append(r)
        return groups

    def summary(self) -> str:
        """One line: verdict, largest change and share of the allowed difference used."""
        finite = [r for r in self.rows if np.isfinite(r.share)]
        largest = max((r.largest_change for r in finite), default=0.0)
        share = max((r.share for r in finite), default=0.0)
        verdict = "DRIFTS" if self.drifted else "INCOMPLETE" if self.coverage.incomplete else "holds"
        return (f"golden {verdict}: {len(self.drifted)} of {len(self.rows)} tensors drift in "
                f"{len(self.coverage.compared)} of {len(self.coverage.canonical)} canonical cases; "
                f"largest change {largest:.3g}, {share:.1%} of the allowed difference used")

    def explain(self) -> str:
        return self.summary() + "\n" + self.markdown()

    def table(self) -> list[str]:
        """Largest change per cell and framework (Markdown)."""
        lines = ["| cell | framework | tensors | identical | largest change | share of "
                 "tolerance | verdict |", "|---|---|---|---|---|---|---|"]
        for (cell, fw), rows in self.groups().items():
            judged = [r for r in rows if r.verdict != "stale"]
            if not judged:
                lines.append(f"| {cell} | {fw} | {len(rows)} | 0 | - | - | stale |")
                continue
            worst = max(judged, key=lambda r: r.share)
            identical = sum(r.verdict == "identical" for r in judged)
            failing = [r.verdict for r in judged if r.verdict in FAILING]
            verdict = failing[0] if failing else (
                "identical" if identical == len(judged) else "rounding")
            stale = f" ({len(rows) - len(judged)} stale)" if len(judged) < len(rows) else ""
            lines.append(f"| {cell} | {fw} | {len(rows)} | {identical} | "
                         f"{max(r.largest_change for r in judged):.3g} | {worst.share:.1%} | "
                         f"{verdict}{stale} |")
        return lines

    def markdown(self) -> str:
        before, now = self.baseline.versions, self.today
        changed = [f"{k} {before.get(k)} -> {now.get(k)}" for k in now if before.get(k) != now.get(k)]
        lines = [f"Golden baseline `{self.baseline.path}` recorded {self.baseline.manifest['recorded']}"
                 f" with {', '.join(f'{k} {v}' for k, v in before.items())}.",
                 f"Changed since: {', '.join(changed) if changed else 'nothing'}.",
                 self.coverage.line(), self.coverage.environment_line(), "",
                 *([f"**{self.coverage.incomplete}**", ""] if self.coverage.incomplete else []),
                 *self.table()]
        lines += [f"- {r.describe()}" for r in self.drifted[:20]]
        stale = sorted({(r.case, r.detail) for r in self.rows if r.verdict == "stale"})
        lines += [f"- {case}: not compared: {why}" for case, why in stale]
        return "\n".join(lines)



def drift_of(case_id: str, fw: str, name: str, old: np.ndarray, new: np.ndarray,
             allowed: np.ndarray) -> Drift:
    """The verdict on one tensor: today's ``new`` against the recorded ``old``."""
    finite = np.isfinite(old) & np.isfinite(new)
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.where(finite, np.abs(new - old), 0.0)
        ratio = np.where(d == 0, 0.0, d / np.broadcast_to(allowed, d.shape))
    # a NaN tolerance cannot vouch for a difference: it counts as beyond it
    share = float(np.max(np.where(np.isnan(ratio), np.inf, ratio), initial=0.0))
    largest = float(d.max(initial=0.0))
    if not finite.all():
        # NaN or Inf on either side is never rounding, even where both sides agree on it
        i = tuple(int(k) for k in np.unravel_index(int(np.argmin(finite)), finite.shape))
        both = int((~np.isfinite(old) & ~np.isfinite(new)).sum())
        detail = (f"{int((~finite).sum())} of {finite.size} elements non-finite ({both} on both "
                  f"sides), first at {list(i)}: recorded {old[i]:.9g}, now {new[i]:.9g}")
        return Drift(case_id, fw, name, largest, np.inf, "non-finite", detail)
    verdict = "identical" if not d.any() else ("rounding" if share <= 1 else "drift")
    return Drift(case_id, fw, name, largest, share, verdict)
