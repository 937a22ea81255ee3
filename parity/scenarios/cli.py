"""The ``scenarios`` command: ``python -m parity scenarios [NAME|FILE ...]`` trains the course
scenarios (or scenario files) in both frameworks in lock step; table, PNG loss curves; exit 1 on
a mismatch."""

from __future__ import annotations

import argparse

from parity.core.cli_options import FINDING, PASS, add_outputs, claim


def _before(args: argparse.Namespace) -> None:
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


def _scenarios(args: argparse.Namespace) -> int:
    from parity.scenarios import course as scenarios
    from parity.scenarios.report import write

    scenarios.labels(args.names)  # names that would lead outside --out: refused before the claim
    with claim(args, "scenarios-") as claimed:
        results, table = write(args.names or list(scenarios.TRAINING), claimed.work)
    print(table)
    for r in results:
        for problem in r.problems():
            print(f"\n{r.name}: {problem}")
    print(f"\nplots and details in {claimed.path}")
    return PASS if all(r.ok for r in results) else FINDING


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``scenarios`` on the CLI's subparsers."""
    scen = subparsers.add_parser("scenarios", help="train the seed's course scenarios in both "
                                 "frameworks in lock step; table, PNG loss curves; exit 1 on a "
                                 "mismatch")
    scen.add_argument("names", nargs="*", help="scenarios to run (default: all)")
    add_outputs(scen, "scenarios-", "the plots")
    scen.set_defaults(handler=_scenarios, before=_before)
    return scen
