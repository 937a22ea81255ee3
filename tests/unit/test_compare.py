"""The comparison machinery: NaN/inf rules, locating the worst element, tolerance scaling, messages."""

from __future__ import annotations

import numpy as np
import pytest

import parity
from parity.checks.compare import diff
from parity.core import oracle
from parity.core.errors import ParityError
from parity.core.spec import RecurrentSpec
from parity.core.tolerances import allowed_error
from parity.layers import keras_side, torch_side

INF, NAN = np.inf, np.nan


@pytest.mark.parametrize("a,b,mismatched,nonfinite", [
    ([1.0, NAN, INF, -INF], [1.0, NAN, INF, -INF], 3, 3),  # the same NaN/Inf on both: reported
    ([1.0, NAN], [1.0, 1.0], 1, 1),                        # NaN against a number
    ([INF], [-INF], 1, 1),                                 # opposite infinities
    ([INF], [1e30], 1, 1),
    ([1.0, 2.0], [1.0, 2.0 + 1e-3], 1, 0),
    ([1.0, 2.0], [1.0, 2.0 + 1e-7], 0, 0),
])
def test_nonfinite_values_are_never_within_tolerance(a, b, mismatched, nonfinite):
    d = diff("output", "keras", np.array(a), "torch", np.array(b), np.full(len(a), 1e-6))
    assert (d.mismatched, d.nonfinite) == (mismatched, nonfinite)
    assert d.ok == (mismatched == 0)
    assert ("non-finite" in d.nonfinite_note()) == bool(nonfinite)


def test_diff_locates_the_worst_element_by_batch_step_unit():
    a = np.zeros((2, 3, 4))
    b = a.copy()
    b[1, 2, 3] = 5e-4
    b[0, 1, 0] = 1e-4
    allowed = np.full(a.shape, 1e-5)
    allowed[1, 2, 3] = 1e-3  # within its own tolerance: the worst *violation* is elsewhere
    d = diff("output", "keras", a, "torch", b, allowed)
    assert d.max_abs.index == (1, 2, 3) and d.max_abs.difference == pytest.approx(5e-4)
    assert d.worst.index == (0, 1, 0) and d.mismatched == 1
    assert d.worst.where(d.axes) == "(batch=0, step=1, unit=0)"


def _allowed(steps, gain, dtype="float32", units=8, bound=allowed_error):
    spec = RecurrentSpec("simple_rnn", units, units, return_sequences=True, dtype=dtype)
    case = parity.ParityCase(spec, batch=2, steps=steps, seed=1, recurrent_gain=gain)
    w, x = case.weights(), case.inputs()
    return bound(spec, w, x, None, oracle.run(spec, w, x)).output


def test_tolerance_follows_the_trajectory_and_the_precision():
    # expanding dynamics amplify rounding along the sequence; contracting ones forget it
    assert _allowed(30, 2.0)[:, -1].max() > 10 * _allowed(30, 0.25)[:, -1].max()
    assert _allowed(60, 2.0)[:, -1].max() > _allowed(5, 2.0)[:, -1].max()
    assert _allowed(30, 1.0, "float64").max() < 1e-12 < _allowed(30, 1.0).max()


def test_the_statistical_tolerance_is_far_inside_the_worst_case_bound_at_realistic_sizes():
    from parity.core.tolerances import worst_case_error

    statistical = _allowed(20, 1.0, units=256)
    worst = _allowed(20, 1.0, units=256, bound=worst_case_error)
    assert np.median(worst / statistical) > 5


def _pair(spec, seed=0):
    case = parity.ParityCase(spec, batch=2, steps=6, seed=seed)
    layer = keras_side.build(spec)
    keras_side.write_weights(layer, case.weights())
    return layer, parity.to_torch(layer), case


def test_failure_message_says_where_how_much_and_which_weights_differ():
    spec = RecurrentSpec("simple_rnn", 3, 3, return_sequences=True, return_state=True)
    layer, module, case = _pair(spec)
    with torch_side.torch.no_grad():
        module.rnn.weight_hh_l0[1, 2] += 1e-2
    with pytest.raises(ParityError) as info:
        parity.assert_parity(layer, module, case.inputs(), context="my-case")
    message = str(info.value)
    for expected in ("output ('batch', 'step', 'unit')", "batch=", "step=", "unit=", "allowed",
                     "keras vs float64 oracle", "within tolerance", "the two hold different weights",
                     "layer 0 recurrent_kernel[2, 1]", "case: my-case", "reproduce: pytest"):
        assert expected in message, expected
    report = info.value.report
    assert not report.ok and report.cross[0].mismatched > 0
    assert all(d.ok for d in report.torch_vs_oracle)  # torch computes its own weights correctly


def test_a_framework_drifting_from_the_oracle_is_named():
    spec = RecurrentSpec("simple_rnn", 4, 2)
    layer, module, case = _pair(spec)
    real_run = keras_side.run

    def drifting_run(obj, x, initial_state=None, mask=None):
        out = real_run(obj, x, initial_state, mask)
        return parity.Outputs(out.output * (1 + 1e-4), out.states)

    keras_side.run = drifting_run
    try:
        report = parity.compare(layer, module, case.inputs())
    finally:
        keras_side.run = real_run
    assert not report.ok
    assert not report.keras_vs_oracle[0].ok and report.torch_vs_oracle[0].ok
    assert "-> keras drift(s) from the exact result" in report.explain()


def test_a_plain_nn_rnn_is_compared_with_the_keras_call_semantics():
    spec = RecurrentSpec("simple_rnn", 4, 3, go_backwards=True)  # last output, reversed time
    layer, module, case = _pair(spec)
    report = parity.assert_parity(layer, module.rnn, case.inputs())
    assert [d.shape for d in report.cross] == [(2, 4)]


def test_torch_cpu_activations_are_within_the_default_activation_error():
    # the calibration GPU checks use (parity.core.tolerances.activation_error_ulps), run on the CPU,
    # where it must confirm the default the CPU tolerances assume
    from parity.core.tolerances import TOLERANCES, for_devices, measured_activation_error_ulps

    for dtype in ("float32", "float64"):
        ulps = measured_activation_error_ulps("cpu", dtype)
        assert 0 <= ulps <= TOLERANCES[dtype].activation_error, (dtype, ulps)
        assert for_devices(dtype, ("cpu",)) == TOLERANCES[dtype]
