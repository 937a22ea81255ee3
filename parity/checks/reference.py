"""The one reference pipeline of the layer checks: the float64 oracle's result for one case, and
how far a correct implementation in the layer's dtype may be from it, per element.

Forward: one clean oracle run, then ``POLICY.runs`` emulated implementations in one vectorised
oracle pass (:func:`parity.core.tolerances.allowed_error`). Gradients: the oracle's gradients of
sum(returned tensors * random cotangents) by torch autograd, and ``POLICY.gradient_runs``
emulated implementations' (forward and backward, :mod:`parity.core.emulation`).

:func:`reference` keeps the last few pipelines by the values of their weights and inputs: the
forward, gradient, copy-into and golden checks of one case, and the checks that several tests run
on the same derandomised examples, compute it once. Results are bit for bit those of a fresh run
(every emulated run is seeded).
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from parity.core import emulation, oracle, tolerances
from parity.core.frameworks import torch
from parity.core.inputs import CaseInputs
from parity.core.spec import LayerWeights, Outputs, RecurrentSpec, Weights
from parity.core.tolerances import POLICY, Policy, allowed_error, from_noise, pooled, worst_case_error


def cotangents(spec: RecurrentSpec, shapes: Sequence[tuple[int, ...]], seed: int) -> list:
    """One random cotangent per returned tensor, exactly representable in the layer's dtype."""
    rng = np.random.default_rng([seed, 7])
    return [rng.uniform(-1, 1, shape).astype(spec.np_dtype).astype(np.float64) for shape in shapes]


def named_gradients(spec: RecurrentSpec, dx, dstates, dweights: Weights) -> dict[str, np.ndarray]:
    """Gradients by the names every check reports them under."""
    named = {"grad x": dx}
    named.update({f"grad initial_state[{i}]": g for i, g in enumerate(dstates)})
    for i, w in enumerate(dweights):
        for k, v in w.arrays().items():
            if k == "recurrent_bias" and spec.biases_summed:
                continue  # the same gradient as "bias": both enter only through their sum
            named[f"grad weights[{i}].{k}"] = v
    return named


def _leaves(weights: Weights, inputs: CaseInputs):
    x64 = torch.tensor(np.asarray(inputs.x, dtype=np.float64), requires_grad=True)
    st = [torch.tensor(np.asarray(s, dtype=np.float64), requires_grad=True)
          for s in inputs.initial_state or []]
    w64 = tuple(LayerWeights(**{k: torch.tensor(v, requires_grad=True)
                                for k, v in w.arrays().items()}) for w in weights)
    return x64, st, w64


def _loss(out: Outputs, cots):
    flat = list(out.output) if isinstance(out.output, tuple) else [out.output]
    return sum((t * torch.as_tensor(c)).sum() for t, c in zip(flat + list(out.states), cots))


def oracle_gradients(spec: RecurrentSpec, weights: Weights, inputs: CaseInputs, cots
                     ) -> dict[str, np.ndarray]:
    """Gradients of the float64 oracle (torch autograd over the oracle's recurrence)."""
    x64, st, w64 = _leaves(weights, inputs)
    out = oracle.run(spec, w64, x64, st or None, inputs.mask, xp=oracle.TorchOps())
    weight_leaves = [v for w in w64 for v in w.arrays().values()]
    grads = [g.detach().numpy() for g in
             torch.autograd.grad(_loss(out, cots), [x64, *st, *weight_leaves])]
    it = iter(grads[1 + len(st):])
    dweights = tuple(LayerWeights(**{k: next(it) for k in w.arrays()}) for w in w64)
    return named_gradients(spec, grads[0], grads[1:1 + len(st)], dweights)


def emulated_gradients(spec: RecurrentSpec, weights: Weights, inputs: CaseInputs, cots,
                       rounding: emulation.Rounding, seed: int) -> dict[str, np.ndarray]:
    """The oracle's gradients as one emulated ``rounding`` implementation computes them (forward
    and backward: see :mod:`parity.core.emulation`)."""
    x64, st, w64 = _leaves(weights, inputs)
    xp = emulation.EmulatedTorch(rounding, seed)
    _loss(oracle.run(spec, w64, x64, st or None, inputs.mask, xp=xp), cots).backward()

    def weight_grad(leaf):
        direct = np.zeros(tuple(leaf.shape)) if leaf.grad is None else leaf.grad.numpy()
        summed = xp.accumulated(leaf)
        return direct if summed is None else direct + summed

    dweights = tuple(LayerWeights(**{k: weight_grad(v) for k, v in w.arrays().items()})
                     for w in w64)
    dx = x64.grad.numpy() if x64.grad is not None else np.zeros_like(inputs.x, dtype=np.float64)
    return named_gradients(spec, dx, [s.grad.numpy() for s in st], dweights)


