"""A golden baseline's files (:mod:`parity.upgrade.golden` records and compares them): written
once, read back only after every part is checked, so that a damaged baseline is refused naming
the file and the array instead of being compared.

Baseline format (a directory, never overwritten):

- ``manifest.json``: ``format`` (1), ``recorded`` (UTC time), ``versions`` (python, numpy, torch,
  tensorflow, keras, keras backend), ``machine`` (platform, processor, threads), and ``cases``:
  for each case id its description (a pasteable ``ParityCase`` or the scenario name) and, per
  framework, the tensor names stored.
- ``arrays.npz`` (compressed): one float64 array per ``"<case id>|<framework>|<tensor>"``; the
  values are exactly what the framework returned (float32 results widen to float64 exactly).
"""

from __future__ import annotations

import json
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from parity.core.errors import InputFileError, UnsupportedConfig

FORMAT = 1
FRAMEWORKS = ("keras", "torch")
RERECORD = "record a complete baseline with python -m parity golden record NEW_DIR"


def write(folder: Path, *, versions: dict, machine: dict, cases: dict,
          arrays: dict[str, np.ndarray]) -> None:
    """Write a baseline's two files into ``folder`` (a claimed work folder: see
    :func:`parity.core.outputs.claim`), stamped with the format and the time."""
    manifest = {"format": FORMAT, "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "versions": versions, "machine": machine, "cases": cases}
    np.savez_compressed(folder / "arrays.npz", **arrays)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


@dataclass
class Baseline:
    path: Path
    manifest: dict
    arrays: dict[str, np.ndarray]

    @property
    def versions(self) -> dict[str, str]:
        return self.manifest["versions"]


class GoldenFileError(InputFileError):
    """A golden baseline folder is missing, incomplete or corrupt."""


class DamagedBaseline(GoldenFileError):
    """A baseline's files are readable but do not hold what a recording writes: a manifest of
    another structure, or an array absent, of another dtype or shape, or non-finite. Names the
    file and the array."""


class IncompleteBaseline(GoldenFileError):
    """A baseline that cannot judge the whole canonical set (see :class:`Coverage`)."""



def damaged(file: Path, what: str) -> DamagedBaseline:
    """The error for a damaged ``file``, saying what is wrong and how to record anew."""
    return DamagedBaseline(f"{file}: {what}; the baseline is damaged: {RERECORD}")


def _check_entry(file: Path, case_id: str, entry: object) -> None:
    tensors = entry.get("tensors") if isinstance(entry, dict) else None
    if not isinstance(tensors, dict) or not all(
            fw in FRAMEWORKS and isinstance(names, list) and all(isinstance(n, str) for n in names)
            for fw, names in tensors.items()):
        raise damaged(file, f"case {case_id!r} lists no tensors per framework ({' and '.join(FRAMEWORKS)}: "
                       "lists of names)")
    epochs = entry.get("epochs", 1)
    if type(epochs) is not int or not 1 <= epochs <= 10_000:
        raise damaged(file, f"case {case_id!r}: 'epochs' is {epochs!r}, not a whole number of "
                       "epochs from 1 to 10000")
    if not isinstance(entry.get("definition", ""), str):
        raise damaged(file, f"case {case_id!r}: 'definition' is not a digest (a string)")


def _manifest(path: Path) -> dict:
    file = path / "manifest.json"
    try:
        manifest = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise GoldenFileError(f"{file}: unreadable ({type(e).__name__}: {e}); {RERECORD}") from None
    if not isinstance(manifest, dict):
        raise GoldenFileError(f"{file}: not a golden manifest (a JSON object expected)")
    if manifest.get("format") != FORMAT:
        raise UnsupportedConfig("format", manifest.get("format"),
                                f"this version reads golden format {FORMAT}", where=str(path))
    cases = manifest.get("cases")
    if not isinstance(cases, dict):
        raise damaged(file, "no 'cases' (the recorded case ids and their tensors)")
    for case_id, entry in cases.items():
        _check_entry(file, case_id, entry)
    for key in ("versions", "recorded"):
        if key not in manifest:
            raise damaged(file, f"no {key!r}")
    versions = manifest["versions"]
    if not isinstance(versions, dict) or not all(isinstance(v, str) for v in versions.values()) \
            or not isinstance(manifest["recorded"], str):
        raise damaged(file, "'versions' (names to version strings) or 'recorded' (a time) of "
                       "another kind")
    return manifest


def _arrays(path: Path) -> dict[str, np.ndarray]:
    file = path / "arrays.npz"
    try:  # no pickles: an object array could run code when read
        with np.load(file, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    # what numpy raises for a truncated, empty or foreign file, or a pickled array
    # (zipfile: NotImplementedError for a version or compression it does not know)
    except (OSError, EOFError, ValueError, KeyError, NotImplementedError, zipfile.BadZipFile,
            zlib.error) as e:
        raise GoldenFileError(f"{file}: unreadable ({type(e).__name__}: {e}); the file is "
                              f"truncated or corrupt (pickled arrays are refused): {RERECORD}") from None


def _check_arrays(file: Path, cases: dict, arrays: dict[str, np.ndarray]) -> None:
    """Every tensor the manifest lists is in the arrays, float64 (as recorded), finite, and of
    one shape in both frameworks."""
    listed = [(case_id, fw, name) for case_id, entry in cases.items()
              for fw, names in entry["tensors"].items() for name in names]
    absent = [f"{c}|{fw}|{n}" for c, fw, n in listed if f"{c}|{fw}|{n}" not in arrays]
    if absent:
        raise damaged(file, f"lacks {len(absent)} tensor(s) the manifest lists, first "
                       f"{absent[0]!r}")
    shapes: dict[tuple[str, str], tuple] = {}
    for case_id, fw, name in listed:
        key, a = f"{case_id}|{fw}|{name}", arrays[f"{case_id}|{fw}|{name}"]
        if a.dtype != np.float64:
            raise damaged(file, f"array {key!r} is {a.dtype}, not float64 as recorded")
        if not np.isfinite(a).all():
            i = np.unravel_index(int(np.argmin(np.isfinite(a))), a.shape)
            raise damaged(file, f"array {key!r} holds {int((~np.isfinite(a)).sum())} non-finite "
                           f"value(s), first {a[i]} at {[int(k) for k in i]}: a recording holds "
                           "finite values only")
        other = shapes.setdefault((case_id, name), a.shape)
        if other != a.shape:
            raise damaged(file, f"array {key!r} has shape {a.shape}, the other framework's "
                           f"{name!r} {other}")


def load(directory: str | Path) -> Baseline:
    """Read and validate a baseline (a :class:`DamagedBaseline` names the file and the array)."""
    path = Path(directory)
    if not path.is_dir():
        raise GoldenFileError(f"{path}: {'not a folder' if path.exists() else 'no such folder'}; "
                              "a baseline is the folder python -m parity golden record DIR makes")
    files = [path / "manifest.json", path / "arrays.npz"]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        incomplete = any(path.iterdir())
        raise GoldenFileError(
            f"{path}: " + (f"an incomplete golden baseline (no {', '.join(missing)}), e.g. from "
                           "an interrupted recording" if incomplete else "an empty folder, not "
                           "a golden baseline") +
            "; record one with python -m parity golden record DIR")
    manifest = _manifest(path)
    arrays = _arrays(path)
    _check_arrays(files[1], manifest["cases"], arrays)
    return Baseline(path, manifest, arrays)

