"""The ONNX Runtime column: a broken export is caught and named, what cannot be exported or run is
refused with a typed error naming the option, and a missing extra names the install command."""

from __future__ import annotations

import copy

import pytest

import parity
from parity.checks import onnx_runtime
from parity.checks.cases import ParityCase, build_pair
from parity.core.errors import MissingDependency, ParityError, UnsupportedConfig
from parity.core.frameworks import torch

MISSING = onnx_runtime.missing_reason("dynamo")
needs_onnx = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


def _case(spec, **options) -> ParityCase:
    return ParityCase(spec, batch=3, steps=6, seed=11, **options)


def test_a_missing_extra_is_a_typed_error_naming_the_install_command(monkeypatch):
    monkeypatch.setitem(onnx_runtime.PACKAGES, "dynamo", ("onnx", "no_such_package_for_parity"))
    case = _case(parity.RecurrentSpec("gru", 3, 2))
    layer, module = build_pair(case, "keras_to_torch")
    with pytest.raises(MissingDependency, match=r"no_such_package_for_parity.*rnn-parity\[onnx\]"):
        parity.compare(layer, module, case.inputs(), onnx=True)
    with pytest.raises(ImportError):  # what code that guards an optional import catches
        parity.compare(layer, module, case.inputs(), onnx=True)


def test_bad_onnx_options_are_refused_by_name():
    case = _case(parity.RecurrentSpec("gru", 3, 2))
    layer, module = build_pair(case, "keras_to_torch")
    with pytest.raises(UnsupportedConfig, match="onnx='yes'"):
        parity.compare(layer, module, case.inputs(), onnx="yes")
    with pytest.raises(UnsupportedConfig, match="onnx_exporter='jit'.*dynamo"):
        parity.compare(layer, module, case.inputs(), onnx=True, onnx_exporter="jit")


@needs_onnx
@pytest.mark.parametrize("exporter", onnx_runtime.EXPORTERS)
def test_the_third_column_is_judged_and_named(exporter):
    spec = parity.RecurrentSpec("lstm", 4, 3, return_sequences=True, return_state=True)
    case = _case(spec, with_initial_state=True)
    layer, module = build_pair(case, "keras_to_torch")
    report = parity.assert_parity(layer, module, case.inputs(), case.initial_state(), onnx=True,
                                  onnx_exporter=exporter)
    assert [d.name for d in report.onnx_vs_torch] == ["output", "state[0]", "state[1]"]
    assert all(d.max_abs.difference < 1e-6 for d in report.onnx_vs_torch + report.onnx_vs_oracle)
    assert report.summary().startswith("Forward lstm (keras, torch, onnxruntime) parity holds")
    assert set(report.tolerance_used()) == {"cross", "oracle", "onnxruntime"}
    assert set(report.largest_error_against_oracle()) == {"keras", "torch", "onnxruntime"}
    run = report.onnx
    assert run.exporter == exporter and run.optimization == "ORT_ENABLE_ALL"
    assert run.graph_inputs == ("x", "initial_state_0", "initial_state_1")
    assert "LSTM" in run.operators and f"({exporter}, opset {run.opset}" in run.describe()


@needs_onnx
def test_a_plain_torch_module_is_exported_with_the_keras_call_semantics():
    spec = parity.RecurrentSpec("gru", 4, 3, go_backwards=True)  # last output, reversed time
    case = _case(spec)
    layer, module = build_pair(case, "keras_to_torch")
    report = parity.assert_parity(layer, module.rnn, case.inputs(), onnx=True)
    assert report.onnx_vs_torch[0].shape == (3, 4)


@needs_onnx
def test_an_export_that_computes_something_else_is_caught_and_named(monkeypatch):
    """The graph onnxruntime runs holds a recurrent weight off by 1e-3: torch and keras still
    agree, the ORT column fails against both torch and the oracle, and the message says so."""
    spec = parity.RecurrentSpec("simple_rnn", 4, 3, return_sequences=True)
    case = _case(spec)
    layer, module = build_pair(case, "keras_to_torch")
    real_export = onnx_runtime.export

    def bumped_export(module, inputs, exporter="dynamo"):
        broken = copy.deepcopy(module)
        with torch.no_grad():
            broken.rnn.weight_hh_l0[1, 2] += 1e-3
        return real_export(broken, inputs, exporter)

    monkeypatch.setattr(onnx_runtime, "export", bumped_export)
    with pytest.raises(ParityError) as info:
        parity.assert_parity(layer, module, case.inputs(), onnx=True, onnx_exporter="torchscript")
    report = info.value.report
    assert all(d.ok for d in report.cross + report.keras_vs_oracle + report.torch_vs_oracle)
    assert not report.onnx_vs_torch[0].ok and not report.onnx_vs_oracle[0].ok
    message = str(info.value)
    for expected in ("onnxruntime (the exported torch side) and torch disagree on 1 of 1",
                     "onnxruntime vs torch: max difference", "onnxruntime vs float64 oracle",
                     "-> onnxruntime drift(s) from the exact result",
                     "onnxruntime: onnxruntime 1.", "torchscript"):
        assert expected in message, expected
    assert "FAILS" in report.summary() and "(onnxruntime vs" in report.summary()


@needs_onnx
def test_a_mask_the_default_exporter_cannot_trace_is_refused_naming_the_option():
    case = _case(parity.RecurrentSpec("lstm", 3, 2, return_sequences=True), mask="gaps")
    layer, module = build_pair(case, "keras_to_torch")
    with pytest.raises(UnsupportedConfig, match=r"^mask=.*onnx_exporter='torchscript'") as info:
        parity.compare(layer, module, case.inputs(), mask=case.step_mask(), onnx=True)
    assert info.value.option == "mask"
    report = parity.assert_parity(layer, module, case.inputs(), mask=case.step_mask(), onnx=True,
                                  onnx_exporter="torchscript")
    assert "mask" in report.onnx.graph_inputs  # the unrolled step loop reads it


@needs_onnx
def test_a_right_padded_mask_is_recorded_as_a_constant_of_the_graph():
    case = _case(parity.RecurrentSpec("gru", 3, 2, return_sequences=True), mask="right_padded")
    layer, module = build_pair(case, "keras_to_torch")
    report = parity.assert_parity(layer, module, case.inputs(), mask=case.step_mask(), onnx=True,
                                  onnx_exporter="torchscript")
    assert report.onnx.mask_constant and "mask" not in report.onnx.graph_inputs
    assert "the mask is a constant of the graph" in report.onnx.describe()


@needs_onnx
def test_a_dtype_onnxruntime_has_no_kernel_for_is_refused_naming_it():
    case = _case(parity.RecurrentSpec("lstm", 3, 2, dtype="float64"))
    layer, module = build_pair(case, "keras_to_torch")
    with pytest.raises(UnsupportedConfig, match=r"^dtype='float64': onnxruntime .*LSTM"):
        parity.compare(layer, module, case.inputs(), onnx=True)
