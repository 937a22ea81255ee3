"""Command line: ``python -m parity {run,check,scenarios,golden,gate,sweep,table,report,compare,
merge}``; ``--help`` on each."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from parity.bench_report import write_report
from parity.bench_results import merge


def _check(args: argparse.Namespace, rest: list[str]) -> int:
    import pytest

    argv = ["-p", "parity.pytest_plugin", "--pyargs", "parity.checks",
            f"--hypothesis-profile={args.profile}", *rest]
    return int(pytest.main(argv))


def _sweep(args: argparse.Namespace, rest: list[str]) -> int:
    from parity.sweep import sweep

    if rest:
        raise SystemExit(f"sweep: unrecognised arguments {rest}")
    print("\n".join(sweep(args.examples, wide=args.wide, seed=args.seed).lines()))
    return 0


def _table(args: argparse.Namespace, rest: list[str]) -> int:
    from parity.sweep import error_table

    if rest:
        raise SystemExit(f"table: unrecognised arguments {rest}")
    print("\n".join(error_table(args.examples)))
    return 0


def _report(args: argparse.Namespace, rest: list[str]) -> int:
    if rest:
        raise SystemExit(f"report: unrecognised arguments {rest}")
    out = args.out or str(Path(args.run).with_suffix("")) + "-report"
    print(write_report(args.run, out))
    return 0


def _compare(args: argparse.Namespace, rest: list[str]) -> int:
    from parity.bench_compare import compare_runs
    from parity.bench_results import load

    if rest:
        raise SystemExit(f"compare: unrecognised arguments {rest}")
    comparison = compare_runs(load(args.base), load(args.new), factor=args.factor,
                              alpha=args.alpha)
    text = comparison.markdown()
    if args.out:
        if Path(args.out).exists():
            raise FileExistsError(f"{args.out} exists: choose a new file (nothing is overwritten)")
        Path(args.out).write_text(text)
    print(text)
    return 1 if comparison.regressions else 0


def _run(args: argparse.Namespace, rest: list[str]) -> int:
    """The main job: parity checks, the course scenarios' loss curves, smoke benchmarks and their
    report, in a new timestamped folder."""
    import subprocess

    if not Path("benchmarks", "test_recurrent_core.py").exists():
        raise FileNotFoundError("benchmarks/ not found: run the main job from the repository "
                                "root (benchmarks are not installed with the package)")
    out = Path(args.reports) / time.strftime("%Y%m%d-%H%M%S")
    if out.exists():
        raise FileExistsError(f"{out} exists: nothing is overwritten, try again in a second")
    out.mkdir(parents=True)
    checks = subprocess.run([sys.executable, "-m", "parity", "check", "-q",
                             f"--junitxml={out / 'parity-checks.xml'}", *rest])
    from parity.scenario_report import write as write_scenarios
    from parity.scenarios import TRAINING

    scenario_results, _ = write_scenarios(list(TRAINING), out / "scenarios")
    scenarios_ok = all(r.ok for r in scenario_results)
    run_json = out / "benchmarks.json"
    parts, code = [], 0
    for i in range(args.processes):  # separate processes: per-process effects become visible
        part = out / f"benchmarks-process{i}.json"
        code = code or subprocess.run(
            [sys.executable, "-m", "pytest", "benchmarks", "-q", "-p", "no:cacheprovider",
             f"--bench-sizes={args.sizes}", "--bench-windows=1", f"--benchmark-json={part}",
             "--benchmark-save-data"]).returncode
        parts.append(part)
    benchmarks = subprocess.CompletedProcess([], code)
    if code == 0:
        merge(parts, run_json)
        for part in parts:
            part.unlink()
        print(write_report(run_json, out / "report"))
    print(f"parity checks: {'passed' if checks.returncode == 0 else 'FAILED'}; scenarios: "
          f"{'passed' if scenarios_ok else 'FAILED'}; benchmarks: "
          f"{'passed' if benchmarks.returncode == 0 else 'FAILED'}; results in {out}")
    return checks.returncode or int(not scenarios_ok) or benchmarks.returncode


def _scenarios(args: argparse.Namespace, rest: list[str]) -> int:
    from parity import scenarios
    from parity.scenario_report import write

    if rest:
        raise SystemExit(f"scenarios: unrecognised arguments {rest}")
    unknown = sorted(set(args.names) - set(scenarios.TRAINING))
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; known: {list(scenarios.TRAINING)}")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else Path(args.reports) / f"scenarios-{stamp}"
    results, table = write(args.names or list(scenarios.TRAINING), out)
    print(table)
    for r in results:
        for problem in r.problems():
            print(f"\n{r.name}: {problem}")
    print(f"\nplots and details in {out}")
    return 0 if all(r.ok for r in results) else 1


def _golden(args: argparse.Namespace, rest: list[str]) -> int:
    from parity import golden

    if rest:
        raise SystemExit(f"golden: unrecognised arguments {rest}")
    if args.action == "record":
        path = golden.record(args.directory,
                             ids=golden.case_ids(with_scenarios=not args.no_scenarios))
        print(f"golden baseline recorded in {path} ({golden.versions()})")
        return 0
    report = golden.compare(golden.load(args.directory))
    print(report.markdown())
    return 1 if report.drifted else 0


def _gate(args: argparse.Namespace, rest: list[str]) -> int:
    from parity.gate import run_gate

    if rest:
        raise SystemExit(f"gate: unrecognised arguments {rest}")
    out = Path(args.out) if args.out else Path(args.reports) / f"gate-{time.strftime('%Y%m%d-%H%M%S')}"
    verdict = run_gate(out, golden=args.golden, bench_baseline=args.bench_baseline,
                       bench_run=args.bench_run, processes=args.processes, sizes=args.sizes,
                       factor=args.factor, alpha=args.alpha,
                       fail_on=tuple(args.fail_on.split(",")) if args.fail_on else (),
                       skip=tuple(args.skip.split(",")) if args.skip else ())
    print(verdict.markdown())
    print(f"gate summary: {out / 'gate.md'}, JUnit: {out / 'gate.xml'}")
    return verdict.exit_code


def _merge(args: argparse.Namespace, rest: list[str]) -> int:
    if rest:
        raise SystemExit(f"merge: unrecognised arguments {rest}")
    print(merge(args.inputs, args.output))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parity", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="run the Keras <-> torch parity checks (pytest); "
                                "further options go to pytest")
    check.add_argument("--profile", default="parity-ci",
                       choices=["parity-ci", "parity-random", "parity-dev", "parity-thorough"],
                       help="hypothesis profile (default: parity-ci, derandomised)")
    sweep = commands.add_parser("sweep", help="draw many cases, check each in both directions, and "
                                "report the largest errors and share of tolerance used")
    sweep.add_argument("--examples", type=int, default=300)
    sweep.add_argument("--wide", action="store_true", help="wide magnitudes and gains")
    sweep.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0)")
    table = commands.add_parser("table", help="largest error against the float64 oracle per cell "
                                "and situation (Markdown), over derandomised cases")
    table.add_argument("--examples", type=int, default=30, help="cases per cell and column")
    report = commands.add_parser("report", help="Markdown report and PNG plots of a benchmark "
                                 "run (pytest --benchmark-json output)")
    report.add_argument("run", help="the run's JSON file")
    report.add_argument("--out", help="new folder for the report (default: RUN-report)")
    compare = commands.add_parser("compare", help="flag significant speed changes between two "
                                  "runs; exit 1 on a regression")
    compare.add_argument("base")
    compare.add_argument("new")
    compare.add_argument("--factor", type=float, default=1.1,
                         help="smallest median ratio that counts as a change (default 1.1)")
    compare.add_argument("--alpha", type=float, default=0.01,
                         help="significance level of the Mann-Whitney U test (default 0.01)")
    compare.add_argument("--out", help="also write the Markdown to this new file")
    run = commands.add_parser("run", help="the main job: parity checks, smoke benchmarks and "
                              "their report, in a new folder under --reports")
    run.add_argument("--reports", default="reports", help="parent folder (default: reports)")
    run.add_argument("--sizes", default="smoke", choices=["smoke", "full"])
    run.add_argument("--processes", type=int, default=3,
                     help="benchmark sessions (processes) to merge into the run (default 3)")
    scen = commands.add_parser("scenarios", help="train the seed's course scenarios in both "
                               "frameworks in lock step; table, PNG loss curves; exit 1 on a "
                               "mismatch")
    scen.add_argument("names", nargs="*", help="scenarios to run (default: all)")
    scen.add_argument("--reports", default="reports", help="parent folder (default: reports)")
    scen.add_argument("--out", help="new folder for the plots (default: reports/scenarios-STAMP)")
    gold = commands.add_parser("golden", help="record each framework's outputs on the canonical "
                               "cases (record DIR), or compare today's with them (compare DIR; "
                               "exit 1 on drift)")
    gold.add_argument("action", choices=["record", "compare"])
    gold.add_argument("directory", help="baseline folder (record: must not exist yet)")
    gold.add_argument("--no-scenarios", action="store_true",
                      help="leave out the course scenarios' training losses")
    gate = commands.add_parser("gate", help="one verdict on an upgrade: parity checks, golden drift "
                               "and speed against baselines; gate.md + gate.xml; exit = sum of "
                               "causes (1 parity, 2 drift, 4 speed, 8 environment)")
    gate.add_argument("--golden", help="golden baseline folder (python -m parity golden record)")
    gate.add_argument("--bench-baseline", help="benchmark run to compare with (JSON)")
    gate.add_argument("--bench-run", help="an existing new benchmark run instead of running one")
    gate.add_argument("--processes", type=int, default=3, help="benchmark processes (default 3)")
    gate.add_argument("--sizes", default="smoke", choices=["smoke", "full"])
    gate.add_argument("--factor", type=float, default=1.1)
    gate.add_argument("--alpha", type=float, default=0.01)
    gate.add_argument("--fail-on", default="parity,drift,speed,environment",
                      help="causes that fail the gate, comma-separated (others are advisory)")
    gate.add_argument("--skip", default="", help="steps to leave out: parity,drift,speed")
    gate.add_argument("--reports", default="reports", help="parent folder (default: reports)")
    gate.add_argument("--out", help="new folder (default: reports/gate-STAMP)")
    merge_ = commands.add_parser("merge", help="merge benchmark runs made in separate processes "
                                 "into one run (each process becomes a timing window)")
    merge_.add_argument("output", help="new JSON file")
    merge_.add_argument("inputs", nargs="+")
    args, rest = parser.parse_known_args(argv)
    commands_ = {"check": _check, "sweep": _sweep, "table": _table, "report": _report,
                 "compare": _compare, "run": _run, "merge": _merge,
                 "scenarios": _scenarios, "golden": _golden, "gate": _gate}
    try:
        return commands_[args.command](args, rest)
    except (ValueError, FileExistsError, FileNotFoundError) as e:  # bad files or options: say so, exit 2
        print(f"python -m parity {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
