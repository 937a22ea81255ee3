"""Usage errors and bad paths are refused before any work: exit 2 (gate: 8), a message naming the
option or path, and neither torch nor TensorFlow imported (each case in a process of its own)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN_A = str(ROOT / "fixtures" / "benchmarks" / "smoke-a.json")
# main() in a fresh process; exit 99 if a framework was imported on the way to the refusal
WRAPPER = ("import sys; from parity.cli import main; code = main(sys.argv[1:]); "
           "loaded = sorted({'torch', 'tensorflow', 'keras', 'jax'} & set(sys.modules)); "
           "print('frameworks imported:', loaded, file=sys.stderr) if loaded else None; "
           "sys.exit(99 if loaded else code)")

# (argv with {tmp} for the test's folder, exit code, what the message must name)
CASES = [
    ("run --no-such-option --reports {tmp}/reports", 2, "--no-such-option"),
    ("run --reports {tmp}/exists.md", 2, "exists.md is a file"),
    ("check --no-such-option", 2, "unrecognized arguments: --no-such-option"),
    ("check --parity-threads=x", 2, "--parity-threads: invalid int value"),
    ("check {tmp}/no_such_test.py", 2, "no_such_test.py"),
    ("scenarios --no-such-option", 2, "--no-such-option"),
    ("scenarios no_such_scenario", 2, "no_such_scenario"),
    ("scenarios {tmp}/missing.json", 2, "missing.json: no such file"),
    ("scenarios --out {tmp}/exists", 2, "--out {tmp}/exists exists"),
    ("port {tmp}/m.keras --out {tmp}/new --no-such-option", 2, "--no-such-option"),
    ("port {tmp}/missing.keras --out {tmp}/new", 2, "missing.keras: no such file"),
    ("port no_colon_here --out {tmp}/new", 2, "package.module:factory"),
    ("port pkg.mod:f --state-dict {tmp}/missing.pt --out {tmp}/new", 2, "--state-dict"),
    ("port {tmp}/m.keras --out {tmp}/exists", 2, "--out {tmp}/exists exists"),
    ("sweep --no-such-option", 2, "--no-such-option"),
    ("sweep --summarise {tmp}/missing", 2, "--summarise {tmp}/missing/cases.jsonl: no such"),
    ("sweep --calibrate --out {tmp}/exists", 2, "--out {tmp}/exists exists"),
    ("bench run --no-such-option", 2, "--no-such-option"),
    ("bench run --out {tmp}/exists", 2, "--out {tmp}/exists exists"),
    ("bench report {tmp}/missing.json", 2, "missing.json: no such file"),
    ("bench report {run} --out {tmp}/exists", 2, "--out {tmp}/exists exists"),
    ("bench compare {run} {run} --factor 0.5", 2, "factor=0.5"),
    ("bench compare {tmp}/missing.json {run}", 2, "missing.json: no such file"),
    ("bench compare {run} {run} --out {tmp}/exists.md", 2, "--out {tmp}/exists.md exists"),
    ("bench merge {tmp}/new.json {tmp}/missing.json", 2, "missing.json: no such file"),
    ("bench merge {tmp}/exists.md {run}", 2, "{tmp}/exists.md exists"),
    ("bench ab --base {python} --new {python} --no-such-option", 2, "--no-such-option"),
    ("bench ab --base {tmp}/missing --new {python}", 2, "--base {tmp}/missing"),
    ("bench ab --base {python} --new {python} --out {tmp}/exists", 2, "--out {tmp}/exists"),
    ("golden record {tmp}/g --no-such-option", 2, "--no-such-option"),
    ("golden compare {tmp}/missing", 2, "{tmp}/missing: no such folder"),
    ("golden record {tmp}/exists", 2, "{tmp}/exists exists and is not a complete baseline"),
    ("golden record {tmp}/exists.md", 2, "{tmp}/exists.md exists and is a file"),
    ("gate --no-such-option", 8, "--no-such-option"),
    ("gate --fail-on speed,nope", 8, "--fail-on=['nope']"),
    ("gate --golden {tmp}/missing", 8, "--golden {tmp}/missing: does not exist"),
    ("gate --bench-baseline {tmp}/missing.json", 8, "--bench-baseline {tmp}/missing.json"),
    ("gate --out {tmp}/exists", 8, "--out {tmp}/exists exists"),
    ("gate --factor 0.5", 8, "factor=0.5"),
    ("gate --bench-base {python} --bench-rounds 2", 8, "--bench-rounds=2: at least 3"),
    ("backends --no-such-option", 2, "--no-such-option"),
    ("backends --backends nope", 2, "nope"),
    ("backends --out {tmp}/exists", 2, "--out {tmp}/exists exists"),
    ("support --no-such-option {tmp}/exists.md", 2, "--no-such-option"),
    ("support {tmp}/missing.jsonl", 2, "missing.jsonl: no such file"),
    ("support {tmp}/exists.md --out {tmp}/exists.md", 2, "--out {tmp}/exists.md exists"),
]


@pytest.fixture
def places(tmp_path) -> dict:
    (tmp_path / "exists").mkdir()
    (tmp_path / "exists" / "mine.txt").write_text("mine")
    (tmp_path / "exists.md").write_text("mine")
    (tmp_path / "m.keras").write_bytes(b"not looked at before --out is checked")
    return {"tmp": str(tmp_path), "run": RUN_A, "python": sys.executable}


@pytest.mark.parametrize("command,code,named", CASES, ids=[c[0].split(" {")[0] + f"-{i}"
                                                            for i, c in enumerate(CASES)])
def test_refused_before_any_work_and_any_framework(places, command, code, named):
    argv = [a.format(**places) for a in command.split()]
    done = subprocess.run([sys.executable, "-c", WRAPPER, *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == code, done.stderr
    assert named.format(**places) in done.stderr
    tmp = Path(places["tmp"])
    assert (tmp / "exists" / "mine.txt").read_text() == "mine"
    assert (tmp / "exists.md").read_text() == "mine"
    assert not (tmp / "reports").exists() and not (tmp / "new").exists()  # nothing claimed


def test_outside_a_checkout_a_bad_option_is_named_not_the_missing_benchmarks(tmp_path):
    done = subprocess.run([sys.executable, "-m", "parity", "run", "--no-such-option"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    assert "--no-such-option" in done.stderr and "benchmarks" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # no reports/ folder claimed


def test_port_knows_the_keras_suffixes_the_loader_accepts():
    from parity.porting import cli, files

    assert cli.KERAS_SUFFIXES == files.KERAS_SUFFIXES
