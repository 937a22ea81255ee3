"""Typed errors. Each names the offending option or shape, the value seen, and what would work."""

from __future__ import annotations


class ParityConfigError(ValueError):
    """Base class for configurations the suite refuses; carries the option, value and a remedy."""

    def __init__(self, option: str, value: object, expected: str, *, where: str = "") -> None:
        self.option = option
        self.value = value
        self.expected = expected
        self.where = where
        place = f" in {where}" if where else ""
        super().__init__(f"{option}={value!r}{place}: {expected}")


class UnsupportedConfig(ParityConfigError):
    """An option of one framework has no exact counterpart in the other (or in the oracle)."""


class TransferError(ParityConfigError):
    """Source and destination of a weight copy do not describe the same computation."""


class ParityError(AssertionError):
    """Two frameworks (or a framework and the float64 oracle) disagree beyond the allowed tolerance.

    ``report`` holds the check's result, which follows :class:`parity.core.mismatch.Report`
    (``ok``, ``summary()``, ``explain()``): a ``ParityReport`` (layer or gradient checks), an
    ``OracleReport``, a ``ModelReport``, a ``TrainingRecord`` or a golden ``DriftReport``.
    """

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report


class InputFileError(ValueError):
    """A file or folder given on the command line (a baseline, a benchmark run) is missing,
    truncated, corrupt or of another kind; the message names the path and the reason."""


class OutputError(ValueError):
    """An output cannot be written where asked (the place is a file, not writable, or holds
    something already): refused before any work starts, naming the path."""


class NonFiniteInput(UnsupportedConfig):
    """An input holds NaN or Inf: tolerances are derived from the inputs, so such a check could
    only report noise. Names the argument and the first non-finite element."""
