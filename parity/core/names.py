"""Names read from files (a scenario's ``"name"``, ...) that become file names in an output
folder: each must be one plain path component, so that nothing is written outside the folder."""

from __future__ import annotations

from parity.core.errors import InputFileError

MAX_LENGTH = 100


def safe_component(name, what: str) -> str:
    """``name`` when it is a safe single file name (no separator, NUL, leading dot, not empty,
    at most :data:`MAX_LENGTH` characters); otherwise InputFileError naming ``what`` (where the
    name comes from) and the rule.

    Examples:
        >>> safe_component("sentiment", "scenario name")
        'sentiment'
        >>> safe_component("../escaped", "scenario name")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        parity.core.errors.InputFileError: scenario name '../escaped': ...
    """
    problem = None
    if not isinstance(name, str):
        problem = f"a {type(name).__name__}, not a string"
    elif not name:
        problem = "empty"
    elif any(c in name for c in "/\\\0") or any(ord(c) < 32 for c in name):
        problem = "holds a path separator or control character"
    elif name.startswith("."):
        problem = "starts with '.' (a hidden file, or '.'/'..')"
    elif len(name) > MAX_LENGTH:
        problem = f"longer than {MAX_LENGTH} characters"
    if problem:
        raise InputFileError(f"{what} {name!r}: {problem}; it becomes a file name in the output "
                             f"folder, so it must be one plain file name: no '/', '\\', NUL or "
                             f"control characters, not starting with '.', 1 to {MAX_LENGTH} "
                             "characters")
    return name
