"""Golden baselines and the upgrade gate: nothing overwritten, drift told from rounding, one exit
code per cause, JUnit a CI system can read."""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from parity.core.errors import UnsupportedConfig
from parity.upgrade import golden
from parity.upgrade.gate import CAUSES, GateOptions, run_gate

BENCH = Path(__file__).resolve().parents[2] / "fixtures" / "benchmarks"
IDS = ["gru/uni/none", "lstm/bi/right_padded"]


def _recall(patch: pytest.MonkeyPatch, computed: dict) -> None:
    """golden.compute_case answers from ``computed``, by case and gradients flag, after its first
    computation of each."""
    real = golden.compute_case

    def compute_case(case, gradients):
        key = (repr(case), gradients)
        if key not in computed:
            computed[key] = real(case, gradients)
        return copy.deepcopy(computed[key])

    patch.setattr(golden, "compute_case", compute_case)


@pytest.fixture(scope="module")
def computed_once():
    return {}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, computed_once):
    with pytest.MonkeyPatch.context() as patch:
        _recall(patch, computed_once)
        return golden.record(tmp_path_factory.mktemp("golden") / "base", ids=IDS)


@pytest.fixture
def recalled(monkeypatch, computed_once):
    """Today's side of a comparison is the recording's own computation, recalled: the tests of
    how rounding, drift and exit codes are told need today's values, not their recomputation
    (each case costs ~0.1 s). test_same_versions_are_identical recomputes them for real and
    finds them identical to the recording. The canonical set is IDS: a baseline of IDS is then
    complete (coverage has tests of its own)."""
    _recall(monkeypatch, computed_once)
    monkeypatch.setattr(golden, "case_ids", lambda with_scenarios=True: list(IDS))


def _tampered(baseline: Path, tmp_path: Path, change) -> Path:
    copy = tmp_path / "tampered"
    copy.mkdir(parents=True)
    (copy / "manifest.json").write_text((baseline / "manifest.json").read_text())
    with np.load(baseline / "arrays.npz") as data:
        arrays = {k: change(k, data[k]) for k in data.files}
    np.savez_compressed(copy / "arrays.npz", **arrays)
    return copy


def test_recording_never_overwrites(baseline):
    before = (baseline / "arrays.npz").read_bytes()
    with pytest.raises(FileExistsError, match="never overwritten"):
        golden.record(baseline, ids=IDS)
    assert (baseline / "arrays.npz").read_bytes() == before


def test_manifest_documents_versions_and_tensors(baseline):
    manifest = json.loads((baseline / "manifest.json").read_text())
    assert {"torch", "tensorflow", "keras", "numpy"} <= set(manifest["versions"])
    tensors = manifest["cases"]["gru/uni/none"]["tensors"]["torch"]
    assert "output" in tensors and any(t.startswith("grad weights") for t in tensors)


def test_same_versions_are_identical(baseline):
    report = golden.compare(golden.load(baseline))
    assert report.rows and all(r.verdict == "identical" for r in report.rows)
    assert sorted(report.coverage.compared) == sorted(IDS) and not report.ok  # a subset


def test_rounding_is_told_from_drift(baseline, tmp_path, recalled):
    def one_ulp(key, a):
        return np.nextafter(a.astype(np.float32), np.float32(np.inf)).astype(np.float64) \
            if key.startswith("gru") and key.endswith("|keras|output") else a
    rounding = golden.compare(golden.load(_tampered(baseline, tmp_path, one_ulp)))
    changed = [r for r in rounding.rows if r.verdict != "identical"]
    assert [(r.case, r.framework, r.tensor, r.verdict) for r in changed] == \
        [("gru/uni/none", "keras", "output", "rounding")]

    def shifted(key, a):
        return a + 1e-3 if key.startswith("lstm") and "|torch|" in key else a
    drift = golden.compare(golden.load(_tampered(baseline, tmp_path / "b", shifted)))
    assert drift.drifted and {r.framework for r in drift.drifted} == {"torch"}
    assert "| lstm | torch |" in drift.markdown() and "drift" in drift.markdown()


def test_load_refuses_what_is_not_a_baseline(tmp_path):
    with pytest.raises(golden.GoldenFileError, match="golden record"):
        golden.load(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 99}))
    np.savez(tmp_path / "arrays.npz")
    with pytest.raises(UnsupportedConfig, match="format"):
        golden.load(tmp_path)


def _slowed_copy(tmp_path: Path, factor: float) -> Path:
    run = json.loads((BENCH / "smoke-b.json").read_text())
    for b in run["benchmarks"]:
        stats = b["stats"]
        for k in ("min", "max", "mean", "median", "q1", "q3", "iqr", "stddev", "total"):
            stats[k] *= factor
        stats["data"] = [v * factor for v in stats["data"]]
    path = tmp_path / f"slowed-{factor}.json"
    path.write_text(json.dumps(run))
    return path


def test_gate_says_safe_with_exit_0_and_junit(baseline, tmp_path, recalled):
    verdict = run_gate(tmp_path / "g", GateOptions(golden=str(baseline),
                                                   bench_baseline=str(BENCH / "smoke-a.json"),
                                                   bench_run=str(BENCH / "smoke-b.json"),
                                                   skip=("parity",)))
    md = (tmp_path / "g" / "gate.md").read_text()
    assert verdict.exit_code == 0 and "SAFE" in md
    assert "Compared 2 of the baseline's 2 cases; the canonical set holds 2 (complete)" in md
    suite = ET.parse(tmp_path / "g" / "gate.xml").getroot()
    assert int(suite.get("tests")) > 60 and suite.get("failures") == "0"
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["golden.compared"] == properties["golden.canonical"] == "2"


