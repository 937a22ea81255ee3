"""The A/B mode: ABBA scheduling, sides, the paired verdict, and a whole run with a stand-in for
the benchmark processes that replays the committed runs' processes round by round."""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from parity.bench.ab import BenchmarkProcessError, Side, paired_change, paired_compare, run_ab, schedule, side
from parity.bench.results import Result, load
from parity.cli import main
from parity.core.errors import InputFileError

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "benchmarks"
RUN_A = FIXTURES / "smoke-a.json"


def test_rounds_alternate_in_abba_order():
    assert schedule(3) == [(0, "base"), (0, "new"), (1, "new"), (1, "base"), (2, "base"),
                           (2, "new")]
    with pytest.raises(ValueError, match="rounds=0"):
        schedule(0)


def test_sides_are_a_python_or_a_working_tree(tmp_path, monkeypatch):
    tree = side(str(ROOT), "base")
    assert tree.cwd == ROOT and tree.pythonpath == str(ROOT)
    monkeypatch.chdir(ROOT)
    python = side(sys.executable, "new")
    assert python.python == sys.executable and python.pythonpath is None
    with pytest.raises(InputFileError, match="--base .*not a working tree"):
        side(str(tmp_path), "base")
    with pytest.raises(InputFileError, match="--new .*neither"):
        side(str(tmp_path / "nothing"), "new")


def _result(rounds: dict[str, list[float]]) -> Result:
    windows = tuple(tuple(v) for v in rounds.values())
    data = tuple(v for w in windows for v in w)
    return Result("x", "lstm", "seed", "forward", "torch-eager", "torch", float(np.median(data)),
                  0.0, 1, 1.0, "k", data, windows=windows, window_ids=tuple(rounds))


def test_paired_verdicts_follow_the_interval():
    base = _result({f"p{r}-w0": [1.0 + 0.1 * r] * 10 for r in range(4)})  # drifting machine
    same = _result({f"p{r}-w0": [1.0 + 0.1 * r] * 10 for r in range(4)})
    slower = _result({f"p{r}-w0": [1.1 * (1.0 + 0.1 * r) * (1 + 0.005 * (-1) ** r)] * 10
                      for r in range(4)})
    wild = _result({f"p{r}-w0": [(1.0 + 0.1 * r) * (1.3 if r % 2 else 0.9)] * 10
                    for r in range(4)})
    assert paired_change(base, same, 1.06, False).verdict == "unchanged"
    change = paired_change(base, slower, 1.06, False)
    # the drift between rounds cancels in the pairing: 10 % seen with a tight interval
    assert change.verdict == "regression" and change.ratio == pytest.approx(1.1, rel=0.01)
    assert 1.06 < change.low < change.high < 1.12
    assert paired_change(base, wild, 1.06, False).verdict == "unstable"
    few = _result({"p0-w0": [1.0] * 10, "p1-w0": [1.0] * 10})
    assert "fewer than 3" in paired_change(few, few, 1.06, False).problems[0]


def _replay(new_factor: float):
    """A stand-in for a benchmark process: round r of a side writes process r of the committed
    run smoke-a (new: its samples times ``new_factor``)."""
    raw = json.loads(RUN_A.read_text())

    def runner(cmd: list[str], s: Side) -> int:
        out = Path(next(a for a in cmd if a.startswith("--benchmark-json=")).split("=", 1)[1])
        label, r = re.match(r"(base|new)-round(\d+)\.json", out.name).groups()
        part = copy.deepcopy(raw)
        part["benchmarks"] = [b for b in part["benchmarks"]
                              if b["extra_info"]["window"] == f"p{int(r) % 3}-w0"]
        for b in part["benchmarks"]:
            b["extra_info"]["window"] = 0
            if label == "new":
                b["stats"]["data"] = [v * new_factor for v in b["stats"]["data"]]
                b["stats"]["median"] *= new_factor
        out.write_text(json.dumps(part))
        return 0
    return runner


def test_a_whole_ab_run_writes_its_folder_and_sees_a_slowdown(tmp_path):
    s = Side("base", sys.executable, ROOT)
    comparison, folder = run_ab(s, s, tmp_path / "ab", rounds=4, runner=_replay(1.25))
    assert sorted(p.name for p in folder.iterdir()) == ["ab.md", "base.json", "compare.md",
                                                       "forest.png", "new.json"]
    assert len(load(folder / "base.json").results[0].windows) == 4
    # compare's verdict on the same runs, each round a window, beside the paired one
    unpaired = (folder / "compare.md").read_text()
    assert unpaired.startswith("# Benchmark comparison: base.json -> new.json")
    assert int(re.search(r"(\d+) regressions, 0 improvements", unpaired).group(1)) >= 54
    assert len(comparison.regressions) == len(comparison.changes) == 60
    assert "| p (Wilcoxon) |" in (folder / "ab.md").read_text()
    same, _ = run_ab(s, s, tmp_path / "aa", rounds=4, runner=_replay(1.0))
    assert same.regressions == [] and same.counts()["unchanged"] == 60
    with pytest.raises(FileExistsError):
        run_ab(s, s, tmp_path / "aa", rounds=4, runner=_replay(1.0))


def test_a_failing_side_is_named_and_leaves_no_folder(tmp_path):
    s = Side("base", sys.executable, ROOT)
    with pytest.raises(BenchmarkProcessError, match="--base round 0"):
        run_ab(s, s, tmp_path / "ab", rounds=2, runner=lambda cmd, side_: 4)
    assert not (tmp_path / "ab").exists()


def test_bench_ab_cli_refuses_bad_sides_with_exit_2(tmp_path, capsys):
    assert main(["bench", "ab", "--base", str(tmp_path), "--new", str(ROOT),
                 "--out", str(tmp_path / "o")]) == 2
    assert "--base" in capsys.readouterr().err
    assert main(["bench", "ab", "--base", str(ROOT)]) == 2  # --new missing
    assert main(["bench", "ab", "--base", str(ROOT), "--new", str(ROOT), "--factor", "0.9",
                 "--out", str(tmp_path / "o")]) == 2
    assert "factor=0.9" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_the_stored_runs_are_not_interleaved_and_the_pairing_says_so():
    # the committed runs' processes ran minutes apart, not alternately: pairing them by process
    # index cannot cancel the machine's drift, and the paired verdict refuses rather than guesses
    comparison = paired_compare(load(RUN_A), load(FIXTURES / "smoke-b.json"))
    assert comparison.regressions == [] and len(comparison.unstable) > 30


def test_a_round_whose_reference_stalled_is_left_out_not_divided_by():
    # a reference workload of ~1 ms that read 3 s (seen live: 2 threads on 2 busy cores) would
    # make that round's normalised time 3000x faster; the round is left out and named instead
    import dataclasses

    ids = [f"p{r}-w0" for r in range(5)]
    base = dataclasses.replace(_result({i: [1.0] * 10 for i in ids}), references=(1e-3,) * 5)
    new = dataclasses.replace(_result({i: [1.1 * (1 + 0.01 * (-1) ** r)] * 10
                                       for r, i in enumerate(ids)}),
                              references=(1e-3, 1e-3, 3.0, 1e-3, 1e-3))
    naive = paired_change(base, new, 1.06, True)
    assert naive.verdict != "regression"  # the stalled round ruins the interval
    change = paired_change(base, new, 1.06, True, typical=(1e-3, 1e-3))
    assert change.verdict == "regression" and len(change.per_round) == 4
    assert change.ratio == pytest.approx(1.1, rel=0.01)
    assert any("p2-w0" in p and "disturbed" in p for p in change.problems)
