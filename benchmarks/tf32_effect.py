"""How far torch's cuDNN results move with TF32 on, in units of the float32 tolerance that the parity
checks allow (> 1: a float32 check rejects them). Run on a CUDA machine:

    python benchmarks/tf32_effect.py
"""

from __future__ import annotations

import numpy as np

from parity.checks.cases import ParityCase
from parity.checks.compare import oracle_bounds
from parity.core import tolerances
from parity.core.frameworks import torch
from parity.core.spec import RecurrentSpec
from parity.layers import torch_side


def shares_of_tolerance(spec: RecurrentSpec, batch: int, steps: int,
                        device: str = "cuda") -> dict[bool, float]:
    """Largest |result - oracle| / allowed over the output, with TF32 off and on."""
    case = ParityCase(spec, batch, steps, seed=0)
    module = case.torch_module(device)
    x = case.inputs()
    bounds = oracle_bounds(module, x)
    shares = {}
    for tf32 in (False, True):
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
        got = torch_side.run(module, x).output
        shares[tf32] = float(np.max(np.abs(got - bounds.reference.output) / bounds.allowed["output"]))
    return shares


def main() -> None:
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, cuDNN "
          f"{torch.backends.cudnn.version()}; defaults: cudnn.allow_tf32="
          f"{torch.backends.cudnn.allow_tf32}, cuda.matmul.allow_tf32="
          f"{torch.backends.cuda.matmul.allow_tf32}")
    print(f"cuDNN's activations on this GPU: within "
          f"{tolerances.measured_activation_error_ulps('cuda'):.0f} float32 ulps of exact "
          f"(CPU default allowed: {tolerances.TOLERANCES['float32'].activation_error:.0f})\n")
    print("| cell | B, T, I=H | largest error / allowed, TF32 off | TF32 on |")
    print("|---|---|---|---|")
    for kind in ("simple_rnn", "lstm", "gru"):
        for batch, steps, units in ((16, 50, 64), (64, 100, 512)):
            spec = RecurrentSpec(kind, units, units, return_sequences=True)
            shares = shares_of_tolerance(spec, batch, steps)
            print(f"| {kind} | {batch}, {steps}, {units} | {shares[False]:.3g} | "
                  f"{shares[True]:.3g} |", flush=True)


if __name__ == "__main__":
    main()
