"""Command line, one argparse parser: ``python -m parity COMMAND``; ``--help`` on each.

    run                         the main job: parity checks, course scenarios, smoke benchmarks, report
    check                       the shipped parity checks (pytest; further options go to pytest)
    scenarios [NAME|FILE ...]   the course scenarios, trained in lock step in both frameworks
    port MODEL --out DIR        convert a saved model to the other framework and check the port
    sweep                       drawn cases against the tolerance: calibration, sensitivity, tables
    bench run|report|compare|merge|ab
                                benchmark runs, their reports, and comparisons of two runs
    golden record|compare DIR   each framework's outputs on the canonical cases, and their drift
    gate                        one verdict on a framework upgrade
    backends                    the canonical cases under each installed Keras backend, compared
    support FILE ...            the support table from the checks' recorded outcomes

``report``, ``compare``, ``merge`` and ``table`` are the older spellings of ``bench report``,
``bench compare``, ``bench merge`` and ``sweep --table``, and keep working. Each command imports
only what it needs: comparing stored benchmark runs loads neither torch nor TensorFlow.

Exit codes, the same for every command (docs/guides/commands.md): 0 pass; 1 the command's own finding
(parity broken, a regression, drift); 2 bad input or usage, with the file or option and the reason;
3 an internal error, a bug in rnn-parity (the traceback is printed). ``gate`` exits with the sum of
its causes instead (1 parity, 2 drift, 4 speed, 8 environment); anything that keeps it from a
verdict (bad options, an output folder it cannot claim, an error outside its steps) is 8.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

PASS, FINDING, USAGE, INTERNAL = 0, 1, 2, 3
GATE_ENVIRONMENT = 8
# pytest's exit codes: 1 tests failed, 4 usage error, 5 no tests collected; 2 (interrupted,
# collection errors) and 3 (pytest's internal error) mean the shipped checks could not run
_PYTEST = {0: PASS, 1: FINDING, 4: USAGE, 5: USAGE}


def _pytest_code(code: int) -> int:
    return _PYTEST.get(int(code), INTERNAL)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: must be at least 1")
    return value


def _checks_argv(profile: str) -> list[str]:
    """``check``'s own pytest arguments, less ``-p parity.pytest_plugin``."""
    return ["--pyargs", "parity.suite", "parity.checks", f"--hypothesis-profile={profile}"]


def _check(args: argparse.Namespace) -> int:
    import pytest

    from parity.core.frameworks import freeze_imported

    freeze_imported()  # this process's entry point: see its docstring
    argv = ["-p", "parity.pytest_plugin", *_checks_argv(args.profile), *args.pytest_options]
    return _pytest_code(pytest.main(argv))


def _sweep(args: argparse.Namespace) -> int:
    if not args.summarise:  # computes: one thread per framework and BLAS, as the checks run
        from parity.core.frameworks import pin_threads

        pin_threads(1, 1)  # why: its docstring (spinning BLAS threads on a busy machine)
    if args.sensitivity:
        from parity.calibration.calibrate import sensitivity_table

        print("\n".join(sensitivity_table(device=args.device)))
        return PASS
    if args.calibrate or args.summarise:
        return _calibrate(args)
    if args.table:
        args.examples = args.examples or 30
        return _table(args)
    from parity.calibration.sweep import sweep

    print("\n".join(sweep(args.examples or 300, wide=args.wide, seed=args.seed).lines()))
    return PASS


