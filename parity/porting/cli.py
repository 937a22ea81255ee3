"""The ``port`` command: ``python -m parity port MODEL.keras|MODEL.h5 --out DIR`` (Keras ->
torch) or ``python -m parity port package.module:factory [--state-dict FILE] --out DIR`` (torch
-> Keras). Writes the converted model into the new folder DIR (never overwriting), prints the
verdict table; exit 0 when parity holds, 1 when it is broken, 2 on bad input (the command line's
own handler maps typed errors to 2 and anything else to 3)."""

from __future__ import annotations

import argparse

from parity.core.cli_options import FINDING, PASS, positive_int

# as parity.porting.files.KERAS_SUFFIXES, which imports torch (tests/commands/test_cli.py checks they agree)
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``port`` on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "port", help="convert a saved Keras model to torch (state dict + loader) or a torch module "
        "to Keras (.keras), check forward and gradient parity of every layer on drawn inputs, "
        "print the verdict table; exit 1 when parity is broken")
    parser.add_argument("model", help="MODEL.keras / MODEL.h5, or a torch module as "
                        "package.module:factory (a callable returning the module)")
    parser.add_argument("--state-dict", help="torch state dict file to load into the factory's "
                        "module (torch.save(module.state_dict(), FILE))")
    parser.add_argument("--trust-code", action="store_true", help="load a Keras file even if it "
                        "holds Lambda layers or custom (non-Keras) classes, RUNNING THE CODE THEY "
                        "HOLD: only for a file from a source you trust (refused by default)")
    parser.add_argument("--out", required=True, help="new folder for the converted model and "
                        "verdict.md (refused if it exists)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the drawn inputs (default 0)")
    parser.add_argument("--batch", type=positive_int, default=3,
                        help="batch size of the drawn inputs (default 3)")
    parser.add_argument("--steps", type=positive_int, default=7,
                        help="time steps of the drawn inputs (default 7)")
    parser.set_defaults(handler=run, before=check)
    return parser


def check(args: argparse.Namespace) -> None:
    """The paths, before the frameworks are imported: the model file or ``module:factory``, the
    state dict, the new ``--out``."""
    from pathlib import Path

    from parity.core import paths
    from parity.core.errors import InputFileError

    model = Path(args.model)
    if (model / "saved_model.pb").is_file():
        return  # refused with its remedy by the loader
    if model.suffix.lower() in KERAS_SUFFIXES:
        if args.state_dict:  # the options first, then the paths
            raise InputFileError(f"--state-dict {args.state_dict}: a Keras file holds its own "
                                 "weights; --state-dict goes with package.module:factory")
        paths.existing_file(model, f"a Keras model file ({', '.join(KERAS_SUFFIXES)})")
    else:
        module, sep, attr = args.model.partition(":")
        if not (sep and module and attr):
            raise InputFileError(f"{args.model}: expected a Keras file "
                                 f"({', '.join(KERAS_SUFFIXES)}) or a torch module as "
                                 "package.module:factory")
    if args.state_dict:
        paths.existing_file(args.state_dict, "a state dict written by torch.save", "--state-dict")
    paths.new_folder(args.out)


def run(args: argparse.Namespace, rest=()) -> int:
    """Run ``port``; typed errors (bad file, unsupported layer, taken folder) propagate."""
    from parity.core import outputs
    from parity.core.errors import InputFileError
    from parity.porting import files

    if files.is_keras_file(args.model):
        if args.state_dict:
            raise InputFileError(f"--state-dict {args.state_dict}: a Keras file holds its own "
                                 "weights; --state-dict goes with package.module:factory")
        model = files.load_keras(args.model, trust_code=args.trust_code)
    else:
        model = files.load_factory(args.model, args.state_dict)
    from parity.porting.convert import port

    with outputs.claim(args.out) as claimed:
        converted, verdict = port(model, seed=args.seed, batch=args.batch, steps=args.steps)
        if files.is_keras_file(args.model):
            written = files.write_torch(claimed.work, converted)
        else:
            written = [files.write_keras(claimed.work, converted)]
        (claimed.work / "verdict.md").write_text(verdict.explain() + "\n")
    print(verdict.explain())
    print(f"\nwritten to {claimed.path}: " + ", ".join(p.name for p in written) + ", verdict.md")
    return PASS if verdict.ok else FINDING
