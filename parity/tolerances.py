"""How far two correct implementations of one recurrent layer may differ, element by element.

Model: in floating point with unit roundoff u, a step computes z = x W + h U + b with an error of at
most n*u*M elementwise (n = number of terms summed, M = |x||W| + |h||U| + |b|; the standard bound
for dot products), and the activation adds a few ulps. Those local errors then travel through the
recurrence, shrinking where the dynamics contract (saturated tanh, dead relu units) and growing where
they expand (recurrent gain > 1, chaos, long sequences). Rather than bound that propagation with
norms, which is hopelessly loose after a few steps, we measure it: the float64 oracle is rerun with
errors of exactly that local size injected at every step (all +, all -, and random signs) and the
largest deviation from the clean run, per (batch, step), is the error envelope. So the tolerance
widens with sequence length and conditioning by exactly as much as this trajectory needs, and stays
tight where the trajectory is benign. The injected noise uses a fixed seed: tolerances are
deterministic, never flaky.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from parity import oracle
from parity.spec import Outputs, RecurrentSpec, Weights


@dataclass(frozen=True)
class Tolerance:
    unit_roundoff: float   # u = machine epsilon / 2
    activation_error: float  # error of tanh/relu implementations, in units of u (vectorised tanh
    #                          approximations in Eigen and Sleef are within a few ulps)
    safety: float          # headroom over the injected envelope: real rounding need not match
    #                        the injected signs, and several rounding sources can line up
    subnormal: float       # spacing of the format's subnormals: the absolute error floor of a
    #                        result rounded near zero (matters for half precisions' gradients)


TOLERANCES: dict[str, Tolerance] = {
    "float32": Tolerance(unit_roundoff=2.0**-24, activation_error=16.0, safety=4.0,
                         subnormal=2.0**-149),
    "float64": Tolerance(unit_roundoff=2.0**-53, activation_error=16.0, safety=4.0,
                         subnormal=2.0**-1074),
    # Half precisions: frameworks usually accumulate in float32 and round results to the storage
    # type, so the per-operation roundoff of the storage type is the honest (pessimistic) model.
    "float16": Tolerance(unit_roundoff=2.0**-11, activation_error=2.0, safety=4.0,
                         subnormal=2.0**-24),
    "bfloat16": Tolerance(unit_roundoff=2.0**-8, activation_error=2.0, safety=4.0,
                          subnormal=2.0**-133),
}

def oracle_factor(dtype: str) -> float:
    """Scale of a framework-vs-oracle tolerance: the float64 oracle rounds too, which matters only
    when the framework computes in float64 as well."""
    return 1.0 + TOLERANCES["float64"].unit_roundoff / TOLERANCES[dtype].unit_roundoff


_RUNS = 6  # 2 systematic (+/-) and 4 random-sign perturbed runs
_SEED = 20261126


def _noise(spec: RecurrentSpec, tol: Tolerance, batch: int, *, sign: float | None = None,
           seed: int = _SEED):
    """Injected rounding errors. With ``sign`` every error has that sign; otherwise, for ``_RUNS``
    copies of the batch stacked along the batch axis, the first copy's are all +, the second's
    all -, the rest random (fixed seed). Works on numpy and (detached) torch magnitudes."""
    rng = np.random.default_rng(seed)

    def signs(shape):
        if sign is not None:
            return np.full(shape, sign)
        s = rng.choice([-1.0, 1.0], size=shape)
        s[:batch] = 1.0
        s[batch:2 * batch] = -1.0
        return s

    def noise(index, step, magnitude):
        terms = spec.layer_input_size(index // spec.directions) + spec.units + 2
        convert = np.asarray
        if not isinstance(magnitude, np.ndarray):  # a torch tensor: inject, do not differentiate
            import torch
            magnitude = magnitude.detach()
            convert = torch.as_tensor
        z_error = convert(signs(tuple(magnitude.shape)) * terms * tol.unit_roundoff) * magnitude
        out_shape = (magnitude.shape[0], spec.units)
        out_error = convert(signs(out_shape) * tol.activation_error * tol.unit_roundoff)
        return z_error, out_error

    return noise


def allowed_error(spec: RecurrentSpec, weights: Weights, x: np.ndarray,
                  initial_state: Sequence[np.ndarray] | None, reference: Outputs,
                  mask: np.ndarray | None = None) -> Outputs:
    """Per element, how far one correct ``spec.dtype`` implementation may be from the exact result.

    ``reference`` is the clean oracle run on the same arguments.
    """
    tol = TOLERANCES[spec.dtype]
    batch = x.shape[0]
    xs = np.concatenate([x] * _RUNS)
    h0 = None if initial_state is None else [np.concatenate([s] * _RUNS) for s in initial_state]
    masks = None if mask is None else np.concatenate([mask] * _RUNS)
    perturbed = oracle.run(spec, weights, xs, h0, masks, noise=_noise(spec, tol, batch))

    def envelope(ref, pert):
        runs = pert.reshape((_RUNS,) + ref.shape)
        with np.errstate(invalid="ignore"):
            deviation = np.nanmax(np.abs(runs - ref), axis=0)
        # the largest deviation over units at each (batch, step): one sample per element is noisy
        spread = np.max(deviation, axis=-1, keepdims=True)
        floor = (spec.input_size + spec.units + 2) * tol.subnormal
        return tol.safety * (spread + tol.unit_roundoff * np.abs(ref) + floor)

    if isinstance(reference.output, tuple):
        output = tuple(envelope(r, p) for r, p in zip(reference.output, perturbed.output))
    else:
        output = envelope(reference.output, perturbed.output)
    return Outputs(output, tuple(envelope(r, p) for r, p in zip(reference.states, perturbed.states)))
