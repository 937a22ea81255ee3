"""Fuzzing every file the project reads: hypothesis draws corruptions of a valid file of each
kind (cut short, bytes flipped, and inside its JSON, npz or zip structure a value of another
type, a deleted entry, a nesting too deep, an array of another shape or dtype, or missing) and
feeds them to the reader its command uses. None may be an internal error: each is refused with a
typed error (what the command line turns into exit 2), found (exit 1), or read. A corruption no
writer of ours makes (a file cut short, a nesting 100,000 deep, a golden array of another shape,
dtype or missing) must be refused or read exactly as the original (docs/guides/inputs.md).

The meta tests draw a few examples per file kind (the loaded profile's count, at most
``EXAMPLES``); ``pytest tests/commands/test_fuzz_inputs.py --hypothesis-profile=parity-thorough`` is the
soak (500 per test).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parity.cli import main
from parity.core.frameworks import keras, torch

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
EXAMPLES = 12
_profile = settings()
FUZZ = settings(max_examples=_profile.max_examples if _profile.max_examples > 30
                else min(_profile.max_examples, EXAMPLES), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
DEEP = 100_000  # nesting that no file of ours has, and Python's json parses by recursion


# ------------------------------------------------------------------------------ corruptions

def _paths(doc, prefix=()):
    """Every node of a JSON document, as the keys leading to it (the root is ())."""
    yield prefix
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        yield from _paths(value, (*prefix, key))


def _replace(doc, path, value, *, delete=False):
    if not path:
        return value
    doc = json.loads(json.dumps(doc))  # a copy
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


class Corrupted:
    """A corrupted file's bytes, shown by its label (hypothesis prints every draw); ``strict``: a
    file no writer of ours makes, to be refused or read as the original."""

    def __init__(self, label: str, data: bytes, strict: bool) -> None:
        self.label, self.data, self.strict = label, data, strict

    def with_data(self, data: bytes) -> Corrupted:
        return Corrupted(self.label, data, self.strict)

    def __repr__(self) -> str:
        return f"Corrupted({self.label!r}, {len(self.data)} bytes)"


OTHER_TYPES = (None, True, -1, 0, 1e308, "x", [], {}, [[]], {"": None})


@st.composite
def json_corruptions(draw, doc):
    """One node of ``doc`` replaced by a value of another type, deleted, or nested ``DEEP``
    levels (strict)."""
    paths = list(_paths(doc))
    path = draw(st.sampled_from(paths), label="node")
    kind = draw(st.sampled_from(["type", "delete", "deep"] if path else ["type", "deep"]))
    if kind == "deep":
        text = json.dumps(_replace(doc, path, "DEEP")).replace('"DEEP"', "[" * DEEP + "]" * DEEP)
        return Corrupted(f"{path} nested {DEEP} deep", text.encode(), True)
    if kind == "delete":
        return Corrupted(f"{path} deleted",
                         json.dumps(_replace(doc, path, None, delete=True)).encode(), False)
    node = doc
    for key in path:
        node = node[key]
    value = draw(st.sampled_from([v for v in OTHER_TYPES if type(v) is not type(node)]))
    return Corrupted(f"{path} = {value!r}", json.dumps(_replace(doc, path, value)).encode(), False)


@st.composite
def byte_corruptions(draw, data: bytes):
    """Cut short before its last non-blank byte (strict), or 1-4 bytes flipped."""
    if draw(st.booleans(), label="cut"):
        end = draw(st.integers(0, len(data.rstrip()) - 1), label="cut at")
        return Corrupted(f"cut at {end} of {len(data)}", data[:end], True)
    flipped = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data) - 1), label="at")
        flipped[at] ^= draw(st.integers(1, 255), label="xor")
    return Corrupted("flipped bytes", bytes(flipped), False)


# ------------------------------------------------------------------------------- the readers

@dataclasses.dataclass
class Outcome:
    refused: bool  # a typed error: exit 2 on the command line
    value: object = None  # what the reader returned (compared with the original's)
    error: str = ""


def _read(reader: Callable[[Path], object], path: Path) -> Outcome:
    """Run ``reader`` as the command line would: ValueError and OSError (the typed errors) are
    refusals; anything else is an internal error and fails the test."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            value = reader(path)
    except (ValueError, OSError) as e:
        return Outcome(True, error=str(e))
    if isinstance(value, int) and reader.__name__.startswith("cli_"):  # an exit code
        assert value != 3, f"internal error:\n{err.getvalue()[-3000:]}"
        return Outcome(value == 2, (value, _normalised(out.getvalue(), path)), err.getvalue())
    return Outcome(False, value)


