"""Fixtures shared by the meta tests."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import settings


@contextlib.contextmanager
def _hypothesis_profile_kept():
    """Around a pytest session run in this process: the profile the nested session loads (a
    global of hypothesis) is put back afterwards."""
    profile = settings.get_current_profile_name()
    try:
        yield
    finally:
        settings.load_profile(profile)


@pytest.fixture
def nested_pytest():
    """``pytest ARGS`` in this process, with the parity plugin (a subprocess would import both
    frameworks again, seconds each): returns pytest's exit code."""
    def run(*args: str, plugins=()) -> int:
        with _hypothesis_profile_kept():
            return pytest.main(["-p", "parity.pytest_plugin", "-q", "-p", "no:cacheprovider",
                                "--import-mode=importlib", *args], plugins=list(plugins))
    return run


@pytest.fixture
def run_check(capsys):
    """``python -m parity check ARGS`` in this process (a subprocess would import both frameworks
    again, seconds each): returns its exit code and what it printed. The hypothesis profile the
    nested session loads is put back afterwards."""
    from parity.cli import main

    def run(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        with _hypothesis_profile_kept():
            code = main(["check", "-p", "no:cacheprovider", *args])
        return code, capsys.readouterr().out

    return run
