"""Fixtures shared by the meta tests."""

from __future__ import annotations

import contextlib
import gc

import pytest
from hypothesis import settings


@contextlib.contextmanager
def _nested_session():
    """Around a pytest session run in this process: the profile the nested session loads (a
    global of hypothesis) is put back afterwards; and the objects alive before it (both
    frameworks: half a million) are left out of the garbage collections the session makes when
    it ends (pytest's unraisableexception plugin runs two, 0.3 - 0.5 s each with the frameworks
    loaded; cycles the session itself leaves are still collected, and still reported)."""
    profile = settings.get_current_profile_name()
    frozen_before = gc.get_freeze_count() > 0  # a freeze of the whole process is kept
    gc.freeze()
    try:
        yield
    finally:
        if not frozen_before:
            gc.unfreeze()
        settings.load_profile(profile)


@pytest.fixture
def nested_pytest():
    """``pytest ARGS`` in this process, with the parity plugin (a subprocess would import both
    frameworks again, seconds each): returns pytest's exit code."""
    def run(*args: str, plugins=()) -> int:
        with _nested_session():
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
        with _nested_session():
            code = main(["check", "-p", "no:cacheprovider", *args])
        return code, capsys.readouterr().out

    return run
