"""What ``bench ab`` and ``compare`` see on this machine, live: one base side and, interleaved with
it, arms whose recurrent core is slowed by ``PARITY_BENCH_SLOWDOWN`` (the arm x1 sets nothing: an
A/A pair with the base). Each round runs one benchmark process per side, the sides' order rotated
from round to round; each arm is then judged against the base as ``bench ab`` judges its two sides
(the paired ABBA verdict) and as ``compare`` judges two stored runs (each side's processes merged).

Writes, into a new folder: the merged run of each side, the paired and unpaired comparison of each
arm, and ``summary.json`` (each benchmark's fastest sample and reference time per side and round,
which is what the paired verdict reads; tests/studies/test_bench_live.py re-judges it). Run from the
repository root:

    python benchmarks/detection_study.py --out reports/detection --rounds 4 --bench-threads 1 \\
        -k "torch-eager or keras-eager and seed"
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from parity.bench.ab import Side, command, paired_compare
from parity.bench.compare import FACTOR, compare_runs
from parity.bench.results import Run, load, merge
from parity.bench.workloads import SLOWDOWN_ENV
from parity.core import outputs

ARMS = ("base", "1", "1.05", "1.1", "1.25")  # "1": the A/A arm, nothing slowed


def per_round(run: Run) -> dict[str, dict[str, list]]:
    """Per benchmark: its fastest sample, sample count and reference time in each round."""
    return {r.name: {"minima": [min(w) for w in r.windows],
                     "samples": [len(w) for w in r.windows],
                     "references": list(r.references or ())} for r in run.results}


def run_rounds(work: Path, rounds: int, select: str | None, threads: int | None) -> dict[str, Run]:
    side = Side("study", sys.executable, Path.cwd())
    parts: dict[str, list[Path]] = {arm: [] for arm in ARMS}
    for r in range(rounds):
        for arm in ARMS[r % len(ARMS):] + ARMS[:r % len(ARMS)]:  # rotated: no side always first
            part = work / f"{arm}-round{r}.json"
            env = dict(os.environ)
            env.pop(SLOWDOWN_ENV, None)
            if arm not in ("base", "1"):
                env[SLOWDOWN_ENV] = arm
            cmd = command(side, part, sizes="smoke", threads=threads, select=select)
            code = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode
            if code != 0 or not part.is_file():
                raise SystemExit(f"{arm} round {r}: the benchmark process exited {code}")
            parts[arm].append(part)
            print(f"{datetime.datetime.now():%H:%M:%S} round {r} {arm} done", flush=True)
    runs = {}
    for arm, files in parts.items():
        runs[arm] = load(merge(files, work / f"{arm}.json"))
        for f in files:
            f.unlink()
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="new folder for the runs and the summary")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("-k", dest="select", help="pytest -k expression for the benchmarks")
    parser.add_argument("--bench-threads", type=int, help="threads per benchmark process")
    args = parser.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc)
    with outputs.claim(args.out) as claimed:
        runs = run_rounds(claimed.work, args.rounds, args.select, args.bench_threads)
        base = runs["base"]
        info = base.machine.get("parity", {})
        summary = {"started": started.isoformat(timespec="minutes"),
                   "minutes": round((datetime.datetime.now(datetime.timezone.utc) - started)
                                    .total_seconds() / 60, 1),
                   "machine": f"{platform.node()}, {info.get('device')}, threads "
                              f"{info.get('threads')}",
                   "versions": {k: info.get(k) for k in ("torch", "keras", "keras_backend",
                                                         "tensorflow")},
                   "command": " ".join(["python", *sys.argv]), "rounds": args.rounds,
                   "select": args.select, "threads": info.get("threads"), "factor": FACTOR,
                   "base": per_round(base), "arms": {}}
        rows = []
        for arm in ARMS[1:]:
            paired, unpaired = paired_compare(base, runs[arm]), compare_runs(base, runs[arm])
            (claimed.work / f"ab-x{arm}.md").write_text(paired.markdown())
            (claimed.work / f"compare-x{arm}.md").write_text(unpaired.markdown())
            summary["arms"][arm] = {"paired_counts": paired.counts(),
                                    "compare_counts": unpaired.counts(),
                                    "new": per_round(runs[arm])}
            rows.append((arm, paired.counts(), unpaired.counts()))
        (claimed.work / "summary.json").write_text(json.dumps(summary, indent=1))
    print("| slowdown | bench ab: flagged | unstable | compare: flagged | unstable | of |")
    print("|---|---|---|---|---|---|")
    for arm, paired, unpaired in rows:
        print(f"| x{arm} | {paired['regression']} | {paired['unstable']} | "
              f"{unpaired['regression']} | {unpaired['unstable']} | {sum(paired.values())} |")


if __name__ == "__main__":
    main()
