"""The backend matrix's comparison: every pair of implementations (Keras on each backend, the
torch module) on every case, dtype and returned tensor, against the tolerance of the one policy
(:mod:`parity.core.tolerances`): two correct implementations may differ by ``POLICY.cross`` times
what one may miss the float64 oracle by; one may miss the oracle by that allowed error itself.

A pair beyond the tolerance is explained by a known difference
(:mod:`parity.checks.known_differences`) or reported as unexplained. Framework-free: it reads the
arrays the worker processes wrote.
"""

from __future__ import annotations

import itertools
import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from parity.checks.known_differences import KNOWN_DIFFERENCES, Observation, explain
from parity.core.errors import InputFileError
from parity.core.spec import DTYPES, RecurrentSpec
from parity.core.tolerances import POLICY

IMPLEMENTATIONS = ("keras-tensorflow", "keras-jax", "keras-torch", "torch")
HEADERS = {"keras-tensorflow": "Keras-TF", "keras-jax": "Keras-JAX", "keras-torch": "Keras-torch",
           "torch": "torch", "oracle": "float64 oracle"}
ORACLE = "oracle"


@dataclass
class WorkerResult:
    """What one worker process wrote: its metadata and arrays (see :mod:`parity.matrix.worker`)."""

    meta: dict
    arrays: dict[str, np.ndarray]

    @classmethod
    def load(cls, npz: str | Path) -> WorkerResult:
        """Read ``FILE.npz`` and ``FILE.json``; a missing or damaged file is an InputFileError."""
        npz = Path(npz)
        try:
            meta = json.loads(npz.with_suffix(".json").read_text())
            with np.load(npz, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise InputFileError(f"{npz}: unreadable matrix results ({type(e).__name__}: {e}); "
                                 "rerun python -m parity backends") from None
        return cls(meta, arrays)


@dataclass
class PairRow:
    """One tensor of one case and dtype, compared between two implementations (``b`` may be
    the oracle)."""

    case: str
    dtype: str
    tensor: str
    a: str
    b: str
    largest: float      # max |a - b|
    share: float        # max |a - b| / tolerance
    tolerance: float    # the tolerance at the element of largest share
    beyond: int         # elements beyond the tolerance
    size: int
    known: str | None = None  # the known difference that explains it

    @property
    def verdict(self) -> str:
        if not self.beyond:
            return "within"
        return f"known: {self.known}" if self.known else "UNEXPLAINED"


@dataclass
class Matrix:
    """Every pair's comparison, and what was not computed (``absent``: label -> why, per dtype
    or for all, and ``errors``: case|dtype|label -> the exception)."""

    implementations: list[str]
    rows: list[PairRow] = field(default_factory=list)
    absent: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    versions: dict[str, dict] = field(default_factory=dict)

    @property
    def unexplained(self) -> list[PairRow]:
        return [r for r in self.rows if r.verdict == "UNEXPLAINED"]

    @property
    def ok(self) -> bool:
        """True when every pair is within tolerance or explained, and nothing failed."""
        return not self.unexplained and not self.errors

    def dtypes(self) -> list[str]:
        return sorted({r.dtype for r in self.rows}, key=DTYPES.index)

    def cell(self, a: str, b: str, dtype: str) -> str:
        """One matrix cell: the largest difference over every case and tensor, the worst share
        of the tolerance (and that element's tolerance), and the known and unexplained cases."""
        rows = [r for r in self.rows if (r.a, r.b) == (a, b) and r.dtype == dtype]
        if not rows:
            return "—"
        judged = [r for r in rows if not r.known] or rows
        worst = max(judged, key=lambda r: r.share)
        text = (f"{max(r.largest for r in judged):.1e}; {_percent(worst.share)} of "
                f"{worst.tolerance:.1e}")
        for name in sorted({r.known for r in rows if r.known}):
            text += f"; known: {name} ({len({r.case for r in rows if r.known == name})} cases)"
        unexplained = {r.case for r in rows if r.verdict == "UNEXPLAINED"}
        if unexplained:
            text += f"; **UNEXPLAINED** ({len(unexplained)} cases)"
        return text

    def markdown(self) -> str:
        """The matrix per dtype, the rows beyond tolerance, the known differences seen, and what
        was not computed."""
        lines = ["# Backend matrix", "",
                 "Each cell: the largest |difference| over every case and returned tensor; the "
                 "largest share of the tolerance any element used, and that element's tolerance "
                 f"(two implementations: {POLICY.cross:.3g} x what one may miss the float64 "
                 "oracle by; against the oracle: that allowed error).", ""]
        for label, seconds in self.seconds.items():
            versions = self.versions.get(label, {})
            lines.append(f"- {label}: {seconds:.1f} s wall; "
                         + ", ".join(f"{k} {v}" for k, v in versions.items()))
        impl = self.implementations
        for dtype in self.dtypes():
            lines += ["", f"## {dtype}", "",
                      "| | " + " | ".join(HEADERS.get(i, i) for i in impl) + " |",
                      "|---" * (len(impl) + 1) + "|"]
            for row, a in enumerate([*impl[:-1], ORACLE]):
                cells = [self.cell(b, a, dtype) if a == ORACLE else
                         (self.cell(a, b, dtype) if col > row else "")
                         for col, b in enumerate(impl)]
                lines.append(f"| {HEADERS.get(a, a)} | " + " | ".join(cells) + " |")
        beyond = [r for r in self.rows if r.beyond]
        if beyond:
            lines += ["", "## Beyond tolerance", "",
                      "| case | dtype | tensor | pair | elements beyond | largest | verdict |",
                      "|---|---|---|---|---|---|---|"]
            lines += [f"| {r.case} | {r.dtype} | {r.tensor} | {HEADERS.get(r.a, r.a)} vs "
                      f"{HEADERS.get(r.b, r.b)} | {r.beyond} of {r.size} | {r.largest:.2e} | "
                      f"{r.verdict} |" for r in beyond]
        for known in KNOWN_DIFFERENCES:
            if any(r.known == known.name for r in self.rows):
                lines += ["", f"## Known difference: {known.name}", "", known.explanation, "",
                          "```python", known.reproducer.rstrip(), "```"]
        notes = [f"- {HEADERS.get(k, k)}: {why}" for k, why in self.absent.items()]
        notes += [f"- {key}: {why}" for key, why in self.errors.items()]
        if notes:
            lines += ["", "## Not computed", "", *notes]
        lines += ["", f"Verdict: {'PASS' if self.ok else 'FAIL'} ({len(self.unexplained)} "
                  f"unexplained, {len(self.errors)} errors)"]
        return "\n".join(lines) + "\n"

    def to_json(self) -> str:
        return json.dumps({"ok": self.ok, "implementations": self.implementations,
                           "absent": self.absent, "errors": self.errors,
                           "seconds": self.seconds, "versions": self.versions,
                           "rows": [dict(asdict(r), verdict=r.verdict) for r in self.rows]},
                          indent=1) + "\n"


def _percent(share: float) -> str:
    return "inf" if not np.isfinite(share) else f"{100 * share:.0f}%"


def compare_pair(a: np.ndarray, b: np.ndarray, tolerance: np.ndarray) -> tuple[float, float,
                                                                             float, int]:
    """(largest |a - b|, largest share of the tolerance, the tolerance there, elements beyond);
    a NaN or Inf on either side is beyond, whatever the other side holds.

    Examples:
        >>> import numpy as np
        >>> compare_pair(np.array([1.0, 2.0]), np.array([1.0, 2.5]), np.array([1.0, 0.25]))
        (0.5, 2.0, 0.25, 1)
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    tol = np.broadcast_to(np.asarray(tolerance, dtype=np.float64), a.shape)
    finite = np.isfinite(a) & np.isfinite(b)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        d = np.where(finite, np.abs(a - b), np.inf)
        share = np.where(d == 0, 0.0, d / tol)
    share = np.where(np.isnan(share), np.inf, share)
    i = np.unravel_index(int(np.argmax(share)), share.shape) if share.size else ()
    worst = float(share[i]) if share.size else 0.0
    return (float(d.max(initial=0.0)), worst, float(tol[i]) if share.size else 0.0,
            int((share > 1).sum()))


def build(results: list[WorkerResult], absent: dict[str, str] | None = None) -> Matrix:
    """Compare every pair of implementations the worker ``results`` hold (one of them computed
    the reference: the torch module, the oracle and the allowed errors).

    Raises:
        InputFileError: no result holds the reference.
    """
    reference = next((r for r in results if r.meta.get("reference")), None)
    if reference is None:
        raise InputFileError("no worker result holds the reference (the torch module and the "
                             "float64 oracle); rerun python -m parity backends")
    arrays: dict[str, np.ndarray] = {}
    for r in results:
        arrays.update(r.arrays)
    present = {r.meta["label"] for r in results} | {"torch"}
    matrix = Matrix([i for i in IMPLEMENTATIONS if i in present], absent=dict(absent or {}))
    for r in results:
        matrix.seconds[r.meta["label"]] = r.meta.get("wall_seconds", r.meta.get("seconds", np.nan))
        matrix.versions[r.meta["label"]] = r.meta.get("versions", {})
        for dtype, why in r.meta.get("skipped_dtypes", {}).items():
            matrix.absent[f"{r.meta['label']} ({dtype})"] = why
        matrix.errors.update({f"{key} ({r.meta['label']})": f"raised {why}"
                              for key, why in r.meta.get("errors", {}).items()})
    cases = reference.meta["cases"]
    dtypes = sorted({k.split("|")[1] for k in reference.arrays})
    for case_id, dtype in itertools.product(cases, dtypes):
        key = f"{case_id}|{dtype}"
        oracle = {k.rsplit("|", 1)[1]: v for k, v in arrays.items()
                  if k.startswith(f"{key}|{ORACLE}|")}
        if not oracle:
            continue  # the reference raised on this case: reported among the errors
        allowed = {t: arrays[f"{key}|allowed|{t}"] for t in oracle}
        spec = RecurrentSpec(**cases[case_id]["spec"]).replace(dtype=dtype)
        h0 = tuple(arrays[k] for k in sorted(k for k in arrays
                                              if k.startswith(f"{key}|input|initial_state[")))
        mask = arrays.get(f"{key}|input|mask")
        mask = None if mask is None else mask.astype(bool)
        have = [i for i in matrix.implementations if f"{key}|{i}|{next(iter(oracle))}" in arrays]
        for tensor, exact in oracle.items():
            values = {i: arrays[f"{key}|{i}|{tensor}"] for i in have}
            for a, b in itertools.combinations(have, 2):
                tol = POLICY.cross * allowed[tensor]
                row = PairRow(case_id, dtype, tensor, a, b,
                              *compare_pair(values[a], values[b], tol), size=exact.size)
                if row.beyond:
                    known = explain(Observation(spec, h0 or None, mask, tensor, (a, b),
                                                (values[a], values[b]), tol))
                    row.known = known.name if known else None
                matrix.rows.append(row)
            for a in have:
                row = PairRow(case_id, dtype, tensor, a, ORACLE,
                              *compare_pair(values[a], exact, allowed[tensor]), size=exact.size)
                if row.beyond:
                    # an implementation departing from the others by a known difference departs
                    # from the oracle (Keras on TensorFlow's semantics) the same way
                    known = explain(Observation(spec, h0 or None, mask, tensor, (a, ORACLE),
                                                (values[a], exact), allowed[tensor]))
                    row.known = known.name if known else None
                matrix.rows.append(row)
    return matrix
