"""Known backend differences: the predicate says exactly which cases are affected, reports name the
difference, drawn cases on the backend concerned leave it out, and the float64 probe names why a
backend is left out."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, find, settings
from hypothesis.errors import NoSuchExample

import parity
from parity.checks import capabilities, known_differences
from parity.checks.cases import ParityCase, build_pair
from parity.checks.known_differences import JAX_MASKED_LEADING_STEPS
from parity.checks.known_differences import known_differences as affecting
from parity.core.spec import RecurrentSpec
from parity.layers import keras_side

H0 = [np.full((2, 2), 0.5)]
LEADING = np.array([[False, True, True], [True, True, True]])
TRAILING = LEADING[:, ::-1]
EMPTY_ROW = np.array([[False, False, False], [True, True, True]])


@pytest.mark.parametrize("options, mask, h0, affected", [
    (dict(return_sequences=True), LEADING, H0, True),
    (dict(return_sequences=True), TRAILING, H0, False),           # a kept step comes first
    (dict(return_sequences=True, go_backwards=True), TRAILING, H0, True),  # processing order
    (dict(return_sequences=True), LEADING, None, False),          # zeros either way
    (dict(return_sequences=True), LEADING, [np.zeros((2, 2))], False),
    (dict(return_sequences=True), None, H0, False),
    (dict(return_sequences=True, zero_output_for_mask=True), LEADING, H0, False),
    (dict(return_sequences=False), LEADING, H0, False),           # the last output is a kept one
    (dict(return_sequences=False), EMPTY_ROW, H0, True),          # ... unless none is kept
    (dict(return_sequences=True, bidirectional=True, zero_output_for_mask=True), LEADING, H0, False),
    (dict(return_sequences=False, bidirectional=True), EMPTY_ROW, H0, True),
])
def test_the_predicate_names_exactly_the_affected_cases(options, mask, h0, affected):
    spec = RecurrentSpec("lstm", 2, 1, **options)
    assert bool(affecting(spec, mask, h0, backend="jax")) == affected
    assert affecting(spec, mask, h0, backend="tensorflow") == ()


def test_a_report_names_the_known_difference_with_its_reproducer():
    case = ParityCase(**JAX_MASKED_LEADING_STEPS.case)
    keras_layer, module = build_pair(case, "keras_to_torch")
    report = parity.compare(keras_layer, module, case.inputs(), case.initial_state(),
                            case.step_mask())
    assert report.ok and report.known == ()  # TensorFlow outputs zeros there, as the oracle does
    labelled = dataclasses.replace(report, known=(JAX_MASKED_LEADING_STEPS,))
    assert f"known difference '{JAX_MASKED_LEADING_STEPS.name}'" in labelled.summary()
    text = labelled.explain()
    assert "(Keras on jax)" in text and "initial_state=[h0]" in text


def test_drawn_cases_leave_out_the_known_differences_of_the_backend(monkeypatch):
    from parity.checks import strategies as ps

    quick = settings(max_examples=300, database=None, suppress_health_check=list(HealthCheck))

    def hits(case):
        return bool(affecting(case.spec, case.step_mask(), case.initial_state(), backend="jax"))

    assert hits(find(ps.parity_cases(), hits, settings=quick))  # drawn on TensorFlow
    monkeypatch.setattr(ps, "for_backend", lambda: known_differences.for_backend("jax"))
    monkeypatch.setattr(ps, "known_differences", lambda *args: affecting(*args, backend="jax"))
    with pytest.raises(NoSuchExample):
        find(ps.parity_cases(), hits, settings=quick)


@pytest.mark.parametrize("fault, reason", [
    ("float32", "computes float64 simple_rnn layers in float32 (probe: largest error"),
    ("raise", "cannot run a float64 simple_rnn layer (TypeError: scan body failed)"),
])
def test_the_float64_probe_names_what_the_backend_cannot_compute(monkeypatch, fault, reason):
    real = keras_side.run

    def run(layer, x, *args):
        if fault == "raise":
            raise TypeError("Exception encountered when calling SimpleRNN.call().\n\n"
                            "\x1b[1mscan body failed\x1b[0m")
        out = real(layer, x, *args)
        return dataclasses.replace(out, output=out.output.astype(np.float32))

    capabilities.keras_precision_reason.cache_clear()
    try:
        assert capabilities.keras_precision_reason("float64") is None
        capabilities.keras_precision_reason.cache_clear()
        monkeypatch.setattr(keras_side, "run", run)
        found = capabilities.keras_precision_reason("float64")
    finally:
        capabilities.keras_precision_reason.cache_clear()
    assert reason in found and "float64 cases are left out" in found
