"""Gradient parity: for a scalar loss with a random cotangent on every returned tensor, the
gradients with respect to the input, the initial states and every weight must match between the
frameworks and the float64 oracle (differentiated by torch autograd in float64).

Weight gradients are read into the canonical layout by the same readers that read weights
(``keras_side.read_weights`` / ``torch_side.read_weights``), so a gate mapped wrongly for the
weights is mapped wrongly for the gradients too, and one transfer table serves both.

Tolerance: the policy of :mod:`parity.core.tolerances`. The oracle's gradients are recomputed by a few
emulated low-precision implementations (:mod:`parity.core.emulation`: randomised rounding in the forward
pass, in the backward pass's products and derivatives, and in the summation of a weight's gradient
over time steps); their spread around the exact gradients, pooled, is the rounding noise, and a
correct implementation may miss the exact value by the policy's factor times it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from parity.checks.compare import (
    ParityReport,
    TensorDiff,
    device_of,
    diff,
    raise_beyond_oracle,
    validated_pair,
)
from parity.core import emulation, oracle, tolerances, weight_verdict
from parity.core.errors import ParityError, UnsupportedConfig
from parity.core.frameworks import keras, torch
from parity.core.spec import LayerWeights, RecurrentSpec, Weights
from parity.core.tolerances import POLICY, TOLERANCES, Policy, from_noise, oracle_factor, pooled
from parity.layers import keras_side, torch_side, transfer

_WEIGHT_AXES = {"kernel": ("input", "gate*unit"), "recurrent_kernel": ("unit", "gate*unit"),
                "bias": ("gate*unit",), "recurrent_bias": ("gate*unit",)}


def cotangents(spec: RecurrentSpec, shapes: Sequence[tuple[int, ...]], seed: int) -> list:
    """One random cotangent per returned tensor, exactly representable in the layer's dtype."""
    rng = np.random.default_rng([seed, 7])
    return [rng.uniform(-1, 1, shape).astype(spec.np_dtype).astype(np.float64) for shape in shapes]


def _named(spec: RecurrentSpec, dx, dstates, dweights: Weights) -> dict[str, np.ndarray]:
    named = {"grad x": dx}
    named.update({f"grad initial_state[{i}]": g for i, g in enumerate(dstates)})
    for i, w in enumerate(dweights):
        for k, v in w.arrays().items():
            if k == "recurrent_bias" and spec.biases_summed:
                continue  # the same gradient as "bias": both enter only through their sum
            named[f"grad weights[{i}].{k}"] = v
    return named


def keras_gradients(obj, spec, x, initial_state, mask, cots) -> dict[str, np.ndarray]:
    backend = keras.backend.backend()
    variables = keras_side.variables(obj)
    states = list(initial_state or [])
    if backend == "tensorflow":
        import tensorflow as tf
        xt, st = tf.constant(x), [tf.constant(s) for s in states]
        with tf.GradientTape() as tape:
            tape.watch([xt, *st])
            flat = keras_side.call(obj, xt, st or None, mask)
            loss = tf.add_n([tf.reduce_sum(tf.cast(t, tf.float64) * c) for t, c in zip(flat, cots)])
        grads = tape.gradient(loss, [xt, *st, *[v.value for v in variables]])
    elif backend == "torch":
        xt = torch_side.to_tensor(x).requires_grad_()
        st = [torch_side.to_tensor(s).requires_grad_() for s in states]
        flat = keras_side.call(obj, xt, st or None, mask)
        loss = sum((t.double() * torch.as_tensor(c)).sum() for t, c in zip(flat, cots))
        grads = torch.autograd.grad(loss, [xt, *st, *[v.value for v in variables]],
                                    allow_unused=True)
    else:
        raise UnsupportedConfig("keras backend", backend,
                                "gradient parity supports the tensorflow and torch backends")

    def as_numpy(g, like):
        if g is None:
            return np.zeros(tuple(like.shape))
        return np.asarray(keras.ops.convert_to_numpy(g), dtype=np.float64)

    by_variable = {id(v): as_numpy(g, v) for v, g in zip(variables, grads[1 + len(st):])}
    dweights = keras_side.read_weights(obj, values=lambda v: by_variable[id(v)], gradients=True)
    dstates = [as_numpy(g, s) for g, s in zip(grads[1:1 + len(st)], states)]
    return _named(spec, as_numpy(grads[0], x), dstates, dweights)