def _calibrate(args: argparse.Namespace) -> int:
    from parity.calibration import calibrate as calibration

    with _claim(args, "calibration-") as claimed:
        if args.summarise:  # the files were checked before the imports (_before_sweep)
            files = [Path(d) / "cases.jsonl" for d in args.summarise]
            summary = calibration.summarise(files)
            (claimed.work / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
            (claimed.work / "summary.md").write_text(calibration.markdown(summary))
            calibration.plot(files, claimed.work / "ratios.png")
        else:
            from parity.core.frameworks import keras

            # Keras on another backend is not the implementation users deploy from TensorFlow,
            # and computes float64 layers partly in float32 (docs: backends): left out there
            summary = calibration.run(args.cases, claimed.work, seed=args.seed,
                                      cuda=args.device == "cuda",
                                      keras_available=keras.backend.backend() == "tensorflow")
    print(calibration.markdown(summary))
    print(f"written to {claimed.path}")
    return FINDING if summary["all"]["max"] > 1 else PASS


def _table(args: argparse.Namespace) -> int:
    from parity.calibration.sweep import error_table

    print("\n".join(error_table(args.examples)))
    return PASS


def _report(args: argparse.Namespace) -> int:
    from parity.bench.report import write_report

    print(write_report(args.run, _report_folder(args)))
    return PASS


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
    if comparison.regressions or (args.fail_on_unstable and comparison.unstable):
        return FINDING
    return PASS


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


def _bench_ab(args: argparse.Namespace) -> int:
    from parity.bench.ab import check_options, parse_env, run_ab, side

    base = side(args.base, "base", parse_env(args.base_env, "base"))
    new = side(args.new, "new", parse_env(args.new_env, "new"))
    check_options(args.factor, 1 - args.alpha)  # refused before a folder is claimed
    comparison, folder = run_ab(base, new, _claim(args, "ab-"), rounds=args.rounds,
                                sizes=args.sizes, threads=args.bench_threads, select=args.k,
                                factor=args.factor, confidence=1 - args.alpha)
    print(comparison.markdown())
    print(f"runs, ab.md, compare.md and forest.png in {folder}")
    if comparison.regressions or (args.fail_on_unstable and comparison.unstable):
        return FINDING
    return PASS


def _bench_run(args: argparse.Namespace) -> int:
    from parity.bench.processes import run_processes
    from parity.bench.report import write_report

    with _claim(args, "bench-") as claimed:
        code = run_processes(claimed.work / "benchmarks.json", processes=args.processes,
                             sizes=args.sizes, threads=args.bench_threads, select=args.k)
        if code == 0:
            write_report(claimed.work / "benchmarks.json", claimed.work / "report")
    print(f"benchmarks: {'passed' if code == 0 else 'FAILED'}; run and report in {claimed.path}")
    return _pytest_code(code)


def _run(args: argparse.Namespace) -> int:
    """The main job: parity checks, the course scenarios' loss curves, smoke benchmarks and their
    report, in a new timestamped folder."""
    import subprocess

    from parity.bench.processes import run_processes
    from parity.bench.report import write_report
    from parity.core import outputs
    from parity.scenarios.course import TRAINING
    from parity.scenarios.report import write as write_scenarios

    with outputs.claim_stamped(args.reports) as claimed:
        out = claimed.work
        checks = subprocess.run([sys.executable, "-m", "parity", "check", "-q",
                                 f"--junitxml={out / 'parity-checks.xml'}", *args.pytest_options])
        scenario_results, _ = write_scenarios(list(TRAINING), out / "scenarios")
        scenarios_ok = all(r.ok for r in scenario_results)
        code = run_processes(out / "benchmarks.json", processes=args.processes, sizes=args.sizes)
        if code == 0:
            write_report(out / "benchmarks.json", out / "report")
            print(claimed.path / "report" / "report.md")  # where it will be once moved in place
    print(f"parity checks: {'passed' if checks.returncode == 0 else 'FAILED'}; scenarios: "
          f"{'passed' if scenarios_ok else 'FAILED'}; benchmarks: "
          f"{'passed' if code == 0 else 'FAILED'}; results in {claimed.path}")
    codes = [_pytest_code(checks.returncode), PASS if scenarios_ok else FINDING, _pytest_code(code)]
    return max(codes)  # an internal error outranks a finding


def _scenarios(args: argparse.Namespace) -> int:
    from parity.scenarios import course as scenarios
    from parity.scenarios.report import write

    scenarios.labels(args.names)  # names that would lead outside --out: refused before the claim
    with _claim(args, "scenarios-") as claimed:
        results, table = write(args.names or list(scenarios.TRAINING), claimed.work)
    print(table)
    for r in results:
        for problem in r.problems():
            print(f"\n{r.name}: {problem}")
    print(f"\nplots and details in {claimed.path}")
    return PASS if all(r.ok for r in results) else FINDING


def _golden(args: argparse.Namespace) -> int:
    from parity.upgrade import golden

    if args.action == "record":
        path = golden.record(args.directory,
                             ids=golden.case_ids(with_scenarios=not args.no_scenarios))
        print(f"golden baseline recorded in {path} ({golden.versions()})")
        return PASS
    baseline = golden.load(args.directory)
    cover = golden.coverage(baseline)  # refused before minutes of computing
    if cover.incomplete:
        raise golden.IncompleteBaseline(f"{baseline.path}: {cover.incomplete}. {cover.line()} "
                                        f"{cover.environment_line()}")
    report = golden.compare(baseline)
    print(report.markdown())
    return FINDING if report.drifted else PASS


def _gate(args: argparse.Namespace) -> int:
    from parity.upgrade.gate import run_gate

    # claimed before any work; a stamped name is unique even for gates started in one second
    out = _claim(args, "gate-")
    verdict = run_gate(out, golden=args.golden, bench_baseline=args.bench_baseline,
                       bench_run=args.bench_run, processes=args.processes, sizes=args.sizes,
                       factor=args.factor, alpha=args.alpha,
                       fail_on=tuple(args.fail_on.split(",")) if args.fail_on else (),
                       skip=tuple(args.skip.split(",")) if args.skip else (),
                       bench_base=args.bench_base, rounds=args.bench_rounds,
                       threads=args.bench_threads)
    print(verdict.markdown())
    print(f"gate summary: {out.path / 'gate.md'}, JUnit: {out.path / 'gate.xml'}")
    return verdict.exit_code


def _backends(args: argparse.Namespace) -> int:
    from parity.matrix.run import parse_backends, run_matrix

    backends = parse_backends(args.backends)  # refused before a folder is claimed
    with _claim(args, "backends-") as claimed:
        matrix = run_matrix(backends, claimed.work)
        (claimed.work / "matrix.md").write_text(matrix.markdown())
        (claimed.work / "matrix.json").write_text(matrix.to_json())
    print(matrix.markdown())
    print(f"matrix.md, matrix.json and each backend's raw results in {claimed.path}")
    return PASS if matrix.ok else FINDING


def _support(args: argparse.Namespace) -> int:
    from parity.core import outputs
    from parity.matrix.support import load, markdown

    if args.out:
        outputs.check_new_file(args.out)
    text = markdown(load(args.results))
    if args.out:
        outputs.write_new_file(args.out, text)
    print(text)
    return PASS


def _merge(args: argparse.Namespace) -> int:
    from parity.bench.results import merge

    print(merge(args.inputs, args.output))
    return PASS


# Checks before any work, run by main() before the handler: option values, then the input paths,
# then the output place, all without importing a framework, so a refusal takes well under 1 s.

def _before_check(args: argparse.Namespace) -> None:
    from parity.pytest_options import check_arguments

    check_arguments(_checks_argv(args.profile), args.pytest_options)


def _before_run(args: argparse.Namespace) -> None:
    from parity.bench.processes import check_benchmarks_here
    from parity.core import outputs
    from parity.pytest_options import check_arguments

    check_arguments([*_checks_argv("parity-ci"), "-q"], args.pytest_options)  # as _run's check
    check_benchmarks_here()
    outputs.check_writable(Path(args.reports) / "x")


def _before_scenarios(args: argparse.Namespace) -> None:
    from parity.core import paths
    from parity.scenarios.names import TRAINING, is_file_name

    unknown = sorted(n for n in set(args.names) - set(TRAINING) if not is_file_name(n))
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; known: {list(TRAINING)}, or a "
                         "scenario file NAME.json")
    for name in args.names:
        if is_file_name(name):
            paths.existing_file(name, "a scenario file (JSON)")
    paths.output_folder(args.out, args.reports)


