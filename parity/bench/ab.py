"""``python -m parity bench ab``: time base and new alternately on the same machine, and compare
them round by round.

Two runs made one after the other see different machines: a shared host's load, its clock and a
process' own state change from minute to minute, and on this project's CI machine whole processes
differed by up to 1.6x. Interleaving cancels what changes slowly (Kalibera and Jones, "Rigorous
benchmarking in reasonable time", 2013): each round runs one benchmark process of each side, in
ABBA order (base, new; new, base; ...) so neither side always goes first, and each round gives a
paired ratio new / base of the two processes' fastest samples (in units of the reference workload
when both carry it). The verdict rests on the confidence interval of the geometric mean of the
paired ratios (Student's t over rounds):

- **regression**: the interval lies above 1 and the estimate beyond ``factor``;
- **improvement**: the mirror image;
- **unchanged**: the interval lies within 1 / ``factor`` .. ``factor``;
- **unstable**: anything else, an interval too wide to decide (it straddles the factor, or 1
  while the estimate is beyond the factor), or fewer than 3 rounds: more rounds would decide it.

Base and new are each a python executable (for example two virtual environments with two framework
versions, timing this working tree's ``benchmarks/``) or a working tree of rnn-parity (timing its
own ``benchmarks/`` with its ``.venv`` if it has one), each with environment variables of its own
if asked (``--base-env`` / ``--new-env``): two settings of one build, or, with
``PARITY_BENCH_SLOWDOWN``, a new side made slower on purpose to see what the comparison detects.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from parity.bench import stats as bench_stats
from parity.bench.compare import FACTOR, VERDICTS, compare_runs
from parity.bench.processes import clean_environment, pytest_command
from parity.bench.results import (
    BenchmarkFileError,
    Result,
    Run,
    load,
    merge,
    reference_disturbed,
    typical_reference,
    versions,
)
from parity.core import outputs
from parity.core.errors import InputFileError, ParityConfigError

MIN_ROUNDS = 3
CONFIDENCE = 0.95  # of the interval over rounds (bench ab --alpha 0.05)


class BenchmarkProcessError(ValueError):
    """A benchmark process of one side failed or wrote no results: most often that side's
    environment (a missing framework, a tree without the benchmarks' options); names the side."""


@dataclass(frozen=True)
class Side:
    label: str          # "base" or "new"
    python: str
    cwd: Path           # where benchmarks/ is
    pythonpath: str | None = None
    env: tuple[tuple[str, str], ...] = ()  # set for this side's processes (e.g. a knob, threads)


def parse_env(items, label: str) -> tuple[tuple[str, str], ...]:
    """``KEY=VALUE`` strings (``--base-env`` / ``--new-env``) as pairs."""
    pairs = []
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key or not key.replace("_", "").isalnum():
            raise ParityConfigError(f"--{label}-env", item, "expected NAME=VALUE, e.g. "
                                    "PARITY_BENCH_SLOWDOWN=1.1")
        pairs.append((key, value))
    return tuple(pairs)


def side(spec: str, label: str, env=()) -> Side:
    """``spec``: a python executable, or a working tree of rnn-parity; ``env``: (name, value)
    pairs set for this side's benchmark processes only."""
    env = tuple(env)
    path = Path(spec)
    if path.is_dir():
        if not (path / "benchmarks" / "test_recurrent_core.py").is_file():
            raise InputFileError(f"--{label} {spec}: a folder, but not a working tree of "
                                 "rnn-parity (no benchmarks/test_recurrent_core.py)")
        venv = path / ".venv" / "bin" / "python"
        python = str(venv) if venv.is_file() else sys.executable
        # the tree's own package, whatever the interpreter has installed
        return Side(label, python, path.resolve(), str(path.resolve()), env)
    if path.is_file() and os.access(path, os.X_OK):
        if not Path("benchmarks", "test_recurrent_core.py").is_file():
            raise InputFileError(f"--{label} {spec}: a python executable times this folder's "
                                 "benchmarks/, and there is none here; run from the repository "
                                 "root or give a working tree")
        return Side(label, str(path), Path.cwd(), env=env)
    raise InputFileError(f"--{label} {spec}: neither an executable python nor a working tree of "
                         "rnn-parity")


def schedule(rounds: int) -> list[tuple[int, str]]:
    """ABBA order: (0, base), (0, new), (1, new), (1, base), (2, base), ..."""
    if rounds < 1:
        raise ValueError(f"rounds={rounds!r}: must be at least 1")
    order = []
    for r in range(rounds):
        pair = ("base", "new") if r % 2 == 0 else ("new", "base")
        order += [(r, label) for label in pair]
    return order


def command(s: Side, out_json: Path, *, sizes: str, threads: int | None,
            select: str | None) -> list[str]:
    return pytest_command(out_json, sizes=sizes, threads=threads, select=select, python=s.python)


def _subprocess_runner(cmd: list[str], s: Side) -> int:
    env = clean_environment() | dict(s.env)
    if s.pythonpath:
        env["PYTHONPATH"] = s.pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(cmd, cwd=s.cwd, env=env).returncode


# ------------------------------------------------------------------------------ paired compare

@dataclass(frozen=True)
class PairedChange:
    name: str
    per_round: tuple[float, ...]   # paired ratios new / base, one per round
    ratio: float                   # geometric mean of the paired ratios
    low: float                     # confidence interval of the ratio
    high: float
    p_value: float                 # Wilcoxon signed-rank on the log ratios (for information)
    verdict: str
    problems: tuple[str, ...] = ()


@dataclass
class PairedComparison:
    base: Run
    new: Run
    factor: float
    normalised: bool
    confidence: float = CONFIDENCE
    changes: list[PairedChange] = field(default_factory=list)

    @property
    def regressions(self) -> list[PairedChange]:
        return [c for c in self.changes if c.verdict == "regression"]

    @property
    def unstable(self) -> list[PairedChange]:
        return [c for c in self.changes if c.verdict == "unstable"]

    def counts(self) -> dict[str, int]:
        return {v: sum(c.verdict == v for c in self.changes) for v in VERDICTS}

    def markdown(self) -> str:
        counts = self.counts()
        basis = "units of the reference workload timed around each window" if self.normalised \
            else "raw time (a side has no reference-workload timings)"
        lines = ["# A/B benchmark comparison (interleaved rounds, ABBA)", "",
                 f"- base: {versions(self.base)}", f"- new: {versions(self.new)}",
                 f"- per round: new / base of the two processes' fastest samples, in {basis}",
                 f"- verdict on the {self.confidence:.0%} t interval of the geometric mean of "
                 f"the paired ratios; a change counts beyond x{self.factor:g}", "",
                 f"{counts['regression']} regressions, {counts['improvement']} improvements, "
                 f"{counts['unstable']} unstable (no verdict possible), {counts['unchanged']} "
                 "unchanged.", ""]
        if counts["unstable"]:
            lines += [f"Unstable benchmarks are not regressions, and not passes either. To judge "
                      f"them: more rounds (--rounds), or {bench_stats.ADVICE}.", ""]
        lines += ["| benchmark | ratio | interval | paired ratios | p (Wilcoxon) | verdict | "
                  "stability |", "|---|---|---|---|---|---|---|"]
        order = {v: i for i, v in enumerate(VERDICTS)}
        for c in sorted(self.changes, key=lambda c: (order[c.verdict], -c.ratio)):
            rounds = " ".join(f"{r:.3f}" for r in c.per_round)
            lines.append(f"| {c.name} | {c.ratio:.3f} | {c.low:.3f}-{c.high:.3f} | {rounds} | "
                         f"{c.p_value:.2g} | {c.verdict} | {'; '.join(c.problems) or 'ok'} |")
        return "\n".join(lines) + "\n"


def _round_minima(r: Result, normalised: bool, typical: float | None) -> tuple[dict[str, float],
                                                                              list[str]]:
    """Each round's fastest sample, and the rounds left out because their reference workload
    was disturbed (:data:`parity.bench.results.DISTURBED`)."""
    windows = r.normalised_windows if normalised else r.windows
    minima, disturbed = {}, []
    for i, (wid, w) in enumerate(zip(r.window_ids, windows)):
        if normalised and typical and reference_disturbed(r.references[i], typical):
            disturbed.append(f"{wid} (reference x{r.references[i] / typical:.3g} its usual)")
        elif w:
            minima[wid] = min(w)
    return minima, disturbed


def paired_change(old: Result, cur: Result, factor: float, normalised: bool,
                  confidence: float = CONFIDENCE,
                  typical: tuple[float | None, float | None] = (None, None)) -> PairedChange:
    """The paired verdict on one benchmark; ``typical``: each run's typical reference time, to
    leave out rounds whose reference measured a stalled process rather than the machine."""
    (a, out_a), (b, out_b) = (_round_minima(old, normalised, typical[0]),
                              _round_minima(cur, normalised, typical[1]))
    left_out = tuple(f"round {w} of {side} left out: reference workload disturbed"
                     for side, ws in (("base", out_a), ("new", out_b)) for w in ws)
    rounds = sorted(a.keys() & b.keys())
    logs = np.log([b[k] / a[k] for k in rounds])
    per_round = tuple(float(v) for v in np.exp(logs))
    if len(logs) < MIN_ROUNDS:
        ratio = float(np.exp(logs.mean())) if len(logs) else float("nan")
        return PairedChange(cur.name, per_round, ratio, float("nan"), float("nan"), float("nan"),
                            "unstable", (f"{len(logs)} paired rounds (fewer than {MIN_ROUNDS})",
                                         *left_out))
    # Student's t interval of the mean log ratio: with 3 to 10 rounds a percentile bootstrap is
    # too narrow (it cannot reach beyond the observed rounds), and rounds are the unit of
    # replication here, as in Kalibera and Jones' top level
    # here: scipy.stats takes ~0.8 s to import, and the command line checks --base with this module
    from scipy.stats import t as t_dist
    from scipy.stats import wilcoxon

    half = float(t_dist.ppf(0.5 + confidence / 2, len(logs) - 1) * logs.std(ddof=1)
                 / np.sqrt(len(logs)))
    ratio = float(np.exp(logs.mean()))
    low, high = float(np.exp(logs.mean() - half)), float(np.exp(logs.mean() + half))
    p = float(wilcoxon(logs).pvalue) if np.any(logs != 0) else 1.0
    problems: tuple[str, ...] = ()
    if low > 1 and ratio > factor:
        verdict = "regression"
    elif high < 1 and ratio < 1 / factor:
        verdict = "improvement"
    elif 1 / factor < low and high < factor:
        verdict = "unchanged"
    else:
        verdict = "unstable"
        problems = (f"interval {low:.3f}-{high:.3f} straddles x{factor:g} or 1: too wide to "
                    "decide",)
    return PairedChange(cur.name, per_round, ratio, low, high, p, verdict, problems + left_out)


def check_options(factor: float, confidence: float) -> None:
    if not factor > 1:
        raise ValueError(f"factor={factor!r}: must be greater than 1 (e.g. 1.06 for 6 %)")
    if not 0 < confidence < 1:
        raise ValueError(f"alpha={1 - confidence!r}: must be between 0 and 1 (e.g. 0.05)")


def paired_compare(base: Run, new: Run, *, factor: float = FACTOR,
                   confidence: float = CONFIDENCE) -> PairedComparison:
    """Judge each benchmark on its per-round paired ratios (module docstring)."""
    check_options(factor, confidence)
    a, b = base.by_key(), new.by_key()
    shared = sorted(a.keys() & b.keys())
    if not shared:
        raise InputFileError(f"{base.source} and {new.source} share no benchmark to compare")
    normalised = all(a[k].references is not None and b[k].references is not None for k in shared)
    result = PairedComparison(base, new, factor, normalised, confidence)
    typical = (typical_reference(base), typical_reference(new)) if normalised else (None, None)
    for key in shared:
        result.changes.append(paired_change(a[key], b[key], factor, normalised, confidence,
                                            typical))
    return result


def with_corroborated_minima(paired: PairedComparison, unpaired) -> PairedComparison:
    """The A/B verdict: the paired interval's, and where that finds no change, ``compare``'s
    verdict on the same interleaved runs (each side's two fastest rounds must agree and differ by
    the factor). A process that settles into a slow state for its whole life widens the paired
    interval into "unstable"; the corroborated minima look past it. Both verdicts flagged nothing
    in the committed live A/A studies (fixtures/benchmarks/live-ab*.json)."""
    other = {c.name: c for c in unpaired.changes}
    changes = []
    for c in paired.changes:
        o = other.get(c.name)
        if c.verdict in ("unstable", "unchanged") and o is not None \
                and o.verdict in ("regression", "improvement"):
            c = dataclasses.replace(c, verdict=o.verdict, problems=c.problems + (
                f"{o.verdict} by the corroborated minima of the same rounds (x{o.ratio:.3f}); "
                f"the paired interval alone said {c.verdict}",))
        changes.append(c)
    return dataclasses.replace(paired, changes=changes)


# ------------------------------------------------------------------------------------- the run

def _unpaired(base: Run, new: Run, factor: float):
    """``compare`` on the same two runs, each round a timing window, and its table: it rests on
    the two fastest rounds of each side, so a process that settled into a slow state for its
    whole life weighs less than in a paired ratio (:func:`with_corroborated_minima` folds its
    verdict into the A/B verdict). ``(None, why)`` when it cannot judge them."""
    base, new = (dataclasses.replace(run, source=name)  # named as they lie in the folder
                 for run, name in ((base, "base.json"), (new, "new.json")))
    try:
        comparison = compare_runs(base, new, factor=factor)
    except BenchmarkFileError as e:  # e.g. fewer than 3 samples: the paired verdict alone
        return None, f"compare cannot judge these runs: {e}\n"
    return comparison, comparison.markdown()


def run_ab(base: Side, new: Side, out: str | Path | outputs.Claim, *, rounds: int = 4,
           sizes: str = "smoke", threads: int | None = None, select: str | None = None,
           factor: float = FACTOR, confidence: float = CONFIDENCE,
           runner: Callable[[list[str], Side], int] = _subprocess_runner) -> tuple[PairedComparison, Path]:
    """Run the rounds, merge each side's processes into one run (a window per round), compare
    them pairwise, and write base.json, new.json, ab.md, forest.png and compare.md (``compare``
    on the same runs) into the new folder ``out``. Returns the paired comparison and the
    folder."""
    order = schedule(rounds)
    check_options(factor, confidence)  # before minutes of benchmarks, not after
    claimed = out if isinstance(out, outputs.Claim) else outputs.claim(out)
    with claimed:
        parts: dict[str, list[Path]] = {"base": [], "new": []}
        for r, label in order:
            s = base if label == "base" else new
            part = claimed.work / f"{label}-round{r}.json"
            code = runner(command(s, part, sizes=sizes, threads=threads, select=select), s)
            if code != 0 or not part.is_file():
                raise BenchmarkProcessError(f"--{label} round {r} ({s.python} in {s.cwd}): the "
                                            f"benchmark process exited {code}"
                                            + ("" if part.is_file() else " and wrote no results"))
            parts[label].append(part)
        runs = {}
        for label, files in parts.items():
            # merged in round order: window "p{r}-w0" is round r on both sides
            runs[label] = load(merge(files, claimed.work / f"{label}.json"))
            for f in files:
                f.unlink()
        comparison = paired_compare(runs["base"], runs["new"], factor=factor,
                                    confidence=confidence)
        unpaired, table = _unpaired(runs["base"], runs["new"], factor)
        if unpaired is not None:
            comparison = with_corroborated_minima(comparison, unpaired)
        (claimed.work / "ab.md").write_text(comparison.markdown())
        (claimed.work / "compare.md").write_text(table)
        from parity.bench.plots import forest

        forest([(c.name, c.ratio, c.low, c.high, c.verdict) for c in comparison.changes],
               claimed.work / "forest.png", factor=factor,
               title=f"new / base, paired ABBA rounds\n(bars: {confidence:.0%} t interval over rounds)")
    return comparison, claimed.path
