"""Reading the JSON a user hands over (benchmark runs, baselines' manifests, scenario files,
port folders, results files): one place that turns every way such a file can be broken into an
:class:`~parity.core.errors.InputFileError` naming the file, never an internal error.

``json`` parses nested arrays recursively, so a deeply nested document raises ``RecursionError``
(not a ``JSONDecodeError``). NaN and Infinity literals are read, as Python's ``json`` writes
them. What a document must hold is a JSON Schema beside its reader (``jsonschema`` checks it), so
that a file of the right syntax but the wrong shape is refused naming the offending entry, before
any code indexes into it.
"""

from __future__ import annotations

import json
from pathlib import Path

from parity.core.errors import InputFileError


def parse(text: str | bytes, where: str, schema: dict | None = None, what: str = "JSON", *,
          error: type[InputFileError] = InputFileError):
    """The document ``text`` holds, checked against ``schema`` if given; ``where`` (the file, or
    the file and line) and ``what`` (the kind of file expected) name it in the ``error``
    raised (a reader's own subclass of InputFileError)."""
    try:
        doc = json.loads(text)
    except RecursionError:
        raise error(f"{where}: nested too deeply to be {what}") from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise error(f"{where}: not valid JSON ({e}); expected {what}") from None
    if schema is not None:
        check(doc, schema, where, what)
    return doc


def check(doc, schema: dict, where: str, what: str) -> None:
    """Refuse ``doc`` unless it matches ``schema``, naming the first offending entry."""
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema)
                                            .iter_errors(doc))
    if error is not None:
        at = "".join(f"[{p!r}]" for p in error.absolute_path) or " (the whole document)"
        raise InputFileError(f"{where}: not {what}: at{at}: {error.message[:300]}")


def _bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise InputFileError(f"{path}: cannot be read as {what} ({e.strerror or e})") from None


def read(path: str | Path, what: str = "a JSON file", schema: dict | None = None):
    """The document in ``path``; refused with the path and the reason if it cannot be read, is
    not JSON or does not match ``schema``."""
    path = Path(path)
    return parse(_bytes(path, what), str(path), schema, what)


def read_lines(path: str | Path, what: str = "a JSON-lines file",
               schema: dict | None = None) -> list:
    """One document per non-blank line of ``path`` (JSON lines), each checked against
    ``schema``."""
    path = Path(path)
    return [parse(line, f"{path}:{n}", schema, what)
            for n, line in enumerate(_bytes(path, what).splitlines(), 1) if line.strip()]