def _before_sweep(args: argparse.Namespace) -> None:
    from parity.core import paths

    for folder in args.summarise or ():
        paths.existing_file(Path(folder) / "cases.jsonl", "folders written by python -m parity "
                            "sweep --calibrate", "--summarise")
    if args.calibrate or args.summarise:
        paths.output_folder(args.out, args.reports)


def _before_bench_run(args: argparse.Namespace) -> None:
    from parity.bench.processes import check_benchmarks_here
    from parity.core import paths

    check_benchmarks_here()
    paths.output_folder(args.out, args.reports)


RUN_FILE = "a benchmark run (the JSON file of pytest --benchmark-json or python -m parity bench run)"


def _report_folder(args: argparse.Namespace) -> str:
    return args.out or str(Path(args.run).with_suffix("")) + "-report"


def _before_report(args: argparse.Namespace) -> None:
    from parity.core import paths

    paths.existing_file(args.run, RUN_FILE)
    paths.new_folder(_report_folder(args))


def _before_compare(args: argparse.Namespace) -> None:
    from parity.bench.compare import check_options
    from parity.core import paths

    check_options(args.factor, args.alpha)
    for run in (args.base, args.new):
        paths.existing_file(run, RUN_FILE)
    for option, target in (("--out", args.out), ("--plot", args.plot)):
        if target:
            paths.new_file(target, option)


