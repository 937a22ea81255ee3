"""The support table: per Keras backend, cell, feature and dtype, what the shipped checks showed,
aggregated from one or more results files (``pytest --parity-results FILE``, one per backend
run; ``python -m parity support FILE ...``). Generated, never written by hand.

A table cell is the worst outcome any check had there: ``failing`` over ``known difference``
(an expected failure, with its reason) over ``supported`` (passed) over ``skipped`` (with its
reason); a combination no check reached is ``not checked``, or ``skipped`` where the backend's
dtype probe (a record with a dtype but no cell) left that dtype out of the drawn cases.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from parity.core import jsonfile
from parity.core.errors import InputFileError
from parity.core.exercised import FEATURES

CELLS = ("simple_rnn", "lstm", "gru")
CELL_NAMES = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
DTYPE_ORDER = ("float16", "bfloat16", "float32", "float64")
# outcome in a results file -> status in the table, worst first
STATUS = {"failed": "failing", "xfailed": "known difference", "passed": "supported",
          "skipped": "skipped"}
WORST_FIRST = ("failing", "known difference", "supported", "skipped")
MARK = {"failing": "FAILING", "known difference": "known", "supported": "yes",
        "skipped": "skipped", None: "—"}
FIELDS = ("backend", "cell", "feature", "dtype", "outcome", "reason")
# a record: a test that ended before any check ran has no cell (and a dtype probe's skip no
# feature); a check's outcome names its cell, feature and dtype
_TEXT = {"type": "string", "maxLength": 10_000}
_MAYBE = {"anyOf": [_TEXT, {"type": "null"}]}
RECORD = {"type": "object", "required": list(FIELDS),
          "properties": {"test": _TEXT, "backend": _TEXT, "reason": _TEXT,
                         "outcome": {"enum": list(STATUS)},
                         "cell": _MAYBE, "feature": _MAYBE, "dtype": _MAYBE},
          "if": {"properties": {"cell": {"type": "string"}}},
          "then": {"properties": {"feature": _TEXT, "dtype": _TEXT}}}


def load(paths: Iterable[str | Path]) -> list[dict]:
    """Every record of the results files ``paths`` (JSON lines).

    Args:
        paths: files written by ``pytest --parity-results FILE``.

    Returns:
        The records, in file order.

    Raises:
        InputFileError: a file is missing, or a line is not such a record (named by line).

    Examples:
        >>> import json, tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
        >>> _ = f.write_text(json.dumps(dict(test="t", backend="jax", cell="gru",
        ...     feature="forward", dtype="float32", outcome="passed", reason="")) + "\\n")
        >>> [r["cell"] for r in load([f])]
        ['gru']
    """
    what = ("a parity result (written by pytest --parity-results FILE: one JSON object a line, "
            f"with {', '.join(FIELDS)}; outcome one of {sorted(STATUS)})")
    return [record for path in paths for record in jsonfile.read_lines(path, what, RECORD)]


def aggregate(records: Iterable[dict]) -> dict[tuple[str, str, str, str], tuple[str, str]]:
    """(backend, cell, feature, dtype) -> (status, reason): the worst outcome there, and the
    first reason given for it. Records with no cell (a test skipped before any check) are left
    out.

    Examples:
        >>> rows = [dict(backend="jax", cell="lstm", feature="forward", dtype="float16",
        ...              outcome=o, reason=r) for o, r in [("passed", ""), ("skipped", "no")]]
        >>> aggregate(rows)
        {('jax', 'lstm', 'forward', 'float16'): ('supported', '')}
    """
    table: dict[tuple[str, str, str, str], tuple[str, str]] = {}
    for r in records:
        if r["cell"] is None:
            continue
        key = (r["backend"], r["cell"], r["feature"], r["dtype"])
        status = STATUS[r["outcome"]]
        held = table.get(key)
        if held is None or WORST_FIRST.index(status) < WORST_FIRST.index(held[0]):
            table[key] = (status, r["reason"] or "")
    return table


def markdown(records: list[dict]) -> str:
    """The support table: one row per cell and feature, one column per backend and dtype; each
    cell's status, with a numbered note giving the reason of a skip, known difference or failure.

    Args:
        records: as :func:`load` returns them.

    Returns:
        Markdown text.

    Raises:
        InputFileError: no record names a cell (nothing to tabulate).

    Examples:
        >>> rows = [dict(backend="tensorflow", cell="gru", feature="forward", dtype="float64",
        ...              outcome="passed", reason="")]
        >>> print(markdown(rows).splitlines()[6])
        | GRU | forward | yes |
    """
    table = aggregate(records)
    probed = {(r["backend"], r["dtype"]): r["reason"] for r in records
              if r["cell"] is None and r["dtype"] is not None and r["outcome"] == "skipped"}
    if not table:
        raise InputFileError("the results files hold no check outcome for any cell; run pytest "
                             "with --parity-results FILE over the shipped checks")
    backends = sorted({k[0] for k in table})
    dtypes = sorted({k[3] for k in table} | {d for _, d in probed},
                    key=lambda d: DTYPE_ORDER.index(d) if d in DTYPE_ORDER else len(DTYPE_ORDER))
    columns = [(b, d) for b in backends for d in dtypes]
    features = [f for f in FEATURES if any(k[2] == f for k in table)]
    features += sorted({k[2] for k in table} - set(features))
    cells = [c for c in CELLS if any(k[1] == c for k in table)]
    cells += sorted({k[1] for k in table} - set(cells))
    notes: dict[str, int] = {}
    lines = ["# Support table", "",
             "Generated from the shipped checks' outcomes (pytest --parity-results); each cell "
             "is the worst outcome any check had there: FAILING, known (an expected failure), "
             "yes (passed), skipped; — no check reached it.", "",
             "| cell | feature | " + " | ".join(f"{b} {d}" for b, d in columns) + " |",
             "|---|---" + "|---" * len(columns) + "|"]
    for cell in cells:
        for feature in features:
            if not any((b, cell, feature, d) in table for b, d in columns):
                continue
            marks = []
            for b, d in columns:
                status, reason = table.get((b, cell, feature, d),
                                           ("skipped", probed[b, d]) if (b, d) in probed
                                           else (None, ""))
                mark = MARK[status]
                if status in ("failing", "known difference", "skipped") and reason:
                    mark += f" [{notes.setdefault(reason, len(notes) + 1)}]"
                marks.append(mark)
            lines.append(f"| {CELL_NAMES.get(cell, cell)} | {feature} | " + " | ".join(marks)
                         + " |")
    if notes:
        lines += ["", *[f"{n}. {reason}" for reason, n in notes.items()]]
    unattributed = sorted({(r["backend"], r["outcome"], r["reason"]) for r in records
                           if r["cell"] is None and r["dtype"] is None
                           and r["outcome"] != "passed"})
    if unattributed:
        lines += ["", "Tests that ended before any check ran:",
                  *[f"- {b}: {o}: {why}" for b, o, why in unattributed]]
    return "\n".join(lines) + "\n"
