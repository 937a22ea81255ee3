"""The upgrade commands: ``python -m parity golden record|compare DIR`` (each framework's outputs
on the canonical cases, and their drift) and ``python -m parity gate`` (one verdict on a
framework upgrade; its exit code is the sum of its causes, see :mod:`parity.upgrade.gate`)."""

from __future__ import annotations

import argparse

from parity.bench.cli import RUN_FILE, add_factor
from parity.core.cli_options import (
    FINDING,
    PASS,
    add_bench_threads,
    add_outputs,
    add_processes,
    add_sizes,
    claim,
    positive_int,
)

GOLDEN_FOLDER = "a baseline folder written by python -m parity golden record"
# GateOptions' fields as the gate command spells them, for its refusals
FLAGS = {"rounds": "--bench-rounds", "threads": "--bench-threads"}


# ------------------------------------------------------------------------------------- golden

def _before_golden(args: argparse.Namespace) -> None:
    from parity.core import paths

    if args.action == "record":
        from parity.upgrade.folders import check_new_baseline

        check_new_baseline(args.directory)
    else:
        paths.existing_folder(args.directory, GOLDEN_FOLDER)


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


def _add_golden(subparsers) -> None:
    gold = subparsers.add_parser("golden", help="record each framework's outputs on the canonical "
                                 "cases (record DIR), or compare the installed versions' with "
                                 "them (compare DIR; exit 1 on drift)")
    actions = gold.add_subparsers(dest="action", required=True, metavar="{record,compare}")
    record = actions.add_parser("record", help="record a new baseline folder (must not exist)")
    record.add_argument("directory", help="new baseline folder")
    record.add_argument("--no-scenarios", action="store_true",
                        help="leave out the course scenarios' training losses")
    compare = actions.add_parser("compare", help="compare the installed versions with a baseline")
    compare.add_argument("directory", help="baseline folder")
    gold.set_defaults(handler=_golden, before=_before_golden)


# --------------------------------------------------------------------------------------- gate

def gate_options(args: argparse.Namespace):
    """The gate command's options as one :class:`~parity.upgrade.gate.GateOptions`; a refusal
    names the option as the command spells it (``--fail-on``)."""
    from parity.core.errors import ParityConfigError
    from parity.upgrade.gate import GateOptions

    try:
        return GateOptions(golden=args.golden, bench_baseline=args.bench_baseline,
                           bench_run=args.bench_run, processes=args.processes, sizes=args.sizes,
                           factor=args.factor, alpha=args.alpha,
                           fail_on=tuple(args.fail_on.split(",")) if args.fail_on else (),
                           skip=tuple(args.skip.split(",")) if args.skip else (),
                           bench_base=args.bench_base, rounds=args.bench_rounds,
                           threads=args.bench_threads)
    except ParityConfigError as e:
        flag = FLAGS.get(e.option, "--" + e.option.replace("_", "-"))
        raise type(e)(flag, e.value, e.expected) from None


def _before_gate(args: argparse.Namespace) -> None:
    from parity.core import paths

    args.gate_options = gate_options(args)  # the values first, then the paths
    # a missing input now; one that exists but cannot be read is a finding in gate.md
    for option, given, what in (("--golden", args.golden, GOLDEN_FOLDER),
                                ("--bench-baseline", args.bench_baseline, RUN_FILE),
                                ("--bench-run", args.bench_run, RUN_FILE)):
        if given:
            paths.existing(given, what, option)
    if args.bench_base:
        from parity.bench.ab import side

        side(args.bench_base, "bench-base")
    paths.output_folder(args.out, args.reports)


def _gate(args: argparse.Namespace) -> int:
    from parity.upgrade.gate import run_gate

    # claimed before any work; a stamped name is unique even for gates started in one second
    out = claim(args, "gate-")
    verdict = run_gate(out, args.gate_options)
    print(verdict.markdown())
    print(f"gate summary: {out.path / 'gate.md'}, JUnit: {out.path / 'gate.xml'}")
    return verdict.exit_code


def _add_gate(subparsers) -> None:
    gate = subparsers.add_parser("gate", help="one verdict on an upgrade: parity checks, golden "
                                 "drift and speed against baselines; gate.md + gate.xml; exit = "
                                 "sum of causes (1 parity, 2 drift, 4 speed, 8 environment)")
    gate.add_argument("--golden", help="golden baseline folder (python -m parity golden record)")
    gate.add_argument("--bench-baseline", help="benchmark run to compare with (JSON)")
    gate.add_argument("--bench-run", help="an existing new benchmark run instead of running one")
    add_processes(gate, "benchmark processes (default 3)")
    gate.add_argument("--bench-base", help="instead of --bench-baseline: the previous versions' "
                      "environment (a python executable or an rnn-parity working tree), timed "
                      "alternately with this one in ABBA rounds (python -m parity bench ab)")
    gate.add_argument("--bench-rounds", type=positive_int, default=4,
                      help="ABBA rounds with --bench-base (default 4, at least 3)")
    add_bench_threads(gate, "threads per benchmark process with --bench-base (default: every "
                      "core)")
    add_sizes(gate)
    add_factor(gate)
    gate.add_argument("--alpha", type=float, default=0.01)
    gate.add_argument("--fail-on", default="parity,drift,speed,environment",
                      help="causes that fail the gate, comma-separated (others are advisory)")
    gate.add_argument("--skip", default="", help="steps to leave out: parity,drift,speed")
    add_outputs(gate, "gate-", "gate.md, gate.xml and the step logs")
    gate.set_defaults(handler=_gate, before=_before_gate)


def add_parsers(subparsers) -> None:
    """Register ``golden`` and ``gate`` on the CLI's subparsers."""
    _add_golden(subparsers)
    _add_gate(subparsers)