def _before_merge(args: argparse.Namespace) -> None:
    from parity.core import paths

    for run in args.inputs:
        paths.existing_file(run, RUN_FILE)
    paths.new_file(args.output, "")


def _before_ab(args: argparse.Namespace) -> None:
    from parity.bench.ab import check_options, parse_env, side
    from parity.core import paths

    check_options(args.factor, 1 - args.alpha)
    for label in ("base", "new"):
        side(getattr(args, label), label, parse_env(getattr(args, f"{label}_env"), label))
    paths.output_folder(args.out, args.reports)


def _before_golden(args: argparse.Namespace) -> None:
    from parity.core import paths

    if args.action == "record":
        from parity.upgrade.folders import check_new_baseline

        check_new_baseline(args.directory)
    else:
        paths.existing_folder(args.directory, "a baseline folder written by python -m parity "
                              "golden record")


def _before_gate(args: argparse.Namespace) -> None:
    from parity.core import paths
    from parity.core.errors import UnsupportedConfig
    from parity.upgrade.gate import CAUSES, STEPS

    for option, given, known in (("--fail-on", args.fail_on, CAUSES), ("--skip", args.skip, STEPS)):
        unknown = sorted(set(given.split(",") if given else ()) - set(known))
        if unknown:
            raise UnsupportedConfig(option, unknown, f"unknown cause(s) or step(s): expected "
                                    f"among {list(known)}")
    # a missing input now; one that exists but cannot be read is a finding in gate.md
    for option, given, what in (
            ("--golden", args.golden, "a baseline folder written by python -m parity golden record"),
            ("--bench-baseline", args.bench_baseline, RUN_FILE), ("--bench-run", args.bench_run,
                                                                 RUN_FILE)):
        if given:
            paths.existing(given, what, option)
    if args.bench_base:
        from parity.bench.ab import side

        side(args.bench_base, "bench-base")
    paths.output_folder(args.out, args.reports)


def _before_backends(args: argparse.Namespace) -> None:
    from parity.core import paths
    from parity.matrix.run import parse_backends

    parse_backends(args.backends)
    paths.output_folder(args.out, args.reports)


def _before_support(args: argparse.Namespace) -> None:
    from parity.core import paths

    for results in args.results:
        paths.existing_file(results, "a results file written by pytest --parity-results")
    if args.out:
        paths.new_file(args.out)


def _claim(args: argparse.Namespace, prefix: str):
    """The new output folder: ``--out`` if given, else a stamped one under ``--reports``; never
    an existing one (:mod:`parity.core.outputs`)."""
    from parity.core import outputs

    return outputs.claim(args.out) if args.out else outputs.claim_stamped(args.reports, prefix)


def _outputs(command: argparse.ArgumentParser, prefix: str, what: str) -> None:
    command.add_argument("--reports", default="reports",
                         help="parent folder of the stamped output folder (default: reports)")
    command.add_argument("--out", help=f"new folder for {what} (default: reports/{prefix}STAMP)")


def _add_check(commands) -> None:
    check = commands.add_parser("check", help="run the Keras <-> torch parity checks (pytest); "
                                "further options go to pytest")
    check.add_argument("--profile", default="parity-ci",
                       choices=["parity-ci", "parity-random", "parity-dev", "parity-thorough"],
                       help="hypothesis profile (default: parity-ci, derandomised)")
    check.set_defaults(handler=_check, before=_before_check, passes_options_to_pytest=True)


