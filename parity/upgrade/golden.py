"""Golden outputs: what each framework computed for a fixed canonical set of cases, stored with the
versions that computed it, so that an upgrade which moves one framework's numbers is seen even
while the two frameworks still agree with each other.

Canonical set (:func:`canonical_cases`): every cell (SimpleRNN, LSTM, GRU, plus GRU
``reset_after=False``), unidirectional, bidirectional and a 2-layer stack, unmasked, right-padded
and with gaps, returning sequences and states; gradients (input, initial states, every weight) for
two cases per cell; and the course scenarios' per-step training losses. Inputs and weights come
from fixed seeds (numpy's PCG64 streams, stable across numpy versions).

The baseline's files: :mod:`parity.upgrade.baseline`; what a comparison found (drift per tensor,
coverage of the canonical set): :mod:`parity.upgrade.drift`. This module computes today's values,
records them and compares them with a baseline.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from parity.checks.cases import ParityCase, build_pair
from parity.checks.gradients import keras_gradients, torch_gradients
from parity.checks.reference import reference
from parity.core import outputs, weight_verdict
from parity.core.errors import UnsupportedConfig
from parity.core.frameworks import keras, torch
from parity.core.inputs import CaseInputs
from parity.core.spec import CELL_KINDS, RecurrentSpec
from parity.core.tolerances import POLICY, TOLERANCES
from parity.layers import keras_side, torch_side
from parity.upgrade.baseline import FRAMEWORKS, Baseline, damaged
from parity.upgrade.baseline import DamagedBaseline as DamagedBaseline
from parity.upgrade.baseline import GoldenFileError as GoldenFileError
from parity.upgrade.baseline import IncompleteBaseline as IncompleteBaseline
from parity.upgrade.baseline import load as load
from parity.upgrade.baseline import write as write_baseline
from parity.upgrade.drift import FAILING as FAILING
from parity.upgrade.drift import Coverage, Drift, DriftReport, drift_of
from parity.upgrade.folders import check_new_baseline

# (``X as X`` above: the baseline's errors, load and FAILING, which the commands and the gate
# use, stay importable from here with the rest of the workflow)
SEED = 20261126
SCENARIO_STEPS = 20  # training steps of each scenario a baseline records (whole epochs)


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
        cases = {case_id: {"description": c.description,
                           "tensors": {fw: sorted(named) for fw, named in c.values.items()},
                           **scenario_entries.get(case_id, {})}
                 for case_id, c in computed.items()}
        write_baseline(claimed.work, versions=versions(), machine=_machine(), cases=cases,
                       arrays=arrays)
    return path


def coverage(baseline: Baseline) -> Coverage:
    """What comparing ``baseline`` would judge, from its manifest alone (nothing computed)."""
    canonical, recorded = case_ids(), baseline.manifest["cases"]
    stale = {i: _stale_reason(i, e) for i, e in recorded.items()
             if i.startswith("scenario/") and i in canonical}
    return Coverage(canonical, list(recorded), {i: why for i, why in stale.items() if why},
                    [i for i, e in recorded.items() if not any(e["tensors"].values())])



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
                    raise damaged(baseline.path / "arrays.npz", f"array {key!r} has shape "
                                   f"{old.shape}; the case computes {new.shape}")
                report.rows.append(drift_of(case_id, fw, name, old, new, now.allowed[name]))
    return report

