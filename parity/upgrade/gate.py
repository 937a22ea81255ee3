"""``python -m parity gate``: one verdict on a framework upgrade.

Runs, against baselines recorded with the previous versions,

1. the parity checks (Keras vs torch vs float64, everything in ``parity.suite``),
2. the golden drift check (each framework against its own recorded outputs, :mod:`parity.upgrade.golden`),
3. the recurrent-core benchmarks, compared with a stored run (:mod:`parity.bench.compare`), or,
   given a base environment (``bench_base``: the previous versions' python, or a working tree),
   timed against it live in interleaved ABBA rounds (:mod:`parity.bench.ab`): both sides then see
   the same machine at the same time, and no stored baseline is needed,

and writes ``gate.md`` (for people) and ``gate.xml`` (JUnit, for CI systems) into a new folder.
The exit code is the sum of the causes found among those asked to fail (``--fail-on``):
1 parity broken, 2 numeric drift, 4 speed regression, 8 environment problem (a baseline missing,
unreadable or incomplete (judging fewer cases than the canonical set), or benchmarks from another
machine: their ratios would mix hardware with software).
0 means safe to upgrade. Benchmarks too unsteady to judge (``unstable``) fail no cause: the speed
section counts and names them, with what would steady them.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from parity.core import outputs, progress
from parity.core.cli_options import SIZES
from parity.core.errors import UnsupportedConfig

CAUSES = {"parity": 1, "drift": 2, "speed": 4, "environment": 8}
STEPS = ("parity", "drift", "speed")
TITLES = {"parity": "parity broken", "drift": "numeric drift", "speed": "speed regression",
          "environment": "environment problem"}


@dataclass
class Finding:
    cause: str
    name: str
    message: str = ""        # empty: passed
    # fails the gate whatever --fail-on says: a verdict on nothing can never read SAFE
    always_blocks: bool = False


@dataclass
class Verdict:
    findings: list[Finding] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    fail_on: tuple[str, ...] = tuple(CAUSES)
    seconds: dict[str, float] = field(default_factory=dict)
    unstable: list[str] = field(default_factory=list)  # benchmarks too unsteady to judge
    notes: list[str] = field(default_factory=list)     # what the verdict does not cover
    properties: dict[str, object] = field(default_factory=dict)  # JUnit suite properties

    def failed(self, cause: str) -> list[Finding]:
        return [f for f in self.findings if f.cause == cause and f.message]

    def blocks(self, cause: str) -> bool:
        return any(cause in self.fail_on or f.always_blocks for f in self.failed(cause))

    @property
    def exit_code(self) -> int:
        return sum(bit for cause, bit in CAUSES.items() if self.blocks(cause))

    def headline(self) -> str:
        causes = [f"{TITLES[c]} ({len(self.failed(c))})" for c in CAUSES if self.failed(c)]
        blocking = [c for c in CAUSES if self.blocks(c)]
        # unstable benchmarks fail nothing, but a verdict must not read as covering them
        unjudged = f"; speed not judged for {len(self.unstable)} unstable benchmark(s)" \
            if self.unstable else ""
        unjudged += "".join(f"; {note}" for note in self.notes)
        if not blocking:
            extra = f"; advisory: {', '.join(causes)}" if causes else ""
            return f"SAFE to upgrade (exit 0){extra}{unjudged}"
        return f"NOT safe to upgrade (exit {self.exit_code}): {', '.join(causes)}{unjudged}"

    def markdown(self) -> str:
        lines = ["# Upgrade gate", "", f"**{self.headline()}**", "",
                 "| cause | checked | failed | blocks the upgrade |", "|---|---|---|---|"]
        for cause in CAUSES:
            checked = sum(f.cause == cause for f in self.findings)
            lines.append(f"| {TITLES[cause]} | {checked} | {len(self.failed(cause))} | "
                         f"{'yes' if cause in self.fail_on or self.blocks(cause) else 'no (advisory)'} |")
        timing = ", ".join(f"{k} {v:.0f} s" for k, v in self.seconds.items())
        lines += ["", f"Time: {timing}.", ""]
        for cause in CAUSES:
            for f in self.failed(cause):
                lines.append(f"- **{TITLES[cause]}**: {f.name}: {f.message}")
        return "\n".join(lines + [""] + self.sections) + "\n"

    def junit(self) -> bytes:
        suite = ET.Element("testsuite", name="parity-gate", tests=str(len(self.findings)),
                           failures=str(sum(bool(f.message) for f in self.findings)))
        if self.properties:
            properties = ET.SubElement(suite, "properties")
            for name, value in self.properties.items():
                ET.SubElement(properties, "property", name=name, value=str(value))
        for f in self.findings:
            case = ET.SubElement(suite, "testcase", classname=f"gate.{f.cause}", name=f.name)
            if f.message:
                kind = "failure" if f.cause in self.fail_on else "skipped"
                ET.SubElement(case, kind, message=f"{TITLES[f.cause]}: {f.message}"[:500])
            elif f.cause == "speed" and f.name in self.unstable:
                ET.SubElement(case, "skipped", message="unstable: too unsteady to judge")
        return ET.tostring(ET.ElementTree(suite).getroot(), encoding="utf-8", xml_declaration=True)


def _parity(out: Path, verdict: Verdict) -> None:
    junit = out / "parity-checks.xml"
    parallel = ["-n", "auto"] if importlib.util.find_spec("xdist") else []  # same results, faster
    proc = subprocess.run([sys.executable, "-m", "parity", "check", "-q", "-p", "no:cacheprovider",
                           *parallel, f"--junitxml={junit}"], capture_output=True, text=True)
    (out / "parity-checks.log").write_text(proc.stdout + proc.stderr)
    if not junit.is_file():
        verdict.findings.append(Finding("environment", "parity checks", "pytest wrote no report "
                                        f"(exit {proc.returncode}); see parity-checks.log"))
        return
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        message = "" if problem is None else (problem.get("message") or "failed").splitlines()[0]
        verdict.findings.append(Finding("parity", name, message[:300]))
    verdict.sections.append(f"## Parity checks\n\nJUnit: `{junit.name}`; log: `parity-checks.log`.")


def _drift(golden: str | None, verdict: Verdict) -> None:
    from parity.upgrade import golden as golden_mod

    if golden is None:
        verdict.findings.append(Finding("environment", "golden baseline", "none given (--golden)"))
        return
    try:
        report = golden_mod.compare(golden_mod.load(golden))
    except ValueError as e:  # GoldenFileError (DamagedBaseline), or a format this version cannot read
        verdict.findings.append(Finding("environment", "golden baseline", str(e)))
        return
    cover = report.coverage
    # a verdict on fewer cases than the canonical set is no verdict on the upgrade
    verdict.findings.append(Finding("environment", "golden baseline coverage", cover.incomplete,
                                    always_blocks=True))
    verdict.properties.update({"golden.compared": len(cover.compared),
                               "golden.recorded": len(cover.recorded),
                               "golden.canonical": len(cover.canonical),
                               "golden.extra": ",".join(cover.extra)})
    verdict.properties.update({f"env.{k}": v for k, v in cover.environment.items()})
    if cover.incomplete:
        verdict.notes.append(f"drift judged on {len(cover.compared)} of {len(cover.canonical)} "
                             "canonical cases")
    for (cell, framework), rows in report.groups().items():
        bad = [r for r in rows if r.verdict in golden_mod.FAILING]
        message = "; ".join(r.describe() for r in bad[:3])
        verdict.findings.append(Finding("drift", f"{cell} ({framework})", message))
    verdict.sections.append("## Numeric drift against the golden baseline\n\n" + report.markdown())


def _speed(bench_baseline: str | None, bench_run: str | None, out: Path, processes: int,
           sizes: str, factor: float, alpha: float, verdict: Verdict) -> None:
    from parity.bench.compare import FACTOR, compare_runs
    from parity.bench.processes import BENCHMARKS, run_processes
    from parity.bench.results import BenchmarkFileError, load, machine_differences

    if bench_baseline is None:
        verdict.findings.append(Finding("environment", "benchmark baseline", "none given "
                                        "(--bench-baseline)"))
        return
    try:
        base = load(bench_baseline)
    except BenchmarkFileError as e:
        verdict.findings.append(Finding("environment", "benchmark baseline", str(e)))
        return
    if bench_run is None:
        if not BENCHMARKS.exists():
            verdict.findings.append(Finding("environment", "benchmarks", "benchmarks/ not found: "
                                            "run the gate from the repository root"))
            return
        code = run_processes(out / "benchmarks.json", processes=processes, sizes=sizes, quiet=True)
        if code != 0:
            verdict.findings.append(Finding("environment", "benchmarks", "a benchmark process "
                                            f"failed (pytest exit {code}) or wrote no results"))
            return
        bench_run = str(out / "benchmarks.json")
    try:
        new = load(bench_run)
    except BenchmarkFileError as e:
        verdict.findings.append(Finding("environment", "benchmark run", str(e)))
        return
    differences = [d for d in machine_differences(base, new) if not d.startswith("node")]
    verdict.findings.append(Finding("environment", "benchmark machine", "; ".join(differences)))
    try:  # e.g. a run without raw samples cannot be tested for a change
        comparison = compare_runs(base, new, factor=factor or FACTOR, alpha=alpha)
    except BenchmarkFileError as e:
        verdict.findings.append(Finding("environment", "benchmark comparison", str(e)))
        return
    for change in comparison.changes:
        message = "" if change.verdict != "regression" else \
            f"{change.ratio:.2f}x slower (p={change.p_value:.2g})"
        verdict.findings.append(Finding("speed", change.name, message))
    # unstable benchmarks are neither regressions nor passes: named, not failing
    verdict.unstable += [c.name for c in comparison.unstable]
    for name in comparison.only_base:
        verdict.findings.append(Finding("speed", name, "in the baseline but not run now"))
    table = comparison.markdown().replace("# Benchmark comparison", "### Benchmark comparison", 1)
    verdict.sections.append("## Speed against the benchmark baseline\n\n"
                            + _unstable_note(comparison) + table)


def _speed_ab(bench_base: str, out: Path, rounds: int, sizes: str, factor: float | None,
              threads: int | None, verdict: Verdict, runner=None) -> None:
    """The speed step as an A/B: ``bench_base`` against this interpreter, in ABBA rounds."""
    from parity.bench import ab
    from parity.bench.compare import FACTOR
    from parity.core.errors import InputFileError

    try:
        base, new = ab.side(bench_base, "base"), ab.side(sys.executable, "new")
    except InputFileError as e:
        verdict.findings.append(Finding("environment", "benchmark sides", f"--bench-base: {e}"))
        return
    try:
        comparison, folder = ab.run_ab(base, new, out / "ab", rounds=rounds, sizes=sizes,
                                       threads=threads, factor=factor or FACTOR,
                                       **({"runner": runner} if runner else {}))
    except ab.BenchmarkProcessError as e:
        verdict.findings.append(Finding("environment", "benchmarks", str(e)))
        return
    for change in comparison.changes:
        message = "" if change.verdict != "regression" else \
            f"{change.ratio:.2f}x slower (paired interval {change.low:.2f}-{change.high:.2f})"
        verdict.findings.append(Finding("speed", change.name, message))
    verdict.unstable += [c.name for c in comparison.unstable]
    table = comparison.markdown().replace("# A/B benchmark comparison", "### A/B comparison", 1)
    verdict.sections.append(f"## Speed against the base environment, interleaved\n\n"
                            f"Base: `{base.python}` in `{base.cwd}`; new: `{new.python}`; "
                            f"{rounds} ABBA rounds; both sides' runs, ab.md, forest.png and compare.md in "
                            f"`{folder.name}/`.\n\n{_unstable_note(comparison)}{table}")


def _unstable_note(comparison) -> str:
    unstable = comparison.unstable
    if not unstable:
        return ""
    return (f"**{len(unstable)} of {len(comparison.changes)} benchmarks could not be judged "
            "(unstable): the speed verdict does not cover them.** See their stability column "
            "below.\n\n")


ERROR_LOG = "gate-error.log"


@dataclass(frozen=True, kw_only=True)
class GateOptions:
    """What the gate is asked to do, checked once when made: the ``gate`` command builds it from
    its options before any work (:mod:`parity.upgrade.cli`); an option no gate can use is an
    :class:`~parity.core.errors.UnsupportedConfig` (or ``ValueError`` for ``factor``/``alpha``).

    ``golden`` and ``bench_baseline`` are the recorded baselines (``None``: an environment
    finding); ``bench_run`` an existing new run instead of ``processes`` benchmark processes of
    ``sizes``. With ``bench_base`` (a python executable or a working tree, as ``bench ab --base``
    takes) the speed step times that base and this interpreter in ``rounds`` interleaved ABBA
    rounds (``threads`` threads per benchmark process; default every core) instead of comparing
    with ``bench_baseline``. ``fail_on``: the causes that fail the gate (others are advisory);
    ``skip``: the steps left out."""

    golden: str | None
    bench_baseline: str | None
    bench_run: str | None = None
    processes: int = 3
    sizes: str = "smoke"
    factor: float | None = None  # None: parity.bench.compare.FACTOR
    alpha: float = 0.01
    fail_on: tuple[str, ...] = tuple(CAUSES)
    skip: tuple[str, ...] = ()
    bench_base: str | None = None
    rounds: int = 4
    threads: int | None = None

    def __post_init__(self) -> None:
        from parity.bench.ab import MIN_ROUNDS
        from parity.bench.compare import FACTOR, check_options

        object.__setattr__(self, "fail_on", tuple(self.fail_on))
        object.__setattr__(self, "skip", tuple(self.skip))
        if self.bench_base is not None and (self.bench_baseline is not None
                                            or self.bench_run is not None):
            raise UnsupportedConfig("bench_base", self.bench_base, "an A/B against a base "
                                    "environment replaces the stored baseline and run: give "
                                    "--bench-base, or --bench-baseline (and --bench-run), not both")
        if self.bench_base is not None and self.rounds < MIN_ROUNDS:
            raise UnsupportedConfig("rounds", self.rounds, f"at least {MIN_ROUNDS} ABBA rounds: "
                                    "fewer cannot give any benchmark a verdict")
        for option, given, known in (("fail_on", self.fail_on, tuple(CAUSES)),
                                     ("skip", self.skip, STEPS)):
            unknown = sorted(set(given) - set(known))
            if unknown:
                raise UnsupportedConfig(option, unknown, f"unknown cause(s) or step(s): "
                                        f"expected among {list(known)}")
        if self.sizes not in SIZES:
            raise UnsupportedConfig("sizes", self.sizes, f"expected one of {list(SIZES)}")
        for option, count in (("processes", self.processes), ("rounds", self.rounds),
                              ("threads", 1 if self.threads is None else self.threads)):
            if count < 1:
                raise UnsupportedConfig(option, count, "must be at least 1")
        check_options(FACTOR if self.factor is None else self.factor, self.alpha)


def run_gate(out: str | Path | outputs.Claim, options: GateOptions, *,
             bench_runner=None) -> Verdict:
    """Run the steps not in ``options.skip`` and write ``gate.md`` and ``gate.xml`` into the new
    folder ``out`` (or the folder already claimed as ``out``), whatever the steps find: an
    unreadable baseline or run is an environment finding, and so is an error inside a step (with
    its traceback in ``gate-error.log``, as a bug to report). ``bench_runner`` stands in for the
    benchmark processes of an A/B (``parity.bench.ab.run_ab``'s ``runner``)."""
    o = options
    # claimed before minutes of work: a name that is taken fails now, not after them
    claimed = out if isinstance(out, outputs.Claim) else outputs.claim(out)
    work = claimed.work
    verdict = Verdict(fail_on=o.fail_on)
    steps = (("parity", lambda: _parity(work, verdict)),
             ("drift", lambda: _drift(o.golden, verdict)),
             ("speed", lambda: _speed_ab(o.bench_base, work, o.rounds, o.sizes, o.factor,
                                         o.threads, verdict, bench_runner)
              if o.bench_base is not None else
              _speed(o.bench_baseline, o.bench_run, work, o.processes, o.sizes, o.factor,
                     o.alpha, verdict)))
    bar = progress.bar(total=len(steps) - len(o.skip), desc="gate", unit="step")
    try:
        for name, step in steps:
            bar.set_postfix_str(name)
            if name in o.skip:
                verdict.sections.append(f"## {name}\n\nskipped (--skip {name})")
                continue
            start = time.perf_counter()
            try:
                step()
            except Exception as e:  # the verdict must still be written
                with open(work / ERROR_LOG, "a") as log:
                    log.write(f"step {name}:\n{traceback.format_exc()}\n")
                verdict.findings.append(Finding(
                    "environment", f"{name} step", f"internal error in rnn-parity "
                    f"({type(e).__name__}: {e}); this is a bug: please report it with "
                    f"{ERROR_LOG}"))
            verdict.seconds[name] = time.perf_counter() - start
            bar.update()
        bar.close()
        (work / "gate.md").write_text(verdict.markdown())
        (work / "gate.xml").write_bytes(verdict.junit())
    except BaseException:  # interrupted: leave nothing half-written behind
        claimed.abandon()
        raise
    claimed.commit()
    return verdict
