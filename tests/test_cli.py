"""The command line: the main job's entry point and the sweep."""

from __future__ import annotations

import os
import subprocess
import sys

from parity.__main__ import main


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