def torch_gradients(module, spec, x, initial_state, mask, cots) -> dict[str, np.ndarray]:
    dev = torch_side.device_of(module)
    xt = torch_side.to_tensor(x).to(dev).requires_grad_()
    st = [torch_side.to_tensor(s).to(dev).requires_grad_() for s in initial_state or []]
    params = list(module.parameters())
    result = module(xt, st or None, None if mask is None else torch.from_numpy(mask).to(dev))
    flat = list(result) if isinstance(result, tuple) else [result]
    loss = sum((t.double() * torch.as_tensor(c, device=dev)).sum() for t, c in zip(flat, cots))
    grads = torch.autograd.grad(loss, [xt, *st, *params], allow_unused=True)
    by_param = {id(p): (np.zeros(tuple(p.shape)) if g is None else
                        g.detach().cpu().to(torch.float64).numpy())
                for p, g in zip(params, grads[1 + len(st):])}
    dweights = torch_side.read_weights(module, values=lambda p: by_param[id(p)])
    dstates = [g.detach().cpu().to(torch.float64).numpy() for g in grads[1:1 + len(st)]]
    return _named(spec, grads[0].detach().cpu().to(torch.float64).numpy(), dstates, dweights)


def oracle_gradients(spec, weights: Weights, x, initial_state, mask, cots, noise=None
                     ) -> dict[str, np.ndarray]:
    """Gradients of the float64 oracle (torch autograd over the oracle's numpy-style recurrence);
    ``noise`` injects the worst-case model's errors (:func:`parity.core.tolerances.worst_case_error`)."""
    x64 = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    st = [torch.tensor(np.asarray(s, dtype=np.float64), requires_grad=True)
          for s in initial_state or []]
    w64 = tuple(LayerWeights(**{k: torch.tensor(v, requires_grad=True)
                                for k, v in w.arrays().items()}) for w in weights)
    out = oracle.run(spec, w64, x64, st or None, mask, noise=noise, xp=oracle.TorchOps())
    flat = list(out.output) if isinstance(out.output, tuple) else [out.output]
    flat += list(out.states)
    loss = sum((t * torch.as_tensor(c)).sum() for t, c in zip(flat, cots))
    weight_leaves = [v for w in w64 for v in w.arrays().values()]
    grads = [g.detach().numpy() for g in torch.autograd.grad(loss, [x64, *st, *weight_leaves])]
    return _unflatten(spec, grads, len(st), w64)


def _unflatten(spec, grads, n_states, w64) -> dict[str, np.ndarray]:
    it = iter(grads[1 + n_states:])
    dweights = tuple(LayerWeights(**{k: next(it) for k in w.arrays()}) for w in w64)
    return _named(spec, grads[0], grads[1:1 + n_states], dweights)


def emulated_gradients(spec, weights: Weights, x, initial_state, mask, cots,
                       rounding: emulation.Rounding, seed: int) -> dict[str, np.ndarray]:
    """The oracle's gradients as one emulated ``rounding`` implementation computes them (forward
    and backward: see :mod:`parity.core.emulation`)."""
    x64 = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    st = [torch.tensor(np.asarray(s, dtype=np.float64), requires_grad=True)
          for s in initial_state or []]
    w64 = tuple(LayerWeights(**{k: torch.tensor(v, requires_grad=True)
                                for k, v in w.arrays().items()}) for w in weights)
    xp = emulation.EmulatedTorch(rounding, seed)
    out = oracle.run(spec, w64, x64, st or None, mask, xp=xp)
    flat = list(out.output) if isinstance(out.output, tuple) else [out.output]
    loss = sum((t * torch.as_tensor(c)).sum() for t, c in zip(flat + list(out.states), cots))
    loss.backward()

    def weight_grad(leaf):
        direct = np.zeros(tuple(leaf.shape)) if leaf.grad is None else leaf.grad.numpy()
        summed = xp.accumulated(leaf)
        return direct if summed is None else direct + summed

    dweights = tuple(LayerWeights(**{k: weight_grad(v) for k, v in w.arrays().items()})
                     for w in w64)
    zeros = np.zeros_like
    return _named(spec, x64.grad.numpy() if x64.grad is not None else zeros(x),
                  [s.grad.numpy() for s in st], dweights)


def gradient_noise(spec, weights, x, initial_state, mask, cots, clean: dict[str, np.ndarray], *,
                   devices: Sequence[str] = ("cpu",), policy: Policy = POLICY
                   ) -> dict[str, np.ndarray]:
    """Per gradient element, the rounding noise of ``policy.gradient_runs`` emulated
    implementations (root mean square error against ``clean``), pooled: over features and nearby
    steps for ``grad x``, over units for states, over each weight row (every gate and unit) for
    weights."""
    rounding = tolerances.rounding(spec.dtype, devices)
    square = {k: np.zeros_like(v) for k, v in clean.items()}
    for run in range(policy.gradient_runs):
        emulated = emulated_gradients(spec, weights, x, initial_state, mask, cots, rounding,
                                      policy.seed + run)
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


def gradient_allowed(spec, weights, x, initial_state, mask, cots,
                     clean: dict[str, np.ndarray], *, devices: Sequence[str] = ("cpu",),
                     policy: Policy = POLICY) -> dict[str, np.ndarray]:
    """Per gradient element, how far one correct implementation may miss ``clean`` (the oracle's
    exact gradients): the policy's multiple of the emulated rounding noise."""
    noise = gradient_noise(spec, weights, x, initial_state, mask, cots, clean, devices=devices,
                           policy=policy)
    batch, steps = x.shape[:2]
    terms = spec.cell.gates * spec.units + max(spec.input_size, spec.units) + batch * steps
    return {k: from_noise(noise[k], clean[k], spec.dtype, terms, policy) for k in clean}


