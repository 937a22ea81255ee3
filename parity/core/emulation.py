"""Stochastic arithmetic: the float64 oracle run as *a* correct low-precision implementation would
run it, with randomised rounding, so that a few runs show the rounding noise of this very case.

This is Monte Carlo Arithmetic (Parker 1997; the "random rounding" mode of Verificarlo and Verrou)
specialised to the operations of a recurrent cell:

- A product with a weight (``a @ w``) gets the error of a sequential summation of its terms in
  the format's accumulation precision (float32 for float32, float16 and bfloat16; float64 for
  float64), drawn from the variance that rounding each of this case's actual products and
  partial sums gives (:func:`sequential_matmul`). The result then takes one random rounding to
  the storage format.
- Every other operation's result is perturbed by a relative error drawn uniformly from
  (-u, u) per operation (u = the storage format's unit roundoff), and an activation by a few
  more ulps, as vectorised tanh/sigmoid approximations have.
- In the torch namespace, used for gradients, the same holds in the backward pass: the gradient
  products are emulated as above, elementwise
  derivatives carry a random rounding, and a weight's gradient is summed over the time steps in
  that precision in a random order (autograd would sum it exactly in float64).

Runs are seeded: the estimated noise, and so every tolerance, is deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from parity.core import oracle

ACCUMULATION = {"float32": np.float32, "float16": np.float32, "bfloat16": np.float32,
                "float64": np.float64}


@dataclass(frozen=True)
class Rounding:
    """What one emulated implementation rounds to: the storage format's unit roundoff, the
    dtype its sums accumulate in, and the error of its activations (in units of u)."""

    dtype: str
    unit_roundoff: float
    activation_ulps: float

    @property
    def accumulate(self):
        return ACCUMULATION[self.dtype]

    @property
    def accumulation_roundoff(self) -> float:
        return float(np.finfo(self.accumulate).eps) / 2


class EmulatedNumpy:
    """The oracle's array namespace with randomised rounding. Every element draws its own errors,
    so copies of a batch stacked along the batch axis are independent emulated implementations."""

    def __init__(self, rounding: Rounding, seed: int):
        self.r = rounding
        self.rng = np.random.default_rng(seed)
        self._squares: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    asarray = staticmethod(lambda a: np.asarray(a, dtype=np.float64))
    zeros = staticmethod(lambda shape, like: np.zeros(shape))
    abs = staticmethod(np.abs)
    where = staticmethod(np.where)
    stack = staticmethod(lambda xs: np.stack(xs, axis=1))
    concat = staticmethod(lambda xs: np.concatenate(xs, axis=-1))
    flip = staticmethod(lambda a: np.flip(a, axis=1))

    def _relative(self, shape, ops: float) -> np.ndarray:
        return self.rng.uniform(-1.0, 1.0, (max(int(round(ops)), 1),) + tuple(shape)).sum(0) \
            * self.r.unit_roundoff * (ops / max(int(round(ops)), 1))

    def round(self, a, ops: float = 1.0):
        """``a`` as the result of ``ops`` roundings, each a relative error uniform in (-u, u)."""
        return a * (1.0 + self._relative(np.shape(a), ops))

    def activation(self, a):
        extra = self.rng.uniform(-1.0, 1.0, np.shape(a)) * self.r.activation_ulps
        return a * (1.0 + self._relative(np.shape(a), 1.0) + extra * self.r.unit_roundoff)

    def matmul(self, a, w):
        # the accumulation's rounding, then one random rounding of the result: MCA perturbs
        # every operation, which also makes the last rounding of a one-term product random
        return self.round(sequential_matmul(a, w, self.r.accumulation_roundoff, self.rng,
                                            w_squared=self._squared(w)))

    def _squared(self, w) -> np.ndarray | None:
        """``w * w``, once per weight: a run multiplies by the same weights at every step. Keyed
        by the memory ``w`` views (a weight sliced anew each step is the same weight); ``w`` is
        kept alive with it, so that memory is not reused for another array while the namespace
        lives (one oracle run, whose weights do not change)."""
        if not (isinstance(w, np.ndarray) and w.dtype == np.float64):
            return None
        key = (w.__array_interface__["data"][0], w.shape, w.strides)
        if key not in self._squares:
            self._squares[key] = (w, w * w)
        return self._squares[key][1]

    def add(self, a, b):
        return self.round(a + b)

    def tanh(self, z):
        return self.activation(np.tanh(z))

    def relu(self, z):
        return np.maximum(z, 0.0)  # exact in every format

    def sigmoid(self, z):
        with np.errstate(over="ignore"):
            return self.activation(1.0 / (1.0 + np.exp(-z)))


class EmulatedTorch(oracle.TorchOps):
    """The same emulation for float64 torch tensors, differentiable: one run per instance. Weight
    leaves are used through per-call copies (``weight_uses``), whose gradients
    :meth:`accumulated` sums in the accumulation precision in a random order."""

    def __init__(self, rounding: Rounding, seed: int):
        super().__init__()  # the oracle's torch namespace: self.t, asarray, zeros, layout ops
        self.r = rounding
        self.gen = np.random.default_rng(seed)
        self.weight_uses: dict[int, list] = {}
        self._functions = _torch_functions(self.t)

    def _uniform(self, shape, ops: float = 1.0):
        draws = self.gen.uniform(-1.0, 1.0, (max(int(round(ops)), 1),) + tuple(shape)).sum(0)
        return self.t.as_tensor(draws * self.r.unit_roundoff * (ops / max(int(round(ops)), 1)))

    def _use(self, w):
        """A fresh leaf standing for ``w`` in one product, so its gradient can be summed later."""
        if not (w.requires_grad and w.is_leaf):
            return w
        copy = w.detach().clone().requires_grad_()
        self.weight_uses.setdefault(id(w), []).append(copy)
        return copy

    def round(self, a, ops: float = 1.0):
        f = self._uniform(a.shape, ops)
        b = self._uniform(a.shape, ops)
        return self._functions["round"].apply(a, f, b)

    def activation(self, z, name: str):
        """tanh or sigmoid of ``z`` with the activation's error, differentiated as frameworks do:
        from the stored (rounded) output, so a saturated unit's ``1 - y^2`` cancels as it does
        there."""
        extra = self.t.as_tensor(self.gen.uniform(-1.0, 1.0, tuple(z.shape))
                                 * self.r.activation_ulps * self.r.unit_roundoff)
        f = self._uniform(z.shape) + extra
        return self._functions[name].apply(z, f, self._uniform(z.shape, 2.0))

    def matmul(self, a, w):
        w = self._use(w)
        seeds = self.gen.integers(0, 2**31, 3)
        return self.round(self._functions["matmul"].apply(a, w, self.r, seeds))

    def add(self, a, b):
        return self.round(a + self._use(b))

    def tanh(self, z):
        return self.activation(z, "tanh")

    def relu(self, z):
        return self.t.relu(z)

    def sigmoid(self, z):
        return self.activation(z, "sigmoid")

    def accumulated(self, leaf):
        """The gradient of weight ``leaf``: its per-use gradients summed in the accumulation
        precision, in a random order (None if it was not used)."""
        uses = [u.grad for u in self.weight_uses.get(id(leaf), []) if u.grad is not None]
        if not uses:
            return None
        order = self.gen.permutation(len(uses))
        total = np.zeros(tuple(uses[0].shape), dtype=self.r.accumulate)
        for k in order:
            total = total + uses[k].detach().cpu().numpy().astype(self.r.accumulate)
        return total.astype(np.float64)


def sequential_matmul(a: np.ndarray, w: np.ndarray, unit_roundoff: float,
                      rng: np.random.Generator, *, blocks: int = 32,
                      w_squared: np.ndarray | None = None) -> np.ndarray:
    """``a @ w`` as a correct implementation that sums its n terms one after the other in a format
    of ``unit_roundoff`` computes it, to first order: the exact result plus a random error whose
    variance is what rounding each product and each partial sum s_k gives,
    ``u^2/3 (sum_k p_k^2 + sum_k s_k^2)`` (Monte Carlo Arithmetic's random rounding, in the
    Gaussian limit of probabilistic error analysis).

    Recursive summation is the least accurate order in common use (TensorFlow's CPU matrix-vector
    kernel rounds as it does: measured within 1.4x of this variance), so every blocked or pairwise
    order of another implementation lies within it. The partial sums are taken at the ends of at
    most ``blocks`` blocks, each standing for the partial sums of its block. ``w_squared`` is
    ``w * w`` where the caller keeps it across products with the same ``w``."""
    a = np.asarray(a, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    exact = a @ w
    n = w.shape[0]
    rows = math.prod(a.shape[:-1])
    block = -(-n // min(n, blocks))
    blocks = -(-n // block)
    pad = blocks * block - n
    a2 = a.reshape(rows, n)
    w2 = w
    w_squared = w * w if w_squared is None else w_squared
    if pad:  # zeros square to zeros: padding the squares is squaring the padded weight
        a2, w2, w_squared = (np.pad(a2, ((0, 0), (0, pad))), np.pad(w, ((0, pad), (0, 0))),
                             np.pad(w_squared, ((0, pad), (0, 0))))
    # (blocks, rows, m): each block's partial product, by one batched matrix product
    sums = np.matmul(a2.reshape(rows, blocks, block).transpose(1, 0, 2),
                     w2.reshape(blocks, block, w.shape[1]))
    # running sums over the blocks, in place, added one block at a time: the same additions in
    # the same order as np.cumsum(sums, axis=0), whose accumulation along a leading axis is ~20x
    # slower
    for k in range(1, blocks):
        np.add(sums[k - 1], sums[k], out=sums[k])
    squares = block * np.einsum("brm,brm->rm", sums, sums) + (a2 * a2) @ w_squared
    noise = rng.standard_normal(exact.shape) * np.sqrt(squares.reshape(exact.shape) / 3.0)
    return exact + unit_roundoff * noise


def _torch_functions(torch):
    class RandomRound(torch.autograd.Function):
        """Forward ``a (1 + f)``; backward ``g (1 + b)``: one random rounding each way."""

        @staticmethod
        def forward(ctx, a, f, b):
            ctx.save_for_backward(b)
            return a * (1.0 + f.to(a.device))

        @staticmethod
        def backward(ctx, g):
            (b,) = ctx.saved_tensors
            return g * (1.0 + b.to(g.device)), None, None

    def activation(function, derivative_from_output):
        class Activation(torch.autograd.Function):
            """``function(z) (1 + f)``; backward ``g derivative(y) (1 + b)`` from the rounded
            output y, as frameworks differentiate from the stored output."""

            @staticmethod
            def forward(ctx, z, f, b):
                y = function(z) * (1.0 + f.to(z.device))
                ctx.save_for_backward(y, b)
                return y

            @staticmethod
            def backward(ctx, g):
                y, b = ctx.saved_tensors
                return g * derivative_from_output(y) * (1.0 + b.to(g.device)), None, None

        return Activation

    Tanh = activation(torch.tanh, lambda y: 1.0 - y * y)
    Sigmoid = activation(torch.sigmoid, lambda y: y * (1.0 - y))

    class EmulatedMatmul(torch.autograd.Function):
        """``a @ w`` and both of its gradient products, each in the accumulation precision over
        sequential summation (:func:`sequential_matmul`)."""

        @staticmethod
        def forward(ctx, a, w, rounding, seeds):
            ctx.save_for_backward(a, w)
            ctx.rounding, ctx.seeds = rounding, seeds
            return _emulated(torch, a, w, rounding, seeds[0])

        @staticmethod
        def backward(ctx, g):
            a, w = ctx.saved_tensors
            ga = _emulated(torch, g, w.T, ctx.rounding, ctx.seeds[1])
            gw = _emulated(torch, a.T, g, ctx.rounding, ctx.seeds[2])
            return ga, gw, None, None

    return {"round": RandomRound, "matmul": EmulatedMatmul, "tanh": Tanh, "sigmoid": Sigmoid}


def _emulated(torch, a, w, rounding: Rounding, seed) -> object:
    """A gradient product, summed sequentially in the accumulation precision, rounded once more."""
    rng = np.random.default_rng(int(seed))
    out = sequential_matmul(a.detach().cpu().numpy(), w.detach().cpu().numpy(),
                            rounding.accumulation_roundoff, rng)
    out *= 1.0 + rng.uniform(-1.0, 1.0, out.shape) * rounding.unit_roundoff
    return torch.as_tensor(out, device=a.device)