def _add_run(commands) -> None:
    run = commands.add_parser("run", help="the main job: parity checks, course scenarios, smoke "
                              "benchmarks and their report, in a new folder under --reports; "
                              "further options go to the parity checks' pytest")
    run.add_argument("--reports", default="reports", help="parent folder (default: reports)")
    run.add_argument("--sizes", default="smoke", choices=["smoke", "full"])
    run.add_argument("--processes", type=_positive_int, default=3,
                     help="benchmark sessions (processes) to merge into the run (default 3)")
    run.set_defaults(handler=_run, before=_before_run, passes_options_to_pytest=True)


def _add_scenarios(commands) -> None:
    scen = commands.add_parser("scenarios", help="train the seed's course scenarios in both "
                               "frameworks in lock step; table, PNG loss curves; exit 1 on a "
                               "mismatch")
    scen.add_argument("names", nargs="*", help="scenarios to run (default: all)")
    _outputs(scen, "scenarios-", "the plots")
    scen.set_defaults(handler=_scenarios, before=_before_scenarios)


def _add_sweep(commands) -> None:
    sweep = commands.add_parser("sweep", help="draw many cases, check each in both directions, and "
                                "report the largest errors and share of tolerance used (one "
                                "thread per framework and BLAS, as the checks run)")
    sweep.add_argument("--examples", type=_positive_int, default=None,
                       help="cases drawn (default 300; with --table, per cell and column, 30)")
    sweep.add_argument("--wide", action="store_true", help="wide magnitudes and gains")
    sweep.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    mode = sweep.add_mutually_exclusive_group()
    mode.add_argument("--calibrate", action="store_true",
                      help="the calibration sweep: correct implementations (Keras, torch, a numpy "
                      "step loop, torch CUDA with --device cuda) against the tolerance policy, "
                      "over --cases drawn cases; writes cases.jsonl, summary.md/json and "
                      "ratios.png into a new folder; exit 1 if any comparison exceeds it")
    mode.add_argument("--summarise", nargs="+", metavar="DIR",
                      help="summarise calibration folders together (one summary and plot)")
    mode.add_argument("--sensitivity", action="store_true",
                      help="deliberately corrupted computations at 2 to 1024 units (Markdown "
                      "table of the share of tolerance each uses: every one must exceed 1)")
    mode.add_argument("--table", action="store_true",
                      help="largest error against the float64 oracle per cell and situation "
                      "(Markdown), over derandomised cases")
    sweep.add_argument("--cases", type=_positive_int, default=10000,
                       help="cases of the calibration sweep (default 10000)")
    sweep.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    _outputs(sweep, "calibration-", "the calibration results")
    sweep.set_defaults(handler=_sweep, before=_before_sweep)


def _add_table_alias(commands) -> None:
    table = commands.add_parser("table", help="older spelling of 'sweep --table'")
    table.add_argument("--examples", type=_positive_int, default=30,
                       help="cases per cell and column")
    table.set_defaults(handler=_table)


def _report_arguments(report: argparse.ArgumentParser) -> None:
    report.add_argument("run", help="the run's JSON file")
    report.add_argument("--out", help="new folder for the report (default: RUN-report)")
    report.set_defaults(handler=_report, before=_before_report)


def _compare_arguments(compare: argparse.ArgumentParser) -> None:
    from parity.bench.compare import FACTOR

    compare.add_argument("base")
    compare.add_argument("new")
    compare.add_argument("--factor", type=float, default=FACTOR,
                         help=f"smallest ratio of the corroborated minima that counts as a change "
                         f"(default {FACTOR})")
    compare.add_argument("--alpha", type=float, default=0.01,
                         help="Mann-Whitney p-values below it are starred in the table; "
                         "information only, no verdict rests on them (default 0.01)")
    compare.add_argument("--fail-on-unstable", action="store_true",
                         help="exit 1 when a benchmark is too unsteady to judge")
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


def _merge_arguments(merge_: argparse.ArgumentParser) -> None:
    merge_.add_argument("output", help="new JSON file")
    merge_.add_argument("inputs", nargs="+")
    merge_.set_defaults(handler=_merge, before=_before_merge)


COMPARE_HELP = ("flag speed changes between two runs; exit 0 when no benchmark regressed "
                "(benchmarks too unsteady to judge are listed as 'unstable', with advice), 1 on a "
                "regression (or on an unstable benchmark with --fail-on-unstable), 2 on a bad file")