def gradient_noise(spec: RecurrentSpec, weights: Weights, inputs: CaseInputs, cots,
                   clean: dict[str, np.ndarray], policy: Policy = POLICY) -> dict[str, np.ndarray]:
    """Per gradient element, the rounding noise of ``policy.gradient_runs`` emulated
    implementations (root mean square error against ``clean``), pooled: over features and nearby
    steps for ``grad x``, over units for states, over each weight row (every gate and unit) for
    weights."""
    rounding = tolerances.rounding(spec.dtype, inputs.devices)
    square = {k: np.zeros_like(v) for k, v in clean.items()}
    for run in range(policy.gradient_runs):
        emulated = emulated_gradients(spec, weights, inputs, cots, rounding, policy.seed + run)
        for k in square:
            with np.errstate(over="ignore", invalid="ignore"):
                square[k] += (emulated[k] - clean[k]) ** 2
    noise = {}
    for k, sq in square.items():
        rms = np.nan_to_num(np.sqrt(sq / policy.gradient_runs), nan=0.0)  # as in forward_noise
        if k.startswith("grad weights"):
            # a weight row's gradients (every gate and unit fed by one input) share a scale; with
            # one or two units a gate's own few samples scatter too much to stand alone
            noise[k] = np.broadcast_to(rms.max(axis=-1, keepdims=True), rms.shape)
        else:
            noise[k] = pooled(rms, steps_axis=k == "grad x", window=policy.window)
    return noise


def gradient_allowed(spec: RecurrentSpec, weights: Weights, inputs: CaseInputs, cots,
                     clean: dict[str, np.ndarray], policy: Policy = POLICY) -> dict[str, np.ndarray]:
    """Per gradient element, how far one correct implementation may miss ``clean`` (the oracle's
    exact gradients): the policy's multiple of the emulated rounding noise."""
    noise = gradient_noise(spec, weights, inputs, cots, clean, policy)
    batch, steps = inputs.x.shape[:2]
    terms = spec.cell.gates * spec.units + max(spec.input_size, spec.units) + batch * steps
    return {k: from_noise(noise[k], clean[k], spec.dtype, terms, policy) for k in clean}


class Reference:
    """The pipeline for one spec, weights and inputs; each part is computed on first use."""

    def __init__(self, spec: RecurrentSpec, weights: Weights, inputs: CaseInputs,
                 policy: Policy = POLICY) -> None:
        self.spec, self.weights, self.inputs, self.policy = spec, weights, inputs, policy
        self._gradients: dict[int, tuple[list, dict, dict]] = {}

    @functools.cached_property
    def outputs(self) -> Outputs:
        """The clean float64 oracle run."""
        i = self.inputs
        return oracle.run(self.spec, self.weights, i.x, i.initial_state, i.mask)

    @functools.cached_property
    def allowed(self) -> dict[str, np.ndarray]:
        """Per returned tensor, how far one correct implementation may be from :attr:`outputs`."""
        i = self.inputs
        return allowed_error(self.spec, self.weights, i.x, i.initial_state, self.outputs, i.mask,
                             devices=i.devices, policy=self.policy).named()

    def outer_bound(self) -> dict[str, np.ndarray]:
        """The worst-case rounding bound per tensor (reported beside a failure, never decides)."""
        i = self.inputs
        return worst_case_error(self.spec, self.weights, i.x, i.initial_state, self.outputs,
                                i.mask, devices=i.devices).named()

    def gradients(self, seed: int) -> tuple[list, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(cotangents of cotangent ``seed``, the oracle's gradients, what one correct
        implementation may miss them by)."""
        if seed not in self._gradients:
            shapes = [np.shape(t) for t in self.outputs.named().values()]
            cots = cotangents(self.spec, shapes, seed)
            clean = self.clean_gradients(cots)
            allowed = gradient_allowed(self.spec, self.weights, self.inputs, cots, clean,
                                       self.policy)
            self._gradients[seed] = (cots, clean, allowed)
        return self._gradients[seed]

    def clean_gradients(self, cots) -> dict[str, np.ndarray]:
        return oracle_gradients(self.spec, self.weights, self.inputs, cots)


_CACHE: OrderedDict[bytes, Reference] = OrderedDict()
CACHE_SIZE = 256  # small arrays each; enough for every example a default run draws


def _weights_digest(weights: Weights) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for w in weights:
        for k, v in w.arrays().items():
            h.update(k.encode())
            h.update(np.ascontiguousarray(v, dtype=np.float64).tobytes())
    return h.digest()


def reference(spec: RecurrentSpec, weights: Weights, inputs: CaseInputs,
              policy: Policy = POLICY) -> Reference:
    """The pipeline for these values, shared with any check that asked for the same ones."""
    key = _weights_digest(weights) + inputs.digest() + repr((spec, policy)).encode()
    found = _CACHE.get(key)
    if found is None:
        found = _CACHE[key] = Reference(spec, weights, inputs, policy)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return found


def clear_cache() -> None:
    """Forget every kept pipeline (the harness benchmark times fresh references)."""
    _CACHE.clear()
