"""Fault injection: corrupt files, NaN, interrupted and concurrent writes, bad options, and bugs,
each run through the command line (``parity.cli.main``) or the API a user would call.

Every case asserts three things: the exit code of the contract (0 pass, 1 finding, 2 bad input or
usage, 3 internal error; the gate: its cause sum, 8 when it cannot reach a verdict), a message that
names the file or option and the reason, and that nothing already there was lost or overwritten.
The gate runs with ``--skip parity`` and a stored benchmark run, so no checks or benchmarks run.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import parity
from parity.cli import main
from parity.core import outputs
from parity.core.errors import NonFiniteInput, TransferError, UnsupportedConfig
from parity.core.frameworks import keras, torch
from parity.upgrade import golden

BENCH = Path(__file__).resolve().parents[2] / "fixtures" / "benchmarks"
RUN_A, RUN_B = BENCH / "smoke-a.json", BENCH / "smoke-b.json"
IDS = ["gru/uni/none"]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    return golden.record(tmp_path_factory.mktemp("golden") / "base", ids=IDS)


def _copy_baseline(baseline: Path, to: Path, change=lambda key, a: a) -> Path:
    to.mkdir(parents=True)
    (to / "manifest.json").write_text((baseline / "manifest.json").read_text())
    with np.load(baseline / "arrays.npz") as data:
        np.savez_compressed(to / "arrays.npz", **{k: change(k, data[k]) for k in data.files})
    return to


def _run(tmp_path: Path, edit) -> Path:
    """A copy of benchmark run B with ``edit(run)`` applied."""
    run = json.loads(RUN_B.read_text())
    edit(run)
    path = tmp_path / f"run-{len(list(tmp_path.glob('run-*')))}.json"
    path.write_text(json.dumps(run))
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _gate(tmp_path: Path, *extra: str, golden_dir: Path | None = None,
          bench_baseline: Path = RUN_A, bench_run: Path = RUN_B) -> tuple[int, Path]:
    out = tmp_path / "gate"
    args = ["gate", "--skip", "parity", "--out", str(out), "--bench-baseline", str(bench_baseline),
            "--bench-run", str(bench_run)]
    if golden_dir is not None:
        args += ["--golden", str(golden_dir)]
    else:
        args += ["--skip", "parity,drift"]
    return main(args + list(extra)), out


def _gate_report(out: Path) -> tuple[str, ET.Element]:
    assert {"gate.md", "gate.xml"} <= {p.name for p in out.iterdir()}
    return (out / "gate.md").read_text(), ET.parse(out / "gate.xml").getroot()


# ------------------------------------------------------------------------ NaN is never rounding

def test_golden_compare_nan_today_is_its_own_failing_verdict(baseline, capsys, monkeypatch):
    real = golden.compute_case

    def nan_today(case, gradients):
        computed = real(case, gradients)
        computed.values["torch"]["output"] = np.full_like(computed.values["torch"]["output"], np.nan)
        return computed
    monkeypatch.setattr(golden, "compute_case", nan_today)
    monkeypatch.setattr(golden, "case_ids", lambda with_scenarios=True: list(IDS))  # complete
    assert main(["golden", "compare", str(baseline)]) == 1
    out = capsys.readouterr().out
    assert "non-finite" in out and "rounding" not in out.split("| gru | torch |")[1].split("\n")[0]
    assert ", now nan" in out


def test_golden_nan_on_both_sides_is_reported_not_identical(baseline):
    base = golden.load(baseline)
    computed = golden.compute(IDS)
    for b in (base.arrays, computed["gru/uni/none"].values["keras"]):
        key = "gru/uni/none|keras|output" if b is base.arrays else "output"
        b[key] = b[key].copy()
        b[key][0, 0, 0] = np.nan
    rows = {(r.framework, r.tensor): r for r in golden.compare(base, computed).rows}
    row = rows[("keras", "output")]
    assert row.verdict == "non-finite" and "(1 on both sides)" in row.detail
    assert rows[("torch", "output")].verdict == "identical"


def test_gate_with_a_nan_baseline_is_not_safe(baseline, tmp_path):
    nan = _copy_baseline(baseline, tmp_path / "nan", lambda k, a: a * np.nan)
    code, out = _gate(tmp_path, golden_dir=nan)
    md, junit = _gate_report(out)
    # a recording holds finite values only: a damaged baseline (8), not drift
    assert code == 8 and "NOT safe" in md and "non-finite" in md and "damaged" in md
    assert any("non-finite" in f.get("message") for f in junit.iter("failure"))


def test_forward_check_refuses_non_finite_inputs_naming_the_element():
    layer = keras.layers.SimpleRNN(3, return_state=True)
    layer.build((None, None, 2))
    module = parity.to_torch(layer)
    x = np.zeros((2, 4, 2), np.float32)
    x[1, 3, 0] = np.inf
    with pytest.raises(NonFiniteInput, match=r"x=.*inf at \(batch=1, step=3, feature=0\)"):
        parity.assert_parity(layer, module, x)
    x[1, 3, 0] = 0
    h0 = [np.zeros((2, 3), np.float32)]
    h0[0][0, 2] = np.nan
    with pytest.raises(NonFiniteInput, match=r"initial_state\[0\]=.*nan at \(batch=0, unit=2\)"):
        parity.assert_parity(layer, module, x, h0)
    with pytest.raises(NonFiniteInput, match="x"):
        parity.assert_gradient_parity(layer, module, np.full((1, 2, 2), np.nan, np.float32))


def test_training_judge_never_passes_a_nan_loss_or_weight():
    from parity.models.training import _worst
    ratio, text = _worst("loss", "keras", np.nan, "reference", 1.0, 1e-6)
    assert ratio == np.inf and "non-finite" in text
    ratio, text = _worst("weight w", "keras", np.array([1.0, np.inf]), "torch",
                         np.array([1.0, np.inf]), 1e-6)
    assert ratio == np.inf and "weight w" in text and "(index=1)" in text
    assert "1 element(s)" in text


# ------------------------------------------------------------------------ compare: exit codes

@pytest.mark.parametrize("name,edit,message", [
    ("entries are numbers", lambda r: r.update(benchmarks=[1, 2]), "benchmarks[0] is 1"),
    ("median 0", lambda r: r["benchmarks"][0]["stats"].update(median=0.0), "median 0.0"),
    ("NaN sample", lambda r: r["benchmarks"][3]["stats"]["data"].__setitem__(2, float("nan")),
     "raw sample data[2] = nan"),
    ("data not a list", lambda r: r["benchmarks"][0]["stats"].update(data="x"), "not a list"),
    ("machine_info a list", lambda r: r.update(machine_info=[1]), "machine_info is [1]"),
    ("machine_info empty list", lambda r: r.update(machine_info=[]), "machine_info is []"),
    ("machine_info missing", lambda r: r.pop("machine_info"), "machine_info is None"),
    ("machine_info without parity", lambda r: r["machine_info"].pop("parity"),
     "an object 'parity'"),
    ("peak not a number", lambda r: r["machine_info"]["parity"].update(
        fp32_gemm_peak_gflops="fast"), "machine_info parity fp32_gemm_peak_gflops 'fast'"),
    ("peaks by device a list", lambda r: r["machine_info"]["parity"].update(
        fp32_gemm_peak_gflops_by_device=[1]), "fp32_gemm_peak_gflops_by_device [1]"),
    ("cpu a number", lambda r: r["machine_info"].update(cpu=3), "machine_info cpu 3"),
    ("benchmarks an object", lambda r: r.update(benchmarks={}), "no 'benchmarks' list"),
    ("entry without name", lambda r: r["benchmarks"][3].pop("name"),
     "benchmarks[3]: 'name' is None"),
    ("entry without stats", lambda r: r["benchmarks"][3].pop("stats"), "has no stats"),
    ("cell a number", lambda r: r["benchmarks"][3]["extra_info"].update(cell=3),
     "extra_info cell 3 is not a string"),
    ("1e308 s sample", lambda r: r["benchmarks"][3]["stats"]["data"].__setitem__(2, 1e308),
     "data[2] = 1e+308 is not a positive, finite time in seconds, at most a day (86400 s)"),
    ("sample over a day", lambda r: r["benchmarks"][3]["stats"]["data"].__setitem__(2, 86401),
     "data[2] = 86401"),
    ("negative median", lambda r: r["benchmarks"][3]["stats"].update(median=-0.5),
     "stats median -0.5"),
    ("median over a day", lambda r: r["benchmarks"][3]["stats"].update(median=1e308),
     "stats median 1e+308"),
    ("iqr a string", lambda r: r["benchmarks"][3]["stats"].update(iqr="wide"), "stats iqr 'wide'"),
    ("reference of a year", lambda r: r["benchmarks"][3]["extra_info"].update(
        reference={"seconds": 3.2e7}), "extra_info reference {'seconds': 32000000.0}"),
])
def test_compare_refuses_corrupt_runs_with_exit_2(tmp_path, capsys, name, edit, message):
    bad = _run(tmp_path, edit)
    assert main(["bench", "compare", str(RUN_A), str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and message in err
    if "benchmarks[3]" in message and "name" not in name:  # the benchmark, by index and name
        assert f"benchmarks[3] ({json.loads(RUN_B.read_text())['benchmarks'][3]['name']})" in err


@pytest.mark.parametrize("command", ["report", "merge"])
def test_report_and_merge_refuse_impossible_samples_with_exit_2(tmp_path, capsys, command):
    bad = _run(tmp_path, lambda r: r["benchmarks"][0]["stats"]["data"].__setitem__(0, 1e308))
    out = tmp_path / "out"
    argv = [str(bad), "--out", str(out)] if command == "report" else [str(out), str(RUN_A),
                                                                      str(bad)]
    assert main(["bench", command, *argv]) == 2
    assert "data[0] = 1e+308" in capsys.readouterr().err and not out.exists()


def test_compare_exit_codes_pass_finding_folder_and_out(tmp_path, capsys):
    assert main(["compare", str(RUN_A), str(RUN_B)]) == 0
    slowed = _run(tmp_path, lambda r: [b["stats"].update(
        median=b["stats"]["median"] * 3, data=[v * 3 for v in b["stats"]["data"]])
        for b in r["benchmarks"]])
    assert main(["compare", str(RUN_A), str(slowed)]) == 1
    assert main(["compare", str(tmp_path), str(RUN_B)]) == 2
    assert "a folder, not a file" in capsys.readouterr().err
    blocker = tmp_path / "a-file"
    blocker.write_text("mine")
    assert main(["compare", str(RUN_A), str(RUN_B), "--out", str(blocker / "c.md")]) == 2
    assert "is a file" in capsys.readouterr().err and blocker.read_text() == "mine"
    assert main(["compare", str(RUN_A), str(RUN_B), "--out", str(blocker)]) == 2
    assert "exists" in capsys.readouterr().err and blocker.read_text() == "mine"
    assert main(["compare", str(RUN_A), str(RUN_B), "--factor", "0.5"]) == 2


def test_an_internal_error_exits_3_with_the_traceback_and_a_pointer(monkeypatch, capsys):
    import parity.bench.compare

    def broken(*args, **kwargs):
        return 1 / 0
    monkeypatch.setattr(parity.bench.compare, "compare_runs", broken)
    assert main(["compare", str(RUN_A), str(RUN_B)]) == 3
    err = capsys.readouterr().err
    assert "ZeroDivisionError" in err and "Traceback" in err and "bug in rnn-parity" in err


# ------------------------------------------------------------------------ golden: exit codes

def _truncated(baseline: Path, to: Path) -> Path:
    copy = _copy_baseline(baseline, to)
    data = (copy / "arrays.npz").read_bytes()
    (copy / "arrays.npz").write_bytes(data[: len(data) // 2])
    return copy


@pytest.mark.parametrize("fault,message", [
    ("truncated npz", "truncated or corrupt"),
    ("empty npz", "truncated or corrupt"),
    ("manifest without cases", "no 'cases'"),
    ("npz missing a listed tensor", "lacks 1 tensor(s)"),
    ("no manifest (interrupted recording)", "incomplete golden baseline"),
    ("manifest not JSON", "unreadable"),
    ("a file, not a folder", "not a folder"),
])
def test_golden_compare_refuses_damaged_baselines_with_exit_2(baseline, tmp_path, capsys, fault,
                                                              message):
    path = _copy_baseline(baseline, tmp_path / "b")
    if fault == "truncated npz":
        path = _truncated(baseline, tmp_path / "t")
    elif fault == "empty npz":
        (path / "arrays.npz").write_bytes(b"")
    elif fault == "manifest without cases":
        manifest = json.loads((path / "manifest.json").read_text())
        del manifest["cases"]
        (path / "manifest.json").write_text(json.dumps(manifest))
    elif fault == "npz missing a listed tensor":
        with np.load(path / "arrays.npz") as data:
            arrays = {k: data[k] for k in data.files if not k.endswith("|torch|output")}
        np.savez(path / "arrays.npz", **arrays)
    elif fault == "no manifest (interrupted recording)":
        (path / "manifest.json").unlink()
    elif fault == "manifest not JSON":
        (path / "manifest.json").write_text("{")
    else:
        path = path / "arrays.npz"
    before = _snapshot(path) if path.is_dir() else path.read_bytes()
    assert main(["golden", "compare", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err
    assert (_snapshot(path) if path.is_dir() else path.read_bytes()) == before


def test_golden_record_checks_the_place_before_computing(tmp_path, monkeypatch, capsys, baseline):
    def never(*args, **kwargs):
        raise AssertionError("computed before the output place was checked")
    monkeypatch.setattr(golden, "compute", never)
    blocker = tmp_path / "a-file"
    blocker.write_text("mine")
    assert main(["golden", "record", str(blocker / "base")]) == 2
    assert "is a file" in capsys.readouterr().err and blocker.read_text() == "mine"
    before = _snapshot(baseline)
    assert main(["golden", "record", str(baseline)]) == 2
    assert "never overwritten" in capsys.readouterr().err and _snapshot(baseline) == before
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "arrays.npz").write_bytes(b"partial")
    assert main(["golden", "record", str(stub)]) == 2
    assert "not a complete baseline" in capsys.readouterr().err
    assert (stub / "arrays.npz").read_bytes() == b"partial"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_golden_record_into_a_read_only_folder_exits_2_before_computing(tmp_path, monkeypatch,
                                                                        capsys):
    monkeypatch.setattr(golden, "compute", lambda *a, **k: pytest.fail("computed"))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(["golden", "record", str(locked / "base")]) == 2
    finally:
        locked.chmod(0o700)
    assert "not writable" in capsys.readouterr().err


def test_an_interrupted_record_leaves_nothing_that_blocks_the_next(tmp_path, monkeypatch):
    target = tmp_path / "base"

    def interrupted(ids, epochs=None):
        raise KeyboardInterrupt
    monkeypatch.setattr(golden, "compute", interrupted)
    with pytest.raises(KeyboardInterrupt):
        golden.record(target, ids=IDS)
    assert not target.exists() and not list(tmp_path.iterdir())
    monkeypatch.undo()
    golden.record(target, ids=IDS)
    assert golden.load(target).manifest["cases"].keys() == set(IDS)


def test_a_claim_held_by_a_running_process_is_respected(tmp_path):
    import socket
    target = tmp_path / "out"
    target.mkdir()
    (target / outputs.CLAIM).write_text(f"{socket.gethostname()} {os.getpid()}\n")
    with pytest.raises(FileExistsError, match="being written by another run"):
        outputs.claim(target)
    assert (target / outputs.CLAIM).exists()


def test_new_files_never_replace_existing_ones(tmp_path):
    path = tmp_path / "f.json"
    outputs.write_new_file(path, "first")
    with pytest.raises(FileExistsError, match="nothing is overwritten"):
        outputs.write_new_file(path, "second")
    assert path.read_text() == "first" and sorted(p.name for p in tmp_path.iterdir()) == ["f.json"]


# ------------------------------------------------------------------------ runs in the same second

def test_two_scenario_runs_in_the_same_second_get_two_folders(tmp_path, monkeypatch, capsys):
    import time

    import parity.scenarios.report
    monkeypatch.setattr(time, "strftime", lambda fmt, *a: "20260101-000000")
    calls = []

    def fake_write(names, out):
        calls.append(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "scenarios.md").write_text(f"run {len(calls)}")
        return [], "| table |"
    monkeypatch.setattr(parity.scenarios.report, "write", fake_write)
    for _ in range(2):
        assert main(["scenarios", "--reports", str(tmp_path)]) == 0
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert folders == ["scenarios-20260101-000000", "scenarios-20260101-000000-2"]
    assert [(tmp_path / f / "scenarios.md").read_text() for f in folders] == ["run 1", "run 2"]
    assert str(tmp_path / folders[1]) in capsys.readouterr().out


def test_scenarios_refuse_a_taken_folder_before_training(tmp_path, monkeypatch, capsys):
    import parity.scenarios.report
    monkeypatch.setattr(parity.scenarios.report, "write",
                        lambda *a: pytest.fail("trained before the folder was claimed"))
    taken = tmp_path / "mine"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    assert main(["scenarios", "hihello", "--out", str(taken)]) == 2
    assert "exists" in capsys.readouterr().err and _snapshot(taken) == {"notes.txt": b"mine"}
    assert main(["scenarios", "no_such", "--out", str(tmp_path / "x")]) == 2
    assert "unknown scenario" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_an_error_during_the_work_leaves_no_folder(tmp_path, monkeypatch):
    import parity.scenarios.report

    def failing(names, out):
        out.mkdir(parents=True, exist_ok=True)
        (out / "half.png").write_bytes(b"\x89PNG")
        raise KeyError("a bug")
    monkeypatch.setattr(parity.scenarios.report, "write", failing)
    assert main(["scenarios", "--reports", str(tmp_path)]) == 3
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------ the gate always reports

def test_gate_with_a_truncated_golden_baseline_reports_an_environment_problem(baseline, tmp_path):
    code, out = _gate(tmp_path, golden_dir=_truncated(baseline, tmp_path / "t"))
    md, junit = _gate_report(out)
    assert code == 8 and "environment problem" in md and "truncated or corrupt" in md
    assert junit.get("failures") == "1"


def test_gate_with_a_baseline_without_raw_samples_still_writes_its_verdict(tmp_path):
    no_samples = _run(tmp_path, lambda r: [b["stats"].pop("data") for b in r["benchmarks"]])
    code, out = _gate(tmp_path, bench_baseline=no_samples)
    md, _ = _gate_report(out)
    assert code == 8 and "raw samples" in md and "--benchmark-save-data" in md


def test_gate_with_an_unreadable_bench_run_still_writes_its_verdict(tmp_path):
    code, out = _gate(tmp_path, bench_run=tmp_path)
    md, junit = _gate_report(out)
    assert code == 8 and "cannot be read" in md
    assert [c.get("name") for c in junit.iter("testcase")] == ["benchmark run"]


def test_gate_usage_errors_exit_8_and_touch_nothing(tmp_path, capsys):
    code, out = _gate(tmp_path, "--fail-on", "speedy")
    assert code == 8 and "--fail-on=['speedy']" in capsys.readouterr().err and not out.exists()
    assert main(["gate", "--sizes", "huge"]) == 8
    out.mkdir()
    (out / "gate.md").write_text("an earlier verdict")
    code, _ = _gate(tmp_path)
    assert code == 8 and (out / "gate.md").read_text() == "an earlier verdict"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gate"]


def test_a_bug_inside_a_gate_step_is_reported_in_the_verdict(baseline, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("cases")
    monkeypatch.setattr(golden, "compare", broken)
    code, out = _gate(tmp_path, golden_dir=baseline)
    md, _ = _gate_report(out)
    assert code == 8 and "internal error in rnn-parity (KeyError" in md and "bug" in md
    assert "KeyError" in (out / "gate-error.log").read_text()


def test_gate_passes_with_exit_0(tmp_path):
    code, out = _gate(tmp_path)
    md, _ = _gate_report(out)
    assert code == 0 and "SAFE to upgrade" in md


# ------------------------------------------------------------------------ report, merge, sweep, run

def test_report_and_merge_refuse_bad_input_and_keep_what_exists(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text("{\"benchmarks\": ")
    assert main(["report", str(corrupt), "--out", str(tmp_path / "r")]) == 2
    assert "not valid JSON" in capsys.readouterr().err and not (tmp_path / "r").exists()
    existing = tmp_path / "merged.json"
    existing.write_text("mine")
    assert main(["merge", str(existing), str(RUN_A)]) == 2
    assert existing.read_text() == "mine"
    assert main(["merge", str(tmp_path / "new.json"), str(corrupt)]) == 2
    assert not (tmp_path / "new.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.json", "merged.json"]


@pytest.mark.parametrize("argv", [
    ["sweep", "--examples", "0"],
    ["table", "--examples", "-1"],
    ["sweep", "--bogus"],
    ["golden", "remove", "x"],
    ["run", "--processes", "0"],
    ["nonsense"],
])
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    assert "error:" in capsys.readouterr().err


def test_sweep_api_refuses_zero_examples():
    from parity.calibration.sweep import sweep
    with pytest.raises(UnsupportedConfig, match="examples=0"):
        sweep(0)


def test_run_outside_the_repository_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--reports", str(tmp_path / "reports")]) == 2
    assert "benchmarks/ not found" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


def test_check_maps_pytest_codes_onto_the_contract(run_check):
    code, out = run_check("-q", "-k", "no_such_check_anywhere")
    assert code == 2, out[-2000:]  # pytest 5: no tests collected
    from parity.core.cli_options import pytest_code
    assert [pytest_code(c) for c in range(6)] == [0, 1, 3, 3, 2, 2]


# ------------------------------------------------------------------------ API refusals

def test_copy_weights_into_a_model_whose_head_was_replaced_writes_nothing():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((None,), dtype="int32"),
                              keras.layers.Embedding(11, 5, mask_zero=True),
                              keras.layers.LSTM(6), keras.layers.Dense(2)])
    module = parity.to_torch(model)
    module.layers[2] = torch.nn.Linear(6, 3)
    with torch.no_grad():
        for p in module.parameters():
            p.fill_(0.5)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    with pytest.raises(TransferError, match="layer 2.*units=3"):
        parity.copy_weights(model, module)
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    module.layers[2] = torch.nn.ReLU()
    with pytest.raises(TransferError, match="layer 2='ReLU'.*replaced"):
        parity.copy_weights(model, module)


def _layer(units=3, **kw):
    layer = keras.layers.SimpleRNN(units, **kw)
    layer.build((None, None, 2))
    return layer


@pytest.mark.parametrize("fault,kwargs,error,match", [
    ("batch of 0", dict(x=np.zeros((0, 4, 2), np.float32)), UnsupportedConfig, "batch >= 1"),
    ("mask as nested lists", dict(mask=[[True] * 4] * 2), UnsupportedConfig, "mask='list'"),
    ("float64 initial state", dict(initial_state=[np.zeros((2, 3))]), UnsupportedConfig,
     r"initial_state\[0\].dtype='float64'"),
    ("initial state as a list", dict(initial_state=[[[0.0] * 3] * 2]), UnsupportedConfig,
     r"initial_state\[0\].dtype='list'"),
])
def test_inputs_are_refused_before_reaching_a_framework(fault, kwargs, error, match):
    layer = _layer(return_state=True)
    module = parity.to_torch(layer)
    args = dict(x=np.zeros((2, 4, 2), np.float32), initial_state=None, mask=None) | kwargs
    with pytest.raises(error, match=match):
        parity.assert_parity(layer, module, args["x"], args["initial_state"], args["mask"])


def test_activations_are_matched_by_identity_not_by_name():
    def tanh(x):  # a user's scaled function that happens to be called tanh
        return 2 * keras.activations.tanh(x)
    with pytest.raises(UnsupportedConfig, match="not a keras.activations function"):
        parity.to_torch(_layer(activation=tanh))
    assert parity.to_torch(_layer(activation=keras.activations.tanh)).spec.activation == "tanh"


def test_an_unequal_units_stack_lists_units_in_layer_order_without_a_dtype_hint():
    stack = keras.layers.RNN([keras.layers.SimpleRNNCell(8), keras.layers.SimpleRNNCell(4),
                              keras.layers.SimpleRNNCell(6)])
    stack.build((None, None, 2))
    with pytest.raises(UnsupportedConfig, match=r"units=\[8, 4, 6\]") as refused:
        parity.to_torch(stack)
    assert "dtype" not in str(refused.value)