def _normalised(text: str, path: Path) -> str:
    return text.replace(str(path), "FILE")


def cli_bench_compare(path: Path) -> int:
    return main(["bench", "compare", str(FIXTURES / "benchmarks" / "smoke-a.json"), str(path)])


def cli_support(path: Path) -> int:
    return main(["support", str(path)])


def golden_load(path: Path):
    from parity.upgrade import golden

    baseline = golden.load(path.parent)
    return baseline.manifest, baseline.arrays


def scenario_load(path: Path):
    from parity.scenarios import course

    return course.load_fixture(str(path))


def port_folder_load(path: Path):
    from parity.porting import files

    module = files.load_torch(path.parent)
    return {k: v.tolist() for k, v in module.state_dict().items()}, repr(module)


def keras_file_load(path: Path):
    from parity.porting import files

    model = files.load_keras(path)
    return [w.tolist() for w in model.get_weights()], json.dumps(model.get_config(), default=str)


def state_dict_load(path: Path):
    from parity.porting import files

    module = files.load_factory(f"{FACTORY}:rnn", str(path))
    return {k: v.tolist() for k, v in module.state_dict().items()}


def calibration_summary(path: Path):
    from parity.calibration import calibrate

    return calibrate.summarise([path])


def _same(a, b) -> bool:
    """Equal, with NaN equal to NaN (a summary of no finite value), for nested values."""
    try:
        np.testing.assert_equal(a, b)
    except AssertionError:
        return False
    return True


# ------------------------------------------------------------------------- the valid originals

FACTORY = "fuzz_rnn_factory"  # a module written into the originals' folder, put on sys.path


def _keras_model():
    model = keras.Sequential([keras.Input((5, 4)), keras.layers.SimpleRNN(3),
                              keras.layers.Dense(2)])
    return model


def _originals(root: Path) -> dict[str, Path]:
    """One valid file per kind the project reads, as the project (or the user) writes it."""
    import gzip

    from parity.porting import files
    from parity.upgrade import golden

    made = {}
    made["benchmark run"] = Path(shutil.copy(FIXTURES / "benchmarks" / "smoke-b.json", root))
    lines = (Path(__file__).resolve().parents[2] / "docs" / "support" /
             "tensorflow.jsonl").read_text().splitlines()[:12]
    (root / "results.jsonl").write_text("\n".join(lines) + "\n")
    made["support results"] = root / "results.jsonl"
    with gzip.open(FIXTURES / "calibration" / "cases.jsonl.gz", "rt") as f:
        (root / "cases.jsonl").write_text("".join(next(f) for _ in range(12)))
    made["calibration cases"] = root / "cases.jsonl"
    made["scenario file"] = Path(shutil.copy(FIXTURES / "scenarios" / "hihello.json", root))
    base = golden.record(root / "golden", ids=golden.case_ids(with_scenarios=False)[:1])
    made["golden manifest"], made["golden arrays"] = base / "manifest.json", base / "arrays.npz"
    (root / "port").mkdir()
    from parity.models.transfer import to_torch

    model = _keras_model()
    files.write_torch(root / "port", to_torch(model))
    made["port architecture"] = root / "port" / files.ARCHITECTURE
    made["port state dict"] = root / "port" / files.STATE_DICT
    model.save(root / "model.keras")
    made["keras file"] = root / "model.keras"
    (root / f"{FACTORY}.py").write_text("import torch\n\n\ndef rnn():\n"
                                        "    return torch.nn.RNN(4, 2, batch_first=True)\n")
    torch.save(torch.nn.RNN(4, 2, batch_first=True).state_dict(), root / "rnn.pt")
    made["state dict"] = root / "rnn.pt"
    return made


READERS = {"benchmark run": cli_bench_compare, "support results": cli_support,
           "calibration cases": calibration_summary, "scenario file": scenario_load,
           "golden manifest": golden_load, "golden arrays": golden_load,
           "port architecture": port_folder_load, "port state dict": port_folder_load,
           "keras file": keras_file_load, "state dict": state_dict_load}
