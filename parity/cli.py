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

Each command imports only what it needs: comparing stored benchmark runs loads neither torch nor
TensorFlow. ``report``, ``compare``, ``merge`` and ``table``, older spellings of ``bench report``,
``bench compare``, ``bench merge`` and ``sweep --table``, still work until 0.2, with a note.

Exit codes, the same for every command (docs/guides/commands.md): 0 pass; 1 the command's own finding
(parity broken, a regression, drift); 2 bad input or usage, with the file or option and the reason;
3 an internal error, a bug in rnn-parity (the traceback is printed). ``gate`` exits with the sum of
its causes instead (1 parity, 2 drift, 4 speed, 8 environment); anything that keeps it from a
verdict (bad options, an output folder it cannot claim, an error outside its steps) is 8.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from parity.bench import cli as bench_cli
from parity.calibration import cli as calibration_cli
from parity.core.cli_options import (
    FINDING,
    GATE_ENVIRONMENT,
    INTERNAL,
    PASS,
    REMOVAL,
    USAGE,
    add_processes,
    add_reports,
    add_sizes,
    pytest_code,
)
from parity.matrix import cli as matrix_cli
from parity.porting import cli as porting_cli
from parity.scenarios import cli as scenarios_cli
from parity.upgrade import cli as upgrade_cli

# `check` and `run` are registered here, not in a subpackage: `check` runs the shipped pytest
# modules with the plugin and its options (parity.pytest_options), which sit at the top of the
# layering; `run` strings together the checks, the scenarios and the benchmarks.


def _checks_argv(profile: str) -> list[str]:
    """``check``'s own pytest arguments, less ``-p parity.pytest_plugin``."""
    return ["--pyargs", "parity.suite", "parity.checks", f"--hypothesis-profile={profile}"]


def _before_check(args: argparse.Namespace) -> None:
    from parity.pytest_options import check_arguments

    check_arguments(_checks_argv(args.profile), args.pytest_options)


def _check(args: argparse.Namespace) -> int:
    import pytest

    from parity.core.frameworks import freeze_imported

    freeze_imported()  # this process's entry point: see its docstring
    argv = ["-p", "parity.pytest_plugin", *_checks_argv(args.profile), *args.pytest_options]
    return pytest_code(pytest.main(argv))


def _add_check(commands) -> None:
    check = commands.add_parser("check", help="run the Keras <-> torch parity checks (pytest); "
                                "further options go to pytest")
    check.add_argument("--profile", default="parity-ci",
                       choices=["parity-ci", "parity-random", "parity-dev", "parity-thorough"],
                       help="hypothesis profile (default: parity-ci, derandomised)")
    check.set_defaults(handler=_check, before=_before_check, passes_options_to_pytest=True)


def _before_run(args: argparse.Namespace) -> None:
    from parity.bench.processes import check_benchmarks_here
    from parity.core import outputs
    from parity.pytest_options import check_arguments

    check_arguments([*_checks_argv("parity-ci"), "-q"], args.pytest_options)  # as _run's check
    check_benchmarks_here()
    outputs.check_writable(Path(args.reports) / "x")


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
    codes = [pytest_code(checks.returncode), PASS if scenarios_ok else FINDING, pytest_code(code)]
    return max(codes)  # an internal error outranks a finding


def _add_run(commands) -> None:
    run = commands.add_parser("run", help="the main job: parity checks, course scenarios, smoke "
                              "benchmarks and their report, in a new folder under --reports; "
                              "further options go to the parity checks' pytest")
    add_reports(run, "parent folder (default: reports)")
    add_sizes(run)
    add_processes(run, "benchmark sessions (processes) to merge into the run (default 3)")
    run.set_defaults(handler=_run, before=_before_run, passes_options_to_pytest=True)


# The order of `python -m parity --help`. Each entry adds its commands to the subparsers with
# set_defaults(handler=..., before=...): `before` checks options, input paths and the output
# place without importing a framework, and main() runs it before the handler.
REGISTER = (_add_run, _add_check, scenarios_cli.add_parser, porting_cli.add_parser,
            calibration_cli.add_parser, bench_cli.add_parser, upgrade_cli.add_parsers,
            matrix_cli.add_parsers,
            bench_cli.add_older_spellings, calibration_cli.add_older_spellings)


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
    newer = getattr(args, "older_spelling_of", None)
    if newer:
        print(f"python -m parity {args.command}: note: older spelling of 'python -m parity "
              f"{newer}' ({REMOVAL})", file=sys.stderr)
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
