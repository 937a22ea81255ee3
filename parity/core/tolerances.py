"""How far two correct implementations of one recurrent layer may differ, element by element:
the one tolerance policy of every check.

The verdict (:func:`allowed_error`, :func:`gradient_noise`, :data:`POLICY`) is statistical. The
float64 oracle is rerun a few times as a correct low-precision implementation would run it, with
randomised rounding (:mod:`parity.core.emulation`: Monte Carlo Arithmetic), and the spread of those runs
around the exact result, per element, is the rounding noise a correct implementation has on this
very case. Rounding errors behave like random variables whose sum grows like sqrt(n), not n
(Higham & Mary 2019), so this noise is one to two orders of magnitude below worst-case bounds at
realistic sizes. A correct implementation may miss the exact result by ``POLICY.factor`` times that
noise (plus two roundings of the stored value); the factor is chosen from the calibration sweep
(``python -m parity sweep --calibrate``, docs: tolerances), and two implementations may differ by
sqrt(2) times it (independent errors).

The outer bound (:func:`worst_case_error`) is the worst-case model below, kept for reports.

Worst-case model: in floating point with unit roundoff u, a step computes z = x W + h U + b with an
error of at most n*u*M elementwise (n = number of terms summed, M = |x||W| + |h||U| + |b|; the
standard bound for dot products), and the activation adds a few ulps. Those local errors then travel
through the recurrence, shrinking where the dynamics contract (saturated tanh, dead relu units) and
growing where they expand (recurrent gain > 1, chaos, long sequences). Rather than bound that
propagation with norms, which is hopelessly loose after a few steps, we measure it: the float64
oracle is rerun with errors of exactly that local size injected at every step (all +, all -, and
random signs) and the largest deviation from the clean run, per (batch, step), is the error
envelope. So the tolerance widens with sequence length and conditioning by exactly as much as this
trajectory needs, and stays tight where the trajectory is benign. The injected noise uses a fixed
seed: tolerances are deterministic, never flaky.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from parity.core import emulation, oracle
from parity.core.spec import Outputs, RecurrentSpec, Weights


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
    """Scale of a framework-vs-oracle tolerance: the float64 oracle rounds too (independently),
    which matters only when the framework computes in float64 as well."""
    return math.sqrt(1.0 + (TOLERANCES["float64"].unit_roundoff / TOLERANCES[dtype].unit_roundoff) ** 2)


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


def worst_case_error(spec: RecurrentSpec, weights: Weights, x: np.ndarray,
                     initial_state: Sequence[np.ndarray] | None, reference: Outputs,
                     mask: np.ndarray | None = None, *, devices: Sequence[str] = ("cpu",)) -> Outputs:
    """The outer bound: per element, how far a ``spec.dtype`` implementation on ``devices`` could
    be from the exact result if every rounding error took its worst-case size (``n u`` per dot
    product) and lined up. Reported beside the verdict; :func:`allowed_error` decides.
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


@dataclass(frozen=True)
class Policy:
    """The statistical verdict's parameters, one set for every check."""

    factor: float = 8.0   # a correct implementation stays within factor x noise of the exact result
    runs: int = 8          # emulated implementations per forward check (vectorised: one oracle pass)
    gradient_runs: int = 4  # per gradient check (each one forward and backward pass)
    model_runs: int = 6    # perturbed float64 runs of a whole model (model and training checks)
    floor_ulps: float = 2.0  # the stored value's own rounding (and one more), always allowed
    window: int = 2        # noise is pooled over the units and this many steps either side
    seed: int = 20261127

    @property
    def cross(self) -> float:
        """Two implementations with independent errors differ by sqrt(2) x one's error."""
        return math.sqrt(2.0)


POLICY = Policy()

# Error of the tanh/sigmoid implementations an emulated CPU implementation draws from, in units of
# u: Eigen's and Sleef's vectorised float32 approximations are within a few ulps (the measured
# torch CPU error is in tests/unit/test_compare.py). GPU kernels are measured (activation_error_ulps).
CPU_ACTIVATION_ULPS = 4.0


def rounding(dtype: str, devices: Sequence[str] = ("cpu",)) -> emulation.Rounding:
    """How an implementation of ``dtype`` on ``devices`` rounds, for the emulation."""
    u = TOLERANCES[dtype].unit_roundoff
    ulps = max([CPU_ACTIVATION_ULPS] + [activation_error_ulps(d, dtype) for d in set(devices)
                                         if d != "cpu"])
    if dtype not in ("float32", "float64"):
        ulps = TOLERANCES[dtype].activation_error
    return emulation.Rounding(dtype, u, ulps)


def pooled(noise: np.ndarray, steps_axis: bool, window: int, quantile: float = 0.9) -> np.ndarray:
    """Per element noise estimates made robust: each element takes the largest estimate of its own
    unit over ``window`` steps either side (when the tensor has a time axis), and at least the
    ``quantile`` of those over its units (the last axis). A single element's few samples scatter;
    its neighbours in time and its sibling units share its scale, and a unit whose noise really
    is larger than its siblings' keeps its own estimate."""
    if noise.ndim == 0 or noise.size == 0:
        return noise
    out = noise
    if steps_axis and out.ndim == 3 and window > 0:
        padded = np.pad(out, ((0, 0), (window, window), (0, 0)), mode="edge")
        out = np.max(np.stack([padded[:, k:k + out.shape[1]] for k in range(2 * window + 1)]),
                     axis=0)
    siblings = np.quantile(out, quantile, axis=-1, keepdims=True)
    return np.maximum(out, siblings)


