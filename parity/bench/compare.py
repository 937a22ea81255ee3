"""``python -m parity compare BASE.json NEW.json``: which benchmarks changed, and which cannot say.

Each benchmark's cost in a run is its corroborated minimum (:mod:`parity.bench.stats`): the
geometric mean of the fastest samples of its two fastest timing windows, trusted only when those
two agree. A benchmark is

- a **regression** (improvement) when new / base of those estimates exceeds ``factor`` (falls
  below 1 / ``factor``) and both runs are stable, or, stable or not, when every window of the new
  run is beyond every window of the base run by ``factor`` (a change larger than all the spread);
- **unstable** when either run cannot support a verdict (windows that disagree, one window, too few
  rounds) and the change is not larger than that spread: not a regression, but not a pass of that
  benchmark either; the table says why and what would help;
- **unchanged** otherwise.

When both runs carry the reference workload timed around every window (``extra_info.reference``),
the estimates are taken in units of the reference, which cancels the machine's speed at the time
of each window, and the verdict rests on that ratio; the raw ratio and the reference's own ratio
(the machine's drift between the runs) are shown beside it. Runs written before the reference
existed are judged on raw time, and the report says so.

The two-sided Mann-Whitney U p-value of the pooled samples is shown for information: on a shared
machine whole windows shift, which makes it tiny for an A/A pair, so no verdict rests on it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from parity.bench import stats as bench_stats
from parity.bench.results import (
    BenchmarkFileError,
    Result,
    Run,
    machine_differences,
    reference_disturbed,
    typical_reference,
    versions,
)

FACTOR = 1.06  # chosen on the committed A/A pair: see docs/guides/benchmarks.md
VERDICTS = ("regression", "unstable", "improvement", "unchanged")


@dataclass(frozen=True)
class Change:
    name: str
    base_median: float
    new_median: float
    p_value: float
    separated: bool  # every window of one run beyond every window of the other by the factor
    verdict: str  # one of VERDICTS
    judged_ratio: float = float("nan")  # new / base corroborated minimum (reference units if any)
    raw_ratio: float = float("nan")     # the same on raw time
    reference_ratio: float | None = None  # new / base reference time: the machine's drift
    interval: tuple[float, float] = (float("nan"), float("nan"))  # ratio range of the windows
    problems: tuple[str, ...] = ()       # stability problems of either run

    @property
    def ratio(self) -> float:
        return self.judged_ratio


@dataclass
class Comparison:
    base: Run
    new: Run
    factor: float
    alpha: float
    changes: list[Change] = field(default_factory=list)
    only_base: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)
    normalised: bool = False  # judged in units of the reference workload

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.verdict == "regression"]

    @property
    def unstable(self) -> list[Change]:
        return [c for c in self.changes if c.verdict == "unstable"]

    def counts(self) -> dict[str, int]:
        return {v: sum(c.verdict == v for c in self.changes) for v in VERDICTS}

    def markdown(self) -> str:
        basis = ("time in units of the reference workload timed around each window (the machine's "
                 "drift cancels); raw ratio beside it") if self.normalised else \
            ("raw time: at least one run has no reference-workload timings (written before "
             "they existed), so the machine's own drift between the runs is not cancelled")
        lines = [f"# Benchmark comparison: {self.base.source} -> {self.new.source}", "",
                 f"- base: {versions(self.base)}", f"- new: {versions(self.new)}",
                 f"- judged on: {basis}",
                 f"- estimate per run: the geometric mean of the two fastest windows' minima, "
                 f"trusted when they agree within x{bench_stats.AGREE:g}; a change is flagged "
                 f"beyond x{self.factor:g}", ""]
        differences = machine_differences(self.base, self.new)
        if differences:
            lines += ["**Warning: the runs come from different machines or settings; ratios "
                      "mix hardware with software:** " + "; ".join(differences), ""]
        counts = self.counts()
        lines += [f"{counts['regression']} regressions, {counts['improvement']} improvements, "
                  f"{counts['unstable']} unstable (no verdict possible), {counts['unchanged']} "
                  "unchanged.", ""]
        if counts["unstable"]:
            lines += [f"Unstable benchmarks are not regressions, and not passes either: {counts['unstable']} "
                      f"of {len(self.changes)} could not be judged. To judge them: "
                      f"{bench_stats.ADVICE}.", ""]
        lines += ["| benchmark | base median | new median | ratio | window range | raw ratio "
                  f"| machine (reference) | p (MWU; * < {self.alpha:g}) | verdict | "
                  "stability, notes |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        order = {v: i for i, v in enumerate(VERDICTS)}
        for c in sorted(self.changes, key=lambda c: (order[c.verdict], -c.ratio)):
            machine = f"{c.reference_ratio:.3f}" if c.reference_ratio is not None else "n/a"
            lines.append(f"| {c.name} | {c.base_median * 1e6:.1f} us | {c.new_median * 1e6:.1f} us"
                         f" | {c.ratio:.3f} | {c.interval[0]:.3f}-{c.interval[1]:.3f} | "
                         f"{c.raw_ratio:.3f} | {machine} | {c.p_value:.2g}"
                         f"{'*' if c.p_value < self.alpha else ''} | {c.verdict} | "
                         f"{'; '.join(c.problems) or 'ok'} |")
        for label, names in (("only in base", self.only_base), ("only in new", self.only_new)):
            if names:
                lines += ["", f"{label}: " + ", ".join(names)]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class _Judged:
    verdict: str
    ratio: float
    interval: tuple[float, float]
    separated: bool
    problems: tuple[str, ...]


def _judge_windows(old, cur, factor: float) -> _Judged:
    base, new = bench_stats.diagnose(old), bench_stats.diagnose(cur)
    ratio = new.estimate / base.estimate
    # the spread of ratios between the windows each estimate rests on
    lo_b, hi_b = base.window_minima[0], base.window_minima[min(1, len(base.window_minima) - 1)]
    lo_n, hi_n = new.window_minima[0], new.window_minima[min(1, len(new.window_minima) - 1)]
    slower = new.window_minima[0] > factor * base.window_minima[-1]
    faster = factor * new.window_minima[-1] < base.window_minima[0]
    problems = tuple(f"base: {p}" for p in base.problems) + \
        tuple(f"new: {p}" for p in new.problems)
    if slower or faster:  # larger than all the spread of both runs
        verdict = "regression" if slower else "improvement"
    elif problems:
        verdict = "unstable"
    elif ratio > factor:
        verdict = "regression"
    elif ratio < 1 / factor:
        verdict = "improvement"
    else:
        verdict = "unchanged"
    return _Judged(verdict, ratio, (lo_n / hi_b, hi_n / lo_b), slower or faster, problems)


def _steady_normalised(r: Result, typical: float | None, label: str):
    """``r``'s normalised windows without those whose reference workload was disturbed
    (:data:`parity.bench.results.DISTURBED`), and a note naming those left out."""
    keep = [not (typical and reference_disturbed(ref, typical)) for ref in r.references]
    if all(keep) or not any(keep):
        return r.normalised_windows, ()
    left = [wid for wid, k in zip(r.window_ids, keep) if not k]
    return (tuple(w for w, k in zip(r.normalised_windows, keep) if k),
            (f"{label} window(s) {', '.join(left)} left out: reference workload disturbed",))


def judge(old: Result, cur: Result, factor: float, normalised: bool,
          typical: tuple[float | None, float | None] = (None, None)) -> Change:
    """The verdict on one benchmark of two runs (see the module's docstring): on reference-
    normalised time when ``normalised``, with the raw-time verdict noted where it differs.
    ``typical``: each run's typical reference time, to leave out windows whose reference measured
    a stalled process rather than the machine."""
    raw = _judge_windows(old.windows, cur.windows, factor)
    left_out: tuple[str, ...] = ()
    if normalised:
        (old_w, note_a), (cur_w, note_b) = (_steady_normalised(old, typical[0], "base"),
                                            _steady_normalised(cur, typical[1], "new"))
        judged, left_out = _judge_windows(old_w, cur_w, factor), note_a + note_b
    else:
        judged = raw
    problems = judged.problems + left_out
    reference_ratio = None
    if old.references is not None and cur.references is not None:
        reference_ratio = float(np.median(cur.references) / np.median(old.references))
        if raw.verdict != judged.verdict:  # the machine's drift made the difference
            problems += (f"raw time alone says {raw.verdict}: the reference ran "
                         f"x{reference_ratio:.2f} as long in the new run",)
    from scipy.stats import mannwhitneyu  # here: the command line's parser reads FACTOR, and
    # scipy.stats takes half a second to import

    p = float(mannwhitneyu(cur.data, old.data, alternative="two-sided").pvalue)
    return Change(cur.name, old.median, cur.median, p, judged.separated, judged.verdict,
                  judged.ratio, raw.ratio, reference_ratio, judged.interval, problems)


def check_options(factor: float, alpha: float) -> None:
    """Refuse a ``factor`` or ``alpha`` no comparison can use (the command line: before reading)."""
    if not factor > 1:
        raise ValueError(f"factor={factor!r}: must be greater than 1 (e.g. 1.06 for 6 %)")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha!r}: must be between 0 and 1 (e.g. 0.01)")


def compare_runs(base: Run, new: Run, *, factor: float = FACTOR, alpha: float = 0.01) -> Comparison:
    """Judge every benchmark the two runs share; the verdict rests on the corroborated minima
    (module docstring). ``alpha`` only marks the shown Mann-Whitney p-values below it."""
    check_options(factor, alpha)
    a, b = base.by_key(), new.by_key()
    shared = sorted(a.keys() & b.keys())
    normalised = bool(shared) and all(a[k].references is not None and b[k].references is not None
                                      for k in shared)
    result = Comparison(base, new, factor, alpha,
                        only_base=sorted(a[k].name for k in a.keys() - b.keys()),
                        only_new=sorted(b[k].name for k in b.keys() - a.keys()),
                        normalised=normalised)
    typical = (typical_reference(base), typical_reference(new)) if normalised else (None, None)
    for key in shared:
        old, cur = a[key], b[key]
        for run, r in ((base, old), (new, cur)):
            if len(r.data) < 3:
                raise BenchmarkFileError(
                    f"{run.source}: {r.name} has {len(r.data)} raw samples; rerun with "
                    "--benchmark-save-data (and at least 3 rounds) so changes can be tested")
        result.changes.append(judge(old, cur, factor, normalised, typical))
    if not result.changes:
        raise BenchmarkFileError(f"{base.source} and {new.source} share no benchmark to compare")
    return result


def slowed(run: Run, factor: float) -> Run:
    """``run`` with every benchmark sample multiplied by ``factor`` and the reference workload's
    timings left alone: the code got slower, the machine did not (compare --simulate-slowdown)."""
    if not factor > 0:
        raise ValueError(f"simulate-slowdown={factor!r}: must be a positive factor (e.g. 1.1)")
    results = tuple(dataclasses.replace(
        r, median=r.median * factor, data=tuple(v * factor for v in r.data),
        iqr=r.iqr * factor, gflops=r.gflops / factor,
        windows=tuple(tuple(v * factor for v in w) for w in r.windows)) for r in run.results)
    return dataclasses.replace(run, source=f"{run.source} (samples x{factor:g})", results=results)


def detection_rates(base: Run, new: Run, factors=(1.0, 1.05, 1.10, 1.25), *,
                    factor: float = FACTOR) -> dict[float, dict[str, int]]:
    """Verdict counts of ``compare(base, slowed(new, f))`` for each slowdown ``f``."""
    return {f: compare_runs(base, slowed(new, f) if f != 1 else new, factor=factor).counts()
            for f in factors}


def detection_table(base: Run, new: Run, factors=(1.0, 1.05, 1.10, 1.25), *,
                    factor: float = FACTOR) -> str:
    """Markdown: verdict counts per synthetic slowdown of ``new`` (compare --detection-rates)."""
    rates = detection_rates(base, new, factors, factor=factor)
    lines = [f"Synthetic slowdowns of {new.source} (benchmark samples only) against {base.source}, "
             f"factor x{factor:g}:", "",
             "| slowdown | regression | unstable | improvement | unchanged | flagged |",
             "|---|---|---|---|---|---|"]
    for f, counts in rates.items():
        total = sum(counts.values())
        label = "x1 (A/A)" if f == 1 else f"x{f:.2f}"
        lines.append(f"| {label} | {counts['regression']} | {counts['unstable']} | "
                     f"{counts['improvement']} | {counts['unchanged']} | "
                     f"{counts['regression'] / total:.0%} |")
    return "\n".join(lines) + "\n"
