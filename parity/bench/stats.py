"""How steady one benchmark's timings are, and the estimate of its cost that compare judges.

Interference on a shared machine only ever adds time (another process takes a core, a cache is
evicted), so the least disturbed estimate of a benchmark's cost is its fastest sample (Chen and
Revels, "Robust benchmarking in noisy environments", 2016). A single process can however settle
into a slower or faster state for its whole life (a different tracing or allocation path; on this
project's CI machine whole processes differed by up to 1.6x), so one process' minimum is not
trusted alone: the estimate is the geometric mean of the minima of the two fastest timing windows,
and it is *corroborated* only when those two agree within ``AGREE``. A benchmark whose fastest
windows disagree, that has a single window, or too few rounds is *unstable*: compare then gives
no verdict for it unless the change is larger than all of its spread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

AGREE = 1.10          # the two fastest windows' minima must agree within this factor
MIN_ROUNDS = 10       # per window: fewer cannot make a minimum or a rank test mean much
NOISY_IQR = 0.5       # IQR / median of the pooled samples above this: reported as noisy

ADVICE = ("rerun with more windows (python -m parity run --processes 5, or --bench-windows), "
          "pin fewer threads than cores (--bench-threads) so the machine's other work has a core, "
          "use a quieter machine, or time base and new interleaved (python -m parity bench ab)")


@dataclass(frozen=True)
class Stability:
    """The stability diagnostics of one benchmark in one run."""

    estimate: float                 # seconds (or reference units): corroborated minimum
    window_minima: tuple[float, ...]
    agreement: float                # second-fastest / fastest window minimum (1.0: exact)
    iqr_ratio: float                # IQR / median of all samples pooled
    rounds: int                     # fewest rounds in any window
    problems: tuple[str, ...]       # why no verdict can rest on it; empty when stable

    @property
    def stable(self) -> bool:
        return not self.problems


def diagnose(windows: Sequence[Sequence[float]], *, agree: float = AGREE) -> Stability:
    """Stability of one benchmark from its raw samples per timing window (seconds or any unit)."""
    windows = [np.asarray(w, dtype=float) for w in windows if len(w)]
    if not windows:
        raise ValueError("no raw samples: the run was written without --benchmark-save-data")
    minima = sorted(float(w.min()) for w in windows)
    pooled = np.concatenate(windows)
    median = float(np.median(pooled))
    iqr = float(np.subtract(*np.percentile(pooled, [75, 25])))
    rounds = min(len(w) for w in windows)
    problems = []
    if len(minima) < 2:
        problems.append("one timing window: its minimum cannot be corroborated")
        estimate, agreement = minima[0], float("nan")
    else:
        agreement = minima[1] / minima[0]
        estimate = float(np.sqrt(minima[0] * minima[1]))
        if agreement > agree:
            problems.append(f"the two fastest windows differ by x{agreement:.2f} "
                            f"(more than x{agree:g})")
    if rounds < MIN_ROUNDS:
        problems.append(f"{rounds} rounds in a window (fewer than {MIN_ROUNDS})")
    return Stability(estimate, tuple(minima), agreement, iqr / median, rounds, tuple(problems))


def noise_note(s: Stability) -> str:
    """A short description for report tables: 'ok', or what makes it unstable / noisy."""
    if s.problems:
        return "unstable: " + "; ".join(s.problems)
    if s.iqr_ratio > NOISY_IQR:
        return f"noisy samples (IQR {s.iqr_ratio:.0%} of median), minima agree"
    return "ok"
