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

``--parity-results=FILE`` writes each check's outcome to the new file ``FILE`` (JSON lines: test,
Keras backend, cell, feature, dtype, outcome, reason), noted by the checks themselves
(:mod:`parity.core.exercised`): one drawn test covers many cells and dtypes.
``python -m parity support FILE ...`` makes the support table from such files.

With ``-n N`` (pytest-xdist) and no ``--dist`` given, the workers steal queued tests from each
other (``--dist worksteal``): the drawn properties' run times differ a hundredfold.

Both frameworks run single-threaded during the checks (``--parity-threads=N`` to change it): the
checks' tensors are tiny, so a thread pool only adds synchronisation, and on a busy or shared
machine its waiting threads cost more CPU time than the work itself (measured: the gradient
property used 2.4x less CPU time on one thread). Benchmarks pin their own threads.

The frameworks' known deprecation warnings (``QUIET_FILTERS``) are filtered unless the ini option
``parity_quiet`` is false; :mod:`parity.core.frameworks` quietens TensorFlow's import log lines.
"""

from __future__ import annotations

import json
import os
import re

import pytest
from hypothesis import HealthCheck, settings

import parity  # noqa: F401  (imports torch before tensorflow)
from parity.core import exercised, outputs
from parity.core.frameworks import freeze_imported, keras, pin_threads, torch
from parity.pytest_options import SCENARIO_STEPS, pytest_addoption  # noqa: F401  (a hook)

_COMMON = dict(deadline=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors])
settings.register_profile("parity-ci", max_examples=30, derandomize=True, database=None, **_COMMON)
settings.register_profile("parity-random", max_examples=30, **_COMMON)
settings.register_profile("parity-dev", max_examples=8, **_COMMON)
settings.register_profile("parity-thorough", max_examples=500, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "parity-ci"))

# the frameworks' known noise in a parity run, filtered unless the ini option parity_quiet is
# false: Keras' TensorFlow backend hands numpy tensors whose __array__ lacks numpy 2's ``copy``
# keyword (one DeprecationWarning per conversion, dozens per test)
QUIET_FILTERS = ("ignore::DeprecationWarning:tensorflow.*", "ignore::DeprecationWarning:keras.*",
                 "ignore::DeprecationWarning:tf_keras.*")


def scenario_steps(config) -> int:
    """Steps of each course scenario the shipped check trains (0: the full course)."""
    steps = config.getoption("scenario_steps")
    if steps is None:
        return 0 if settings.get_current_profile_name() == "parity-thorough" else SCENARIO_STEPS
    if steps < 0:
        raise pytest.UsageError(f"--scenario-steps={steps}: give 0 (full length) or a positive "
                                "number of steps")
    return steps


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist turns an unchosen --dist into "load"
def pytest_cmdline_main(config):
    """With ``-n`` and no ``--dist`` of the user's, idle workers steal queued tests: a few drawn
    properties take seconds each while most tests take milliseconds, and xdist's default
    ``load`` hands out fixed shares (measured: the default ``pytest -n auto`` 37.7 s wall with
    ``load``, 26.6 s with ``worksteal``, on the 2-core machine)."""
    option = config.option
    if getattr(option, "numprocesses", None) and getattr(option, "dist", None) == "no":
        option.dist = "worksteal"


@pytest.hookimpl(tryfirst=True)  # before a benchmark conftest, which pins threads of its own
def pytest_configure(config):
    threads = config.getoption("parity_threads")
    if threads < 1:
        raise pytest.UsageError(f"--parity-threads={threads}: must be at least 1")
    # False when an earlier plugin already started TensorFlow: its pools are left as they are
    pin_threads(threads, threads)
    if config.getini("parity_quiet"):
        for line in QUIET_FILTERS:  # after the user's ini filters, so these win for these modules
            config.addinivalue_line("filterwarnings", line)
    freeze_imported()  # the session's entry point: see its docstring (about 2 s of CPU a run)
    cache = config.getoption("parity_jax_cache")
    if keras.backend.backend() == "jax" and cache != "off":
        from parity.layers.jax_side import use_compilation_cache

        try:
            use_compilation_cache(cache)
        except OSError as e:
            raise pytest.UsageError(f"--parity-jax-cache={cache}: {e}; give a folder that can "
                                    "be made, or 'off'") from None
    results = config.getoption("parity_results")
    if results and not hasattr(config, "workerinput"):  # xdist workers report to the controller
        try:
            outputs.check_new_file(results)
        except (OSError, ValueError) as e:
            raise pytest.UsageError(f"--parity-results={results}: {e}") from None
        config.pluginmanager.register(ResultsWriter(results), "parity-results")


RESULTS_PROPERTY = "parity_exercised"  # the report's user property that carries the outcomes


def _outcome(check: exercised.Check) -> tuple[str, str]:
    """(outcome, reason) of one noted check."""
    error = check.error
    if error is None:
        return ("failed", check.failure) if check.failure else ("passed", "")
    if isinstance(error, pytest.skip.Exception):
        return "skipped", str(error.msg)
    if isinstance(error, pytest.xfail.Exception):
        return "xfailed", str(error.msg)
    lines = str(error).strip().splitlines() or [""]
    # a parity failure's first line repeats the whole spec; its verdict line says who drifted
    first = re.sub(r"RecurrentSpec\(kind='(\w+)'[^)]*\)", r"\1", lines[0])
    verdict = next((line.strip() for line in lines if line.strip().startswith("-> ")), "")
    return "failed", f"{type(error).__name__}: {first} {verdict}".strip()[:300]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    if not item.config.getoption("parity_results"):
        return (yield)
    with exercised.recording() as seen:
        try:
            return (yield)
        finally:
            noted = {(cell, feature, dtype, *_outcome(check))
                     for check in seen.checks for cell, feature, dtype in check.exercised}
            item.user_properties.append((RESULTS_PROPERTY, sorted(noted)))


class ResultsWriter:
    """Collects the outcomes the tests' reports carry (from xdist workers too) and writes them
    at the end of the session."""

    def __init__(self, path: str) -> None:
        self.path, self.lines = path, []

    def pytest_runtest_logreport(self, report):
        noted = dict(report.user_properties).get(RESULTS_PROPERTY)
        if report.when == "teardown" or (report.when == "setup" and report.passed):
            return
        known = getattr(report, "wasxfail", None)  # an xfail marker: failures are expected
        base = {"test": report.nodeid, "backend": keras.backend.backend()}
        if not noted and not report.passed:  # skipped or failed before any check ran
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else \
                (str(report.longrepr or "").strip().splitlines() or [""])[-1]
            outcome = "xfailed" if known is not None else report.outcome
            self.lines.append(dict(base, cell=None, feature=None, dtype=None, outcome=outcome,
                                   reason=known or str(reason)))
            return
        for cell, feature, dtype, outcome, reason in noted or ():
            if known is not None and outcome in ("failed", "xfailed"):
                outcome, reason = "xfailed", known or reason
            self.lines.append(dict(base, cell=cell, feature=feature, dtype=dtype,
                                   outcome=outcome, reason=reason))

    def pytest_sessionfinish(self, session):
        from parity.checks.capabilities import keras_precision_reason
        from parity.core.spec import DTYPES

        # dtypes the drawn cases leave out on this backend (by probe): skipped, with the reason
        self.lines += [{"test": "probe", "backend": keras.backend.backend(), "cell": None,
                        "feature": None, "dtype": d, "outcome": "skipped", "reason": reason}
                       for d in DTYPES if (reason := keras_precision_reason(d))]
        outputs.write_new_file(self.path, "".join(json.dumps(line) + "\n" for line in self.lines))


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
    from parity.checks.known_differences import for_backend

    lines += [f"known difference {d.name!r} of Keras on {keras.backend.backend()}: {d.summary}; "
              "cases with it are not drawn (test_known_differences shows it as an expected failure)"
              for d in for_backend()]
    return lines


_OTHER_BACKEND = {
    "torch": "note: the suite is validated on Keras' TensorFlow backend. On its torch backend "
             "Keras computes float64 layers' matmuls in float32 (keras.backend.result_type maps "
             "64-bit types to 32-bit): float64 cases are not drawn there (probe below); the "
             "golden and gate tests need TensorFlow; float32 and the benchmarks run.",
    "jax": "note: the suite is validated on Keras' TensorFlow backend. On JAX, Keras computes "
           "float64 layers in float32 (without JAX_ENABLE_X64; with it, its scan cannot run a "
           "float64 SimpleRNN): float64 cases are not drawn there (probe below); Keras cannot "
           "build float16 layers (no float16 QR for the Orthogonal initialiser); gradients and "
           "training run jax.jit-compiled through Keras' stateless API; the golden and gate tests "
           "need TensorFlow.",
    None: "note: the suite is validated on Keras' TensorFlow backend only; the golden and gate "
          "tests need TensorFlow.",
}
