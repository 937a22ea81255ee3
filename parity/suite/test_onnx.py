"""ONNX Runtime as further implementations: hypothesis-drawn layers (every cell, directions,
stacks, return flags, go_backwards, initial states, masks) and whole models, each side exported
to ONNX and run by onnxruntime on the CPU, against the side it came from and the float64 oracle
with the suite's one tolerance policy.

The torch side goes through ``torch.onnx.export``'s default exporter (dynamo) when unmasked, and
through its tracing exporter, the one that can export them, when masked; the Keras side through
tf2onnx (see :mod:`parity.checks.onnx_runtime`). Skipped, with the reason, where the ``onnx``
extra is not installed.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings

import parity
from parity.checks import strategies
from parity.checks.cases import ParityCase, check_case
from parity.checks.model_parity import assert_model_parity
from parity.checks.onnx_runtime import missing_reason
from parity.core.frameworks import keras
from parity.core.spec import CELL_KINDS

MISSING = missing_reason("dynamo") or missing_reason("tf2onnx")
# tf2onnx converts TensorFlow graphs: the Keras side is exported on that backend only
KERAS_EXPORTERS = ("tf2onnx",) if keras.backend.backend() == "tensorflow" else ()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

EXAMPLES = 4  # per cell: each dynamo or tf2onnx export takes about a second


def cases(kind: str):
    """float32 only: onnxruntime's CPU kernels for LSTM and GRU have no float64 (the meta tests
    check that such a case is refused with UnsupportedConfig)."""
    specs = strategies.recurrent_specs(kinds=(kind,), dtypes=("float32",), max_units=8,
                                       max_input_size=8)
    return strategies.parity_cases(specs=specs, max_steps=12)


def exported_matches(case: ParityCase) -> None:
    exporters = ("dynamo" if case.mask == "none" else "torchscript", *KERAS_EXPORTERS)
    report = check_case(case, "keras_to_torch", onnx=exporters)
    assert [c.run.exporter for c in report.onnx] == list(exporters)  # every column was judged


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_exported_layers_match_their_source_and_the_oracle(kind):
    settings(max_examples=EXAMPLES)(given(case=cases(kind))(exported_matches))()


MODEL_CASES = strategies.model_cases(dtypes=("float32",), max_units=5, max_steps=6)


@settings(max_examples=EXAMPLES)
@given(case=MODEL_CASES)
def test_exported_whole_models_match_their_source_and_the_reference(case):
    """``parity.to_torch`` of drawn Keras models (Embedding, one or two recurrent layers, Dropout,
    Dense head), exported whole; a model that masks its ids goes through the tracing exporter."""
    masks = any(getattr(block, "mask_zero", False) for block in case.blocks)
    exporters = ("torchscript" if masks else "dynamo", *KERAS_EXPORTERS)
    keras_model = case.keras_model()
    report = assert_model_parity(keras_model, parity.to_torch(keras_model), case.ids,
                                 context=repr(case), onnx=exporters)
    assert [d.a_name for d in report][3:] == [f"onnxruntime[{e}]" for e in exporters for _ in "ab"]
