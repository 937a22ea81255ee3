"""The ``sweep`` command (``python -m parity sweep``: drawn cases against the tolerance; the
calibration sweep, the sensitivity table, the error table), and ``table``, the older spelling of
``sweep --table`` (hidden from the help; removed in 0.2)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from parity.core.cli_options import FINDING, PASS, add_outputs, claim, older_spelling, positive_int


def _before(args: argparse.Namespace) -> None:
    from parity.core import paths

    for folder in args.summarise or ():
        paths.existing_file(Path(folder) / "cases.jsonl", "folders written by python -m parity "
                            "sweep --calibrate", "--summarise")
    if args.calibrate or args.summarise:
        paths.output_folder(args.out, args.reports)


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

    with claim(args, "calibration-") as claimed:
        if args.summarise:  # the files were checked before the imports (_before)
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


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``sweep`` on the CLI's subparsers."""
    sweep = subparsers.add_parser("sweep", help="draw many cases, check each in both directions, "
                                  "and report the largest errors and share of tolerance used (one "
                                  "thread per framework and BLAS, as the checks run)")
    sweep.add_argument("--examples", type=positive_int, default=None,
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
    sweep.add_argument("--cases", type=positive_int, default=10000,
                       help="cases of the calibration sweep (default 10000)")
    sweep.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    add_outputs(sweep, "calibration-", "the calibration results")
    sweep.set_defaults(handler=_sweep, before=_before)
    return sweep


def add_older_spellings(subparsers) -> None:
    """``table`` (``sweep --table``): accepted, not listed in the help."""
    table = older_spelling(subparsers, "table", "sweep --table")
    table.add_argument("--examples", type=positive_int, default=30,
                       help="cases per cell and column")
    table.set_defaults(handler=_table)
