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
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

import parity  # noqa: F401  (imports torch before tensorflow)
from parity.core.frameworks import keras, torch

_COMMON = dict(deadline=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors])
settings.register_profile("parity-ci", max_examples=30, derandomize=True, database=None, **_COMMON)
settings.register_profile("parity-random", max_examples=30, **_COMMON)
settings.register_profile("parity-dev", max_examples=8, **_COMMON)
settings.register_profile("parity-thorough", max_examples=500, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "parity-ci"))


def pytest_report_header(config):
    lines = [f"rnn-parity {parity.__version__}: keras {keras.__version__} "
             f"(backend {keras.backend.backend()}), torch {torch.__version__} "
             f"({torch.get_num_threads()} threads), hypothesis profile "
             f"{settings.get_current_profile_name()}"]
    if keras.backend.backend() != "tensorflow":
        lines.append(_OTHER_BACKEND.get(keras.backend.backend(), _OTHER_BACKEND[None]))
    return lines


_OTHER_BACKEND = {
    "torch": "note: the suite is validated on Keras' TensorFlow backend. On its torch backend "
             "Keras computes float64 layers' matmuls in float32 (keras.backend.result_type maps "
             "64-bit types to 32-bit), so the float64 checks fail there, rightly; the golden and "
             "gate tests need TensorFlow; float32 and the benchmarks run.",
    None: "note: the suite is validated on Keras' TensorFlow backend only; the golden and gate "
          "tests need TensorFlow.",
}
