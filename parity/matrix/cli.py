"""The ``backends`` command (the canonical cases under each installed Keras backend, one process
each, and the torch module, compared) and ``support`` (the support table from the checks'
recorded outcomes): ``python -m parity backends|support``."""

from __future__ import annotations

import argparse

from parity.core.cli_options import FINDING, PASS, add_outputs, claim


def _before_backends(args: argparse.Namespace) -> None:
    from parity.core import paths
    from parity.matrix.run import parse_backends

    parse_backends(args.backends)
    paths.output_folder(args.out, args.reports)


def _backends(args: argparse.Namespace) -> int:
    from parity.matrix.run import parse_backends, run_matrix

    backends = parse_backends(args.backends)  # refused before a folder is claimed
    with claim(args, "backends-") as claimed:
        matrix = run_matrix(backends, claimed.work)
        (claimed.work / "matrix.md").write_text(matrix.markdown())
        (claimed.work / "matrix.json").write_text(matrix.to_json())
    print(matrix.markdown())
    print(f"matrix.md, matrix.json and each backend's raw results in {claimed.path}")
    return PASS if matrix.ok else FINDING


def _before_support(args: argparse.Namespace) -> None:
    from parity.core import paths

    for results in args.results:
        paths.existing_file(results, "a results file written by pytest --parity-results")
    if args.out:
        paths.new_file(args.out)


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


def add_parsers(subparsers) -> None:
    """Register ``backends`` and ``support`` on the CLI's subparsers."""
    from parity.matrix.run import BACKENDS

    matrix = subparsers.add_parser("backends", help="the canonical cases under each installed "
                                   "Keras backend (one process each) and the torch module: every "
                                   "pair's largest difference and tolerance; exit 1 on a "
                                   "difference no known difference explains")
    matrix.add_argument("--backends", default=",".join(BACKENDS),
                        help=f"Keras backends, comma-separated (default {','.join(BACKENDS)}; "
                        "one not installed is skipped and named)")
    add_outputs(matrix, "backends-", "matrix.md, matrix.json and the raw results")
    matrix.set_defaults(handler=_backends, before=_before_backends)

    support = subparsers.add_parser("support", help="the support table (backend x cell x feature "
                                    "x dtype) from results files written by pytest "
                                    "--parity-results FILE, one per backend run")
    support.add_argument("results", nargs="+", help="results files (JSON lines)")
    support.add_argument("--out", help="also write the table to this new markdown file")
    support.set_defaults(handler=_support, before=_before_support)
