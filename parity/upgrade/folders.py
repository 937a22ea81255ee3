"""Where a golden baseline may be recorded, checked without importing a framework (the command
line refuses a taken folder before the imports; :func:`parity.upgrade.golden.record` again)."""

from __future__ import annotations

from pathlib import Path

from parity.core import outputs


def check_new_baseline(path: str | Path) -> Path:
    path = Path(path)
    if (path / "manifest.json").exists():
        raise FileExistsError(f"{path} holds a golden baseline, which is never overwritten; record "
                              "into a new directory (e.g. one named after the versions)")
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is a file: record into a new directory "
                              "(nothing is overwritten)")
    if path.is_dir() and any(p.name != outputs.CLAIM for p in path.iterdir()):
        raise FileExistsError(f"{path} exists and is not a complete baseline (no manifest.json): "
                              "nothing is overwritten; record into a new directory, or remove "
                              "it if it is an incomplete recording")
    outputs.check_writable(path)
    return path