REPORT_HELP = "Markdown report and PNG plots of a benchmark run (pytest --benchmark-json output)"
MERGE_HELP = ("merge benchmark runs made in separate processes into one run (each process "
              "becomes a timing window)")


def _add_bench(commands) -> None:
    from parity.bench.compare import FACTOR

    bench = commands.add_parser("bench", help="benchmarks: run, report, compare, merge, ab")
    modes = bench.add_subparsers(dest="mode", required=True, metavar="{run,report,compare,merge,ab}")
    run = modes.add_parser("run", help="the benchmarks in several processes, merged into one run "
                           "(benchmarks.json) with its report, in a new folder")
    run.add_argument("--sizes", default="smoke", choices=["smoke", "full"])
    run.add_argument("--processes", type=_positive_int, default=3,
                     help="processes (timing windows) to merge (default 3)")
    run.add_argument("-k", help="only benchmarks matching this pytest -k expression")
    run.add_argument("--bench-threads", type=_positive_int,
                     help="threads for both frameworks (default: every core)")
    _outputs(run, "bench-", "the run and its report")
    run.set_defaults(handler=_bench_run, before=_before_bench_run)
    _report_arguments(modes.add_parser("report", help=REPORT_HELP))
    _compare_arguments(modes.add_parser("compare", help=COMPARE_HELP))
    _merge_arguments(modes.add_parser("merge", help=MERGE_HELP))
    ab = modes.add_parser("ab", help="base and new timed alternately (ABBA rounds) and compared "
                          "round by round")
    ab.add_argument("--base", required=True, help="python executable or rnn-parity working "
                    "tree of the base side")
    ab.add_argument("--new", required=True, help="the same for the new side")
    for label in ("base", "new"):
        ab.add_argument(f"--{label}-env", action="append", metavar="NAME=VALUE",
                        help=f"set for the {label} side's processes only (repeatable), e.g. "
                        "PARITY_BENCH_SLOWDOWN=1.1")
    ab.add_argument("--rounds", type=_positive_int, default=4,
                    help="rounds, each one process per side in ABBA order (default 4; at "
                    "least 3 for a verdict)")
    ab.add_argument("--sizes", default="smoke", choices=["smoke", "full"])
    ab.add_argument("-k", help="only benchmarks matching this pytest -k expression")
    ab.add_argument("--bench-threads", type=_positive_int,
                    help="threads for both frameworks (default: every core)")
    ab.add_argument("--factor", type=float, default=FACTOR,
                    help=f"smallest ratio that counts as a change (default {FACTOR})")
    ab.add_argument("--alpha", type=float, default=0.05,
                    help="1 - the confidence of the interval over rounds (default 0.05)")
    ab.add_argument("--fail-on-unstable", action="store_true",
                    help="exit 1 when a benchmark is too unsteady to judge")
    _outputs(ab, "ab-", "the runs, ab.md, compare.md and forest.png")
    ab.set_defaults(handler=_bench_ab, before=_before_ab)


def _add_bench_aliases(commands) -> None:
    _report_arguments(commands.add_parser("report", help="older spelling of 'bench report'"))
    _compare_arguments(commands.add_parser("compare", help="older spelling of 'bench compare'"))
    _merge_arguments(commands.add_parser("merge", help="older spelling of 'bench merge'"))


def _add_golden(commands) -> None:
    gold = commands.add_parser("golden", help="record each framework's outputs on the canonical "
                               "cases (record DIR), or compare the installed versions' with them "
                               "(compare DIR; exit 1 on drift)")
    actions = gold.add_subparsers(dest="action", required=True, metavar="{record,compare}")
    record = actions.add_parser("record", help="record a new baseline folder (must not exist)")
    record.add_argument("directory", help="new baseline folder")
    record.add_argument("--no-scenarios", action="store_true",
                        help="leave out the course scenarios' training losses")
    compare = actions.add_parser("compare", help="compare the installed versions with a baseline")
    compare.add_argument("directory", help="baseline folder")
    gold.set_defaults(handler=_golden, before=_before_golden)


