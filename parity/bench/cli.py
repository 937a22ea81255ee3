"""The ``bench`` commands: ``python -m parity bench run|report|compare|merge|ab``, and the older
spellings ``report``, ``compare`` and ``merge`` (hidden from the help; removed in 0.2). Each
command's "before" check runs without a framework; comparing stored runs imports none at all."""

from __future__ import annotations

import argparse
from pathlib import Path

from parity.bench.compare import FACTOR
from parity.core.cli_options import (
    FINDING,
    PASS,
    add_bench_threads,
    add_outputs,
    add_processes,
    add_select,
    add_sizes,
    claim,
    older_spelling,
    positive_int,
    pytest_code,
)

RUN_FILE = "a benchmark run (the JSON file of pytest --benchmark-json or python -m parity bench run)"
COMPARE_HELP = ("flag speed changes between two runs; exit 0 when no benchmark regressed "
                "(benchmarks too unsteady to judge are listed as 'unstable', with advice), 1 on a "
                "regression (or on an unstable benchmark with --fail-on-unstable), 2 on a bad file")
REPORT_HELP = "Markdown report and PNG plots of a benchmark run (pytest --benchmark-json output)"
MERGE_HELP = ("merge benchmark runs made in separate processes into one run (each process "
              "becomes a timing window)")


def add_factor(command: argparse.ArgumentParser, help: str | None = None) -> None:
    command.add_argument("--factor", type=float, default=FACTOR, help=help)


def _add_fail_on_unstable(command: argparse.ArgumentParser) -> None:
    command.add_argument("--fail-on-unstable", action="store_true",
                         help="exit 1 when a benchmark is too unsteady to judge")


def _verdict(comparison, args: argparse.Namespace) -> int:
    if comparison.regressions or (args.fail_on_unstable and comparison.unstable):
        return FINDING
    return PASS


# ---------------------------------------------------------------------------------- bench run

def _before_run(args: argparse.Namespace) -> None:
    from parity.bench.processes import check_benchmarks_here
    from parity.core import paths

    check_benchmarks_here()
    paths.output_folder(args.out, args.reports)


def _run(args: argparse.Namespace) -> int:
    from parity.bench.processes import run_processes
    from parity.bench.report import write_report

    with claim(args, "bench-") as claimed:
        code = run_processes(claimed.work / "benchmarks.json", processes=args.processes,
                             sizes=args.sizes, threads=args.bench_threads, select=args.k)
        if code == 0:
            write_report(claimed.work / "benchmarks.json", claimed.work / "report")
    print(f"benchmarks: {'passed' if code == 0 else 'FAILED'}; run and report in {claimed.path}")
    return pytest_code(code)


def _add_run(modes) -> None:
    run = modes.add_parser("run", help="the benchmarks in several processes, merged into one run "
                           "(benchmarks.json) with its report, in a new folder")
    add_sizes(run)
    add_processes(run, "processes (timing windows) to merge (default 3)")
    add_select(run)
    add_bench_threads(run)
    add_outputs(run, "bench-", "the run and its report")
    run.set_defaults(handler=_run, before=_before_run)


# ------------------------------------------------------------------------------- bench report

def _report_folder(args: argparse.Namespace) -> str:
    return args.out or str(Path(args.run).with_suffix("")) + "-report"


def _before_report(args: argparse.Namespace) -> None:
    from parity.core import paths

    paths.existing_file(args.run, RUN_FILE)
    paths.new_folder(_report_folder(args))


def _report(args: argparse.Namespace) -> int:
    from parity.bench.report import write_report

    print(write_report(args.run, _report_folder(args)))
    return PASS


def _report_arguments(report: argparse.ArgumentParser) -> None:
    report.add_argument("run", help="the run's JSON file")
    report.add_argument("--out", help="new folder for the report (default: RUN-report)")
    report.set_defaults(handler=_report, before=_before_report)


# ------------------------------------------------------------------------------ bench compare

def _before_compare(args: argparse.Namespace) -> None:
    from parity.bench.compare import check_options
    from parity.core import paths

    check_options(args.factor, args.alpha)
    for run in (args.base, args.new):
        paths.existing_file(run, RUN_FILE)
    for option, target in (("--out", args.out), ("--plot", args.plot)):
        if target:
            paths.new_file(target, option)


def _compare(args: argparse.Namespace) -> int:
    from parity.bench.compare import compare_runs, detection_table, slowed
    from parity.bench.results import load
    from parity.core import outputs

    if args.out:
        outputs.check_new_file(args.out)
    base, new = load(args.base), load(args.new)
    if args.detection_rates:
        text = detection_table(base, new, factor=args.factor)
        if args.out:
            outputs.write_new_file(args.out, text)
        print(text)
        return PASS
    if args.simulate_slowdown is not None:
        new = slowed(new, args.simulate_slowdown)
    if args.plot:
        outputs.check_new_file(args.plot)
    comparison = compare_runs(base, new, factor=args.factor, alpha=args.alpha)
    text = comparison.markdown()
    if args.out:
        outputs.write_new_file(args.out, text)
    if args.plot:
        _forest_file(comparison, args.plot)
    print(text)
    return _verdict(comparison, args)


