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
    same_weights,
    validated_pair,
)
from parity.checks.known_differences import known_differences
from parity.checks.reference import (  # noqa: F401  (importable from here, as before)
    cotangents,
    emulated_gradients,
    gradient_allowed,
    gradient_noise,
    named_gradients,
    oracle_gradients,
    reference,
)
from parity.core import exercised, weight_verdict
from parity.core.errors import ParityError, UnsupportedConfig
from parity.core.frameworks import keras, torch
from parity.core.inputs import CaseInputs
from parity.core.spec import RecurrentSpec
from parity.core.tolerances import POLICY, TOLERANCES, oracle_factor
from parity.layers import jax_side, keras_side, torch_side, transfer
from parity.models.chains import checked_layers

_WEIGHT_AXES = {"kernel": ("input", "gate*unit"), "recurrent_kernel": ("unit", "gate*unit"),
                "bias": ("gate*unit",), "recurrent_bias": ("gate*unit",)}


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
    elif backend == "jax":
        st = states
        grads = _jax_gradients(obj, x, states, mask, cots)
    else:
        raise UnsupportedConfig("keras backend", backend,
                                "gradient parity supports the tensorflow, jax and torch backends")

    def as_numpy(g, like):
        if g is None:
            return np.zeros(tuple(like.shape))
        return np.asarray(keras.ops.convert_to_numpy(g), dtype=np.float64)

    by_variable = {id(v): as_numpy(g, v) for v, g in zip(variables, grads[1 + len(st):])}
    dweights = keras_side.read_weights(obj, values=lambda v: by_variable[id(v)], gradients=True)
    dstates = [as_numpy(g, s) for g, s in zip(grads[1:1 + len(st)], states)]
    return named_gradients(spec, as_numpy(grads[0], x), dstates, dweights)


def _jax_gradients(obj, x, states, mask, cots) -> list:
    """Gradients w.r.t. the input, the initial states and every variable (in
    ``keras_side.variables`` order), from one ``jax.jit``-compiled stateless call per Keras
    configuration (:mod:`parity.layers.jax_side`)."""
    template, gradient = jax_side.compiled(obj, "gradients", _jax_gradient_function)
    values = [v.value for v in keras_side.variables(obj)]
    dx, dstates, dvalues = gradient(values, x, list(states), mask, list(cots))
    return [dx, *dstates, *dvalues]


def _jax_gradient_function(template):
    import jax
    import jax.numpy as jnp

    variables = keras_side.variables(template)

    def loss(values, x, states, mask, cots):
        with jax_side.stateless(variables, values):
            flat = keras_side.call(template, x, states or None, mask)
        # the cotangent enters each tensor in its own dtype, as the float64 cast does on TensorFlow
        return sum(jnp.sum(t * c.astype(t.dtype)) for t, c in zip(flat, cots))

    return jax.jit(jax.grad(loss, argnums=(1, 2, 0)))


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
    return named_gradients(spec, grads[0].detach().cpu().to(torch.float64).numpy(), dstates, dweights)