def compare_gradients(keras_obj, torch_obj, x: np.ndarray,
                      initial_state: Sequence[np.ndarray] | None = None,
                      mask: np.ndarray | None = None, *, seed: int = 0,
                      context: str | None = None) -> ParityReport:
    """Gradients of sum(returned tensors * random cotangents) in both frameworks and the oracle."""
    spec, k_weights, module, t_weights = validated_pair(keras_obj, torch_obj)
    x = np.asarray(x)
    oracle.check_inputs(spec, x, initial_state, mask)
    reference = oracle.run(spec, k_weights, x, initial_state, mask)
    shapes = [np.shape(t) for t in reference.named().values()]
    cots = cotangents(spec, shapes, seed)
    k = keras_gradients(keras_obj, spec, x, initial_state, mask, cots)
    t = torch_gradients(module, spec, x, initial_state, mask, cots)
    k_ref, allowed = _reference_and_allowed(spec, k_weights, x, initial_state, mask, cots,
                                            (device_of(keras_obj), device_of(module)))
    same_weights = all(np.array_equal(a, b) for wa, wb in zip(k_weights, t_weights)
                       for a, b in zip(wa.arrays().values(), wb.arrays().values()))
    t_ref = k_ref if same_weights else oracle_gradients(spec, t_weights, x, initial_state, mask,
                                                          cots)
    own = oracle_factor(spec.dtype)

    def diffs(a_name, a, b_name, b, scale) -> list[TensorDiff]:
        return _diffs(spec, allowed, a_name, a, b_name, b, scale)

    summary = (f"loss = sum(returned tensors * cotangents), cotangent seed {seed}; x shape "
               f"{x.shape} {x.dtype}; mask {'none' if mask is None else 'given'}")
    return ParityReport(spec, diffs("keras", k, "torch", t, POLICY.cross),
                        diffs("keras", k, "oracle", k_ref, own),
                        diffs("torch", t, "oracle", t_ref, own),
                        weight_verdict.layer_mismatches(spec, k_weights, t_weights,
                                                        TOLERANCES[spec.dtype].unit_roundoff),
                        summary, context,
                        what="Gradient")


def _reference_and_allowed(spec, weights, x, initial_state, mask, cots, devices):
    reference = oracle_gradients(spec, weights, x, initial_state, mask, cots)
    return reference, gradient_allowed(spec, weights, x, initial_state, mask, cots, reference,
                                       devices=devices)


def _diffs(spec, allowed, a_name, a, b_name, b, scale) -> list[TensorDiff]:
    gates = (spec.cell.keras_gate_order, spec.units)
    out = []
    for name in a:
        field = name.rsplit(".", 1)[-1]
        axes = _WEIGHT_AXES.get(field) if name.startswith("grad weights") else (
            ("batch", "step", "feature") if name == "grad x" else None)
        out.append(diff(name, a_name, a[name], b_name, b[name], scale * allowed[name],
                        axis_names=axes, gates=gates))
    return out


def assert_torch_gradients_match_oracle(module, x: np.ndarray,
                                        initial_state: Sequence[np.ndarray] | None = None,
                                        mask: np.ndarray | None = None, *, seed: int = 0,
                                        label: str = "torch") -> None:
    """Gradients of a ``parity.KerasRNN`` on its own device (CUDA: cuDNN's backward) against the
    float64 oracle's, within the tolerance of the module's dtype; raises :class:`ParityError`
    naming the worst element."""
    __tracebackhide__ = True
    spec, weights = transfer.read(module)
    x = np.asarray(x)
    oracle.check_inputs(spec, x, initial_state, mask)
    shapes = [np.shape(t) for t in oracle.run(spec, weights, x, initial_state, mask).named().values()]
    cots = cotangents(spec, shapes, seed)
    got = torch_gradients(module, spec, x, initial_state, mask, cots)
    reference, allowed = _reference_and_allowed(spec, weights, x, initial_state, mask, cots,
                                                (device_of(module),))
    raise_beyond_oracle(_diffs(spec, allowed, label, got, "oracle", reference,
                               oracle_factor(spec.dtype)),
                        spec, label, what=f"{label} gradients", note=f" (cotangent seed {seed})")


def assert_gradient_parity(keras_obj, torch_obj, x: np.ndarray,
                           initial_state: Sequence[np.ndarray] | None = None,
                           mask: np.ndarray | None = None, *, seed: int = 0,
                           context: str | None = None) -> ParityReport:
    """:func:`compare_gradients`, raising :class:`parity.ParityError` on any mismatch."""
    __tracebackhide__ = True
    report = compare_gradients(keras_obj, torch_obj, x, initial_state, mask, seed=seed,
                               context=context)
    if not report.ok:
        raise ParityError(report.explain(), report)
    return report
