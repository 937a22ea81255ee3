"""What every command of ``python -m parity`` shares, written once: the exit codes, the options
several commands take (``--reports``/``--out``, ``--sizes``, ``--processes``, ``-k``,
``--bench-threads``), the claim of a command's output folder, and the mark of an older spelling.

The subpackages register their own commands with these (``parity.bench.cli`` and so on);
:mod:`parity.cli` assembles them and maps errors onto the exit codes in ``main``. Nothing here
imports a framework: building the parser must stay fast (tests/commands/test_cli.py).
"""

from __future__ import annotations

import argparse

# the exit-code contract (parity.cli's docstring, docs/guides/commands.md)
PASS, FINDING, USAGE, INTERNAL = 0, 1, 2, 3
GATE_ENVIRONMENT = 8  # the gate's "no verdict" code
# pytest's exit codes: 1 tests failed, 4 usage error, 5 no tests collected; 2 (interrupted,
# collection errors) and 3 (pytest's internal error) mean the checks could not run
_PYTEST = {0: PASS, 1: FINDING, 4: USAGE, 5: USAGE}
# as parity.bench.workloads.SIZE_SETS, which imports the frameworks (tests/commands/test_cli.py: they agree)
SIZES = ("smoke", "full")
THREADS_HELP = "threads for both frameworks (default: every core)"
REMOVAL = "deprecated, to be removed in rnn-parity 0.2"


def pytest_code(code: int) -> int:
    """A pytest exit code (of the shipped checks or the benchmarks) on the contract's codes."""
    return _PYTEST.get(int(code), INTERNAL)


def positive_int(text: str) -> int:
    """argparse ``type`` of counts: an integer, at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: must be at least 1")
    return value


def add_reports(command: argparse.ArgumentParser,
                help: str = "parent folder of the stamped output folder (default: reports)") -> None:
    command.add_argument("--reports", default="reports", help=help)


def add_outputs(command: argparse.ArgumentParser, prefix: str, what: str) -> None:
    """``--reports`` and ``--out``: a new folder for ``what``, stamped ``PREFIX`` by default."""
    add_reports(command)
    command.add_argument("--out", help=f"new folder for {what} (default: reports/{prefix}STAMP)")


def add_sizes(command: argparse.ArgumentParser) -> None:
    command.add_argument("--sizes", default="smoke", choices=list(SIZES))


def add_processes(command: argparse.ArgumentParser, help: str) -> None:
    command.add_argument("--processes", type=positive_int, default=3, help=help)


def add_select(command: argparse.ArgumentParser) -> None:
    command.add_argument("-k", help="only benchmarks matching this pytest -k expression")


def add_bench_threads(command: argparse.ArgumentParser, help: str = THREADS_HELP) -> None:
    command.add_argument("--bench-threads", type=positive_int, help=help)


def older_spelling(subparsers, name: str, of: str) -> argparse.ArgumentParser:
    """Register ``name``, an older spelling of the command ``of``: accepted, left out of the
    help (no ``help=``), and ``main`` prints a deprecation note for it."""
    command = subparsers.add_parser(name, description=f"older spelling of '{of}' ({REMOVAL})")
    command.set_defaults(older_spelling_of=of)
    return command


def claim(args: argparse.Namespace, prefix: str):
    """The new output folder: ``--out`` if given, else a stamped one under ``--reports``; never
    an existing one (:mod:`parity.core.outputs`)."""
    from parity.core import outputs

    return outputs.claim(args.out) if args.out else outputs.claim_stamped(args.reports, prefix)
