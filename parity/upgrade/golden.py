"""Golden outputs: what each framework computed for a fixed canonical set of cases, stored with the
versions that computed it, so that an upgrade which moves one framework's numbers is seen even
while the two frameworks still agree with each other.

Canonical set (:func:`canonical_cases`): every cell (SimpleRNN, LSTM, GRU, plus GRU
``reset_after=False``), unidirectional, bidirectional and a 2-layer stack, unmasked, right-padded
and with gaps, returning sequences and states; gradients (input, initial states, every weight) for
two cases per cell; and the course scenarios' per-step training losses. Inputs and weights come
from fixed seeds (numpy's PCG64 streams, stable across numpy versions).

Baseline format (a directory, never overwritten):

- ``manifest.json``: ``format`` (1), ``recorded`` (UTC time), ``versions`` (python, numpy, torch,
  tensorflow, keras, keras backend), ``machine`` (platform, processor, threads), and ``cases``:
  for each case id its description (a pasteable ``ParityCase`` or the scenario name) and, per
  framework, the tensor names stored.
- ``arrays.npz`` (compressed): one float64 array per ``"<case id>|<framework>|<tensor>"``; the
  values are exactly what the framework returned (float32 results widen to float64 exactly).

Drift (:func:`compare`): for each case, framework and tensor, ``|today - recorded|`` per element
against what two correct implementations may differ by (the cross-framework tolerance of the
forward, gradient and training checks): "identical" (bit for bit), "rounding" (within it) or
"drift" (beyond it: the framework now computes something else).

Coverage (:func:`coverage`): a comparison judges only the canonical cases the baseline holds with
tensors and, for scenarios, from today's definition. A baseline that judges fewer than the whole
canonical set (nothing, only stale scenarios, a subset) is *incomplete*: ``golden compare`` refuses
it (exit 2), the gate reports an environment problem. Cases the baseline holds that the canonical
set no longer has are *extra*: named, not judged; they do not make a baseline incomplete.
"""

from __future__ import annotations

import json
import os
import platform
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from parity.checks.cases import ParityCase, build_pair
from parity.checks.gradients import keras_gradients, torch_gradients
from parity.checks.reference import reference
from parity.core import outputs, weight_verdict
from parity.core.errors import InputFileError, UnsupportedConfig
from parity.core.frameworks import keras, torch
from parity.core.inputs import CaseInputs
from parity.core.spec import CELL_KINDS, RecurrentSpec
from parity.core.tolerances import POLICY, TOLERANCES
from parity.layers import keras_side, torch_side
from parity.upgrade.folders import check_new_baseline

FORMAT = 1
SEED = 20261126
FRAMEWORKS = ("keras", "torch")
FAILING = ("drift", "non-finite", "missing")  # verdicts that fail the comparison
SCENARIO_STEPS = 20  # training steps of each scenario a baseline records (whole epochs)
# environment variables that change what is compared or how it is computed, named when set
ENVIRONMENT = {"PARITY_FIXTURES": "scenarios read from $PARITY_FIXTURES/scenarios, not the "
                                  "installed ones",
               "KERAS_BACKEND": "the Keras backend that computes Keras' values",
               "TF_ENABLE_ONEDNN_OPTS": "TensorFlow's oneDNN kernels (another rounding) on or off"}
RERECORD = "record a complete baseline with python -m parity golden record NEW_DIR"


