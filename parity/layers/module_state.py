"""A user's torch modules are left as they were found: checks that switch a module to inference
mode or freeze a parameter for their run put every flag back afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def left_as_found(*modules) -> Iterator[None]:
    """Restore every submodule's train/eval mode and every parameter's ``requires_grad`` on exit
    (also on an exception). Weights a run trains are not restored: that is the run's result."""
    training = [(m, m.training) for module in modules for m in module.modules()]
    grads = [(p, p.requires_grad) for module in modules for p in module.parameters()]
    try:
        yield
    finally:
        for m, mode in training:
            m.training = mode
        for p, flag in grads:
            p.requires_grad_(flag)
