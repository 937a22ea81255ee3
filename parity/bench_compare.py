"""``python -m parity compare BASE.json NEW.json``: which benchmarks changed, significantly.

A change is flagged only when it is significant (two-sided Mann-Whitney U test on the raw samples,
p < ``alpha``) and large beyond the runs' own noise: every timing window of the new run is slower
(faster) than every window of the base run by more than ``factor`` (asv's threshold idea, applied
window to window). On a shared machine whole windows shift: two back-to-back runs of the same
build differed by up to 1.9x in single windows here, which a sample-level test alone reads as
hugely significant. So each case is timed in several windows, ideally in separate processes
(``python -m parity run`` merges 3 processes; ``--bench-windows`` adds windows within one), and a
window-to-window factor lets the spread of each run act as its own noise floor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import mannwhitneyu

from parity.bench_results import BenchmarkFileError, Run, machine_differences, versions


@dataclass(frozen=True)
class Change:
    name: str
    base_median: float
    new_median: float
    p_value: float
    separated: bool  # every window of one run beyond every window of the other by the factor
    verdict: str  # "regression", "improvement" or "unchanged"

    @property
    def ratio(self) -> float:
        return self.new_median / self.base_median


@dataclass
class Comparison:
    base: Run
    new: Run
    factor: float
    alpha: float
    changes: list[Change] = field(default_factory=list)
    only_base: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.verdict == "regression"]

    def markdown(self) -> str:
        lines = [f"# Benchmark comparison: {self.base.source} -> {self.new.source}", "",
                 f"- base: {versions(self.base)}", f"- new: {versions(self.new)}",
                 f"- flagged when every timing window of one run is slower than every window of "
                 f"the other by more than x{self.factor:g} and a two-sided Mann-Whitney U test "
                 f"on the samples gives p < {self.alpha:g}", ""]
        differences = machine_differences(self.base, self.new)
        if differences:
            lines += ["**Warning: the runs come from different machines or settings; ratios "
                      "mix hardware with software:** " + "; ".join(differences), ""]
        counts = {v: sum(c.verdict == v for c in self.changes)
                  for v in ("regression", "improvement", "unchanged")}
        lines += [f"{counts['regression']} regressions, {counts['improvement']} improvements, "
                  f"{counts['unchanged']} unchanged.", "",
                  "| benchmark | base median | new median | ratio | p | windows apart by factor | verdict |",
                  "|---|---|---|---|---|---|---|"]
        order = {"regression": 0, "improvement": 1, "unchanged": 2}
        for c in sorted(self.changes, key=lambda c: (order[c.verdict], -c.ratio)):
            lines.append(f"| {c.name} | {c.base_median * 1e6:.1f} us | {c.new_median * 1e6:.1f} us"
                         f" | {c.ratio:.3f} | {c.p_value:.2g} | {'yes' if c.separated else 'no'} | "
                         f"{c.verdict} |")
        for label, names in (("only in base", self.only_base), ("only in new", self.only_new)):
            if names:
                lines += ["", f"{label}: " + ", ".join(names)]
        return "\n".join(lines) + "\n"


def compare_runs(base: Run, new: Run, *, factor: float = 1.1, alpha: float = 0.01) -> Comparison:
    if not factor > 1:
        raise ValueError(f"factor={factor!r}: must be greater than 1 (e.g. 1.1 for 10 %)")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha!r}: must be between 0 and 1 (e.g. 0.01)")
    a, b = base.by_key(), new.by_key()
    result = Comparison(base, new, factor, alpha,
                        only_base=sorted(a[k].name for k in a.keys() - b.keys()),
                        only_new=sorted(b[k].name for k in b.keys() - a.keys()))
    for key in sorted(a.keys() & b.keys()):
        old, cur = a[key], b[key]
        for run, r in ((base, old), (new, cur)):
            if len(r.data) < 3:
                raise BenchmarkFileError(
                    f"{run.source}: {r.name} has {len(r.data)} raw samples; rerun with "
                    "--benchmark-save-data (and at least 3 rounds) so changes can be tested")
        p = float(mannwhitneyu(cur.data, old.data, alternative="two-sided").pvalue)
        new_windows = [float(np.median(w)) for w in cur.windows if w] or [cur.median]
        old_windows = [float(np.median(w)) for w in old.windows if w] or [old.median]
        slower = min(new_windows) > factor * max(old_windows)
        faster = factor * max(new_windows) < min(old_windows)
        verdict = "unchanged"
        if p < alpha and slower:
            verdict = "regression"
        elif p < alpha and faster:
            verdict = "improvement"
        result.changes.append(Change(cur.name, old.median, cur.median, p, slower or faster,
                                     verdict))
    if not result.changes:
        raise BenchmarkFileError(f"{base.source} and {new.source} share no benchmark to compare")
    return result