def canonical_cases() -> dict[str, tuple[ParityCase, bool]]:
    """Case id -> (case, with gradients)."""
    cases = {}
    for kind in CELL_KINDS:
        for layout in ("uni", "bi", "stack"):
            for mask in ("none", "right_padded", "gaps"):
                if layout == "stack" and mask != "none":
                    continue
                spec = RecurrentSpec(kind, units=4, input_size=3, return_sequences=True,
                                     return_state=True,
                                     num_layers=2 if layout == "stack" else 1,
                                     bidirectional=layout == "bi",
                                     zero_output_for_mask=layout == "bi")
                case = ParityCase(spec, batch=3, steps=7, seed=SEED, mask=mask,
                                  with_initial_state=mask == "none")
                gradients = (layout, mask) in (("uni", "none"), ("bi", "right_padded"))
                cases[f"{kind}/{layout}/{mask}"] = (case, gradients)
    spec = RecurrentSpec("gru", 4, 3, return_sequences=True, return_state=True, reset_after=False)
    cases["gru_reset_before/uni/gaps"] = (ParityCase(spec, 3, 7, SEED, mask="gaps"), True)
    return cases


def versions() -> dict[str, str]:
    import tensorflow as tf
    return {"python": platform.python_version(), "numpy": np.__version__,
            "torch": torch.__version__, "tensorflow": tf.__version__,
            "keras": keras.__version__, "keras_backend": keras.backend.backend()}


def _machine() -> dict[str, object]:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads()}


@dataclass
class Computed:
    """Today's values per framework and tensor, and per tensor the allowed difference between two
    correct implementations."""

    values: dict[str, dict[str, np.ndarray]]
    allowed: dict[str, np.ndarray]
    description: str
    # per framework, the weights it holds that differ from the case's (a transfer gone wrong is
    # drift of its own, whatever the outputs do)
    weights: dict[str, list] = field(default_factory=dict)


def compute_case(case: ParityCase, gradients: bool) -> Computed:
    spec = case.spec
    keras_obj, torch_obj = build_pair(case, "keras_to_torch")
    weights = case.weights()
    inputs = CaseInputs.of(spec, case.inputs(), case.initial_state(), case.step_mask())
    ref = reference(spec, weights, inputs)
    args = (inputs.x, inputs.initial_state, inputs.mask)
    values = {"keras": keras_side.run(keras_obj, *args).named(),
              "torch": torch_side.run(torch_obj, *args).named()}
    # two implementations (the recorded one and today's): the cross-implementation tolerance
    allowed = {k: POLICY.cross * v for k, v in ref.allowed.items()}
    if gradients:
        cots, _, gradient_allowed = ref.gradients(case.seed)
        values["keras"].update(keras_gradients(keras_obj, spec, *args, cots))
        values["torch"].update(torch_gradients(torch_obj, spec, *args, cots))
        allowed.update({k: POLICY.cross * v for k, v in gradient_allowed.items()})
    arrays = {fw: {k: np.asarray(v, dtype=np.float64) for k, v in named.items()}
              for fw, named in values.items()}
    u = TOLERANCES[spec.dtype].unit_roundoff
    held = {"keras": keras_side.read_weights(keras_obj), "torch": torch_side.read_weights(torch_obj)}
    mismatched = {fw: weight_verdict.layer_mismatches(spec, weights, w, u, a_name="case",
                                                      b_name=fw) for fw, w in held.items()}
    return Computed(arrays, allowed, repr(case), {fw: m for fw, m in mismatched.items() if m})


def compute_scenario(name: str, epochs: int | None = None) -> Computed:
    """The scenario's first ``epochs`` epochs (default: as many as :data:`SCENARIO_STEPS` steps
    take): a trajectory long enough to show drift, short enough for every gate run."""
    from parity.scenarios import course as scenarios
    record = scenarios.run(name, epochs=epochs or scenarios.epochs_for(name, SCENARIO_STEPS)).record
    losses = {fw: {"losses": np.array(record.losses(fw))} for fw in FRAMEWORKS}
    allowed = {"losses": np.array([POLICY.cross * s.loss_allowed for s in record.steps])}
    return Computed(losses, allowed, f"scenario {name}")


def case_ids(*, with_scenarios: bool = True) -> list[str]:
    from parity.scenarios.course import TRAINING
    ids = list(canonical_cases())
    return ids + ([f"scenario/{name}" for name in TRAINING] if with_scenarios else [])