def _forest_file(comparison, target: str) -> None:
    import tempfile

    from parity.bench.plots import forest
    from parity.core import outputs

    with tempfile.TemporaryDirectory() as tmp:  # drawn aside, then placed without overwriting
        png = Path(tmp) / "forest.png"
        forest([(c.name, c.ratio, *c.interval, c.verdict) for c in comparison.changes], png,
               factor=comparison.factor,
               title="new / base, corroborated minima\n(bars: range over the two fastest windows)")
        outputs.write_new_file(target, png.read_bytes())


def _compare_arguments(compare: argparse.ArgumentParser) -> None:
    compare.add_argument("base")
    compare.add_argument("new")
    add_factor(compare, f"smallest ratio of the corroborated minima that counts as a change "
               f"(default {FACTOR})")
    compare.add_argument("--alpha", type=float, default=0.01,
                         help="Mann-Whitney p-values below it are starred in the table; "
                         "information only, no verdict rests on them (default 0.01)")
    _add_fail_on_unstable(compare)
    what_if = compare.add_mutually_exclusive_group()
    what_if.add_argument("--simulate-slowdown", type=float, metavar="F",
                         help="multiply NEW's benchmark samples (not its reference workload) by F "
                         "before comparing: what compare would say had the code got F x slower")
    what_if.add_argument("--detection-rates", action="store_true",
                         help="print how many benchmarks are flagged when NEW is slowed by 1 (the "
                         "A/A pair), 1.05, 1.10 and 1.25 (Markdown table)")
    compare.add_argument("--out", help="also write the Markdown to this new file")
    compare.add_argument("--plot", help="also draw a forest plot of the ratios into this new PNG")
    compare.set_defaults(handler=_compare, before=_before_compare)


# -------------------------------------------------------------------------------- bench merge

def _before_merge(args: argparse.Namespace) -> None:
    from parity.core import paths

    for run in args.inputs:
        paths.existing_file(run, RUN_FILE)
    paths.new_file(args.output, "")


def _merge(args: argparse.Namespace) -> int:
    from parity.bench.results import merge

    print(merge(args.inputs, args.output))
    return PASS


def _merge_arguments(merge_: argparse.ArgumentParser) -> None:
    merge_.add_argument("output", help="new JSON file")
    merge_.add_argument("inputs", nargs="+")
    merge_.set_defaults(handler=_merge, before=_before_merge)


# ----------------------------------------------------------------------------------- bench ab

def _before_ab(args: argparse.Namespace) -> None:
    from parity.bench.ab import check_options, parse_env, side
    from parity.core import paths

    check_options(args.factor, 1 - args.alpha)
    for label in ("base", "new"):
        side(getattr(args, label), label, parse_env(getattr(args, f"{label}_env"), label))
    paths.output_folder(args.out, args.reports)


def _ab(args: argparse.Namespace) -> int:
    from parity.bench.ab import check_options, parse_env, run_ab, side

    base = side(args.base, "base", parse_env(args.base_env, "base"))
    new = side(args.new, "new", parse_env(args.new_env, "new"))
    check_options(args.factor, 1 - args.alpha)  # refused before a folder is claimed
    comparison, folder = run_ab(base, new, claim(args, "ab-"), rounds=args.rounds,
                                sizes=args.sizes, threads=args.bench_threads, select=args.k,
                                factor=args.factor, confidence=1 - args.alpha)
    print(comparison.markdown())
    print(f"runs, ab.md, compare.md and forest.png in {folder}")
    return _verdict(comparison, args)


def _add_ab(modes) -> None:
    ab = modes.add_parser("ab", help="base and new timed alternately (ABBA rounds) and compared "
                          "round by round")
    ab.add_argument("--base", required=True, help="python executable or rnn-parity working "
                    "tree of the base side")
    ab.add_argument("--new", required=True, help="the same for the new side")
    for label in ("base", "new"):
        ab.add_argument(f"--{label}-env", action="append", metavar="NAME=VALUE",
                        help=f"set for the {label} side's processes only (repeatable), e.g. "
                        "PARITY_BENCH_SLOWDOWN=1.1")
    ab.add_argument("--rounds", type=positive_int, default=4,
                    help="rounds, each one process per side in ABBA order (default 4; at "
                    "least 3 for a verdict)")
    add_sizes(ab)
    add_select(ab)
    add_bench_threads(ab)
    add_factor(ab, f"smallest ratio that counts as a change (default {FACTOR})")
    ab.add_argument("--alpha", type=float, default=0.05,
                    help="1 - the confidence of the interval over rounds (default 0.05)")
    _add_fail_on_unstable(ab)
    add_outputs(ab, "ab-", "the runs, ab.md, compare.md and forest.png")
    ab.set_defaults(handler=_ab, before=_before_ab)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``bench`` and its modes on the CLI's subparsers."""
    bench = subparsers.add_parser("bench", help="benchmarks: run, report, compare, merge, ab")
    modes = bench.add_subparsers(dest="mode", required=True, metavar="{run,report,compare,merge,ab}")
    _add_run(modes)
    _report_arguments(modes.add_parser("report", help=REPORT_HELP))
    _compare_arguments(modes.add_parser("compare", help=COMPARE_HELP))
    _merge_arguments(modes.add_parser("merge", help=MERGE_HELP))
    _add_ab(modes)
    return bench


def add_older_spellings(subparsers) -> None:
    """``report``, ``compare``, ``merge``: accepted, not listed in the help."""
    _report_arguments(older_spelling(subparsers, "report", "bench report"))
    _compare_arguments(older_spelling(subparsers, "compare", "bench compare"))
    _merge_arguments(older_spelling(subparsers, "merge", "bench merge"))
