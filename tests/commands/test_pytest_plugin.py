"""The pytest plugin's choice of xdist scheduling: with ``-n`` and no ``--dist`` of the user's,
workers steal queued tests (the drawn properties' run times differ a hundredfold). ``tox -e
tests`` runs ``pytest -n auto``, so the schedule itself runs in every CI run. And a user's own
suite run with the plugin is quiet: the frameworks' known warnings and import log lines are
filtered, unless the user asks for them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import parity
from parity import pytest_plugin
from parity.core.frameworks import keras


@pytest.mark.parametrize("numprocesses, dist, chosen", [
    ("auto", "no", "worksteal"),  # pytest-xdist's defaults: --dist no unless given
    (2, "no", "worksteal"),
    (2, "load", "load"),  # the user's choice stands
    (2, "loadscope", "loadscope"),
    (None, "no", "no"),  # no workers: nothing to schedule
    (0, "no", "no"),
])
def test_workers_steal_unless_the_user_chose_a_schedule(numprocesses, dist, chosen):
    option = SimpleNamespace(numprocesses=numprocesses, dist=dist)
    pytest_plugin.pytest_cmdline_main(SimpleNamespace(option=option))
    assert option.dist == chosen


def test_the_schedule_is_one_xdist_has():
    scheduler = pytest.importorskip("xdist.scheduler")
    assert hasattr(scheduler, "WorkStealingScheduling")


def test_without_xdist_options_nothing_changes():
    option = SimpleNamespace(verbose=0)
    pytest_plugin.pytest_cmdline_main(SimpleNamespace(option=option))
    assert vars(option) == {"verbose": 0}


_USER_TESTS = '''
import numpy as np
import keras
import pytest

import parity

X = np.random.default_rng(0).standard_normal((2, 5, 4)).astype("float32")


@pytest.mark.parametrize("make", [
    lambda: keras.layers.SimpleRNN(3, return_sequences=True),
    lambda: keras.layers.LSTM(3, return_state=True),
    lambda: keras.layers.GRU(3),
    lambda: keras.layers.GRU(3, reset_after=False, return_sequences=True),
    lambda: keras.layers.Bidirectional(keras.layers.LSTM(2, return_sequences=True)),
])
def test_port(make):
    layer = make()
    layer.build((None, None, 4))
    parity.assert_parity(layer, parity.to_torch(layer), X)
'''


def _run_user_suite(folder: Path, ini: str, env: dict[str, str]) -> tuple[int, int]:
    """Five parity tests of a user's own project in ``folder`` (outside this checkout), run by
    pytest with the plugin: (warnings in the summary line, TensorFlow log lines on stderr)."""
    (folder / "pytest.ini").write_text(f"[pytest]\n{ini}\n")
    (folder / "test_ports.py").write_text(_USER_TESTS)
    checkout = str(Path(parity.__file__).parents[1])
    env = {**{k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
           "PYTHONPATH": checkout, **env}
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "parity.pytest_plugin",
                             "-p", "no:cacheprovider", "test_ports.py"],
                            cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0 and "5 passed" in summary, result.stdout + result.stderr
    warnings = re.search(r"(\d+) warnings?", summary)
    log_lines = [line for line in result.stderr.splitlines()
                 if re.match(r"[IWEF]\d{4} ", line) or "absl::InitializeLog" in line]
    return int(warnings.group(1)) if warnings else 0, len(log_lines)


def test_a_users_suite_is_quiet_unless_asked(tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the noise filtered is TensorFlow's and that of Keras' TensorFlow backend")
    (quiet := tmp_path / "quiet").mkdir()
    (noisy := tmp_path / "noisy").mkdir()
    assert _run_user_suite(quiet, "", {}) == (0, 0)
    # the switches: the ini option for the warnings, the user's own TensorFlow log level
    warnings, log_lines = _run_user_suite(noisy, "parity_quiet = false", {"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert warnings >= 5 and log_lines >= 1, (warnings, log_lines)  # measured: 36 and 5
