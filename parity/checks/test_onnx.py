"""ONNX Runtime as a third implementation: the torch side of hypothesis-drawn layers (every cell,
directions, stacks, return flags, go_backwards, initial states, masks), exported with
``torch.onnx.export`` and run by onnxruntime on the CPU, against torch and the float64 oracle with
the suite's one tolerance policy.

Unmasked cases go through ``torch.onnx.export``'s default exporter (dynamo); masked ones through
the tracing exporter, the one that can export them (see :mod:`parity.checks.onnx_runtime`).
Skipped, with the reason, where the ``onnx`` extra is not installed.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from parity.checks import strategies
from parity.checks.cases import ParityCase, check_case
from parity.checks.onnx_runtime import missing_reason
from parity.core.spec import CELL_KINDS

MISSING = missing_reason("dynamo")
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

EXAMPLES = 4  # per cell: each dynamo export takes about a second


def cases(kind: str):
    """float32 only: onnxruntime's CPU kernels for LSTM and GRU have no float64 (the meta tests
    check that such a case is refused with UnsupportedConfig)."""
    specs = strategies.recurrent_specs(kinds=(kind,), dtypes=("float32",), max_units=8,
                                       max_input_size=8)
    return strategies.parity_cases(specs=specs, max_steps=12)


def exported_matches(case: ParityCase) -> None:
    exporter = "dynamo" if case.mask == "none" else "torchscript"
    report = check_case(case, "keras_to_torch", onnx=True, onnx_exporter=exporter)
    assert report.onnx is not None and report.onnx.exporter == exporter
    assert report.onnx_vs_torch and report.onnx_vs_oracle  # the third column was judged


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_onnxruntime_matches_torch_and_the_oracle(kind):
    settings(max_examples=EXAMPLES)(given(case=cases(kind))(exported_matches))()