def _add_gate(commands) -> None:
    from parity.bench.compare import FACTOR

    gate = commands.add_parser("gate", help="one verdict on an upgrade: parity checks, golden drift "
                               "and speed against baselines; gate.md + gate.xml; exit = sum of "
                               "causes (1 parity, 2 drift, 4 speed, 8 environment)")
    gate.add_argument("--golden", help="golden baseline folder (python -m parity golden record)")
    gate.add_argument("--bench-baseline", help="benchmark run to compare with (JSON)")
    gate.add_argument("--bench-run", help="an existing new benchmark run instead of running one")
    gate.add_argument("--processes", type=_positive_int, default=3,
                      help="benchmark processes (default 3)")
    gate.add_argument("--bench-base", help="instead of --bench-baseline: the previous versions' "
                      "environment (a python executable or an rnn-parity working tree), timed "
                      "alternately with this one in ABBA rounds (python -m parity bench ab)")
    gate.add_argument("--bench-rounds", type=_positive_int, default=4,
                      help="ABBA rounds with --bench-base (default 4, at least 3)")
    gate.add_argument("--bench-threads", type=_positive_int,
                      help="threads per benchmark process with --bench-base (default: every "
                      "core)")
    gate.add_argument("--sizes", default="smoke", choices=["smoke", "full"])
    gate.add_argument("--factor", type=float, default=FACTOR)
    gate.add_argument("--alpha", type=float, default=0.01)
    gate.add_argument("--fail-on", default="parity,drift,speed,environment",
                      help="causes that fail the gate, comma-separated (others are advisory)")
    gate.add_argument("--skip", default="", help="steps to leave out: parity,drift,speed")
    _outputs(gate, "gate-", "gate.md, gate.xml and the step logs")
    gate.set_defaults(handler=_gate, before=_before_gate)


def _add_backends(commands) -> None:
    from parity.matrix.run import BACKENDS

    matrix = commands.add_parser("backends", help="the canonical cases under each installed Keras "
                                 "backend (one process each) and the torch module: every pair's "
                                 "largest difference and tolerance; exit 1 on a difference no "
                                 "known difference explains")
    matrix.add_argument("--backends", default=",".join(BACKENDS),
                        help=f"Keras backends, comma-separated (default {','.join(BACKENDS)}; "
                        "one not installed is skipped and named)")
    _outputs(matrix, "backends-", "matrix.md, matrix.json and the raw results")
    matrix.set_defaults(handler=_backends, before=_before_backends)


def _add_support(commands) -> None:
    support = commands.add_parser("support", help="the support table (backend x cell x feature x "
                                  "dtype) from results files written by pytest --parity-results "
                                  "FILE, one per backend run")
    support.add_argument("results", nargs="+", help="results files (JSON lines)")
    support.add_argument("--out", help="also write the table to this new markdown file")
    support.set_defaults(handler=_support, before=_before_support)


def _add_port(commands) -> None:
    from parity.porting.cli import add_parser  # framework-free until the command runs

    add_parser(commands)


# the order of `python -m parity --help`; each adds one command (or group) to the parser
REGISTER = (_add_run, _add_check, _add_scenarios, _add_port, _add_sweep, _add_bench, _add_golden,
            _add_gate, _add_backends, _add_support,
            _add_bench_aliases, _add_table_alias)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m parity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in REGISTER:
        register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    usage = GATE_ENVIRONMENT if command == "gate" else USAGE
    parser = build_parser()
    try:
        args, rest = parser.parse_known_args(argv)
        if rest and not getattr(args, "passes_options_to_pytest", False):
            parser.error(f"{args.command}: unrecognised arguments {' '.join(rest)}")
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return usage if e.code else PASS
    args.pytest_options = rest
    try:
        before = getattr(args, "before", None)
        if before is not None:  # options, input paths, output place: before any import or work
            before(args)
        return args.handler(args)
    except (ValueError, OSError) as e:  # typed refusals, unreadable or unwritable files
        print(f"python -m parity {args.command}: error: {e}", file=sys.stderr)
        return usage
    except Exception:
        traceback.print_exc()
        print(f"python -m parity {args.command}: internal error: this is a bug in rnn-parity, not "
              "in your input; please report it to the rnn-parity issue tracker with the traceback "
              "above and the command line", file=sys.stderr)
        return GATE_ENVIRONMENT if args.command == "gate" else INTERNAL