def test_gate_exit_code_sums_the_causes(baseline, tmp_path, recalled):
    drifted = _tampered(baseline, tmp_path, lambda k, a: a + 1e-2)
    verdict = run_gate(tmp_path / "g", GateOptions(golden=str(drifted),
                                                   bench_baseline=str(BENCH / "smoke-a.json"),
                                                   bench_run=str(_slowed_copy(tmp_path, 3.0)),
                                                   skip=("parity",)))
    assert verdict.exit_code == CAUSES["drift"] + CAUSES["speed"]
    text = (tmp_path / "g" / "gate.md").read_text()
    assert "NOT safe" in text and "numeric drift" in text and "speed regression" in text
    failures = ET.parse(tmp_path / "g" / "gate.xml").getroot().iter("failure")
    assert {f.get("message").split(":")[0] for f in failures} == {"numeric drift", "speed regression"}
    advisory = run_gate(tmp_path / "h", GateOptions(golden=str(drifted),
                                                    bench_baseline=str(BENCH / "smoke-a.json"),
                                                    bench_run=str(_slowed_copy(tmp_path, 3.0)),
                                                    skip=("parity",), fail_on=("parity", "drift")))
    assert advisory.exit_code == CAUSES["drift"]  # speed reported, not blocking


def test_gate_reports_missing_baselines_as_environment(tmp_path):
    verdict = run_gate(tmp_path / "g", GateOptions(golden=str(tmp_path / "nowhere"),
                                                   bench_baseline=None, skip=("parity",)))
    assert verdict.exit_code == CAUSES["environment"]
    with pytest.raises(FileExistsError):
        run_gate(tmp_path / "g", GateOptions(golden=None, bench_baseline=None))
    assert (tmp_path / "g" / "gate.md").is_file()  # the first verdict stays
    with pytest.raises(ValueError, match="unknown cause"):
        run_gate(tmp_path / "x", GateOptions(golden=None, bench_baseline=None, fail_on=("speedy",)))


@pytest.mark.parametrize("options, named", [
    (dict(factor=0.9), "factor=0.9"), (dict(alpha=1.5), "alpha=1.5"),
    (dict(sizes="huge"), "sizes='huge'"), (dict(processes=0), "processes=0"),
    (dict(threads=0), "threads=0"), (dict(skip=("parity", "speedy")), "skip=['speedy']"),
    (dict(bench_base=sys.executable, rounds=2), "rounds=2: at least 3"),
    (dict(bench_base=sys.executable, bench_run="run.json"), "not both"),
])
def test_gate_options_refuse_what_no_gate_can_use_when_made(options, named):
    with pytest.raises(ValueError) as refused:
        GateOptions(golden=None, bench_baseline=None, **options)
    assert named in str(refused.value)


def test_gate_options_are_one_frozen_value():
    options = GateOptions(golden=None, bench_baseline=None, fail_on=["parity"], skip=["drift"])
    assert (options.fail_on, options.skip, options.rounds) == (("parity",), ("drift",), 4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.rounds = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        GateOptions(None, None)  # keywords only: a dozen values, easily swapped by position


def test_a_scenario_is_compared_only_with_a_recording_of_its_own_definition(tmp_path):
    base = golden.record(tmp_path / "base", ids=["scenario/hihello"])
    entry = json.loads((base / "manifest.json").read_text())["cases"]["scenario/hihello"]
    from parity.scenarios import course

    assert entry["definition"] == course.fingerprint("hihello")
    assert entry["epochs"] == course.epochs_for("hihello", golden.SCENARIO_STEPS) < 100
    same = golden.compare(golden.load(base))
    assert not same.drifted and {r.verdict for r in same.rows} == {"identical"}

    manifest = json.loads((base / "manifest.json").read_text())
    for changed in ("another definition", None):  # edited scenario, or an older recording
        copy = tmp_path / f"copy-{changed}"
        copy.mkdir()
        (copy / "arrays.npz").write_bytes((base / "arrays.npz").read_bytes())
        if changed is None:
            del manifest["cases"]["scenario/hihello"]["definition"]
        else:
            manifest["cases"]["scenario/hihello"]["definition"] = changed
        (copy / "manifest.json").write_text(json.dumps(manifest))
        report = golden.compare(golden.load(copy))
        assert not report.drifted and {r.verdict for r in report.rows} == {"stale"}  # shown
        assert "record a new baseline" in report.markdown()
        assert "scenario/hihello" in report.coverage.missing and report.coverage.incomplete


def test_a_prefix_of_a_scenario_is_judged_without_the_course_accuracy():
    from parity.scenarios import course

    assert course.epochs_for("many_to_one", 1) == 1  # whole epochs, at least one
    assert course.epochs_for("many_to_one", 10**6) == course.load_fixture("many_to_one")["epochs"]
    import dataclasses

    short = dataclasses.replace(course.run("many_to_one", epochs=1), target_accuracy=2.0)
    assert short.partial and short.verdict == "pass" and not short.problems()
    full = dataclasses.replace(short, partial=False)  # the same numbers, as a full-length run
    assert full.verdict == "FAIL" and any("accuracy" in p for p in full.problems())
