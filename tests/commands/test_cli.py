"""The command line: the main job's entry point and the sweep."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

from parity.cli import main


def test_sweep_prints_errors_and_tolerance_used(capsys):
    assert main(["sweep", "--examples", "3"]) == 0
    out = capsys.readouterr().out
    assert "comparisons: 6" in out and "largest share of tolerance used (cross)" in out


def test_check_runs_the_shipped_checks_and_returns_pytest_exit_code(run_check, monkeypatch):
    import gc

    from parity.core import frameworks

    frozen_with_collector_on = []  # the command is an entry point: it freezes the frameworks
    monkeypatch.setattr(frameworks, "freeze_imported",
                        lambda: frozen_with_collector_on.append(gc.isenabled()))
    code, out = run_check("-q", "-k", "closed_form")
    assert code == 0, out
    assert "4 passed" in out
    assert frozen_with_collector_on == [True]


def test_the_frameworks_import_leaves_the_collector_as_it_found_it():
    import gc
    import importlib

    from parity.core import frameworks

    try:
        for enabled in (False, True):
            (gc.enable if enabled else gc.disable)()
            importlib.reload(frameworks)  # its code again: torch and keras come from sys.modules
            assert gc.isenabled() == enabled
    finally:
        gc.enable()


def test_scenarios_prints_table_and_writes_plots(tmp_path, capsys):
    out = tmp_path / "scen"
    assert main(["scenarios", "hihello", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| hihello | 100 |" in table and "| pass |" in table
    assert (out / "hihello.png").stat().st_size > 10_000
    assert "hihello" in (out / "scenarios.md").read_text()
    assert main(["scenarios", "hihello", "--out", str(out)]) == 2  # never overwrites
    assert "exists" in capsys.readouterr().err
    assert main(["scenarios", "no_such", "--out", str(tmp_path / "x")]) == 2


def test_calibration_sweep_writes_its_evidence_and_summarises_folders_together(tmp_path, capsys,
                                                                               monkeypatch):
    from parity.core import frameworks

    pinned = []  # computing sweeps run on one thread per framework and BLAS, as the checks do
    monkeypatch.setattr(frameworks, "pin_threads", lambda *threads: pinned.append(threads))
    a, b, both = tmp_path / "a", tmp_path / "b", tmp_path / "both"
    assert main(["sweep", "--calibrate", "--cases", "2", "--seed", "5", "--out", str(a)]) == 0
    assert pinned == [(1, 1)]
    assert main(["sweep", "--calibrate", "--cases", "1", "--seed", "6", "--out", str(b)]) == 0
    lines = (a / "cases.jsonl").read_text().splitlines()
    assert len(lines) == 2 and all("forward torch vs oracle" in json.loads(x)["ratios"] for x in lines)
    assert main(["sweep", "--summarise", str(a), str(b), "--out", str(both)]) == 0
    summary = json.loads((both / "summary.json").read_text())
    assert summary["cases"] == 3 and summary["all"]["max"] < 1
    assert (both / "ratios.png").stat().st_size > 10_000
    capsys.readouterr()
    assert main(["sweep", "--summarise", str(tmp_path / "none"), "--out", str(tmp_path / "c")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["sweep", "--calibrate", "--cases", "1", "--out", str(a)]) == 2  # never overwrites


def test_comparing_stored_runs_loads_no_framework():
    code = ("import sys; from parity.cli import main; "
            "code = main(['bench', 'compare', 'fixtures/benchmarks/smoke-a.json', "
            "'fixtures/benchmarks/smoke-b.json']); "
            "loaded = sorted({'torch', 'tensorflow', 'keras', 'jax'} & set(sys.modules)); "
            "print('loaded', loaded); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "loaded []" in done.stdout


def test_grouped_commands_and_their_older_spellings_share_one_parser(capsys):
    from parity.cli import build_parser

    parser = build_parser()
    new = parser.parse_args(["bench", "compare", "a.json", "b.json", "--factor", "1.2"])
    old = parser.parse_args(["compare", "a.json", "b.json", "--factor", "1.2"])
    assert new.handler is old.handler and (new.base, new.new, new.factor) == ("a.json", "b.json", 1.2)
    assert parser.parse_args(["sweep", "--table"]).table
    assert main(["bench"]) == 2 and "run,report,compare,merge,ab" in capsys.readouterr().err
    assert main(["compare", "a.json", "b.json", "--no-such-option"]) == 2
    assert "unrecognised arguments --no-such-option" in capsys.readouterr().err
    assert main(["sweep", "--table", "--calibrate"]) == 2  # one mode at a time
    assert main(["gate", "--no-such-option"]) == 8  # the gate's "no verdict" code


def test_older_spellings_are_left_out_of_the_help_and_say_what_replaces_them(capsys):
    import re

    assert main(["--help"]) == 0
    listed = capsys.readouterr().out.split("positional arguments:")[1]
    assert re.search(r"^    bench ", listed, flags=re.M)
    assert not re.search(r"^    (report|compare|merge|table) ", listed, flags=re.M)
    runs = ["fixtures/benchmarks/smoke-a.json", "fixtures/benchmarks/smoke-b.json"]
    assert main(["compare", *runs]) == 0
    err = capsys.readouterr().err
    assert "compare: note: older spelling of 'python -m parity bench compare'" in err
    assert "removed in rnn-parity 0.2" in err
    assert main(["bench", "compare", *runs]) == 0
    assert "older spelling" not in capsys.readouterr().err


def test_the_sizes_the_commands_offer_are_the_benchmarks_size_sets():
    from parity.bench.workloads import SIZE_SETS
    from parity.core.cli_options import SIZES

    assert sorted(SIZES) == sorted(SIZE_SETS)


def _replay_processes(calls: list[list[str]]):
    """A stand-in for benchmark process i: it writes window i of the committed run smoke-a, the
    benchmarks its ``-k`` selects (words joined by "and"; a real process imports both frameworks
    and measures the machine's peak, seconds each; the gate in CI and the main job run real
    ones)."""
    raw = json.loads(Path("fixtures/benchmarks/smoke-a.json").read_text())

    def runner(cmd: list[str], quiet: bool) -> int:
        calls.append(cmd)
        out = Path(next(a for a in cmd if a.startswith("--benchmark-json=")).split("=", 1)[1])
        words = cmd[cmd.index("-k") + 1].split(" and ") if "-k" in cmd else []
        part = copy.deepcopy(raw)
        part["benchmarks"] = [b for b in part["benchmarks"]
                              if b["extra_info"]["window"] == f"p{len(calls) - 1}-w0"
                              and all(w in b["name"] for w in words)]
        for b in part["benchmarks"]:
            b["extra_info"]["window"] = 0
        out.write_text(json.dumps(part))
        return 0
    return runner


def test_bench_run_merges_its_processes_into_one_run_with_a_report(tmp_path, capsys, monkeypatch):
    from parity.bench import processes

    calls: list[list[str]] = []
    monkeypatch.setattr(processes, "run_in_subprocess", _replay_processes(calls))
    out = tmp_path / "bench"
    code = main(["bench", "run", "--processes", "2", "-k", "small and simple_rnn", "--out", str(out)])
    assert code == 0, capsys.readouterr()
    assert len(calls) == 2 and all(c[c.index("-k") + 1] == "small and simple_rnn" for c in calls)
    assert all("--bench-windows=1" in c and "benchmarks" in c for c in calls)
    run = json.loads((out / "benchmarks.json").read_text())
    windows = {b["extra_info"]["window"] for b in run["benchmarks"]}
    assert windows == {"p0-w0", "p1-w0"}  # one window per process
    assert {(b["extra_info"]["size"], b["extra_info"]["cell"]) for b in run["benchmarks"]} == \
        {("small", "simple_rnn")}
    assert "## simple_rnn, small" in (out / "report" / "report.md").read_text()
    assert sorted(p.name for p in (out / "report").glob("*.png")) == \
        ["simple_rnn-forward.png", "simple_rnn-train.png"]
    assert not list(out.glob("*process*.json"))  # the parts are merged, then removed
    assert main(["bench", "run", "--out", str(out)]) == 2  # never overwrites


def test_a_failed_benchmark_process_fails_bench_run_with_no_merged_run(tmp_path, capsys,
                                                                        monkeypatch):
    from parity.bench import processes

    monkeypatch.setattr(processes, "run_in_subprocess", lambda cmd, quiet: 1)
    assert main(["bench", "run", "--out", str(tmp_path / "bench")]) == 1
    assert "benchmarks: FAILED" in capsys.readouterr().out
    assert not (tmp_path / "bench" / "benchmarks.json").exists()
