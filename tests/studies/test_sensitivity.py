"""Sharp verdicts: computations that no correct implementation produces fail at every size, while
correct ones pass; weights are compared exactly.

The corruptions (:mod:`parity.calibration.corruptions`) leave the stored weights exact, so each is caught by
the computation tolerance alone. Sizes 2 to 1024 units, every cell (float32, batch 4, 20 steps).
"""

from __future__ import annotations

import numpy as np
import pytest

import parity
from parity.calibration import corruptions
from parity.calibration.calibrate import SENSITIVITY_SIZES, sensitivity
from parity.checks.cases import ParityCase, build_pair
from parity.core.errors import ParityError
from parity.core.spec import RecurrentSpec
from parity.layers import torch_side
from parity.upgrade import golden


@pytest.mark.parametrize("units", SENSITIVITY_SIZES)
@pytest.mark.parametrize("kind", ["simple_rnn", "lstm", "gru"])
def test_every_corruption_fails_and_the_correct_module_passes(kind, units):
    used = sensitivity(kind, units)
    assert used["correct"] < 1.0, used
    for name in corruptions.NAMES:
        assert used[name] > 1.0, (name, used[name])


def _pair(kind="lstm", units=16):
    spec = RecurrentSpec(kind, units, units, return_sequences=True, return_state=True)
    case = ParityCase(spec, batch=2, steps=8, seed=3)
    layer, module = build_pair(case, "keras_to_torch")
    return layer, module, case


def test_a_reduced_precision_forward_is_blamed_on_torch_in_units_of_rounding_noise():
    layer, module, case = _pair()
    report = parity.assert_parity(layer, module, case.inputs())
    assert 0.0 < report.tolerance_used()["cross"] < 1.0
    with corruptions.corrupted(module, "inputs through float16"):
        with pytest.raises(ParityError) as info:
            parity.assert_parity(layer, module, case.inputs())
    message = str(info.value)
    assert "torch drift(s) from the exact result" in message
    assert "x the rounding noise of a correct float32 implementation" in message
    assert "worst-case rounding bound there" in message
    assert not info.value.report.weights  # the stored weights are exact: the outputs decide


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_weights_rounded_through_half_precision_fail_the_weight_verdict(dtype):
    layer, module, case = _pair(units=256)
    with torch_side.torch.no_grad():
        for p in module.parameters():
            p.copy_(p.to(getattr(torch_side.torch, dtype)).float())
    report = parity.compare(layer, module, case.inputs())
    assert not report.ok and report.weights
    first = report.weights[0]
    assert first.differing > 0 and first.a != first.b
    assert f"{first.name}{list(first.index)}" in report.explain()
    assert "bit-identical" in report.explain()


def test_torch_to_keras_rounds_only_the_bias_sum_and_passes():
    spec = RecurrentSpec("simple_rnn", 8, 8, return_sequences=True)
    case = ParityCase(spec, batch=2, steps=5, seed=0)
    layer, module = build_pair(case, "torch_to_keras")
    report = parity.assert_parity(layer, module, case.inputs())
    assert report.ok and not report.weights
    # one ulp more than the transfer's rounding in one element of the summed bias: refused
    bias = layer.cell.bias
    value = bias.numpy()
    value[0] = np.nextafter(np.nextafter(value[0], np.inf, dtype=np.float32), np.inf,
                            dtype=np.float32)
    bias.assign(value)
    report = parity.compare(layer, module, case.inputs())
    assert [w.name for w in report.weights] == ["layer 0 bias + recurrent_bias"]
    assert report.weights[0].index == (0,) and report.weights[0].rounded


def test_golden_compare_calls_a_reduced_precision_kernel_drift(monkeypatch):
    case = ParityCase(RecurrentSpec("gru", 32, 32, return_sequences=True), batch=2, steps=10,
                      seed=4)
    before = golden.compute_case(case, gradients=False)
    run = torch_side.run

    def reduced_precision(module, *args, **kwargs):
        with corruptions.corrupted(module, "weights and inputs through TF32"):
            return run(module, *args, **kwargs)

    monkeypatch.setattr(golden.torch_side, "run", reduced_precision)
    after = golden.compute_case(case, gradients=False)
    d = np.abs(after.values["torch"]["output"] - before.values["torch"]["output"])
    assert np.max(d / after.allowed["output"]) > 1  # drift, not "rounding"
    assert np.array_equal(after.values["keras"]["output"], before.values["keras"]["output"])


def test_golden_calls_weights_that_left_the_case_drift(monkeypatch):
    from pathlib import Path

    case = ParityCase(RecurrentSpec("lstm", 8, 8, return_sequences=True), batch=2, steps=4, seed=5)
    build = golden.build_pair

    def half_precision_transfer(c, direction):
        layer, module = build(c, direction)
        with torch_side.torch.no_grad():
            for p in module.parameters():
                p.copy_(p.half().float())
        return layer, module

    clean = golden.compute_case(case, gradients=False)
    manifest = {"cases": {"c": {"tensors": {fw: list(v) for fw, v in clean.values.items()}}}}
    arrays = {f"c|{fw}|{k}": v for fw, named in clean.values.items() for k, v in named.items()}
    baseline = golden.Baseline(Path("."), manifest, arrays)
    monkeypatch.setattr(golden, "build_pair", half_precision_transfer)
    report = golden.compare(baseline, {"c": golden.compute_case(case, gradients=False)})
    rows = [r for r in report.rows if r.tensor == "weights"]
    assert [(r.framework, r.verdict) for r in rows] == [("torch", "drift")]
    assert "layer 0 " in rows[0].detail and "case " in rows[0].detail


def test_models_refuse_weights_beyond_the_transfer():
    from parity.checks.model_parity import assert_model_parity
    from parity.models import keras_blocks as models

    keras = models.keras
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.SimpleRNN(4),
                              keras.layers.Dense(2)])
    torch_model = parity.to_torch(model)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 5, 3)).astype("float32")
    assert_model_parity(model, torch_model, x)
    with torch_side.torch.no_grad():
        torch_model.layers[-1].weight[0, 0] += 1e-7  # about one float32 ulp of a weight
    with pytest.raises(ParityError, match=r"weights differ beyond what the transfer allows: "
                                          r"1\.dense\.kernel\[0, 0\]"):
        assert_model_parity(model, torch_model, x)
