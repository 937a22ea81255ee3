"""Benchmark runs made of several pytest-benchmark processes, merged into one run: each process
becomes a timing window, so per-process effects (allocation, thread start-up, address layout)
show up as spread instead of hiding in one process's samples. Imports no framework."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from parity.bench.results import merge

BENCHMARKS = Path("benchmarks", "test_recurrent_core.py")


def pytest_command(out_json: Path, *, sizes: str = "smoke", threads: int | None = None,
                   select: str | None = None, python: str = sys.executable) -> list[str]:
    """The command that runs the benchmarks once (one window) and writes ``out_json``."""
    cmd = [python, "-m", "pytest", "benchmarks", "-q", "-p", "no:cacheprovider",
           f"--bench-sizes={sizes}", "--bench-windows=1", f"--benchmark-json={out_json}",
           "--benchmark-save-data"]
    if threads:
        cmd.append(f"--bench-threads={threads}")
    if select:
        cmd += ["-k", select]
    return cmd


def clean_environment() -> dict[str, str]:
    """This process's environment without the variables of a pytest (or pytest-xdist worker) that
    may be running it: a benchmark process is a session of its own, and pytest-benchmark turns
    itself off when it believes it runs under xdist."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("PYTEST_XDIST_", "PYTEST_CURRENT_TEST"))}


def check_benchmarks_here() -> None:
    """Refuse to start unless the benchmark modules are in the working folder (they are not
    installed with the package)."""
    if not BENCHMARKS.exists():
        raise FileNotFoundError(f"{BENCHMARKS.parent}/ not found: run benchmarks from the "
                                "repository root (benchmarks are not installed with the package)")


def run_in_subprocess(cmd: list[str], quiet: bool) -> int:
    """Run one benchmark process (a pytest session of its own); its exit code."""
    return subprocess.run(cmd, capture_output=quiet, text=True, env=clean_environment()).returncode


def run_processes(out_json: Path, *, processes: int, sizes: str = "smoke",
                  threads: int | None = None, select: str | None = None,
                  quiet: bool = False,
                  runner: Callable[[list[str], bool], int] | None = None) -> int:
    """Run the benchmarks in ``processes`` separate processes and merge them into ``out_json``.

    Returns pytest's exit code of the first process that failed (0: all ran and were merged).
    The per-process files are removed once merged. ``runner(cmd, quiet)`` runs one process
    (default :func:`run_in_subprocess`; tests replay stored runs through it).
    """
    check_benchmarks_here()
    runner = runner or run_in_subprocess
    parts = []
    for i in range(processes):
        part = out_json.with_name(f"{out_json.stem}-process{i}.json")
        code = runner(pytest_command(part, sizes=sizes, threads=threads, select=select), quiet)
        if code != 0 or not part.is_file():
            return code or 3
        parts.append(part)
    merge(parts, out_json)
    for part in parts:
        part.unlink()
    return 0
