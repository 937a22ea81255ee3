"""``python -m parity scenarios``: run the course scenarios, print one table, and write per scenario a
PNG of both loss curves (and the float64 reference) plus ``scenarios.md``/``scenarios.json`` into a
new folder, claimed before the scenarios run (nothing is overwritten)."""

from __future__ import annotations

import json
from pathlib import Path

from parity.core import progress
from parity.scenarios import course as scenarios

HEADER = ("| scenario | steps | largest loss gap | largest weight gap | tolerance used | "
          "accuracy keras / torch (course) | predictions | verdict |")


def row(r: scenarios.Result) -> str:
    rec = r.record
    return (f"| {r.name} | {len(rec.steps)} | {rec.largest_loss_gap:.2g} | "
            f"{rec.largest_param_gap:.2g} | {rec.share_used:.1%} | {r.accuracy_keras:.0%} / "
            f"{r.accuracy_torch:.0%} ({r.target_accuracy:.0%}) | "
            f"{'identical' if not r.predictions_differ else f'{r.predictions_differ} differ'} | "
            f"{r.verdict} |")


def plot(r: scenarios.Result, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [s.index for s in r.record.steps]
    fig, (curves, gap) = plt.subplots(2, 1, figsize=(7, 6), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
    curves.plot(steps, r.record.losses("keras"), label="Keras", lw=2.5, alpha=0.7)
    curves.plot(steps, r.record.losses("torch"), "--", label="torch", lw=1.5)
    curves.set_ylabel("training loss (before the step)")
    curves.set_title(f"{r.name}: Keras and torch in lock step")
    curves.legend()
    gap.semilogy(steps, [max(s.loss_gap, 1e-12) for s in r.record.steps], label="|keras - torch|")
    gap.semilogy(steps, [2 * s.loss_allowed for s in r.record.steps], ":", label="allowed")
    gap.set_xlabel("optimizer step")
    gap.set_ylabel("loss gap")
    gap.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(names: list[str], out: Path) -> tuple[list[scenarios.Result], str]:
    """Run ``names``; write into ``out``, a folder claimed by the caller (:mod:`parity.core.outputs`);
    return results and table. The scenarios' names are checked before any runs."""
    scenarios.labels(names)
    results = []
    with progress.bar(total=len(names), desc="course scenarios", unit="scenario") as bar:
        for name in names:
            results.append(scenarios.run(name))
            bar.update()
    out.mkdir(parents=True, exist_ok=True)
    for r in results:
        plot(r, out / f"{r.name}.png")
    table = "\n".join([HEADER, "|" + "---|" * 8, *[row(r) for r in results]])
    details = [f"\n## {r.name}\n\n![{r.name}]({r.name}.png)\n\n```\n{r.record.explain()}\n```"
               + "".join(f"\n- {p}" for p in r.problems()[1:]) for r in results]
    (out / "scenarios.md").write_text("# Course scenarios, trained in lock step\n\n" + table + "\n"
                                      + "".join(details) + "\n")
    (out / "scenarios.json").write_text(json.dumps([{
        "name": r.name, "ok": r.ok, "verdict": r.verdict, "known_cause": r.known_cause,
        "notes": r.record.notes, "accuracy_keras": r.accuracy_keras,
        "accuracy_torch": r.accuracy_torch, "target_accuracy": r.target_accuracy,
        "predictions_differ": r.predictions_differ,
        "steps": [{"step": s.index, "loss_keras": s.loss_keras, "loss_torch": s.loss_torch,
                   "loss_reference": s.loss_reference, "loss_allowed": s.loss_allowed,
                   "param_gap": s.param_gap, "param_where": s.param_where,
                   "share_used": s.share_used, "failure": s.failure} for s in r.record.steps]}
        for r in results], indent=1))
    return results, table
