"""The benchmark plots (matplotlib, Agg): per cell and pass, the median time of every path at every
size with its IQR as whiskers and the share of the measured peak beside it; and for a comparison,
a forest plot of new / base ratios with their intervals."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from parity.bench.names import PATHS
from parity.bench.results import Result, Run

SIZE_ORDER = ("seed", "small", "mid", "fastrnns", "deepbench-lstm", "deepbench-gru",
              "deepbench-vanilla")
_COLOURS = {"regression": "tab:red", "improvement": "tab:green", "unstable": "tab:orange",
            "unchanged": "tab:blue"}


def _null_formatter():
    from matplotlib.ticker import NullFormatter

    return NullFormatter()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def cell_pass(run: Run, results: Sequence[Result], title: str, path: Path) -> None:
    """:func:`cell_pass_figure`, saved to ``path``."""
    plt = _pyplot()
    fig = cell_pass_figure(run, results, title)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def cell_pass_figure(run: Run, results: Sequence[Result], title: str):
    """Two panels over a categorical size axis, one dot per path, offset within the size: the
    median time with whiskers from the 25th to the 75th percentile of the pooled samples (log
    scale), and GFLOP/s as % of the measured peak of the path's device."""
    plt = _pyplot()
    sizes = sorted({r.size for r in results},
                   key=lambda s: SIZE_ORDER.index(s) if s in SIZE_ORDER else 99)
    paths = [p for p in PATHS if any(r.path == p for r in results)]
    width = 0.8 / max(len(paths), 1)
    fig, (ax_time, ax_peak) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, p in enumerate(paths):
        xs, med, lo, hi, share = [], [], [], [], []
        for j, size in enumerate(sizes):
            r = next((r for r in results if r.path == p and r.size == size), None)
            if r is None:
                continue
            q1, q3 = np.percentile(r.data, [25, 75]) if r.data else (r.median, r.median)
            xs.append(j - 0.4 + width * (i + 0.5))
            med.append(r.median)
            lo.append(max(r.median - q1, 0))
            hi.append(max(q3 - r.median, 0))
            peak = run.peak_of(r)
            share.append(100 * r.gflops / peak if peak else np.nan)
        ax_time.errorbar(xs, med, yerr=[lo, hi], fmt="o", capsize=3, label=p)
        ax_peak.bar(xs, share, width=width * 0.9, label=p)
    for ax in (ax_time, ax_peak):
        ax.set_xticks(range(len(sizes)), sizes)
        ax.set_xlim(-0.5, len(sizes) - 0.5)
        ax.set_xlabel("size")
        ax.grid(axis="y", alpha=0.3)
    ax_time.set_yscale("log")
    ax_time.set_ylabel("median time per call, s (whiskers: IQR)")
    ax_peak.axhline(100, color="grey", ls="--", lw=0.8)  # the measured peak itself
    ax_peak.set_yscale("log")
    ax_peak.set_ylabel("% of the device's measured fp32 GEMM peak")
    ax_time.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def forest(rows: Sequence[tuple[str, float, float, float, str]], path: Path, *, factor: float,
           title: str) -> None:
    """:func:`forest_figure`, saved to ``path``."""
    plt = _pyplot()
    fig = forest_figure(rows, factor=factor, title=title)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def forest_figure(rows: Sequence[tuple[str, float, float, float, str]], *, factor: float,
                  title: str):
    """``rows``: (benchmark, ratio, interval low, interval high, verdict); one line each, the
    ratio as a dot coloured by verdict, the interval as a bar, 1 and the factor as guides."""
    plt = _pyplot()
    rows = sorted(rows, key=lambda r: r[0])
    fig, ax = plt.subplots(figsize=(8.5, 0.22 * len(rows) + 1.4))
    ys = np.arange(len(rows))[::-1]
    for y, (_, ratio, low, high, verdict) in zip(ys, rows):
        colour = _COLOURS.get(verdict, "black")
        if np.isfinite(low) and np.isfinite(high):
            ax.plot([low, high], [y, y], color=colour, lw=1.5)
        ax.plot([ratio], [y], "o", color=colour, ms=4)
    for x, style in ((1, "-"), (factor, "--"), (1 / factor, "--")):
        ax.axvline(x, color="grey", ls=style, lw=0.8)
    ax.set_yticks(ys, [r[0] for r in rows], fontsize=6)
    ax.set_xscale("log")
    # plain ratios at the guides and a few round values in range, not log-scale scientific labels
    values = [v for r in rows for v in r[1:4] if np.isfinite(v)] + [factor, 1 / factor]
    lo, hi = min(values), max(values)
    near = (0.95, 1.05) if hi / lo < 1.6 else (0.85, 1.15)  # no labels crowding 1 on a wide axis
    ticks = sorted({1.0} | {t for t in (0.5, 0.8, 0.9, 0.95, 1.05, 1.1, 1.25, 1.5, 2, 3, 5, 10)
                            if lo <= t <= hi and not near[0] < t < near[1]})
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks], fontsize=7)
    ax.xaxis.set_minor_formatter(_null_formatter())
    ax.set_xlabel(f"new / base (log); dashed: x{factor:g} and 1/x{factor:g}")
    ax.set_title(title, fontsize=9)
    for verdict, colour in _COLOURS.items():
        ax.plot([], [], "o", color=colour, label=verdict)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside, covering nothing
    fig.tight_layout()
    return fig
