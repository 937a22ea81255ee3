"""Progress bars: shown on a terminal (or when asked), silent in pipes, logs and under pytest."""

from __future__ import annotations

import io
import sys

from parity.core import progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_quiet_under_pytest_even_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    monkeypatch.setenv("PARITY_PROGRESS", "1")
    assert not progress.enabled()
    with progress.bar(total=3, desc="x") as bar:
        bar.update()
    assert sys.stderr.getvalue() == ""


def test_shown_on_a_terminal_and_quiet_in_a_pipe_outside_pytest(monkeypatch):
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    monkeypatch.delenv("PARITY_PROGRESS", raising=False)
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert progress.enabled()
    with progress.bar(total=2, desc="lock-step training") as bar:
        bar.update()
        bar.update()
    assert "lock-step training" in sys.stderr.getvalue()
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a pipe or a log file
    assert not progress.enabled()
    monkeypatch.setenv("PARITY_PROGRESS", "1")
    assert progress.enabled()
    monkeypatch.setattr(sys, "stderr", _Terminal())
    monkeypatch.setenv("PARITY_PROGRESS", "0")
    assert not progress.enabled()
