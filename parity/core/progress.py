"""Progress bars for long work (training checks, scenarios, sweeps, the gate), on stderr.

Shown only to a person watching: stderr is a terminal, not under pytest, and tqdm is installed
(the ``report`` extra). ``PARITY_PROGRESS=0`` turns them off, ``PARITY_PROGRESS=1`` on (still
not under pytest, whose captured output they would clutter)."""

from __future__ import annotations

import os
import sys


def enabled() -> bool:
    if "PYTEST_CURRENT_TEST" in os.environ:  # set by pytest while a test runs
        return False
    setting = os.environ.get("PARITY_PROGRESS")
    if setting is not None:
        return setting == "1"
    return sys.stderr.isatty()


class _Silent:
    """Stands in for a bar: same calls, no output."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def bar(*, total: int | None, desc: str, unit: str = "step"):
    """A tqdm bar (or a silent stand-in); use as a context manager and call ``update()``."""
    if not enabled():
        return _Silent()
    try:
        from tqdm.auto import tqdm
    except ImportError:  # optional: the report extra
        return _Silent()
    return tqdm(total=total, desc=desc, unit=unit, leave=False, file=sys.stderr,
                dynamic_ncols=True)
