"""torch on CUDA against the float64 oracle: forward outputs, states and gradients of
hypothesis-drawn layers (every cell, directions, stacks, masks, initial states; float32 and
float64), run by cuDNN wherever torch uses it.

TF32 is turned off for these checks. It is torch's default for cuDNN on Ampere and later GPUs and
rounds matmul inputs to 10 mantissa bits, 8192 times float32's unit roundoff: a float32 tolerance
rejects it, rightly (docs/measurements.md gives the measured size of the effect). Skipped where
torch sees no CUDA device.
"""

from __future__ import annotations

import pytest
from hypothesis import given

from parity.calibration import corruptions
from parity.calibration.calibrate import SENSITIVITY_SIZES, sensitivity
from parity.checks import strategies
from parity.checks.compare import assert_matches_oracle
from parity.checks.gradients import assert_torch_gradients_match_oracle
from parity.core.frameworks import torch
from parity.core.spec import CELL_KINDS
from parity.layers import torch_side

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA device: these checks run torch on the GPU")
CASES = strategies.parity_cases()


@pytest.fixture(autouse=True, scope="module")
def float32_means_float32():
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@given(CASES)
def test_cuda_forward_matches_oracle(case):
    module = case.torch_module("cuda")
    x, h0, mask = case.inputs(), case.initial_state(), case.step_mask()
    assert_matches_oracle(module, torch_side.run(module, x, h0, mask), x, h0, mask,
                          label="torch on CUDA")


@given(CASES)
def test_cuda_gradients_match_oracle(case):
    assert_torch_gradients_match_oracle(case.torch_module("cuda"), case.inputs(), case.initial_state(),
                                        case.step_mask(), seed=case.seed, label="torch on CUDA")


@pytest.mark.parametrize("units", SENSITIVITY_SIZES)
@pytest.mark.parametrize("kind", list(CELL_KINDS))
def test_cuda_corruptions_fail_and_the_correct_module_passes(kind, units):
    used = sensitivity(kind, units, device="cuda")
    assert used["correct"] < 1.0, used
    for name in corruptions.NAMES:
        assert used[name] > 1.0, (name, used[name])


def test_tf32_fails_a_float32_check():
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        used = sensitivity("lstm", 512, device="cuda")["correct"]
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
    assert used > 1.0, used
