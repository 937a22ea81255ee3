"""The emulated implementations' products are bit for bit the plain formulation of
:func:`parity.core.emulation.sequential_matmul`, however their work is shared."""

from __future__ import annotations

import numpy as np
import pytest

from parity.core import emulation, oracle
from parity.core.spec import RecurrentSpec
from parity.core.tolerances import rounding


def _plain_sequential_matmul(a, w, unit_roundoff, rng, *, blocks=32):
    """The definition: every square and every running sum computed afresh, by np.cumsum."""
    a, w = np.asarray(a, dtype=np.float64), np.asarray(w, dtype=np.float64)
    exact = a @ w
    n = w.shape[0]
    rows = int(np.prod(a.shape[:-1]))
    block = -(-n // min(n, blocks))
    blocks = -(-n // block)
    pad = blocks * block - n
    a2, w2 = np.pad(a.reshape(rows, n), ((0, 0), (0, pad))), np.pad(w, ((0, pad), (0, 0)))
    partial = np.matmul(a2.reshape(rows, blocks, block).transpose(1, 0, 2),
                        w2.reshape(blocks, block, w.shape[1]))
    sums = np.cumsum(partial, axis=0)
    squares = block * np.einsum("brm,brm->rm", sums, sums) + (a2 * a2) @ (w2 * w2)
    noise = rng.standard_normal(exact.shape) * np.sqrt(squares.reshape(exact.shape) / 3.0)
    return exact + unit_roundoff * noise


def test_sequential_matmul_is_its_plain_formulation_over_random_shapes():
    draw = np.random.default_rng(2026)
    for trial in range(120):
        batch = tuple(int(s) for s in draw.integers(1, 9, draw.integers(1, 3)))
        n = int(draw.choice([1, 2, 3, 7, 16, 31, 33, 64, 100, 257, 1024]))
        m = int(draw.choice([1, 3, 8, 12, 64, 768]))
        blocks = int(draw.choice([1, 8, 32, 32]))
        a = draw.standard_normal(batch + (n,)) * 10.0 ** int(draw.integers(-3, 3))
        w = draw.standard_normal((n, m))
        want = _plain_sequential_matmul(a, w, 2.0 ** -24, np.random.default_rng(trial),
                                        blocks=blocks)
        for kept in (None, w * w):
            got = emulation.sequential_matmul(a, w, 2.0 ** -24, np.random.default_rng(trial),
                                              blocks=blocks, w_squared=kept)
            assert np.array_equal(got, want), (batch, n, m, blocks, kept is None)


class _Unshared(emulation.EmulatedNumpy):
    """The namespace squaring each weight at every product, as the plain formulation does."""

    def _squared(self, w):
        return None


@pytest.mark.parametrize("spec", [
    RecurrentSpec("gru", 5, 3, reset_after=False, num_layers=2, return_sequences=True),
    RecurrentSpec("lstm", 40, 40, bidirectional=True, return_state=True),
    RecurrentSpec("simple_rnn", 33, 7, num_layers=3, use_bias=False),
], ids=["gru-reset-before-stack", "lstm-bidirectional", "simple-rnn-stack"])
def test_an_emulated_run_shares_each_weights_squares_without_changing_a_bit(spec):
    from parity.checks.cases import ParityCase

    case = ParityCase(spec, batch=3, steps=6, seed=11, with_initial_state=True, mask="gaps")
    xs = np.concatenate([case.inputs().astype(np.float64)] * 4)
    h0 = [np.concatenate([s] * 4) for s in case.initial_state()]
    mask = np.concatenate([case.step_mask()] * 4)
    runs = {}
    for namespace in (emulation.EmulatedNumpy, _Unshared):
        xp = namespace(rounding(spec.dtype), seed=5)
        runs[namespace] = oracle.run(spec, case.weights(), xs, h0, mask, xp=xp).named()
    shared, unshared = runs[emulation.EmulatedNumpy], runs[_Unshared]
    assert shared.keys() == unshared.keys()
    for name in shared:
        assert np.array_equal(shared[name], unshared[name]), name
    # the squares were shared: one per weight matrix (GRU reset_before: the recurrent kernel's two
    # slices), not one per product
    xp = emulation.EmulatedNumpy(rounding(spec.dtype), seed=5)
    oracle.run(spec, case.weights(), xs, h0, mask, xp=xp)
    per_weight = 3 if spec.kind == "gru" and not spec.reset_after else 2
    assert len(xp._squares) == per_weight * spec.num_layers * spec.directions


def test_two_weights_of_one_shape_keep_their_own_squares():
    draw = np.random.default_rng(3)
    a, w, v = draw.standard_normal((4, 6)), draw.standard_normal((6, 6)), draw.standard_normal((6, 6))
    r = rounding("float32")
    shared, plain = emulation.EmulatedNumpy(r, seed=1), _Unshared(r, seed=1)
    for weight in (w, v, w, v[:, :3], v):
        assert np.array_equal(shared.matmul(a, weight), plain.matmul(a, weight))