def compute(ids: list[str], epochs: dict[str, int] | None = None) -> dict[str, Computed]:
    """Each case (or ``scenario/NAME``, for ``epochs[id]`` epochs when given) of ``ids``."""
    cases, epochs = canonical_cases(), epochs or {}
    unknown = [i for i in ids if i not in cases and not i.startswith("scenario/")]
    if unknown:
        raise UnsupportedConfig("case", unknown, f"canonical cases are {case_ids()}")
    return {i: compute_scenario(i.split("/", 1)[1], epochs.get(i)) if i.startswith("scenario/")
            else compute_case(*cases[i]) for i in ids}


def _scenario_entry(case_id: str) -> dict:
    """What a recording notes of a scenario: its definition's digest and the epochs trained."""
    from parity.scenarios import course as scenarios
    name = case_id.split("/", 1)[1]
    return {"definition": scenarios.fingerprint(name),
            "epochs": scenarios.epochs_for(name, SCENARIO_STEPS)}


def _stale_reason(case_id: str, entry: dict) -> str:
    """Why a recorded scenario cannot be compared with today's (empty: it can)."""
    from parity.scenarios import course as scenarios
    name = case_id.split("/", 1)[1]
    if name not in scenarios.TRAINING:
        return "the scenario no longer exists"
    try:
        today = scenarios.fingerprint(name)
    except (OSError, ValueError) as e:  # e.g. $PARITY_FIXTURES without it
        return f"its definition cannot be read today ({e})"
    if "definition" not in entry:
        return ("recorded without its scenario's definition digest (an older baseline); "
                "record a new baseline to compare training trajectories")
    if entry["definition"] != today:
        return ("the scenario's definition (data, model, optimizer, epochs or seeds) changed "
                "since recording; record a new baseline to compare its training")
    return ""


