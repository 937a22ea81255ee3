"""``python -m parity report RUN.json``: a Markdown report and PNG plots of one benchmark run.

Nothing is overwritten: the report goes into a new folder, claimed before the work.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from parity.bench.names import CELLS, PATHS
from parity.bench.plots import SIZE_ORDER as _SIZE_ORDER
from parity.bench.results import Run, load, versions
from parity.bench.stats import ADVICE, diagnose, noise_note
from parity.core import outputs


def _order(r):
    size = _SIZE_ORDER.index(r.size) if r.size in _SIZE_ORDER else len(_SIZE_ORDER)
    return (CELLS.index(r.cell) if r.cell in CELLS else 9, size, r.pass_,
            PATHS.index(r.path) if r.path in PATHS else 99)


def _time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} us"


def markdown(run: Run, plots: list[str] = ()) -> str:
    info = run.machine.get("parity", {})
    peaks = info.get("fp32_gemm_peak_gflops_by_device") or {"": run.peak_gflops}
    names = info.get("devices") or {"": info.get("device")}
    lines = [f"# Recurrent-core benchmarks: {Path(run.source).name}", "",
             *(f"- device{f' {d}' if d else ''}: {names.get(d)}, measured fp32 GEMM peak "
               + (f"{p:.1f} GFLOP/s" if p else "not recorded") for d, p in peaks.items()),
             f"- threads {info.get('threads')}"
             + (f", TF32 {'on' if info['tf32'] else 'off'}" if "tf32" in info else ""),
             f"- {versions(run)}",
             "- FLOPs: 2*g*B*H*(I+H)*T per layer and direction (g gates); training step = 3x.",
             "- ratio: this path's median / torch-eager's median for the same cell, size and "
             "pass (> 1: slower than torch eager).",
             "- stability: whether the two fastest timing windows' minima agree (what compare "
             "judges); a benchmark marked unstable cannot support a verdict on a change.", ""]
    stability = {r.key: diagnose(r.windows) if r.data else None for r in run.results}
    unstable = [r.name for r in run.results if stability[r.key] and not stability[r.key].stable]
    if unstable:
        lines += [f"**{len(unstable)} of {len(run.results)} benchmarks are unstable** (their "
                  "timing windows disagree, or they have one window or too few rounds): read "
                  f"their times as rough. To steady them: {ADVICE}.", ""]
    groups = defaultdict(list)
    for r in sorted(run.results, key=_order):
        groups[(r.cell, r.size, r.pass_)].append(r)
    for (cell, size, pass_), results in groups.items():
        first = results[0]
        reference = next((r for r in results if r.path == "torch-eager"), None)
        lines += [f"## {cell}, {size} ({first.shape}), {pass_}", "",
                  "| framework | path | median | IQR | GFLOP/s | % of its device's peak | ratio "
                  "| stability | kernel |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in results:
            ratio = f"{r.median / reference.median:.2f}" if reference else "n/a"
            peak = run.peak_of(r)
            share = f"{100 * r.gflops / peak:.3g} ({r.device})" if peak else "n/a"
            gflops = f"{r.gflops:.3g}"
            if r.cell == "harness":  # a whole check has no countable arithmetic: no FLOP rate
                gflops = share = "n/a"
            steady = noise_note(stability[r.key]) if stability[r.key] else \
                "no raw samples (--benchmark-save-data)"
            lines.append(f"| {r.framework} | {r.path} | {_time(r.median)} | {_time(r.iqr)} | "
                         f"{gflops} | {share} | {ratio} | {steady} | {r.kernel} |")
        lines.append("")
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    return "\n".join(lines)


def plot(run: Run, out: Path) -> list[str]:
    """One PNG per recurrent cell and pass (:func:`parity.bench.plots.cell_pass`); the harness
    benchmark (cell "harness") is in the tables only."""
    from parity.bench.plots import cell_pass

    names = []
    for cell in [c for c in CELLS if any(r.cell == c for r in run.results)]:
        for pass_ in ("forward", "train"):
            results = [r for r in run.results if r.cell == cell and r.pass_ == pass_]
            if not results:
                continue
            name = f"{cell}-{pass_}.png"
            cell_pass(run, results, f"{cell} {pass_}", out / name)
            names.append(name)
    return names


def write_report(run_json: str | Path, out_dir: str | Path) -> Path:
    """Write report.md and the plots into the new folder ``out_dir`` (claimed first, complete or
    absent: :mod:`parity.core.outputs`)."""
    with outputs.claim(out_dir) as claimed:
        run = load(run_json)
        plots = plot(run, claimed.work)
        (claimed.work / "report.md").write_text(markdown(run, plots))
    return claimed.path / "report.md"
