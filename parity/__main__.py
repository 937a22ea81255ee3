"""Command line: ``python -m parity check [pytest options...]`` runs the shipped parity checks."""

from __future__ import annotations

import argparse
import sys


def _check(args: argparse.Namespace, rest: list[str]) -> int:
    import pytest

    argv = ["-p", "parity.pytest_plugin", "--pyargs", "parity.checks",
            f"--hypothesis-profile={args.profile}", *rest]
    return int(pytest.main(argv))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parity", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="run the Keras <-> torch parity checks (pytest); "
                                "further options go to pytest")
    check.add_argument("--profile", default="parity-ci",
                       choices=["parity-ci", "parity-random", "parity-dev", "parity-thorough"],
                       help="hypothesis profile (default: parity-ci, derandomised)")
    args, rest = parser.parse_known_args(argv)
    return _check(args, rest)


if __name__ == "__main__":
    sys.exit(main())
