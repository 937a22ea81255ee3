"""pytest plugin for parity checks: hypothesis profiles, import order, and a report header.

This repository loads it from its root conftest.py; in your own project add
``pytest_plugins = ["parity.pytest_plugin"]`` to your top-level conftest.py, or run
``pytest -p parity.pytest_plugin``. Choose a profile with hypothesis' own option,
``--hypothesis-profile=NAME``:

- ``parity-ci`` (default): 30 examples, derandomised, so a run is deterministic and a failure
  replays with the same command.
- ``parity-random``: the same, but with fresh random examples each run (flakiness soaks, or
  ``--hypothesis-seed=N`` for one particular run).
- ``parity-dev``: 8 random examples, for a quick edit-run loop.
- ``parity-thorough``: 500 random examples, for nightly runs.

Both frameworks run single-threaded during the checks (``--parity-threads=N`` to change it): the
checks' tensors are tiny, so a thread pool only adds synchronisation, and on a busy or shared
machine its waiting threads cost more CPU time than the work itself (measured: the gradient
property used 2.4x less CPU time on one thread). Benchmarks pin their own threads.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

import parity  # noqa: F401  (imports torch before tensorflow)
from parity.core.frameworks import keras, pin_threads, torch

_COMMON = dict(deadline=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors])
settings.register_profile("parity-ci", max_examples=30, derandomize=True, database=None, **_COMMON)
settings.register_profile("parity-random", max_examples=30, **_COMMON)
settings.register_profile("parity-dev", max_examples=8, **_COMMON)
settings.register_profile("parity-thorough", max_examples=500, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "parity-ci"))


def pytest_addoption(parser):
    group = parser.getgroup("rnn-parity")
    group.addoption(
        "--parity-threads", type=int, default=1,
        help="threads for torch and TensorFlow during the parity checks (default 1: the checks' "
             "tensors are tiny and a thread pool only adds synchronisation)")
    group.addoption(
        "--scenario-steps", type=int, default=None,
        help="train each course scenario's first N steps (whole epochs, at least one) in the "
             "shipped scenario check; 0 = the course's full length, accuracy target included "
             f"(default: {SCENARIO_STEPS}; 0 under the parity-thorough profile)")


SCENARIO_STEPS = 12  # per scenario in the default check; the main job trains the full length


def scenario_steps(config) -> int:
    """Steps of each course scenario the shipped check trains (0: the full course)."""
    steps = config.getoption("scenario_steps")
    if steps is None:
        return 0 if settings.get_current_profile_name() == "parity-thorough" else SCENARIO_STEPS
    if steps < 0:
        raise pytest.UsageError(f"--scenario-steps={steps}: give 0 (full length) or a positive "
                                "number of steps")
    return steps


@pytest.hookimpl(tryfirst=True)  # before a benchmark conftest, which pins threads of its own
def pytest_configure(config):
    threads = config.getoption("parity_threads")
    if threads < 1:
        raise pytest.UsageError(f"--parity-threads={threads}: must be at least 1")
    # False when an earlier plugin already started TensorFlow: its pools are left as they are
    pin_threads(threads, threads)


def pytest_collection_modifyitems(config, items):
    """The ONNX Runtime examples (module onnx_runtime, compare.OnnxColumn) need the ``onnx``
    extra: without it they are skipped, with the reason (the shipped check, test_onnx.py, skips
    itself the same way)."""
    from parity.checks.onnx_runtime import missing_reason

    reason = missing_reason("dynamo") or missing_reason("tf2onnx")
    if reason:
        for item in items:
            if isinstance(item, pytest.DoctestItem) and item.name.startswith(
                    ("parity.checks.onnx_runtime", "parity.checks.compare.OnnxColumn")):
                item.add_marker(pytest.mark.skip(reason=reason))


def pytest_report_header(config):
    lines = [f"rnn-parity {parity.__version__}: keras {keras.__version__} "
             f"(backend {keras.backend.backend()}), torch {torch.__version__} "
             f"({torch.get_num_threads()} threads), hypothesis profile "
             f"{settings.get_current_profile_name()}"]
    if keras.backend.backend() != "tensorflow":
        from parity.checks.capabilities import keras_precision_reason

        lines.append(_OTHER_BACKEND.get(keras.backend.backend(), _OTHER_BACKEND[None]))
        if keras_precision_reason("float64"):
            lines.append(f"probe: {keras_precision_reason('float64')}")
    return lines


_OTHER_BACKEND = {
    "torch": "note: the suite is validated on Keras' TensorFlow backend. On its torch backend "
             "Keras computes float64 layers' matmuls in float32 (keras.backend.result_type maps "
             "64-bit types to 32-bit): float64 cases are not drawn there (probe below); the "
             "golden and gate tests need TensorFlow; float32 and the benchmarks run.",
    None: "note: the suite is validated on Keras' TensorFlow backend only; the golden and gate "
          "tests need TensorFlow.",
}
