"""Fixtures shared by the meta tests."""

from __future__ import annotations

import pytest
from hypothesis import settings


@pytest.fixture
def run_check(capsys):
    """``python -m parity check ARGS`` in this process (a subprocess would import both frameworks
    again, seconds each): returns its exit code and what it printed. The hypothesis profile the
    nested session loads is put back afterwards."""
    from parity.cli import main

    def run(*args: str) -> tuple[int, str]:
        profile = settings.get_current_profile_name()
        capsys.readouterr()
        try:
            code = main(["check", "-p", "no:cacheprovider", *args])
        finally:
            settings.load_profile(profile)
        return code, capsys.readouterr().out

    return run