JSON_LINES = ("support results", "calibration cases")
JSON = ("benchmark run", "scenario file", "golden manifest", "port architecture")
ZIPPED_JSON = {"keras file": "config.json"}  # the model's config inside the .keras archive


class Originals(tuple):
    """(the valid files by kind, what reading each gave), shown briefly by hypothesis."""

    def __new__(cls, made, expected):
        return super().__new__(cls, (made, expected))

    def __repr__(self) -> str:
        return f"Originals({sorted(self[0])})"


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    root = tmp_path_factory.mktemp("originals")
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(root))
        made = _originals(root)
        expected = {kind: _read(READERS[kind], path) for kind, path in made.items()}
        for kind, outcome in expected.items():  # the originals themselves are read
            assert not outcome.refused, f"{kind}: {outcome.error}"
        yield Originals(made, expected)


def _try(originals, kind: str, corrupted: Corrupted, *, strict: bool | None = None) -> None:
    """Write ``corrupted`` in place of the original of ``kind`` (in a copy of its folder), read
    it, and assert the outcome: never an internal error; if strict, refused or read as the
    original was."""
    strict = corrupted.strict if strict is None else strict
    made, expected = originals
    original = made[kind]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / original.parent.name
        shutil.copytree(original.parent, folder, ignore=shutil.ignore_patterns("__pycache__"))
        target = folder / original.name
        target.write_bytes(corrupted.data)
        outcome = _read(READERS[kind], target)
    if outcome.refused or not strict:
        return
    assert _same(outcome.value, expected[kind].value), \
        f"{kind}, {corrupted.label}: read as valid, with other contents"


@pytest.mark.parametrize("kind", sorted(READERS))
@FUZZ
@given(data=st.data())
def test_a_file_cut_short_or_with_flipped_bytes_is_refused_never_an_internal_error(
        originals, kind, data):
    made, _ = originals
    corrupted = data.draw(byte_corruptions(made[kind].read_bytes()))
    # lines cut off a JSON-lines file leave a shorter valid file
    _try(originals, kind, corrupted, strict=corrupted.strict and kind not in JSON_LINES)


@pytest.mark.parametrize("kind", sorted([*JSON, *JSON_LINES, *ZIPPED_JSON]))
@FUZZ
@given(data=st.data())
def test_a_structure_with_other_types_or_nested_too_deep_is_refused_or_reads_the_same(
        originals, kind, data):
    made, _ = originals
    path = made[kind]
    if kind in ZIPPED_JSON:
        with zipfile.ZipFile(path) as archive:
            members = {n: archive.read(n) for n in archive.namelist()}
        member = ZIPPED_JSON[kind]
        corrupted = data.draw(json_corruptions(json.loads(members[member])))
        members[member] = corrupted.data
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, content in members.items():
                archive.writestr(name, content)
        _try(originals, kind, corrupted.with_data(buffer.getvalue()))
        return
    if kind in JSON_LINES:
        lines = path.read_text().splitlines()
        n = data.draw(st.integers(0, len(lines) - 1), label="line")
        corrupted = data.draw(json_corruptions(json.loads(lines[n])))
        lines[n] = corrupted.data.decode()
        _try(originals, kind, corrupted.with_data(("\n".join(lines) + "\n").encode()))
        return
    _try(originals, kind, data.draw(json_corruptions(json.loads(path.read_text()))))


@FUZZ
@given(data=st.data())
def test_golden_arrays_of_other_shapes_dtypes_or_missing_are_refused(originals, data):
    made, _ = originals
    with np.load(made["golden arrays"]) as npz:
        arrays = {k: npz[k] for k in npz.files}
    key = data.draw(st.sampled_from(sorted(arrays)), label="array")
    change = data.draw(st.sampled_from(["missing", "shape", "dtype", "object"]))
    a = arrays.pop(key)
    if change == "shape":
        arrays[key] = np.zeros((*a.shape, 2), a.dtype)
    elif change == "dtype":
        arrays[key] = a.astype(np.float16 if a.dtype != np.float16 else np.float32)
    elif change == "object":
        arrays[key] = np.array(["x"] * max(a.size, 1))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    _try(originals, "golden arrays", Corrupted(f"{key}: {change}", buffer.getvalue(), True))
