"""The rounding errors a lock-step run's perturbed float64 copies carry (the tolerance's
model, explained in :mod:`parity.models.training`): every layer output, gradient, parameter
update and step size moved by its own rounding error with random signs."""

from __future__ import annotations

import numpy as np

from parity.core.frameworks import torch
from parity.core.tolerances import POLICY, TOLERANCES, perturbation_size
from parity.layers import torch_side
from parity.models import blocks as models
from parity.models import torch_blocks
from parity.models.optim import Optimizer
from parity.models.training_record import Batch
from parity.models.training_runs import first_output

SEED = 20261126
PATTERNS = ("random",) * POLICY.model_runs  # random-sign rounding errors, one pattern per run
FLOAT32_ROUNDOFF = TOLERANCES["float32"].unit_roundoff


def _fan_in(block_or_module) -> int:
    if isinstance(block_or_module, models.Dense):
        return block_or_module.input_size + 1
    if isinstance(block_or_module, models.Recurrent):
        spec = block_or_module.spec
        return spec.input_size + spec.units + 1
    return 0


def _perturbable_layers(module) -> list[tuple[torch.nn.Module, int]]:
    if isinstance(module, torch_blocks.KerasSequential):
        return [(layer, _fan_in(block)) for block, layer in zip(module.blocks, module.layers)
                if _fan_in(block)]
    if isinstance(module, torch_side.KerasRNN):
        return [(module, _fan_in(models.Recurrent(module.spec)))]
    blocks, owners = torch_blocks.read_torch(module)[0], torch_blocks.torch_parts(module)[1]
    return [(o, _fan_in(b)) for b, o in zip(blocks, owners) if _fan_in(b)]


class Perturbation:
    """Rounding errors of size ``u`` injected into a float64 run (see the module docstring)."""

    def __init__(self, pattern: str, u: float, seed: int) -> None:
        self.pattern, self.u = pattern, u
        self.generator = torch.Generator().manual_seed(seed)

    def signs(self, like: torch.Tensor) -> torch.Tensor:
        if self.pattern == "+":
            return torch.ones_like(like)
        if self.pattern == "-":
            return -torch.ones_like(like)
        bits = torch.randint(0, 2, like.shape, generator=self.generator)
        return (2 * bits - 1).to(like.dtype)

    def attach(self, module) -> None:
        for layer, fan_in in _perturbable_layers(module):
            def hook(_module, _inputs, output, n=fan_in):
                first = first_output(output)
                perturbed = first * (1 + self.signs(first) * perturbation_size(n, self.u))
                if isinstance(output, tuple):
                    return (perturbed, *output[1:])
                return perturbed
            layer.register_forward_hook(hook)

    def weights(self, module) -> None:
        """Scale every Dense and recurrent weight by ``1 + s sqrt(n) u`` (n = the layer's fan-in)."""
        with torch.no_grad():
            for layer, fan_in in _perturbable_layers(module):
                for p in layer.parameters():
                    p.mul_(1 + self.signs(p) * perturbation_size(fan_in, self.u))

    def step_size(self, optimizer, spec: Optimizer, step: int) -> None:
        """Move the learning rate by the step size's rounding error (see ``step_size_condition``).
        At least float32's: TensorFlow makes Python-float hyperparameters float32 constants before
        Keras casts them to the variable's dtype, so even a float64 model's Adam bias correction
        uses float32-rounded betas (Keras 3.15, TF backend: 6.7e-6 of the first step)."""
        sign = float(self.signs(torch.zeros(1, dtype=torch.float64)))
        u = max(self.u, FLOAT32_ROUNDOFF)
        for group in optimizer.param_groups:
            group["lr"] = spec.learning_rate * (1 + sign * spec.step_size_condition(step) * u)

    def gradients(self, params, batch: Batch) -> None:
        terms = int(np.prod(batch.x.shape[:2]))
        for p in params:
            if p.grad is not None:
                g = p.grad
                # structural zeros (weights of inputs absent from the batch) are exact in every
                # framework: no noise there
                scale = (g.abs() + g.pow(2).mean().sqrt()) * (g != 0)
                g.add_(self.signs(g) * perturbation_size(terms, self.u) * scale)

    def parameters(self, params) -> None:
        with torch.no_grad():
            for p in params:
                p.add_(self.signs(p) * self.u * p.abs())

