"""Coverage is part of every golden verdict: a baseline that judges fewer cases than the canonical
set is incomplete (golden compare exit 2, gate cause 8), never SAFE; a damaged baseline is bad
input (exit 2, naming the file and the array), never drift; the shipped baselines are complete.

The baselines under test are edited copies of a shipped one (nothing recorded here)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from parity.cli import main
from parity.upgrade import golden
from parity.upgrade.gate import CAUSES, GateOptions, run_gate

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "golden"
SHIPPED = sorted(p for p in GOLDEN.iterdir() if p.is_dir())
SOURCE = GOLDEN / "tf2.21.0-keras3.15.1-20261127"
ONE = "gru/uni/none"


@pytest.fixture(autouse=True)
def installed_scenarios(monkeypatch):
    monkeypatch.delenv("PARITY_FIXTURES", raising=False)


@pytest.fixture(scope="module")
def source() -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(SOURCE / "arrays.npz", allow_pickle=False) as data:
        return json.loads((SOURCE / "manifest.json").read_text()), {k: data[k] for k in data.files}


def _baseline(tmp_path: Path, source, keep=lambda case_id: True, entry=lambda i, e: e,
              array=lambda key, a: a, name="b") -> Path:
    """A copy of the source baseline with the cases ``keep`` selects, each entry and array
    edited."""
    manifest, arrays = source
    cases = {i: entry(i, json.loads(json.dumps(e))) for i, e in manifest["cases"].items()
             if keep(i)}
    path = tmp_path / name
    path.mkdir()
    (path / "manifest.json").write_text(json.dumps(dict(manifest, cases=cases)))
    np.savez_compressed(path / "arrays.npz", **{k: array(k, a) for k, a in arrays.items()
                                                if k.split("|")[0] in cases})
    return path


def _no_computing(monkeypatch) -> None:
    monkeypatch.setattr(golden, "compute", lambda *a, **k: pytest.fail("computed"))


def _gate(tmp_path: Path, baseline: Path, **options):
    out = tmp_path / "gate"
    verdict = run_gate(out, GateOptions(golden=str(baseline), bench_baseline=None,
                                        skip=("parity", "speed"), **options))
    suite = ET.parse(out / "gate.xml").getroot()
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    return verdict, (out / "gate.md").read_text(), properties


@pytest.mark.parametrize("folder", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_baselines_are_complete_and_hold_no_stale_case(folder):
    cover = golden.coverage(golden.load(folder))
    assert cover.stale == {} and cover.missing == [] and cover.extra == [], cover.line()
    assert not cover.incomplete and cover.compared == golden.case_ids()


EDITS = {
    "no tensors in its cases": dict(entry=lambda i, e: dict(e, tensors={})),
    "every case stale": dict(entry=lambda i, e: dict(e, definition="0" * 16),
                             keep=lambda i: i.startswith("scenario/")),
    "1 of N cases": dict(keep=lambda i: i == ONE),
    "no cases at all": dict(keep=lambda i: False),
}


@pytest.mark.parametrize("edit", EDITS, ids=list(EDITS))
def test_an_incomplete_baseline_exits_2_before_computing_naming_what_is_missing(
        tmp_path, source, capsys, monkeypatch, edit):
    _no_computing(monkeypatch)
    path = _baseline(tmp_path, source, **EDITS[edit])
    assert main(["golden", "compare", str(path)]) == 2
    err = capsys.readouterr().err
    canonical = golden.case_ids()
    judged = 1 if edit == "1 of N cases" else 0
    assert f"judges {judged} of the {len(canonical)} canonical cases" in err
    assert f"{len(canonical) - judged} missing" in err and canonical[0] in err
    assert "python -m parity golden record NEW_DIR" in err and str(path) in err


@pytest.mark.parametrize("edit", ["no tensors in its cases", "every case stale", "1 of N cases"])
def test_the_gate_calls_an_incomplete_baseline_an_environment_problem(tmp_path, source, edit):
    path = _baseline(tmp_path, source, **EDITS[edit])
    verdict, md, properties = _gate(tmp_path, path)
    assert verdict.exit_code == CAUSES["environment"] and "SAFE" not in verdict.headline()
    judged = 1 if edit == "1 of N cases" else 0
    assert f"drift judged on {judged} of {len(golden.case_ids())}" in verdict.headline()
    assert "incomplete golden baseline" in md and "Compared " in md
    assert properties["golden.compared"] == str(judged)
    assert properties["golden.canonical"] == str(len(golden.case_ids()))


def test_an_incomplete_baseline_blocks_even_where_environment_problems_are_advisory(tmp_path,
                                                                                   source):
    # as .ci/run gates: --fail-on parity,drift; a verdict on 1 case must still not read SAFE
    path = _baseline(tmp_path, source, **EDITS["1 of N cases"])
    verdict, md, _ = _gate(tmp_path, path, fail_on=("parity", "drift"))
    assert verdict.exit_code == CAUSES["environment"]
    assert verdict.headline().startswith("NOT safe to upgrade (exit 8)")
    assert "| environment problem | " in md and "| yes |" in md.split("environment problem")[1]


def test_parity_fixtures_elsewhere_is_named_and_leaves_scenarios_unjudged(tmp_path, source,
                                                                          capsys, monkeypatch):
    from parity.scenarios import course

    elsewhere = tmp_path / "fixtures" / "scenarios"
    elsewhere.mkdir(parents=True)
    for file in course.scenarios_dir().glob("*.json"):  # the installed ones, each edited
        (elsewhere / file.name).write_text(json.dumps(dict(json.loads(file.read_text()), note=1)))
    path = _baseline(tmp_path, source, keep=lambda i: i.startswith("scenario/"))
    monkeypatch.setenv("PARITY_FIXTURES", str(elsewhere.parent))
    assert main(["golden", "compare", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"PARITY_FIXTURES={elsewhere.parent}" in err and "stale" in err
    report = golden.compare(golden.load(path))  # every scenario stale: nothing computed
    assert f"Environment: PARITY_FIXTURES={elsewhere.parent}" in report.markdown()
    assert report.coverage.environment == {"PARITY_FIXTURES": str(elsewhere.parent)}
    assert not report.ok
    verdict, md, properties = _gate(tmp_path, path)
    assert verdict.exit_code == CAUSES["environment"]
    assert properties["env.PARITY_FIXTURES"] == str(elsewhere.parent)


def test_extra_cases_are_named_not_judged_and_do_not_make_a_baseline_incomplete(tmp_path,
                                                                                source):
    retired = "lstm/uni/retired"
    path = _baseline(tmp_path, source)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["cases"][retired] = manifest["cases"][ONE]
    (path / "manifest.json").write_text(json.dumps(manifest))
    _, arrays = source
    np.savez_compressed(path / "arrays.npz", **arrays, **{
        k.replace(ONE, retired, 1): a for k, a in arrays.items() if k.startswith(ONE + "|")})
    baseline = golden.load(path)
    cover = golden.coverage(baseline)
    assert cover.extra == [retired] and not cover.incomplete
    report = golden.compare(baseline, computed={})  # nothing today: canonical rows "missing"
    assert not any(r.case == retired for r in report.rows)
    assert f"1 extra, not judged: {retired}" in report.markdown()


def _drop_torch_output(key, a):
    return a[..., :-1] if key == f"{ONE}|torch|output" else a


DAMAGE = {
    "other shape than the other framework's": (dict(array=_drop_torch_output),
                                               f"{ONE}|torch|output' has shape"),
    "another dtype": (dict(array=lambda k, a: a.astype(np.float32) if k.endswith("|keras|output")
                           else a), "float32, not float64"),
    "non-finite recorded value": (dict(array=lambda k, a: np.where(
        np.arange(a.size).reshape(a.shape) == 1, np.inf, a) if k == f"{ONE}|keras|output" else a),
        "1 non-finite value(s), first inf at [0, 0, 1]"),
    "a listed array absent": (dict(entry=lambda i, e: dict(e, tensors=dict(
        e["tensors"], torch=[*e["tensors"]["torch"], "ghost"]))), f"first '{ONE}|torch|ghost'"),
    "tensors of another structure": (dict(entry=lambda i, e: dict(e, tensors=["output"])),
                                     "lists no tensors per framework"),
    "a framework it does not know": (dict(entry=lambda i, e: dict(e, tensors={"jax": []})),
                                     "lists no tensors per framework"),
    "epochs not a number": (dict(entry=lambda i, e: dict(e, epochs="3")), "'epochs' is '3'"),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_baseline_exits_2_naming_the_file_and_the_array(tmp_path, source, capsys,
                                                                  monkeypatch, damage):
    _no_computing(monkeypatch)
    edit, message = DAMAGE[damage]
    path = _baseline(tmp_path, source, keep=lambda i: i == ONE, **edit)
    assert main(["golden", "compare", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "damaged" in err and str(path) in err
    with pytest.raises(golden.DamagedBaseline):
        golden.load(path)


def test_a_pickled_array_is_refused_unread(tmp_path, source, capsys):
    path = _baseline(tmp_path, source, keep=lambda i: i == ONE)
    with np.load(path / "arrays.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays[f"{ONE}|torch|output"] = np.array([{"a": 1}], dtype=object)
    np.savez(path / "arrays.npz", **arrays)
    assert main(["golden", "compare", str(path)]) == 2
    assert "pickled arrays are refused" in capsys.readouterr().err


def test_arrays_of_another_shape_than_the_case_computes_are_damage_not_drift(tmp_path, source):
    # both frameworks' arrays cut alike: only today's computation can tell
    path = _baseline(tmp_path, source, keep=lambda i: i == ONE,
                     array=lambda k, a: a[..., :-1] if k.endswith("|output") else a)
    with pytest.raises(golden.DamagedBaseline, match=r"arrays.npz: array 'gru/uni/none\|"
                       r"(keras|torch)\|output' has shape \(3, 7, 3\); the case computes"):
        golden.compare(golden.load(path))
    verdict, md, _ = _gate(tmp_path, path)
    assert verdict.exit_code == CAUSES["environment"] and "damaged" in md
    assert not verdict.failed("drift")
