"""The backend matrix (python -m parity backends): pairs within tolerance pass, a difference beyond
it fails unless a known difference explains it, the known difference's predicate recognises only
its own pattern, and its reproducer shows what it says."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from parity.checks.known_differences import JAX_MASKED_LEADING_STEPS, Observation, explain
from parity.cli import main
from parity.core.errors import UnsupportedConfig
from parity.core.spec import RecurrentSpec
from parity.matrix import run as matrix_run
from parity.matrix.table import WorkerResult, build, compare_pair

SPEC = RecurrentSpec("simple_rnn", 2, 1, return_sequences=True, return_state=True)
MASK = np.array([[False, False, True, True], [True, True, True, True]])
H0 = np.array([[0.5, -0.25], [0.1, 0.2]])


def _outputs(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = rng.uniform(-1, 1, (2, 4, 2))
    out[0, :2] = 0.0  # Keras on TensorFlow: zeros before the first kept step
    return {"output": out, "state[0]": out[:, -1]}


def _worker(label: str, named: dict, *, reference: bool = False, spec=SPEC) -> WorkerResult:
    key = "c|float32"
    arrays = {f"{key}|{label}|{t}": v for t, v in named.items()}
    if reference:
        arrays.update({f"{key}|torch|{t}": v for t, v in named.items()})
        arrays.update({f"{key}|oracle|{t}": v for t, v in named.items()})
        arrays.update({f"{key}|allowed|{t}": np.full(v.shape, 1e-6) for t, v in named.items()})
        arrays.update({f"{key}|input|initial_state[0]": H0, f"{key}|input|mask": MASK})
    meta = {"label": label, "reference": reference, "seconds": 1.0, "skipped_dtypes": {},
            "errors": {}, "cases": {"c": {"spec": dataclasses.asdict(spec), "description": "c"}}}
    return WorkerResult(meta, arrays)


def test_identical_results_pass_with_every_pair_within_tolerance():
    named = _outputs()
    matrix = build([_worker("keras-tensorflow", named, reference=True),
                    _worker("keras-torch", named)])
    assert matrix.ok and matrix.implementations == ["keras-tensorflow", "keras-torch", "torch"]
    pairs = {(r.a, r.b) for r in matrix.rows}
    assert ("keras-tensorflow", "keras-torch") in pairs and ("torch", "oracle") in pairs
    assert "Verdict: PASS" in matrix.markdown()


def test_a_difference_beyond_tolerance_is_unexplained_and_fails():
    named = _outputs()
    drifted = {k: v.copy() for k, v in named.items()}
    drifted["output"][1, 2, 0] += 1e-4  # a kept step of a full row: no known difference
    matrix = build([_worker("keras-tensorflow", named, reference=True),
                    _worker("keras-jax", drifted)])
    assert not matrix.ok
    bad = matrix.unexplained
    assert {(r.a, r.b, r.tensor) for r in bad} == {("keras-tensorflow", "keras-jax", "output"),
                                                    ("keras-jax", "torch", "output"),
                                                    ("keras-jax", "oracle", "output")}
    assert all(r.beyond == 1 and r.largest == pytest.approx(1e-4) for r in bad)
    assert "**UNEXPLAINED** (1 cases)" in matrix.markdown()


def test_jax_carrying_the_state_at_leading_masked_steps_is_named():
    named = _outputs()
    carried = {k: v.copy() for k, v in named.items()}
    carried["output"][0, :2] = H0[0]  # what Keras on JAX outputs there
    matrix = build([_worker("keras-tensorflow", named, reference=True),
                    _worker("keras-jax", carried)])
    assert matrix.ok and not matrix.unexplained
    known = [r for r in matrix.rows if r.beyond]
    assert len(known) == 3 and {r.known for r in known} == {JAX_MASKED_LEADING_STEPS.name}
    text = matrix.markdown()
    assert "known: jax-masked-leading-steps (1 cases)" in text and "```python" in text


def test_the_same_pattern_from_another_backend_is_not_explained():
    named = _outputs()
    carried = {k: v.copy() for k, v in named.items()}
    carried["output"][0, :2] = H0[0]
    matrix = build([_worker("keras-tensorflow", named, reference=True),
                    _worker("keras-torch", carried)])
    assert not matrix.ok and len(matrix.unexplained) == 3


@pytest.mark.parametrize("change", ["kept step", "zero_output_for_mask", "no initial state",
                                    "not the carried state", "a state"])
def test_the_known_difference_recognises_only_its_own_pattern(change):
    tf = _outputs()["output"]
    jax = tf.copy()
    jax[0, :2] = H0[0]
    pair, tol = ("keras-jax", "keras-tensorflow"), np.full(tf.shape, 1e-6)
    assert explain(Observation(SPEC, (H0,), MASK, "output", pair, (jax, tf), tol)) \
        is JAX_MASKED_LEADING_STEPS
    spec, h0, tensor = SPEC, (H0,), "output"
    if change == "kept step":
        jax[0, 3, 1] += 0.5
    elif change == "zero_output_for_mask":
        spec = spec.replace(zero_output_for_mask=True)
    elif change == "no initial state":
        h0 = None
    elif change == "not the carried state":
        jax[0, 1] = 0.3
    elif change == "a state":
        tensor = "state[0]"
    assert explain(Observation(spec, h0, MASK, tensor, pair, (jax, tf), tol)) is None


@pytest.mark.parametrize("merge_mode", ["concat", "ave", None])
def test_a_fully_masked_rows_last_output_is_the_same_known_difference(merge_mode):
    spec = RecurrentSpec("lstm", 2, 1, bidirectional=True, merge_mode=merge_mode)
    h0 = [np.full((2, 2), v) for v in (0.5, 0.1, -0.25, 0.2)]  # forward h, c; backward h, c
    mask = np.array([[False, False], [True, False]])  # row 0 fully masked
    tf = {"concat": np.array([[0, 0, 0, 0], [0.3, 0.3, -0.2, -0.2]]),
          "ave": np.array([[0.0, 0.0], [0.3, 0.3]])}.get(merge_mode, np.array([[0, 0], [.3, .3]]))
    jax = tf.copy()
    jax[0] = {"concat": [0.5, 0.5, -0.25, -0.25], "ave": [0.125, 0.125]}.get(merge_mode,
                                                                             [0.5, 0.5])
    tensor = "output" if merge_mode else "output[forward]"
    obs = Observation(spec, tuple(h0), mask, tensor, ("torch", "keras-jax"), (tf, jax),
                      np.full(tf.shape, 1e-6))
    assert explain(obs) is JAX_MASKED_LEADING_STEPS
    jax[1, 0] += 0.1  # row 1 kept a step: a difference there is something else
    assert explain(obs) is None


def test_compare_pair_counts_a_nan_as_beyond_tolerance():
    largest, share, _, beyond = compare_pair(np.array([1.0, np.nan]), np.array([1.0, 1.0]),
                                             np.array([1e-6, 1e-6]))
    assert (largest, share, beyond) == (np.inf, np.inf, 1)


def test_a_backend_not_installed_is_skipped_and_named(monkeypatch):
    monkeypatch.setattr(matrix_run, "installed", lambda b: False)
    with pytest.raises(UnsupportedConfig, match="at least one installed backend"):
        matrix_run.run_matrix(["jax"], None)


def test_a_worker_process_that_fails_fails_the_matrix(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", "/bin/false")
    matrix = matrix_run.run_matrix(["tensorflow"], tmp_path)
    assert not matrix.ok and "worker process failed (exit 1)" in matrix.errors["keras-tensorflow"]
    assert "keras-tensorflow: the worker process failed" in matrix.markdown()


def test_the_command_itself_loads_no_framework():
    # nor scipy: half a second of every command's start, for a default in a help text; nor do
    # the modules behind bench report and compare --plot (a report of stored runs)
    code = ("import sys; import parity.cli, parity.matrix.run, parity.matrix.table; "
            "import parity.bench.report, parity.bench.plots; "
            "parity.cli.build_parser(); "
            "print(sorted({'torch', 'tensorflow', 'keras', 'jax', 'scipy'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr


def test_unknown_backend_names_are_a_usage_error(tmp_path, capsys):
    assert main(["backends", "--backends", "tensorflow,theano", "--out", str(tmp_path / "m")]) == 2
    assert "theano" in capsys.readouterr().err and not (tmp_path / "m").exists()


def _worker_in_this_process(calls: list):
    """A stand-in for :func:`parity.matrix.run.run_in_subprocess` that runs the worker's own
    ``main`` here, on this process's Keras backend (a worker process imports torch and TensorFlow
    again, seconds; ``.ci/run`` runs ``python -m parity backends`` with real worker processes, and
    a worker process that fails has its own test)."""
    import keras
    import threadpoolctl
    import torch

    from parity.matrix import worker

    def runner(command: list[str], env: dict[str, str]) -> tuple[int, str]:
        calls.append(command)
        assert command[:3] == [sys.executable, "-m", "parity.matrix.worker"], command
        assert env["KERAS_BACKEND"] == keras.backend.backend(), env["KERAS_BACKEND"]
        threads = torch.get_num_threads()
        with threadpoolctl.threadpool_limits(limits=None):  # the worker pins threads: put back
            try:
                return worker.main(command[3:]), ""
            finally:
                torch.set_num_threads(threads)
    return runner


def test_backends_command_writes_the_matrix_and_never_overwrites(tmp_path, capsys, monkeypatch):
    """One real run on the TensorFlow backend (the torch module and the oracle included); a backend
    that is not installed is named, not failed."""
    calls: list[list[str]] = []
    monkeypatch.setattr(matrix_run, "run_in_subprocess", _worker_in_this_process(calls))
    out = tmp_path / "matrix"
    missing = next((b for b in ("jax",) if importlib.util.find_spec(b) is None), None)
    backends = "tensorflow" + (f",{missing}" if missing else "")
    command = ["backends", "--backends", backends, "--out", str(out)]
    assert main(command) == 0, capsys.readouterr()
    assert len(calls) == 1 and "--reference" in calls[0]  # the first backend computes the reference
    table = (out / "matrix.md").read_text()
    assert "| Keras-TF | torch |" in table and "## float64" in table
    rows = json.loads((out / "matrix.json").read_text())["rows"]
    cases = {r["case"] for r in rows}
    assert {"lstm/uni/leading_masked_with_state", "gru_reset_before/uni/gaps"} <= cases
    assert all(r["verdict"] == "within" for r in rows)
    if missing:
        assert f"keras-{missing}: not installed" in table.lower()
    capsys.readouterr()
    assert main(command) == 2 and "exists" in capsys.readouterr().err
    assert len(calls) == 1  # refused before any worker ran


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_the_reproducer_shows_the_difference(backend, capsys):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed here")
    import keras

    if keras.backend.backend() == backend:  # this process's backend: no second interpreter
        exec(JAX_MASKED_LEADING_STEPS.reproducer, {})
        printed = capsys.readouterr().out
    else:
        env = dict(os.environ, KERAS_BACKEND=backend)
        done = subprocess.run([sys.executable, "-c", JAX_MASKED_LEADING_STEPS.reproducer],
                              capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        printed = done.stdout
    expected = "[0.5 0.5]" if backend == "jax" else "[0. 0.]"
    assert printed.strip().splitlines()[-1] == expected


def test_a_case_a_backend_raised_on_fails_the_matrix():
    named = _outputs()
    broken = _worker("keras-jax", {})
    broken.meta["errors"] = {"c|float32": "ValueError: scan failed"}
    matrix = build([_worker("keras-tensorflow", named, reference=True), broken])
    assert not matrix.ok and not matrix.unexplained
    assert "- c|float32 (keras-jax): raised ValueError: scan failed" in matrix.markdown()
    assert not any("keras-jax" in (r.a, r.b) for r in matrix.rows)
