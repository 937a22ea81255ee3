"""The ONNX Runtime column: a broken export is caught and named, what cannot be exported or run is
refused with a typed error naming the option, and a missing extra names the install command."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import parity
from parity.checks import onnx_runtime
from parity.checks.cases import ParityCase, build_pair
from parity.core.errors import MissingDependency, ParityError, UnsupportedConfig
from parity.core.frameworks import torch

MISSING = onnx_runtime.missing_reason("dynamo") or onnx_runtime.missing_reason("tf2onnx")
needs_onnx = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


def _case(spec, **options) -> ParityCase:
    return ParityCase(spec, batch=3, steps=6, seed=11, **options)


def test_a_missing_extra_is_a_typed_error_naming_the_install_command(monkeypatch):
    # what a machine without the extra sees (no real package is hidden from other tests)
    monkeypatch.setitem(onnx_runtime.PACKAGES, "dynamo", ("onnx", "no_such_package_for_parity"))
    case = _case(parity.RecurrentSpec("gru", 3, 2))
    layer, module = build_pair(case, "keras_to_torch")
    with pytest.raises(MissingDependency, match=r"no_such_package_for_parity.*pip install onnx onnxruntime"):
        parity.compare(layer, module, case.inputs(), onnx=True)
    with pytest.raises(ImportError):  # what code that guards an optional import catches
        parity.compare(layer, module, case.inputs(), onnx=True)


def test_bad_onnx_options_are_refused_by_name():
    case = _case(parity.RecurrentSpec("gru", 3, 2))
    layer, module = build_pair(case, "keras_to_torch")
    for bad in ("jit", 1, ("dynamo", "dynamo"), ()):
        with pytest.raises(UnsupportedConfig, match=r"^onnx=.*one or more distinct exporters of "
                                                     r"\('dynamo', 'torchscript', 'tf2onnx'\)"):
            parity.compare(layer, module, case.inputs(), onnx=bad)


@needs_onnx
def test_each_exported_side_is_a_column_judged_against_its_source_and_named():
    spec = parity.RecurrentSpec("lstm", 4, 3, return_sequences=True, return_state=True)
    case = _case(spec, with_initial_state=True)
    layer, module = build_pair(case, "keras_to_torch")
    report = parity.assert_parity(layer, module, case.inputs(), case.initial_state(),
                                  onnx=onnx_runtime.EXPORTERS)
    labels = [f"onnxruntime[{e}]" for e in onnx_runtime.EXPORTERS]
    assert [c.run.label for c in report.onnx] == labels
    assert [c.vs_source[0].b_name for c in report.onnx] == ["torch", "torch", "keras"]
    for column in report.onnx:
        assert [d.name for d in column.vs_source] == ["output", "state[0]", "state[1]"]
        assert all(d.max_abs.difference < 1e-6 for d in column.vs_source + column.vs_oracle)
        run = column.run
        assert run.optimization == "ORT_ENABLE_ALL" and "LSTM" in run.operators
        assert run.graph_inputs == ("x", "initial_state_0", "initial_state_1")
        assert "exported by" in run.describe() and f"opset {run.opset}" in run.describe()
    assert report.summary().startswith(
        f"Forward lstm (keras, torch, {', '.join(labels)}) parity holds")
    assert set(report.tolerance_used()) == {"cross", "oracle", *labels}
    assert set(report.largest_error_against_oracle()) == {"keras", "torch", *labels}
    assert parity.compare(layer, module, case.inputs(), case.initial_state(),
                          onnx=True).onnx[0].run.exporter == "dynamo"  # torch's default


@needs_onnx
def test_a_plain_torch_module_is_exported_with_the_keras_call_semantics():
    spec = parity.RecurrentSpec("gru", 4, 3, go_backwards=True)  # last output, reversed time
    case = _case(spec)
    layer, module = build_pair(case, "keras_to_torch")
    report = parity.assert_parity(layer, module.rnn, case.inputs(), onnx=True)
    assert report.onnx[0].vs_source[0].shape == (3, 4)


@needs_onnx
def test_an_export_that_computes_something_else_is_caught_and_named(monkeypatch):
    """The graph onnxruntime runs holds a recurrent weight off by 1e-3: torch and keras still
    agree, the ORT column fails against both torch and the oracle, and the message says so."""
    spec = parity.RecurrentSpec("simple_rnn", 4, 3, return_sequences=True)
    case = _case(spec)
    layer, module = build_pair(case, "keras_to_torch")
    real_export = onnx_runtime.export

    def bumped_export(obj, inputs, exporter="dynamo"):
        if exporter != "torchscript":
            return real_export(obj, inputs, exporter)
        broken = copy.deepcopy(obj)
        with torch.no_grad():
            broken.rnn.weight_hh_l0[1, 2] += 1e-3
        return real_export(broken, inputs, exporter)

    monkeypatch.setattr(onnx_runtime, "export", bumped_export)
    with pytest.raises(ParityError) as info:
        parity.assert_parity(layer, module, case.inputs(), onnx=("torchscript", "tf2onnx"))
    report = info.value.report
    assert all(d.ok for d in report.cross + report.keras_vs_oracle + report.torch_vs_oracle)
    broken, intact = report.onnx
    assert not broken.vs_source[0].ok and not broken.vs_oracle[0].ok
    assert intact.vs_source[0].ok and intact.vs_oracle[0].ok
    message = str(info.value)
    for expected in ("onnxruntime[torchscript] (the exported torch side) and torch disagree on 1 "
                     "of 1 returned tensors.", "onnxruntime[torchscript] vs torch: max difference",
                     "onnxruntime[torchscript] vs float64 oracle", "beyond tolerance",
                     "onnxruntime[tf2onnx] vs keras: max difference",
                     "-> onnxruntime[torchscript] drift(s) from the exact result",
                     "onnxruntime[torchscript]: onnxruntime 1.", "torch.onnx.export (torchscript)"):
        assert expected in message, expected
    assert "FAILS" in report.summary() and "(onnxruntime[torchscript] vs" in report.summary()


@needs_onnx
def test_a_mask_the_default_exporter_cannot_trace_is_refused_naming_the_option():
    case = _case(parity.RecurrentSpec("lstm", 3, 2, return_sequences=True), mask="gaps")
    layer, module = build_pair(case, "keras_to_torch")
    with pytest.raises(UnsupportedConfig, match=r"^mask=.*onnx='torchscript'") as info:
        parity.compare(layer, module, case.inputs(), mask=case.step_mask(), onnx=True)
    assert info.value.option == "mask"
    report = parity.assert_parity(layer, module, case.inputs(), mask=case.step_mask(),
                                  onnx=("torchscript", "tf2onnx"))
    assert all("mask" in c.run.graph_inputs for c in report.onnx)  # read by the step loops


@needs_onnx
def test_a_right_padded_mask_is_recorded_as_a_constant_of_the_graph():
    case = _case(parity.RecurrentSpec("gru", 3, 2, return_sequences=True), mask="right_padded")
    layer, module = build_pair(case, "keras_to_torch")
    report = parity.assert_parity(layer, module, case.inputs(), mask=case.step_mask(),
                                  onnx="torchscript")
    run = report.onnx[0].run
    assert run.mask_constant and "mask" not in run.graph_inputs
    assert "the mask is a constant of the graph" in run.describe()


@needs_onnx
def test_a_dtype_onnxruntime_has_no_kernel_for_is_refused_naming_it():
    case = _case(parity.RecurrentSpec("lstm", 3, 2, dtype="float64"))
    layer, module = build_pair(case, "keras_to_torch")
    for exporter in ("dynamo", "tf2onnx"):
        with pytest.raises(UnsupportedConfig, match=r"^dtype='float64': onnxruntime .*LSTM"):
            parity.compare(layer, module, case.inputs(), onnx=exporter)


def _masking_model():
    from parity.core.frameworks import keras

    model = keras.Sequential([keras.Input((6,), dtype="int32"),
                              keras.layers.Embedding(11, 4, mask_zero=True),
                              keras.layers.GRU(5, return_sequences=True), keras.layers.Dense(2)])
    return model, parity.to_torch(model)


IDS = [[3, 4, 5, 0, 0, 0], [1, 2, 0, 4, 5, 6]]  # right padding, and a gap


@needs_onnx
def test_a_whole_model_gets_the_third_column():
    model, torch_model = _masking_model()
    report = parity.assert_model_parity(model, torch_model, np.array(IDS),
                                        onnx=("torchscript", "tf2onnx"))
    assert [(d.a_name, d.b_name) for d in report][3:] == [
        ("onnxruntime[torchscript]", "torch"), ("onnxruntime[torchscript]", "float64 reference"),
        ("onnxruntime[tf2onnx]", "keras"), ("onnxruntime[tf2onnx]", "float64 reference")]
    assert report.summary().startswith(
        "model (keras, torch, onnxruntime[torchscript], onnxruntime[tf2onnx]) parity holds")


@needs_onnx
def test_a_masking_model_the_default_exporter_cannot_trace_is_refused_with_the_reason():
    model, torch_model = _masking_model()
    with pytest.raises(UnsupportedConfig, match=r"^onnx='dynamo'.*\.numpy\(\).*"
                                                r"onnx='torchscript'"):
        parity.compare_models(model, torch_model, np.array(IDS), onnx=True)
