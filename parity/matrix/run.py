"""Running the backend matrix: one worker process per installed Keras backend (``KERAS_BACKEND``
is fixed per process), the first also computing the torch module and the float64 oracle; then
one comparison (:mod:`parity.matrix.table`) written as ``matrix.md`` and ``matrix.json`` beside
the workers' raw results. This process imports no framework.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

from parity.core.errors import UnsupportedConfig
from parity.matrix.table import Matrix, WorkerResult, build

BACKENDS = ("tensorflow", "jax", "torch")


def installed(backend: str) -> bool:
    """Whether Keras' ``backend`` can be imported here (its framework is installed).

    Examples:
        >>> installed("torch")
        True
    """
    return importlib.util.find_spec(backend) is not None


def parse_backends(text: str) -> list[str]:
    """The comma-separated backend names, checked.

    Args:
        text: e.g. ``"tensorflow,torch,jax"``.

    Returns:
        The names, in the order given, without repeats.

    Raises:
        UnsupportedConfig: an unknown or empty name.

    Examples:
        >>> parse_backends("torch, tensorflow")
        ['torch', 'tensorflow']
    """
    names = [n.strip() for n in text.split(",")]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown or not names:
        raise UnsupportedConfig("--backends", text, f"comma-separated names from {BACKENDS}")
    return list(dict.fromkeys(names))


def run_in_subprocess(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run one worker process (:mod:`parity.matrix.worker`); :func:`run_matrix` looks this name
    up at each call, so a test can run the worker's computation in its own process instead.

    Args:
        command: the worker's command line.
        env: its environment (``KERAS_BACKEND`` set).

    Returns:
        (exit code, what it wrote to stderr).

    Examples:
        >>> run_in_subprocess([sys.executable, "-c", "import sys; sys.exit(3)"], dict(os.environ))
        (3, '')
    """
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    return done.returncode, done.stderr


def _worker(backend: str, out: Path, reference: bool) -> tuple[WorkerResult | None, str]:
    """Run one worker; (its result, "") or (None, why it failed)."""
    env = dict(os.environ, KERAS_BACKEND=backend)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    command = [sys.executable, "-m", "parity.matrix.worker", "--out", str(out),
               *(["--reference"] if reference else [])]
    code, stderr = run_in_subprocess(command, env)
    if code != 0:
        tail = " | ".join(stderr.strip().splitlines()[-3:])
        return None, f"the worker process failed (exit {code}): {tail}"
    return WorkerResult.load(out), ""


def run_matrix(backends: list[str], folder: Path) -> Matrix:
    """Compute the matrix for those of ``backends`` that are installed, the workers writing
    into ``folder`` (an empty, claimed folder).

    Args:
        backends: Keras backend names (:data:`BACKENDS`), the first installed one also computing
            the reference.
        folder: where ``<backend>.npz`` and ``<backend>.json`` go.

    Returns:
        The :class:`~parity.matrix.table.Matrix`; ``absent`` says which backends were skipped and
        why, ``errors`` which worker processes failed (the matrix then fails).

    Raises:
        UnsupportedConfig: none of ``backends`` is installed.
    """
    absent = {f"keras-{b}": f"not installed (no module named {b!r}); skipped"
              for b in backends if not installed(b)}
    todo = [b for b in backends if installed(b)]
    if not todo:
        raise UnsupportedConfig("--backends", ",".join(backends),
                                f"at least one installed backend; installed: "
                                f"{[b for b in BACKENDS if installed(b)]}")
    results, failed = [], {}
    for backend in todo:
        start = time.perf_counter()
        result, why = _worker(backend, folder / f"{backend}.npz", reference=not results)
        if result is None:
            failed[f"keras-{backend}"] = why  # installed but broken: a finding, not a skip
            continue
        result.meta["wall_seconds"] = round(time.perf_counter() - start, 2)
        results.append(result)
    matrix = build(results, absent) if results else Matrix([], absent=absent)
    matrix.errors.update(failed)
    return matrix
