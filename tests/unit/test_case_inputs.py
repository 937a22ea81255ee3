"""One value for a case's inputs, one cached reference pipeline, one report protocol."""

from __future__ import annotations

import numpy as np
import pytest

import parity
from parity.checks import reference
from parity.checks.cases import ParityCase, build_pair
from parity.checks.compare import oracle_bounds
from parity.core.errors import ParityError, UnsupportedConfig
from parity.core.frameworks import torch
from parity.core.inputs import CaseInputs
from parity.core.mismatch import Report
from parity.core.spec import RecurrentSpec


def _case(kind="gru", num_layers=1, **flags):
    spec = RecurrentSpec(kind, 3, 2, num_layers=num_layers, return_sequences=True,
                         return_state=True, **flags)
    return ParityCase(spec, batch=2, steps=5, seed=11, with_initial_state=True)


def test_one_array_is_the_initial_state_of_a_one_state_layer():
    case = _case("gru")
    layer, module = build_pair(case, "keras_to_torch")
    (h0,) = case.initial_state()
    as_array = parity.assert_parity(layer, module, case.inputs(), initial_state=h0)
    as_list = parity.assert_parity(layer, module, case.inputs(), initial_state=[h0])
    assert as_array.cross[0].max_abs == as_list.cross[0].max_abs
    parity.assert_gradient_parity(layer, module, case.inputs(), initial_state=h0)


def test_stacked_cells_take_their_states_nested_per_cell_as_keras_does():
    case = _case("lstm", num_layers=2)
    layer, module = build_pair(case, "keras_to_torch")
    h1, c1, h2, c2 = case.initial_state()
    flat = parity.compare(layer, module, case.inputs(), [h1, c1, h2, c2])
    nested = parity.compare(layer, module, case.inputs(), [[h1, c1], [h2, c2]])
    assert flat.ok and nested.ok
    assert [t.max_abs for t in flat.cross] == [t.max_abs for t in nested.cross]


@pytest.mark.parametrize("bad, option", [
    ("one array for an LSTM", "initial_state"),
    ("float64 state for a float32 layer", "initial_state[0].dtype"),
])
def test_a_wrong_initial_state_is_refused_naming_it(bad, option):
    case = _case("lstm")
    h, c = case.initial_state()
    state = h if bad.startswith("one array") else [h.astype(np.float64), c]
    with pytest.raises(UnsupportedConfig) as info:
        CaseInputs.of(case.spec, case.inputs(), state)
    assert info.value.option == option


def test_the_cached_reference_is_the_fresh_one_bit_for_bit():
    case = _case("simple_rnn")
    module = case.torch_module()
    reference.clear_cache()
    fresh = oracle_bounds(module, case.inputs(), case.initial_state())
    again = oracle_bounds(module, case.inputs(), case.initial_state())
    reference.clear_cache()
    recomputed = oracle_bounds(module, case.inputs(), case.initial_state())
    for name, allowed in fresh.allowed.items():
        assert np.array_equal(allowed, again.allowed[name])
        assert np.array_equal(allowed, recomputed.allowed[name])
    # other values are other references
    other = oracle_bounds(module, case.inputs() * 0.5, case.initial_state())
    assert not np.array_equal(other.allowed["output"], fresh.allowed["output"])


def test_every_check_returns_a_report_with_a_one_line_summary():
    case = _case("gru")
    layer, module = build_pair(case, "keras_to_torch")
    reports = [parity.compare(layer, module, case.inputs()),
               parity.compare_gradients(layer, module, case.inputs())]
    for report in reports:
        assert isinstance(report, Report) and report.ok
        assert "\n" not in report.summary() and "of the tolerance used" in report.summary()
    with torch.no_grad():
        module.rnn.weight_hh_l0.mul_(1.5)  # a broken transfer
    with pytest.raises(ParityError) as info:
        parity.assert_parity(layer, module, case.inputs())
    report = info.value.report
    assert isinstance(report, Report) and not report.ok
    assert report.summary().startswith("Forward gru parity FAILS")
    assert report.explain() == str(info.value)


def test_model_training_oracle_and_golden_results_follow_the_report_protocol():
    from parity.checks.compare import OracleReport
    from parity.checks.model_parity import ModelReport
    from parity.models.training import TrainingRecord
    from parity.upgrade.drift import DriftReport

    for cls in (ModelReport, TrainingRecord, OracleReport, DriftReport):
        assert all(callable(getattr(cls, name)) for name in ("summary", "explain")), cls
        assert isinstance(cls.ok, property), cls
    record = TrainingRecord()
    assert isinstance(record, Report) and record.ok and "\n" not in record.summary()
    assert isinstance(ModelReport([]), Report) and ModelReport([]).ok
