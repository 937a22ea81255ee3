"""Deliberately wrong computations that keep the stored weights exact: what a sharp check must fail.

Each corruption changes only what a torch module *computes* (its forward sees corrupted parameters or
inputs; its stored parameters, which the weight verdict reads, stay exact), so a check that passes
one of them is blind to it through its tolerance alone. ``python -m parity sweep --sensitivity``
and ``tests/studies/test_sensitivity.py`` run them at every size; the CUDA checks run them on a GPU.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np

from parity.core.frameworks import torch


def round_to_tf32(t: torch.Tensor) -> torch.Tensor:
    """Round float32 values to TF32's 10 explicit mantissa bits (nearest, ties away)."""
    bits = t.detach().to(torch.float32).contiguous().view(torch.int32)
    rounded = ((bits + 0x1000) & ~0x1FFF).view(torch.float32)
    return rounded.to(t.dtype)


def _through(dtype) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda t: t.detach().to(dtype).to(t.dtype)


def _relative_noise(scale: float, seed: int = 0) -> Callable[[torch.Tensor], torch.Tensor]:
    def corrupt(t: torch.Tensor) -> torch.Tensor:
        rng = np.random.default_rng([seed, t.numel()])
        noise = torch.as_tensor(rng.standard_normal(tuple(t.shape)), dtype=torch.float64)
        return (t.detach().double() * (1 + scale * noise)).to(t.dtype)
    return corrupt


# what the forward's parameters go through (None: parameters untouched)
WEIGHT_CORRUPTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "weights through float16": _through(torch.float16),
    "weights through bfloat16": _through(torch.bfloat16),
    "relative weight noise 1e-5": _relative_noise(1e-5),
    "weights and inputs through TF32": round_to_tf32,
}
# what the forward's input goes through
INPUT_CORRUPTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "weights and inputs through TF32": round_to_tf32,
    "inputs through float16": _through(torch.float16),
}
NAMES = ("weights through float16", "weights through bfloat16", "relative weight noise 1e-5",
         "one recurrent weight + 1e-3 x largest", "weights and inputs through TF32",
         "inputs through float16")


def _bump_one(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """One element of the first recurrent kernel moved by 1e-3 of the layer's largest weight."""
    params = dict(module.named_parameters())
    name = next(n for n in params if "weight_hh" in n)
    largest = max(float(p.detach().abs().max()) for n, p in params.items() if "weight" in n)
    bumped = params[name].detach().clone()
    bumped.view(-1)[bumped.numel() // 2] += 1e-3 * largest
    return {name: bumped}


@contextlib.contextmanager
def corrupted(module: torch.nn.Module, name: str) -> Iterator[torch.nn.Module]:
    """``module`` whose forward computes with the corruption ``name`` (one of :data:`NAMES`)
    while its stored parameters stay exact outside the forward."""
    if name not in NAMES:
        raise ValueError(f"corruption={name!r}: one of {NAMES}")
    if name == "one recurrent weight + 1e-3 x largest":
        replacement = _bump_one(module)
    elif name in WEIGHT_CORRUPTIONS:
        replacement = {n: WEIGHT_CORRUPTIONS[name](p) for n, p in module.named_parameters()}
    else:
        replacement = {}
    params = dict(module.named_parameters())
    saved: dict[str, torch.Tensor] = {}

    def before(_module, args, kwargs):
        with torch.no_grad():
            for n, value in replacement.items():
                saved[n] = params[n].detach().clone()
                params[n].copy_(value)
        if name in INPUT_CORRUPTIONS and args:
            args = (INPUT_CORRUPTIONS[name](args[0]),) + tuple(args[1:])
        return args, kwargs

    def after(_module, _args, _kwargs, output):
        with torch.no_grad():
            for n, value in saved.items():
                params[n].copy_(value)
        saved.clear()
        return output

    handles = [module.register_forward_pre_hook(before, with_kwargs=True),
               module.register_forward_hook(after, with_kwargs=True)]
    try:
        yield module
    finally:
        for h in handles:
            h.remove()