def compare_gradients(keras_obj, torch_obj, x: np.ndarray,
                      initial_state: Sequence[np.ndarray] | np.ndarray | None = None,
                      mask: np.ndarray | None = None, *, seed: int = 0,
                      context: str | None = None) -> ParityReport:
    """Gradients of sum(returned tensors * random cotangents) in both frameworks and the oracle.

    Every weight's gradient (and the input's) is compared keras vs torch and each against the
    float64 oracle's, with tolerances from emulated float32 forward-and-backward runs.

    Args:
        keras_obj: as for :func:`parity.compare`.
        torch_obj: as for :func:`parity.compare`.
        x: as for :func:`parity.compare`.
        initial_state: as for :func:`parity.compare`.
        mask: as for :func:`parity.compare`.
        context: as for :func:`parity.compare`.
        seed: seed of the random cotangents.

    Returns:
        A :class:`parity.ParityReport` over the gradients; nothing is raised on a mismatch.

    Raises:
        TransferError, UnsupportedConfig: as for :func:`parity.compare`.

    Examples:
        >>> import keras, numpy as np, parity
        >>> layer = keras.layers.SimpleRNN(2, return_sequences=True); layer.build((None, 5, 4))
        >>> module = parity.to_torch(layer)
        >>> x = np.eye(4, dtype="float32")[[0, 1, 2, 2, 3]][None]  # one-hot "hello"
        >>> parity.compare_gradients(layer, module, x).ok
        True
    """
    spec, k_weights, module, t_weights = validated_pair(keras_obj, torch_obj)
    inputs = CaseInputs.of(spec, x, initial_state, mask,
                           devices=(device_of(keras_obj), device_of(module)))
    ref = reference(spec, k_weights, inputs)
    cots, k_ref, allowed = ref.gradients(seed)
    args = (spec, inputs.x, inputs.initial_state, inputs.mask, cots)
    k = keras_gradients(keras_obj, *args)
    t = torch_gradients(module, *args)
    t_ref = k_ref if same_weights(k_weights, t_weights) else \
        reference(spec, t_weights, inputs).clean_gradients(cots)
    own = oracle_factor(spec.dtype)

    def diffs(a_name, a, b_name, b, scale) -> list[TensorDiff]:
        return _diffs(spec, allowed, a_name, a, b_name, b, scale)

    summary = (f"loss = sum(returned tensors * cotangents), cotangent seed {seed}; "
               + inputs.describe())
    return ParityReport(spec, diffs("keras", k, "torch", t, POLICY.cross),
                        diffs("keras", k, "oracle", k_ref, own),
                        diffs("torch", t, "oracle", t_ref, own),
                        weight_verdict.layer_mismatches(spec, k_weights, t_weights,
                                                        TOLERANCES[spec.dtype].unit_roundoff),
                        summary, context,
                        what="Gradient",
                        known=known_differences(spec, inputs.mask, inputs.initial_state))


def _diffs(spec: RecurrentSpec, allowed, a_name, a, b_name, b, scale) -> list[TensorDiff]:
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
    inputs = CaseInputs.of(spec, x, initial_state, mask, devices=(device_of(module),))
    cots, clean, allowed = reference(spec, weights, inputs).gradients(seed)
    got = torch_gradients(module, spec, inputs.x, inputs.initial_state, inputs.mask, cots)
    raise_beyond_oracle(_diffs(spec, allowed, label, got, "oracle", clean,
                               oracle_factor(spec.dtype)),
                        spec, label, what=f"{label} gradients", note=f" (cotangent seed {seed})")


def assert_gradient_parity(keras_obj, torch_obj, x: np.ndarray,
                           initial_state: Sequence[np.ndarray] | np.ndarray | None = None,
                           mask: np.ndarray | None = None, *, seed: int = 0,
                           context: str | None = None) -> ParityReport:
    """:func:`compare_gradients`, raising :class:`parity.ParityError` on any mismatch.

    Args:
        keras_obj: as for :func:`compare_gradients`.
        torch_obj: as for :func:`compare_gradients`.
        x: as for :func:`compare_gradients`.
        initial_state: as for :func:`compare_gradients`.
        mask: as for :func:`compare_gradients`.
        seed: as for :func:`compare_gradients`.
        context: as for :func:`compare_gradients`.

    Returns:
        The report when the gradients agree.

    Raises:
        ParityError: naming the weight, its gate and unit, both values and the tolerance.

    Examples:
        >>> import keras, numpy as np, parity
        >>> layer = keras.layers.SimpleRNN(2, return_sequences=True); layer.build((None, 5, 4))
        >>> module = parity.to_torch(layer)
        >>> x = np.eye(4, dtype="float32")[[0, 1, 2, 2, 3]][None]  # one-hot "hello"
        >>> parity.assert_gradient_parity(layer, module, x).ok
        True
    """
    __tracebackhide__ = True
    with exercised.checking(checked_layers(keras_obj)[0], "gradients", masked=mask is not None,
                            initial_state=initial_state is not None):
        report = compare_gradients(keras_obj, torch_obj, x, initial_state, mask, seed=seed,
                                   context=context)
        if not report.ok:
            raise ParityError(report.explain(), report)
    return report
