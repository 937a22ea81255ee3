"""Benchmark machinery: FLOP counts, reading runs, the report, and the significance-aware compare
on recorded runs (fixtures/benchmarks: two real back-to-back smoke runs on the CI machine)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from parity.bench import workloads as bench
from parity.bench.compare import compare_runs
from parity.bench.report import markdown, write_report
from parity.bench.results import BenchmarkFileError, Run, load, machine_differences
from parity.cli import main
from parity.core.spec import RecurrentSpec

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "benchmarks"
RUN_A, RUN_B = FIXTURES / "smoke-a.json", FIXTURES / "smoke-b.json"


def test_flops_follow_the_documented_formula():
    lstm = RecurrentSpec("lstm", 5, 4)
    assert bench.flops(lstm, batch=2, steps=3, pass_="forward") == 2 * 4 * 2 * 5 * (4 + 5) * 3
    assert bench.flops(lstm, 2, 3, "train") == 3 * bench.flops(lstm, 2, 3, "forward")
    stacked_bi = RecurrentSpec("gru", 5, 4, num_layers=2, bidirectional=True)
    per_layer = [2 * 3 * 2 * 5 * (4 + 5) * 3, 2 * 3 * 2 * 5 * (10 + 5) * 3]
    assert bench.flops(stacked_bi, 2, 3, "forward") == 2 * sum(per_layer)


def _slowed(run: Run, factor: float) -> Run:
    """The same run with every sample (and median) scaled: a known slowdown."""
    results = tuple(dataclasses.replace(r, median=r.median * factor,
                                        data=tuple(v * factor for v in r.data),
                                        windows=tuple(tuple(v * factor for v in w)
                                                      for w in r.windows))
                    for r in run.results)
    return dataclasses.replace(run, source=f"{run.source} x{factor}", results=results)


def test_an_a_a_pair_of_real_runs_flags_nothing():
    comparison = compare_runs(load(RUN_A), load(RUN_B))
    assert len(comparison.changes) == 60  # 3 cells x 2 sizes x 2 passes x 5 CPU paths
    assert comparison.regressions == [] and not any(c.verdict == "improvement"
                                                    for c in comparison.changes)
    assert all(len(r.windows) == 3 for r in comparison.base.results)  # 3 processes merged


def test_a_known_slowdown_is_flagged_and_a_speedup_is_not_a_regression():
    base = load(RUN_A)
    slow = compare_runs(base, _slowed(base, 1.5))
    # a 1.5x slowdown is flagged wherever the runs' own window-to-window spread is below 1.5/1.1
    # (on the recorded runs: 43 of 60 at 1.5x, 59 of 60 at 2x); a 3x slowdown everywhere
    assert len(slow.regressions) >= 0.6 * len(slow.changes)
    assert len(compare_runs(base, _slowed(base, 3.0)).regressions) == len(slow.changes)
    fast = compare_runs(base, _slowed(base, 1 / 3))
    assert not fast.regressions and all(c.verdict == "improvement" for c in fast.changes)
    within = compare_runs(base, _slowed(base, 1.05))   # significant, but below the factor
    assert not within.regressions


def test_compare_cli_exit_codes(tmp_path, capsys):
    assert main(["compare", str(RUN_A), str(RUN_B)]) == 0
    slow = tmp_path / "slow.json"
    raw = json.loads(RUN_A.read_text())
    for b in raw["benchmarks"]:
        b["stats"]["data"] = [v * 2 for v in b["stats"]["data"]]
        b["stats"]["median"] *= 2
    slow.write_text(json.dumps(raw))
    assert main(["compare", str(RUN_A), str(slow)]) == 1
    assert "regression" in capsys.readouterr().out
    assert main(["compare", str(RUN_A), str(slow), "--factor", "0.9"]) == 2
    assert "factor=0.9" in capsys.readouterr().err


@pytest.mark.parametrize("content,message", [
    ("{not json", "not valid JSON"),
    ('{"machine_info": {}}', "no 'benchmarks' list"),
    ('{"benchmarks": [{"name": "x", "stats": {"median": 1}, "extra_info": {}}]}',
     "not a run of this suite's benchmarks"),
    ('{"benchmarks": []}', "holds no benchmarks"),
])
def test_corrupt_or_foreign_files_get_a_clear_error(tmp_path, content, message):
    path = tmp_path / "run.json"
    path.write_text(content)
    with pytest.raises(BenchmarkFileError, match=message) as info:
        load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("sample", [float("nan"), float("inf"), 0, -1.5, True, "0.1", None,
                                    [0.1], 10 ** 400, 1e308, 86400.5])
def test_a_raw_sample_that_is_no_positive_finite_time_is_named(tmp_path, sample):
    raw = json.loads(RUN_A.read_text())
    raw["benchmarks"][3]["stats"]["data"][2] = sample
    path = tmp_path / "run.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(BenchmarkFileError) as info:
        load(path)
    name = raw["benchmarks"][3]["name"]
    assert f"benchmarks[3] ({name}): raw sample data[2] = " in str(info.value)
    assert "is not a positive, finite time in seconds, at most a day" in str(info.value)


def test_runs_without_raw_samples_cannot_be_compared(tmp_path):
    raw = json.loads(RUN_A.read_text())
    for b in raw["benchmarks"]:
        b["stats"].pop("data", None)
    path = tmp_path / "nodata.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(BenchmarkFileError, match="--benchmark-save-data"):
        compare_runs(load(RUN_A), load(path))


def test_different_machines_are_warned_about():
    a = load(RUN_A)
    other = dict(a.machine, node="another-host",
                 parity=dict(a.machine["parity"], threads=16))
    b = dataclasses.replace(a, machine=other)
    differences = machine_differences(a, b)
    assert any("node" in d for d in differences) and any("threads" in d for d in differences)
    assert "different machines" in compare_runs(a, b).markdown()


def _with_harness_row(folder: Path) -> Path:
    """RUN_A with one benchmark of the harness itself (cell "harness"), as benchmarks/ writes."""
    raw = json.loads(RUN_A.read_text())
    harness = json.loads(json.dumps(raw["benchmarks"][0]))
    harness["name"] = harness["fullname"] = "test_harness[w0-forward]"
    harness["extra_info"].update(cell="harness", pass_="forward", path="parity-check",
                                 framework="parity", flops=2, kernel="2 drawn example(s) per round")
    raw["benchmarks"].append(harness)
    path = folder / "with-harness.json"
    path.write_text(json.dumps(raw))
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """The report of RUN_A and a harness benchmark, written once for the tests that read it (its
    six plots take seconds)."""
    folder = tmp_path_factory.mktemp("report")
    return write_report(_with_harness_row(folder), folder / "report")


def test_report_has_a_table_per_cell_and_size_and_plots_and_never_overwrites(report):
    text = report.read_text()
    for heading in ("## lstm, seed (B=1 T=5 I=4 H=2), forward", "## gru, small (B=16"):
        assert heading in text
    assert "| keras | tf-function-xla |" in text and "% of its device's peak" in text
    pngs = sorted(p.name for p in report.parent.glob("*.png"))
    assert "lstm-train.png" in pngs and len(pngs) == 6  # the harness has a table, no plot
    assert all(f"![{p}]({p})" in text for p in pngs)
    with pytest.raises(FileExistsError):
        write_report(RUN_A, report.parent)


def test_benchmarks_refuse_xdist():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_conftest", Path(__file__).resolve().parents[2] / "benchmarks" / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)

    class Config:
        option = type("Option", (), {"numprocesses": 2})()

    with pytest.raises(pytest.UsageError, match="xdist"):
        conftest.pytest_configure(Config())


def test_gpu_run_shares_are_of_each_paths_own_device():
    # a real H200 session (benchmarks/gpu.sh): torch-cuda and Keras-on-torch both ran on the GPU
    import matplotlib.pyplot as plt

    from parity.bench.plots import cell_pass_figure

    run = load(Path(__file__).resolve().parents[2] / "fixtures" / "benchmarks" / "h200-full.json")
    peaks = run.machine["parity"]["fp32_gemm_peak_gflops_by_device"]
    assert set(peaks) == {"cpu", "cuda"} and peaks["cuda"] > 10 * peaks["cpu"]
    assert {r.device for r in run.results} == {"cuda"}
    assert all(run.peak_of(r) == peaks["cuda"] for r in run.results)
    text = markdown(run)  # write_report's text; its plots are checked on RUN_A's report
    assert "device cuda: NVIDIA H200" in text and "(cuda) |" in text
    # the plot's peak view is a share of the GPU's peak too: a bar per path and size
    results = [r for r in run.results if r.cell == "lstm" and r.pass_ == "forward"]
    fig = cell_pass_figure(run, results, "lstm forward")
    bars = sorted(bar.get_height() for bar in fig.axes[1].patches)
    plt.close(fig)
    assert bars == pytest.approx(sorted(100 * r.gflops / peaks["cuda"] for r in results))


def _with_reference(tmp_path: Path, seconds: float = 1e-3) -> Path:
    raw = json.loads(RUN_A.read_text())
    for b in raw["benchmarks"]:
        b["extra_info"]["reference"] = {"seconds": seconds, "before": seconds, "after": seconds,
                                        "workload": bench.REFERENCE_WORKLOAD,
                                        "flops": bench.REFERENCE_FLOPS}
    path = tmp_path / f"ref-{seconds}.json"
    path.write_text(json.dumps(raw))
    return path


def test_reference_timings_are_read_per_window_and_old_runs_have_none(tmp_path):
    run = load(_with_reference(tmp_path, 2e-3))
    r = run.results[0]
    assert r.references == (2e-3,) * len(r.windows)
    assert r.normalised_windows[0][0] == pytest.approx(r.windows[0][0] / 2e-3)
    assert load(RUN_A).results[0].references is None  # written before the reference existed
    assert load(RUN_A).results[0].window_ids == ("p0-w0", "p1-w0", "p2-w0")


def test_the_reference_workload_is_timed_and_repeatable():
    # no upper bound: on a loaded machine it is as slow as the machine, which is its point
    times = [bench.reference_seconds(repeats=2) for _ in range(2)]
    assert all(0 < t < float("inf") for t in times)
    assert bench.REFERENCE_FLOPS == 2 * 256 ** 3 + 50 * 2 * 16 * 64 * 128


def test_report_marks_unstable_benchmarks_and_advises(report):
    text = report.read_text()
    assert "| stability |" in text and "unstable: the two fastest windows differ" in text
    assert "benchmarks are unstable" in text and "--bench-threads" in text
    assert "noisy samples" in text  # a wide IQR whose minima agree is named, not hidden


def test_compare_draws_a_forest_plot_into_a_new_file(tmp_path):
    png = tmp_path / "forest.png"
    assert main(["compare", str(RUN_A), str(RUN_B), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["compare", str(RUN_A), str(RUN_B), "--plot", str(png)]) == 2  # never overwrites


def test_harness_rows_have_no_flop_rate_in_the_report(report):
    text = report.read_text()
    row = next(line for line in text.splitlines() if "| parity-check |" in line)
    assert row.split("|")[5:7] == [" n/a ", " n/a "], row  # GFLOP/s and % of peak
    assert "## harness" in text


def test_cell_plot_has_iqr_whiskers_per_path_on_categorical_sizes_and_a_peak_view():
    import numpy as np

    from parity.bench.plots import cell_pass_figure

    run = load(RUN_A)
    results = [r for r in run.results if r.cell == "lstm" and r.pass_ == "forward"]
    fig = cell_pass_figure(run, results, "lstm forward")
    ax_time, ax_peak = fig.axes
    assert [t.get_text() for t in ax_time.get_xticklabels()] == ["seed", "small"]
    paths = sorted({r.path for r in results})
    assert sorted(t.get_text() for t in ax_time.get_legend().get_texts()) == paths
    assert len(ax_time.containers) == len(paths)  # one dot-and-whiskers series per path
    # each whisker spans the 25th to the 75th percentile of that benchmark's samples
    r = next(r for r in results if r.path == "torch-eager" and r.size == "small")
    q1, q3 = np.percentile(r.data, [25, 75])
    spans = [tuple(seg[:, 1]) for c in ax_time.containers for seg in c[2][0].get_segments()]
    assert any(lo == pytest.approx(q1) and hi == pytest.approx(q3) for lo, hi in spans)
    assert not any(line.get_xdata()[0] != line.get_xdata()[-1] and len(line.get_xdata()) > 1
                   and line.get_linestyle() == "-" for line in ax_time.lines)  # no lines across sizes
    assert len(ax_peak.patches) == len(results)  # a bar per path and size
    assert any(tuple(line.get_ydata()) == (100, 100) for line in ax_peak.lines)  # the peak itself
    assert "peak" in ax_peak.get_ylabel() and "IQR" in ax_time.get_ylabel()


def test_forest_plot_draws_each_ratio_with_its_interval_and_the_factor():
    from parity.bench.plots import forest_figure

    rows = [("a", 1.1, 1.05, 1.15, "regression"), ("b", 1.0, 0.97, 1.03, "unchanged"),
            ("c", 1.0, float("nan"), float("nan"), "unstable")]
    ax = forest_figure(rows, factor=1.06, title="t").axes[0]
    intervals = [tuple(line.get_xdata()) for line in ax.lines if len(line.get_xdata()) == 2
                 and line.get_ydata()[0] == line.get_ydata()[1]]
    assert (1.05, 1.15) in intervals and (0.97, 1.03) in intervals
    guides = {line.get_xdata()[0] for line in ax.lines if tuple(line.get_xdata()) in
              {(x, x) for x in (1, 1.06, 1 / 1.06)}}
    assert guides == {1, 1.06, 1 / 1.06}
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
