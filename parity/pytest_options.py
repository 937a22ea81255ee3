"""The parity checks' pytest options, and a check of a pytest command line against pytest's own
parser, both framework-free: ``python -m parity run`` and ``check`` refuse a bad option before a
folder is claimed or torch is imported (:mod:`parity.pytest_plugin` registers the options)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

SCENARIO_STEPS = 12  # per scenario in the default check; the main job trains the full length
_JAX_CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                          "rnn-parity", "jax")


def pytest_addoption(parser):
    parser.addini("parity_quiet", type="bool", default=True,
                  help="filter the frameworks' known deprecation warnings (parity.pytest_plugin."
                       "QUIET_FILTERS; default true; false: show them)")
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

    group.addoption(
        "--parity-jax-cache", default=os.environ.get("PARITY_JAX_CACHE", _JAX_CACHE),
        metavar="DIR",
        help="on Keras' JAX backend, keep compiled functions in DIR across runs (JAX's persistent "
             "compilation cache; default $PARITY_JAX_CACHE or ~/.cache/rnn-parity/jax; 'off': "
             "none)")
    group.addoption(
        "--parity-results", default=None, metavar="FILE",
        help="write each check's outcome per cell, feature, dtype and Keras backend to the new "
             "file FILE (JSON lines; never overwritten), for python -m parity support")


def check_arguments(fixed: list[str], user: list[str]) -> None:
    """Parse ``fixed + user`` (a ``pytest.main`` command line without ``-p parity.pytest_plugin``;
    ``user``: the part the user gave) as pytest would, without running anything: pytest's parser
    with its installed plugins (xdist, benchmark, hypothesis) and the options above, the ini
    file's addopts and $PYTEST_ADDOPTS included. Conftest files are not imported (the
    repository's only registers :mod:`parity.pytest_plugin`, which imports the frameworks).
    Files, folders and modules the user names must exist. Raises
    :class:`~parity.core.errors.ParityConfigError` (exit 2)."""
    try:
        from _pytest.config import UsageError, _prepareconfig
    except ImportError:  # another pytest: it refuses a bad option itself, after the imports
        return
    from parity.core.errors import ParityConfigError

    try:
        config = _prepareconfig([*fixed, *user, "--noconftest"], plugins=[sys.modules[__name__]])
    except UsageError as e:  # argparse's message, after pytest's usage line
        reason = next((line.split("error:", 1)[1].strip() for line in str(e).splitlines()
                       if "error:" in line), str(e))
        raise ParityConfigError("pytest option", " ".join(user), reason + "; python -m pytest "
                                "--help lists pytest's options") from None
    for target in config.args:
        if target in user and not _exists(target.split("::")[0], config.option.pyargs):
            raise ParityConfigError("pytest argument", target, "no such file, folder or module")


def _exists(target: str, pyargs: bool) -> bool:
    if Path(target).exists():
        return True
    if not pyargs or not all(part.isidentifier() for part in target.split(".")):
        return False
    try:
        return importlib.util.find_spec(target) is not None
    except (ImportError, ValueError):
        return False