def forward_noise(spec: RecurrentSpec, weights: Weights, x: np.ndarray,
                  initial_state: Sequence[np.ndarray] | None, reference: Outputs,
                  mask: np.ndarray | None = None, *, devices: Sequence[str] = ("cpu",),
                  policy: Policy = POLICY) -> Outputs:
    """Per element, the rounding noise (root mean square error against ``reference``, the clean
    oracle run) of ``policy.runs`` emulated ``spec.dtype`` implementations, pooled."""
    runs = policy.runs
    xs = np.concatenate([np.asarray(x, dtype=np.float64)] * runs)
    h0 = None if initial_state is None else [np.concatenate([s] * runs) for s in initial_state]
    masks = None if mask is None else np.concatenate([mask] * runs)
    xp = emulation.EmulatedNumpy(rounding(spec.dtype, devices), policy.seed)
    emulated = oracle.run(spec, weights, xs, h0, masks, xp=xp)

    def noise(ref, em, steps_axis):
        em = em.reshape((runs,) + ref.shape)
        with np.errstate(invalid="ignore", over="ignore"):
            rms = np.sqrt(np.nanmean((em - ref) ** 2, axis=0))
        # NaN only where an emulated run overflowed: no noise estimate there, so nothing extra
        # is allowed (a NaN read as "anything goes" would let a broken result through)
        return pooled(np.nan_to_num(rms, nan=0.0), steps_axis, policy.window)

    seq = spec.return_sequences
    if isinstance(reference.output, tuple):
        output = tuple(noise(r, e, seq) for r, e in zip(reference.output, emulated.output))
    else:
        output = noise(reference.output, emulated.output, seq)
    return Outputs(output, tuple(noise(r, e, False)
                                 for r, e in zip(reference.states, emulated.states)))


def from_noise(noise: np.ndarray, reference: np.ndarray, dtype: str, terms: int,
               policy: Policy = POLICY) -> np.ndarray:
    """What one implementation may miss the exact value by: factor x noise, plus the stored
    value's rounding and an absolute floor of ``terms`` subnormal spacings."""
    tol = TOLERANCES[dtype]
    return (policy.factor * noise + policy.floor_ulps * tol.unit_roundoff * np.abs(reference)
            + absolute_floor(dtype, terms))


def absolute_floor(dtype: str, terms: int) -> float:
    """The absolute error no result can avoid: ``terms`` subnormal spacings of the storage format,
    and at least ``terms`` times the accumulation format's smallest normal number, since CPU
    kernels run with flush-to-zero: TensorFlow (oneDNN) returns 0 where torch keeps a vanishing
    float32 gradient of 1e-40, or of 1.2e-38 when an intermediate result was subnormal."""
    accumulate = emulation.ACCUMULATION.get(dtype, np.float64)
    return terms * max(TOLERANCES[dtype].subnormal, float(np.finfo(accumulate).tiny))


def allowed_error(spec: RecurrentSpec, weights: Weights, x: np.ndarray,
                  initial_state: Sequence[np.ndarray] | None, reference: Outputs,
                  mask: np.ndarray | None = None, *, devices: Sequence[str] = ("cpu",),
                  policy: Policy = POLICY) -> Outputs:
    """Per element, how far one correct ``spec.dtype`` implementation on ``devices`` may be from
    the exact result (``reference``: the clean oracle run on the same arguments)."""
    noise = forward_noise(spec, weights, x, initial_state, reference, mask, devices=devices,
                          policy=policy)
    terms = spec.input_size + spec.units + 2

    def allowed(n, r):
        return from_noise(n, r, spec.dtype, terms, policy)

    if isinstance(reference.output, tuple):
        output = tuple(allowed(n, r) for n, r in zip(noise.output, reference.output))
    else:
        output = allowed(noise.output, reference.output)
    return Outputs(output, tuple(allowed(n, r) for n, r in zip(noise.states, reference.states)))


def perturbation_size(terms: int, unit_roundoff: float) -> float:
    """Relative size of the rounding error injected into a whole model's layer output or gradient
    that sums ``terms`` terms: probabilistic growth, sqrt(n) u (Higham & Mary 2019), not the
    worst case n u. Whole-model checks (:mod:`parity.checks.model_parity`,
    :mod:`parity.models.training`) inject it with random signs into ``POLICY.model_runs`` float64 runs."""
    return math.sqrt(max(terms, 1)) * unit_roundoff


def from_runs(reference, perturbed: Sequence, dtype: str, *, extra_rounding=0.0,
              activation: bool = False, policy: Policy = POLICY) -> np.ndarray:
    """What one implementation may miss ``reference`` by, from perturbed runs of the same
    computation: the policy's factor times their root mean square deviation, plus the stored
    value's rounding (``extra_rounding``: other absolute rounding, e.g. a loss's logit scale), plus
    with ``activation`` the error of the activation that produced the value (each framework's own
    sigmoid/tanh/softmax approximation, which the perturbed runs do not model)."""
    reference = np.asarray(reference, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        rms = np.sqrt(np.mean([(np.asarray(p, dtype=np.float64) - reference) ** 2
                               for p in perturbed], axis=0))
    u = TOLERANCES[dtype].unit_roundoff
    ulps = policy.floor_ulps + (CPU_ACTIVATION_ULPS if activation else 0.0)
    return (policy.factor * np.nan_to_num(rms, nan=0.0)
            + ulps * u * np.abs(reference) + policy.floor_ulps * u * extra_rounding)
