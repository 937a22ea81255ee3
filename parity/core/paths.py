"""The command line's paths, checked before any work and before a framework is imported: each
refusal names the option and the path, and says what would work (exit 2)."""

from __future__ import annotations

from pathlib import Path

from parity.core import outputs
from parity.core.errors import InputFileError


def _named(option: str, path) -> str:
    return f"{option} {path}" if option else str(path)


def existing(path, what: str, option: str = "") -> Path:
    """``path`` must exist (a file or a folder: its reader judges the rest)."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{_named(option, path)}: does not exist; expected {what}")
    return path


def existing_file(path, what: str, option: str = "") -> Path:
    """``path`` must be a file (``what``: what it should hold, for the message)."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{_named(option, path)}: no such file; expected {what}")
    if not path.is_file():
        raise InputFileError(f"{_named(option, path)}: a folder, not a file; expected {what}")
    return path


def existing_folder(path, what: str, option: str = "") -> Path:
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{_named(option, path)}: no such folder; expected {what}")
    if not path.is_dir():
        raise InputFileError(f"{_named(option, path)}: a file, not a folder; expected {what}")
    return path


def new_folder(path, option: str = "--out") -> Path:
    """Refuse now what :func:`parity.core.outputs.claim` would refuse after the imports: a file,
    a folder holding anything, a place that cannot be created. Claims nothing."""
    path = Path(path)
    outputs.check_writable(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{_named(option, path)} exists and is a file: choose a new folder "
                              "(nothing is overwritten)")
    if path.is_dir() and [p.name for p in path.iterdir()] not in ([], [outputs.CLAIM]):
        raise FileExistsError(f"{_named(option, path)} exists: choose a new folder (nothing is "
                              "overwritten)")
    return path


def output_folder(out, reports, option: str = "--out") -> None:
    """``--out`` if given must be claimable, else ``--reports`` must be a folder one can write."""
    if out:
        new_folder(out, option)
    else:
        outputs.check_writable(Path(reports) / "x")


def new_file(path, option: str = "--out") -> Path:
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise FileExistsError(f"{_named(option, path)} exists: choose a new file (nothing is "
                              "overwritten)")
    outputs.check_writable(path)
    return path
