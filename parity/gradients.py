"""Gradient parity: for a scalar loss with a random cotangent on every returned tensor, the
gradients with respect to the input, the initial states and every weight must match between the
frameworks and the float64 oracle (differentiated by torch autograd in float64).

Weight gradients are read into the canonical layout by the same readers that read weights
(``keras_side.read_weights`` / ``torch_side.read_weights``), so a gate mapped wrongly for the
weights is mapped wrongly for the gradients too, and one transfer table serves both.

Tolerance: per element, the oracle's gradients recomputed with the forward rounding errors of
:mod:`parity.tolerances` injected (all +, all -, two random-sign runs) give an envelope of how
sensitive these gradients are to rounding along this trajectory; the backward pass's own
summations (over batch and time for weights) add at most ``n u`` of the tensor's scale, n being the
number of terms summed. Their sum, times the safety factor, is what one implementation may miss by.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from parity import keras_side, oracle, torch_side, transfer
from parity._frameworks import keras, torch
from parity.compare import ParityReport, TensorDiff, _pair, device_of, diff, raise_beyond_oracle
from parity.errors import ParityError, UnsupportedConfig
from parity.spec import LayerWeights, RecurrentSpec, Weights
from parity.tolerances import TOLERANCES, _noise, for_devices, oracle_factor

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


def oracle_gradients(spec, weights: Weights, x, initial_state, mask, cots, noise=None, *,
                     term_magnitudes: bool = False):
    """Gradients of the float64 oracle (torch autograd over the oracle's numpy-style recurrence).

    With ``term_magnitudes`` also returns, per weight gradient, the sum of the absolute values of
    the terms it adds up (over batch and time: ``sum |input|^T |d output|`` for each product with
    that weight), which bounds what rounding in that sum can do when terms cancel."""
    x64 = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    st = [torch.tensor(np.asarray(s, dtype=np.float64), requires_grad=True)
          for s in initial_state or []]
    w64 = tuple(LayerWeights(**{k: torch.tensor(v, requires_grad=True)
                                for k, v in w.arrays().items()}) for w in weights)
    xp = oracle._Torch(record=term_magnitudes)
    out = oracle.run(spec, w64, x64, st or None, mask, noise=noise, xp=xp)
    flat = list(out.output) if isinstance(out.output, tuple) else [out.output]
    flat += list(out.states)
    loss = sum((t * torch.as_tensor(c)).sum() for t, c in zip(flat, cots))
    weight_leaves = [v for w in w64 for v in w.arrays().values()]
    leaves = [x64, *st, *weight_leaves]
    if not term_magnitudes:
        grads = [g.detach().numpy() for g in torch.autograd.grad(loss, leaves)]
        return _unflatten(spec, grads, len(st), w64)
    loss.backward()
    grads = [leaf.grad.detach().numpy().copy() for leaf in leaves]
    magnitude = sum((((a.detach().abs() @ w) if a is not None else w.expand_as(o))
                     * o.grad.detach().abs()).sum() for a, w, o in xp.records if o.grad is not None)
    terms = [np.abs(g.detach().numpy()) for g in torch.autograd.grad(
        magnitude, weight_leaves, allow_unused=True, materialize_grads=True)]
    return (_unflatten(spec, grads, len(st), w64),
            _unflatten(spec, [np.zeros_like(grads[0])] * (1 + len(st)) + terms, len(st), w64))


def _unflatten(spec, grads, n_states, w64) -> dict[str, np.ndarray]:
    it = iter(grads[1 + n_states:])
    dweights = tuple(LayerWeights(**{k: next(it) for k in w.arrays()}) for w in w64)
    return _named(spec, grads[0], grads[1:1 + n_states], dweights)


def gradient_allowed(spec, weights, x, initial_state, mask, cots,
                     clean: dict[str, np.ndarray], terms: dict[str, np.ndarray], *,
                     devices: Sequence[str] = ("cpu",)) -> dict[str, np.ndarray]:
    tol = for_devices(spec.dtype, devices)
    batch, steps = x.shape[:2]
    envelope = {k: np.zeros_like(v) for k, v in clean.items()}
    for run, sign in enumerate((1.0, -1.0, None, None)):
        noise = _noise(spec, tol, batch, sign=sign, seed=run)
        perturbed = oracle_gradients(spec, weights, x, initial_state, mask, cots, noise)
        for k in envelope:
            envelope[k] = np.maximum(envelope[k], np.abs(perturbed[k] - clean[k]))
    # The backward pass's own rounding, not injected above: its recurrence adds errors of the order
    # of the gradient's scale at every step (fan-in terms each), and a weight gradient then sums
    # batch x time terms whose magnitudes ``terms`` holds (cancellation makes the result small,
    # not the rounding).
    fan = spec.cell.gates * spec.units + max(spec.input_size, spec.units) + 2
    # Where a device's activations are less accurate than the default model (cuDNN's fast tanh and
    # sigmoid, see tolerances.activation_error_ulps), the backward pass also evaluates every
    # derivative (1 - h^2, s(1 - s)) from those values: up to twice the excess error, at every step
    # and in every term of a weight gradient. Zero on the CPU.
    excess = max(0.0, tol.activation_error - TOLERANCES[spec.dtype].activation_error) \
        * tol.unit_roundoff
    allowed = {}
    for k, c in clean.items():
        summation = (fan + steps) * (tol.unit_roundoff * np.abs(c).max() + tol.subnormal)
        summation = summation + 2 * excess * steps * np.abs(c).max()
        if k.startswith("grad weights"):
            summation = summation + batch * steps * (tol.unit_roundoff * terms[k] + tol.subnormal)
            summation = summation + 2 * excess * terms[k]
        # twice the forward headroom: the backward pass is modelled less finely than the forward
        allowed[k] = 2 * tol.safety * (envelope[k] + summation)
    return allowed


def compare_gradients(keras_obj, torch_obj, x: np.ndarray,
                      initial_state: Sequence[np.ndarray] | None = None,
                      mask: np.ndarray | None = None, *, seed: int = 0,
                      context: str | None = None) -> ParityReport:
    """Gradients of sum(returned tensors * random cotangents) in both frameworks and the oracle."""
    spec, k_weights, module, t_weights = _pair(keras_obj, torch_obj)
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
    return ParityReport(spec, diffs("keras", k, "torch", t, 2.0),
                        diffs("keras", k, "oracle", k_ref, own),
                        diffs("torch", t, "oracle", t_ref, own), [], summary, context,
                        what="Gradient")


def _reference_and_allowed(spec, weights, x, initial_state, mask, cots, devices):
    reference, terms = oracle_gradients(spec, weights, x, initial_state, mask, cots,
                                        term_magnitudes=True)
    return reference, gradient_allowed(spec, weights, x, initial_state, mask, cots, reference,
                                       terms, devices=devices)


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
