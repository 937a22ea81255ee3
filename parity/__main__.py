"""Command line: ``python -m parity check [pytest options...]`` runs the shipped parity checks."""

from __future__ import annotations

import argparse
import sys


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
    args, rest = parser.parse_known_args(argv)
    return {"check": _check, "sweep": _sweep, "table": _table}[args.command](args, rest)


if __name__ == "__main__":
    sys.exit(main())