def record(directory: str | Path, *, ids: list[str] | None = None) -> Path:
    """Compute the canonical set (or the cases ``ids``) and store it in the new directory
    ``directory``. The folder is claimed before computing and appears complete or not at all
    (see :mod:`parity.core.outputs`)."""
    path = check_new_baseline(directory)
    with outputs.claim(path) as claimed:
        ids = ids if ids is not None else case_ids()
        scenario_entries = {i: _scenario_entry(i) for i in ids if i.startswith("scenario/")}
        computed = compute(ids, {i: e["epochs"] for i, e in scenario_entries.items()})
        arrays = {f"{case_id}|{fw}|{name}": v for case_id, c in computed.items()
                  for fw, named in c.values.items() for name, v in named.items()}
        manifest = {"format": FORMAT,
                    "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "versions": versions(), "machine": _machine(),
                    "cases": {case_id: {"description": c.description,
                                        "tensors": {fw: sorted(named)
                                                    for fw, named in c.values.items()},
                                        **scenario_entries.get(case_id, {})}
                              for case_id, c in computed.items()}}
        np.savez_compressed(claimed.work / "arrays.npz", **arrays)
        (claimed.work / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return path


@dataclass
class Baseline:
    path: Path
    manifest: dict
    arrays: dict[str, np.ndarray]

    @property
    def versions(self) -> dict[str, str]:
        return self.manifest["versions"]


class GoldenFileError(InputFileError):
    """A golden baseline folder is missing, incomplete or corrupt."""


class DamagedBaseline(GoldenFileError):
    """A baseline's files are readable but do not hold what a recording writes: a manifest of
    another structure, or an array absent, of another dtype or shape, or non-finite. Names the
    file and the array."""


class IncompleteBaseline(GoldenFileError):
    """A baseline that cannot judge the whole canonical set (see :class:`Coverage`)."""


def _damaged(file: Path, what: str) -> DamagedBaseline:
    return DamagedBaseline(f"{file}: {what}; the baseline is damaged: {RERECORD}")


def _check_entry(file: Path, case_id: str, entry: object) -> None:
    tensors = entry.get("tensors") if isinstance(entry, dict) else None
    if not isinstance(tensors, dict) or not all(
            fw in FRAMEWORKS and isinstance(names, list) and all(isinstance(n, str) for n in names)
            for fw, names in tensors.items()):
        raise _damaged(file, f"case {case_id!r} lists no tensors per framework ({' and '.join(FRAMEWORKS)}: "
                       "lists of names)")
    epochs = entry.get("epochs", 1)
    if type(epochs) is not int or not 1 <= epochs <= 10_000:
        raise _damaged(file, f"case {case_id!r}: 'epochs' is {epochs!r}, not a whole number of "
                       "epochs from 1 to 10000")
    if not isinstance(entry.get("definition", ""), str):
        raise _damaged(file, f"case {case_id!r}: 'definition' is not a digest (a string)")


def _manifest(path: Path) -> dict:
    file = path / "manifest.json"
    try:
        manifest = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise GoldenFileError(f"{file}: unreadable ({type(e).__name__}: {e}); {RERECORD}") from None
    if not isinstance(manifest, dict):
        raise GoldenFileError(f"{file}: not a golden manifest (a JSON object expected)")
    if manifest.get("format") != FORMAT:
        raise UnsupportedConfig("format", manifest.get("format"),
                                f"this version reads golden format {FORMAT}", where=str(path))
    cases = manifest.get("cases")
    if not isinstance(cases, dict):
        raise _damaged(file, "no 'cases' (the recorded case ids and their tensors)")
    for case_id, entry in cases.items():
        _check_entry(file, case_id, entry)
    for key in ("versions", "recorded"):
        if key not in manifest:
            raise _damaged(file, f"no {key!r}")
    versions = manifest["versions"]
    if not isinstance(versions, dict) or not all(isinstance(v, str) for v in versions.values()) \
            or not isinstance(manifest["recorded"], str):
        raise _damaged(file, "'versions' (names to version strings) or 'recorded' (a time) of "
                       "another kind")
    return manifest


def _arrays(path: Path) -> dict[str, np.ndarray]:
    file = path / "arrays.npz"
    try:  # no pickles: an object array could run code when read
        with np.load(file, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    # what numpy raises for a truncated, empty or foreign file, or a pickled array
    # (zipfile: NotImplementedError for a version or compression it does not know)
    except (OSError, EOFError, ValueError, KeyError, NotImplementedError, zipfile.BadZipFile,
            zlib.error) as e:
        raise GoldenFileError(f"{file}: unreadable ({type(e).__name__}: {e}); the file is "
                              f"truncated or corrupt (pickled arrays are refused): {RERECORD}") from None


def _check_arrays(file: Path, cases: dict, arrays: dict[str, np.ndarray]) -> None:
    """Every tensor the manifest lists is in the arrays, float64 (as recorded), finite, and of
    one shape in both frameworks."""
    listed = [(case_id, fw, name) for case_id, entry in cases.items()
              for fw, names in entry["tensors"].items() for name in names]
    absent = [f"{c}|{fw}|{n}" for c, fw, n in listed if f"{c}|{fw}|{n}" not in arrays]
    if absent:
        raise _damaged(file, f"lacks {len(absent)} tensor(s) the manifest lists, first "
                       f"{absent[0]!r}")
    shapes: dict[tuple[str, str], tuple] = {}
    for case_id, fw, name in listed:
        key, a = f"{case_id}|{fw}|{name}", arrays[f"{case_id}|{fw}|{name}"]
        if a.dtype != np.float64:
            raise _damaged(file, f"array {key!r} is {a.dtype}, not float64 as recorded")
        if not np.isfinite(a).all():
            i = np.unravel_index(int(np.argmin(np.isfinite(a))), a.shape)
            raise _damaged(file, f"array {key!r} holds {int((~np.isfinite(a)).sum())} non-finite "
                           f"value(s), first {a[i]} at {[int(k) for k in i]}: a recording holds "
                           "finite values only")
        other = shapes.setdefault((case_id, name), a.shape)
        if other != a.shape:
            raise _damaged(file, f"array {key!r} has shape {a.shape}, the other framework's "
                           f"{name!r} {other}")


def load(directory: str | Path) -> Baseline:
    """Read and validate a baseline (a :class:`DamagedBaseline` names the file and the array)."""
    path = Path(directory)
    if not path.is_dir():
        raise GoldenFileError(f"{path}: {'not a folder' if path.exists() else 'no such folder'}; "
                              "a baseline is the folder python -m parity golden record DIR makes")
    files = [path / "manifest.json", path / "arrays.npz"]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        incomplete = any(path.iterdir())
        raise GoldenFileError(
            f"{path}: " + (f"an incomplete golden baseline (no {', '.join(missing)}), e.g. from "
                           "an interrupted recording" if incomplete else "an empty folder, not "
                           "a golden baseline") +
            "; record one with python -m parity golden record DIR")
    manifest = _manifest(path)
    arrays = _arrays(path)
    _check_arrays(files[1], manifest["cases"], arrays)
    return Baseline(path, manifest, arrays)


def active_environment() -> dict[str, str]:
    """The variables of :data:`ENVIRONMENT` that are set, with their values."""
    return {k: os.environ[k] for k in ENVIRONMENT if k in os.environ}


@dataclass
class Coverage:
    """Which cases a comparison judges: the canonical ones the baseline holds with tensors and, for
    scenarios, from today's definition."""

    canonical: list[str]           # the canonical set (case_ids())
    recorded: list[str]            # the baseline's cases
    stale: dict[str, str]          # recorded scenario -> why it cannot be compared
    empty: list[str]               # recorded with no tensors
    environment: dict[str, str] = field(default_factory=active_environment)

    @property
    def compared(self) -> list[str]:
        held = set(self.recorded) - set(self.stale) - set(self.empty)
        return [i for i in self.canonical if i in held]

    @property
    def missing(self) -> list[str]:
        """Canonical cases not judged: not recorded, stale or without tensors."""
        compared = set(self.compared)
        return [i for i in self.canonical if i not in compared]

    @property
    def extra(self) -> list[str]:
        """Recorded cases the canonical set no longer has: named, not judged."""
        return [i for i in self.recorded if i not in set(self.canonical)]

    @property
    def incomplete(self) -> str:
        """Why the baseline cannot judge the canonical set; empty when it can."""
        if not self.missing:
            return ""
        recorded = set(self.recorded)
        parts = [f"{len(ids)} {what}" for ids, what in (
            ([i for i in self.missing if i not in recorded], "not recorded"),
            ([i for i in self.missing if i in self.stale], "stale"),
            ([i for i in self.missing if i in self.empty], "without tensors")) if ids]
        shown = ", ".join(self.missing[:4]) + (", ..." if len(self.missing) > 4 else "")
        return (f"incomplete golden baseline: it judges {len(self.compared)} of the "
                f"{len(self.canonical)} canonical cases; {len(self.missing)} missing "
                f"({', '.join(parts)}): {shown}; {RERECORD}")

    def line(self) -> str:
        extra = f"; {len(self.extra)} extra, not judged: {', '.join(self.extra)}" \
            if self.extra else ""
        return (f"Compared {len(self.compared)} of the baseline's {len(self.recorded)} cases; "
                f"the canonical set holds {len(self.canonical)}"
                f" ({'complete' if not self.missing else f'{len(self.missing)} not judged'})"
                f"{extra}.")

    def environment_line(self) -> str:
        return "Environment: " + ("; ".join(f"{k}={v} ({ENVIRONMENT[k]})"
                                            for k, v in self.environment.items()) or
                                  "none of " + ", ".join(ENVIRONMENT) + " set") + "."


def coverage(baseline: Baseline) -> Coverage:
    """What comparing ``baseline`` would judge, from its manifest alone (nothing computed)."""
    canonical, recorded = case_ids(), baseline.manifest["cases"]
    stale = {i: _stale_reason(i, e) for i, e in recorded.items()
             if i.startswith("scenario/") and i in canonical}
    return Coverage(canonical, list(recorded), {i: why for i, why in stale.items() if why},
                    [i for i, e in recorded.items() if not any(e["tensors"].values())])


@dataclass
class Drift:
    case: str
    framework: str
    tensor: str
    largest_change: float        # max |today - recorded|
    share: float                 # max |today - recorded| / allowed
    verdict: str                 # "identical", "rounding", "drift", "non-finite", "missing" or
                                 # "stale" (a scenario recorded from another definition)
    detail: str = ""             # for "non-finite": how many, where, both values

    @property
    def cell(self) -> str:
        return self.case.split("/", 1)[0] if not self.case.startswith("scenario/") else "scenarios"

    def describe(self) -> str:
        return f"{self.case} {self.framework} {self.tensor}: {self.verdict}, " + (
            self.detail or f"largest change {self.largest_change:.3g} = {self.share:.1f}x the "
            "allowed difference")


@dataclass
class DriftReport:
    baseline: Baseline
    today: dict[str, str]
    coverage: Coverage
    rows: list[Drift] = field(default_factory=list)

    @property
    def drifted(self) -> list[Drift]:
        return [r for r in self.rows if r.verdict in FAILING]

    @property
    def ok(self) -> bool:
        """No drift, and the whole canonical set judged."""
        return not self.drifted and not self.coverage.incomplete

    def groups(self) -> dict[tuple[str, str], list[Drift]]:
        """Rows by (cell, framework), in the order the cases were recorded."""
        groups: dict[tuple[str, str], list[Drift]] = {}
        for r in self.rows:
            groups.setdefault((r.cell, r.framework), []).append(r)
        return groups

    def summary(self) -> str:
        """One line: verdict, largest change and share of the allowed difference used."""
        finite = [r for r in self.rows if np.isfinite(r.share)]
        largest = max((r.largest_change for r in finite), default=0.0)
        share = max((r.share for r in finite), default=0.0)
        verdict = "DRIFTS" if self.drifted else "INCOMPLETE" if self.coverage.incomplete else "holds"
        return (f"golden {verdict}: {len(self.drifted)} of {len(self.rows)} tensors drift in "
                f"{len(self.coverage.compared)} of {len(self.coverage.canonical)} canonical cases; "
                f"largest change {largest:.3g}, {share:.1%} of the allowed difference used")

    def explain(self) -> str:
        return self.summary() + "\n" + self.markdown()

    def table(self) -> list[str]:
        """Largest change per cell and framework (Markdown)."""
        lines = ["| cell | framework | tensors | identical | largest change | share of "
                 "tolerance | verdict |", "|---|---|---|---|---|---|---|"]
        for (cell, fw), rows in self.groups().items():
            judged = [r for r in rows if r.verdict != "stale"]
            if not judged:
                lines.append(f"| {cell} | {fw} | {len(rows)} | 0 | - | - | stale |")
                continue
            worst = max(judged, key=lambda r: r.share)
            identical = sum(r.verdict == "identical" for r in judged)
            failing = [r.verdict for r in judged if r.verdict in FAILING]
            verdict = failing[0] if failing else (
                "identical" if identical == len(judged) else "rounding")
            stale = f" ({len(rows) - len(judged)} stale)" if len(judged) < len(rows) else ""
            lines.append(f"| {cell} | {fw} | {len(rows)} | {identical} | "
                         f"{max(r.largest_change for r in judged):.3g} | {worst.share:.1%} | "
                         f"{verdict}{stale} |")
        return lines

    def markdown(self) -> str:
        before, now = self.baseline.versions, self.today
        changed = [f"{k} {before.get(k)} -> {now.get(k)}" for k in now if before.get(k) != now.get(k)]
        lines = [f"Golden baseline `{self.baseline.path}` recorded {self.baseline.manifest['recorded']}"
                 f" with {', '.join(f'{k} {v}' for k, v in before.items())}.",
                 f"Changed since: {', '.join(changed) if changed else 'nothing'}.",
                 self.coverage.line(), self.coverage.environment_line(), "",
                 *([f"**{self.coverage.incomplete}**", ""] if self.coverage.incomplete else []),
                 *self.table()]
        lines += [f"- {r.describe()}" for r in self.drifted[:20]]
        stale = sorted({(r.case, r.detail) for r in self.rows if r.verdict == "stale"})
        lines += [f"- {case}: not compared: {why}" for case, why in stale]
        return "\n".join(lines)


def compare(baseline: Baseline, computed: dict[str, Computed] | None = None) -> DriftReport:
    """Today's values of every canonical case the baseline holds against the baseline. A recorded
    scenario whose definition has changed since (or an older recording without its digest) is
    ``stale``: shown, not computed, not failing; a case the canonical set no longer has is extra:
    named in the coverage, not judged. ``report.coverage.incomplete`` says when that leaves
    canonical cases unjudged. A recorded array of another shape than today's raises
    :class:`DamagedBaseline`."""
    recorded = baseline.manifest["cases"]
    cover = coverage(baseline)
    if computed is None:
        comparable = cover.compared
        computed = compute(comparable, {i: recorded[i]["epochs"] for i in comparable
                                        if "epochs" in recorded[i]})
    report = DriftReport(baseline, versions(), cover)
    for case_id, entry in recorded.items():
        if case_id in cover.stale:
            report.rows += [Drift(case_id, fw, name, np.nan, np.nan, "stale", cover.stale[case_id])
                            for fw, names in entry["tensors"].items() for name in names]
            continue
        if case_id in cover.extra and case_id not in computed:  # nothing today to judge it by
            continue
        now = computed.get(case_id)
        for fw, mismatches in ({} if now is None else now.weights).items():
            report.rows.append(Drift(case_id, fw, "weights", np.inf, np.inf, "drift",
                                     f"weights differ from the case's: {mismatches[0]}"))
        for fw, names in entry["tensors"].items():
            for name in names:
                key = f"{case_id}|{fw}|{name}"
                old = baseline.arrays[key]
                new = None if now is None else now.values.get(fw, {}).get(name)
                if new is None:
                    report.rows.append(Drift(case_id, fw, name, np.inf, np.inf, "missing"))
                    continue
                if new.shape != old.shape:
                    raise _damaged(baseline.path / "arrays.npz", f"array {key!r} has shape "
                                   f"{old.shape}; the case computes {new.shape}")
                report.rows.append(_drift(case_id, fw, name, old, new, now.allowed[name]))
    return report


def _drift(case_id: str, fw: str, name: str, old: np.ndarray, new: np.ndarray,
           allowed: np.ndarray) -> Drift:
    finite = np.isfinite(old) & np.isfinite(new)
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.where(finite, np.abs(new - old), 0.0)
        ratio = np.where(d == 0, 0.0, d / np.broadcast_to(allowed, d.shape))
    # a NaN tolerance cannot vouch for a difference: it counts as beyond it
    share = float(np.max(np.where(np.isnan(ratio), np.inf, ratio), initial=0.0))
    largest = float(d.max(initial=0.0))
    if not finite.all():
        # NaN or Inf on either side is never rounding, even where both sides agree on it
        i = tuple(int(k) for k in np.unravel_index(int(np.argmin(finite)), finite.shape))
        both = int((~np.isfinite(old) & ~np.isfinite(new)).sum())
        detail = (f"{int((~finite).sum())} of {finite.size} elements non-finite ({both} on both "
                  f"sides), first at {list(i)}: recorded {old[i]:.9g}, now {new[i]:.9g}")
        return Drift(case_id, fw, name, largest, np.inf, "non-finite", detail)
    verdict = "identical" if not d.any() else ("rounding" if share <= 1 else "drift")
    return Drift(case_id, fw, name, largest, share, verdict)
