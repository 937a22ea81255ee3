"""What the running checks exercise: each check entry point (forward, gradient, model and
training parity) notes the cell, features and dtype of the layers it checks and how that check
ended, while a recording is on (the pytest plugin's ``--parity-results`` turns one on around each
test). So a support table can say, per cell, feature and dtype, what the checks showed, rather
than per test function: one drawn test covers many cells and dtypes.

Features: the check's own (``forward``, ``gradients``, ``training``, ``stateful``) plus what the
layer and its inputs use (``masks``, ``initial state``, ``bidirectional``, ``go_backwards``,
``stacked``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from parity.core.spec import RecurrentSpec

CHECKS = ("forward", "gradients", "training", "stateful")
PROPERTIES = ("masks", "initial state", "bidirectional", "go_backwards", "stacked")
FEATURES = CHECKS + PROPERTIES


def features(spec: RecurrentSpec, check: str, *, masked: bool = False,
             initial_state: bool = False) -> list[str]:
    """The features one ``check`` of a layer of ``spec`` exercises.

    Args:
        spec: the layer checked.
        check: one of :data:`CHECKS`.
        masked: the inputs carry a mask.
        initial_state: the inputs give an initial state.

    Returns:
        ``check`` first, then the properties used, in :data:`PROPERTIES` order.

    Raises:
        ValueError: an unknown ``check``.

    Examples:
        >>> from parity.core.spec import RecurrentSpec
        >>> features(RecurrentSpec("lstm", 2, 2, bidirectional=True), "gradients", masked=True)
        ['gradients', 'masks', 'bidirectional']
    """
    if check not in CHECKS:
        raise ValueError(f"check={check!r}: expected one of {CHECKS}")
    used = {"masks": masked, "initial state": initial_state, "bidirectional": spec.bidirectional,
            "go_backwards": spec.go_backwards, "stacked": spec.num_layers > 1}
    return [check] + [p for p in PROPERTIES if used[p]]


@dataclass
class Check:
    """One check while it runs: the (cell, feature, dtype) triples it exercises and how it
    ended (``error``: the exception that left it, or ``failure``: why a check that returns a
    report rather than raising found a mismatch; neither: it passed)."""

    exercised: list[tuple[str, str, str]]
    error: BaseException | None = None
    failure: str | None = None

    def fail(self, reason: str) -> None:
        """Mark the check failed without an exception (a report that is not ok)."""
        self.failure = reason


@dataclass
class Recording:
    """The checks noted while a :func:`recording` is on, in order."""

    checks: list[Check] = field(default_factory=list)


_current: Recording | None = None


def recording_on() -> bool:
    """Whether checks are being noted now (inside :func:`recording`)."""
    return _current is not None


@contextlib.contextmanager
def recording() -> Iterator[Recording]:
    """Note every check run inside the ``with`` block (nested recordings each see their own).

    Examples:
        >>> from parity.core.spec import RecurrentSpec
        >>> with recording() as seen:
        ...     with checking(RecurrentSpec("gru", 2, 2), "forward", masked=True):
        ...         pass
        >>> seen.checks[0].exercised, seen.checks[0].error
        ([('gru', 'forward', 'float32'), ('gru', 'masks', 'float32')], None)
    """
    global _current
    previous, _current = _current, Recording()
    try:
        yield _current
    finally:
        _current = previous


@contextlib.contextmanager
def checking(specs: RecurrentSpec | Iterable[RecurrentSpec], check: str, *,
             masked: bool = False, initial_state: bool = False) -> Iterator[Check]:
    """Note one check of the layers ``specs`` (see :func:`features`) and how it ends: an
    exception leaving the block is noted and re-raised. Costs nothing when no recording is on.

    Examples:
        >>> from parity.core.spec import RecurrentSpec
        >>> with recording() as seen:
        ...     with checking(RecurrentSpec("lstm", 2, 2), "forward") as check:
        ...         check.fail("outputs differ")
        >>> seen.checks[0].failure
        'outputs differ'
    """
    specs = [specs] if isinstance(specs, RecurrentSpec) else list(specs)
    note = Check([(s.kind, f, s.dtype) for s in specs
                  for f in features(s, check, masked=masked, initial_state=initial_state)])
    target = _current
    try:
        yield note
    except BaseException as e:
        note.error = e
        raise
    finally:
        if target is not None:
            target.checks.append(note)
