"""The command line: the main job's entry point and the sweep."""

from __future__ import annotations

import os
import subprocess
import sys

from parity.cli import main


def test_sweep_prints_errors_and_tolerance_used(capsys):
    assert main(["sweep", "--examples", "3"]) == 0
    out = capsys.readouterr().out
    assert "comparisons: 6" in out and "largest share of tolerance used (cross)" in out


def test_check_runs_the_shipped_checks_and_returns_pytest_exit_code():
    env = dict(os.environ, PYTHONHASHSEED="0")
    ok = subprocess.run([sys.executable, "-m", "parity", "check", "-q", "-k", "closed_form"],
                        capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "4 passed" in ok.stdout


def test_scenarios_prints_table_and_writes_plots(tmp_path, capsys):
    out = tmp_path / "scen"
    assert main(["scenarios", "hihello", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| hihello | 20 |" in table and "| pass |" in table
    assert (out / "hihello.png").stat().st_size > 10_000
    assert "hihello" in (out / "scenarios.md").read_text()
    assert main(["scenarios", "hihello", "--out", str(out)]) == 2  # never overwrites
    assert "exists" in capsys.readouterr().err
    assert main(["scenarios", "no_such", "--out", str(tmp_path / "x")]) == 2


def test_calibration_sweep_writes_its_evidence_and_summarises_folders_together(tmp_path, capsys):
    import json

    a, b, both = tmp_path / "a", tmp_path / "b", tmp_path / "both"
    assert main(["sweep", "--calibrate", "--cases", "3", "--seed", "5", "--out", str(a)]) == 0
    assert main(["sweep", "--calibrate", "--cases", "2", "--seed", "6", "--out", str(b)]) == 0
    lines = (a / "cases.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all("forward torch vs oracle" in json.loads(x)["ratios"] for x in lines)
    assert main(["sweep", "--summarise", str(a), str(b), "--out", str(both)]) == 0
    summary = json.loads((both / "summary.json").read_text())
    assert summary["cases"] == 5 and summary["all"]["max"] < 1
    assert (both / "ratios.png").stat().st_size > 10_000
    capsys.readouterr()
    assert main(["sweep", "--summarise", str(tmp_path / "none"), "--out", str(tmp_path / "c")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["sweep", "--calibrate", "--cases", "1", "--out", str(a)]) == 2  # never overwrites
