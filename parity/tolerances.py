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

import dataclasses
import functools
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


def for_devices(dtype: str, devices: Sequence[str] = ("cpu",)) -> Tolerance:
    """The tolerance of ``dtype`` for results computed on ``devices`` ("cpu", "cuda"): on a GPU the
    activation error is what cuDNN's activations measure on it, when that exceeds the default."""
    tol = TOLERANCES[dtype]
    measured = [activation_error_ulps(d, dtype) for d in set(devices) if d != "cpu"]
    if not measured or max(measured) <= tol.activation_error:
        return tol
    return dataclasses.replace(tol, activation_error=max(measured))


@functools.cache
def activation_error_ulps(device: str, dtype: str = "float32") -> float:
    """The activation error to allow on ``device``, in units of ``dtype``'s roundoff: the default on
    the CPU, else the largest error of its RNN kernels' tanh and sigmoid, measured once per process.

    GPU RNN kernels evaluate their activations with fast approximations: on an H200 with cuDNN
    9.19, float32 results of the seed's sizes sat ~1e-5 (about 100 ulps) from exact, where CPU
    kernels stay within a few ulps. Measuring the kernel itself keeps GPU checks as tight as the
    GPU allows, and deterministic (the kernels are)."""
    if device == "cpu" or dtype not in ("float32", "float64"):
        return TOLERANCES[dtype].activation_error
    return measured_activation_error_ulps(device, dtype)


def measured_activation_error_ulps(device: str, dtype: str = "float32") -> float:
    """The largest error of torch's RNN kernels' tanh and sigmoid on ``device`` over a dense grid
    of pre-activations in [-9, 9], in units of ``dtype``'s roundoff."""
    import torch

    torch_dtype = getattr(torch, dtype)
    z = torch.linspace(-9.0, 9.0, 2**16, dtype=torch_dtype)
    # tanh: a 1-unit RNN whose output is tanh(z); sigmoid: a GRU whose output is (1 - sigmoid(z)),
    # kept where sigmoid(z) <= 1/2 so that the subtraction does not cancel
    rnn = torch.nn.RNN(1, 1, bias=False, batch_first=True).to(device, torch_dtype)
    gru = torch.nn.GRU(1, 1, bias=True, batch_first=True).to(device, torch_dtype)
    with torch.no_grad():
        rnn.weight_ih_l0.fill_(1.0)
        rnn.weight_hh_l0.zero_()
        gru.weight_hh_l0.zero_()
        gru.weight_ih_l0.copy_(torch.tensor([[0.0], [1.0], [0.0]]))  # r, z, n gates
        gru.bias_ih_l0.copy_(torch.tensor([0.0, 0.0, 20.0]))          # n = tanh(20) = 1
        gru.bias_hh_l0.zero_()
        xs = z.to(device)[:, None, None]
        tanh = rnn(xs)[0].flatten().cpu().double()
        one_minus_sigmoid = gru(xs)[0].flatten().cpu().double()
    z64 = z.double()
    exact_tanh, exact_sigmoid = torch.tanh(z64), torch.sigmoid(-z64)
    keep = z64 <= 0
    u = TOLERANCES[dtype].unit_roundoff
    errors = [((tanh - exact_tanh).abs() / exact_tanh.abs().clamp_min(u)).max(),
              ((one_minus_sigmoid - exact_sigmoid).abs()[keep] / exact_sigmoid[keep]).max()]
    return max(float(e) for e in errors) / u


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
                  mask: np.ndarray | None = None, *, devices: Sequence[str] = ("cpu",)) -> Outputs:
    """Per element, how far one correct ``spec.dtype`` implementation on ``devices`` may be from
    the exact result. ``reference`` is the clean oracle run on the same arguments.
    """
    tol = for_devices(spec.dtype, devices)
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
