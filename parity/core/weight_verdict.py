"""Weights are data, not computation: after a transfer both sides' weights (canonical layout) must be
bit-identical, except where the transfer itself rounds once.

That one rounding is the sum of torch's two biases: where the Keras cell has a single bias, torch ->
Keras stores ``bias_ih + bias_hh`` rounded to the layer's dtype (and Keras -> torch puts the Keras
bias in ``bias_ih`` with ``bias_hh = 0``, which is exact). No tolerance of the computation may blur
this: a float16 round trip of every weight moves outputs by less than a float32 check of a large
layer allows, and is still a broken transfer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from parity.core.spec import RecurrentSpec, Weights


@dataclass(frozen=True)
class WeightMismatch:
    """The first element (in C order) where a weight differs beyond what the transfer allows."""

    name: str
    index: tuple[int, ...]
    a_name: str
    a: float
    b_name: str
    b: float
    differing: int   # elements that differ beyond the allowance
    size: int
    rounded: bool    # whether the transfer may round this weight once

    def __str__(self) -> str:
        allowance = "one rounding of the bias sum" if self.rounded else "none: bit-identical"
        return (f"{self.name}{list(self.index)}: {self.a_name} {self.a!r} vs {self.b_name} "
                f"{self.b!r} ({self.differing} of {self.size} elements differ; the transfer "
                f"allows {allowance})")


def layer_arrays(spec: RecurrentSpec, weights: Weights) -> dict[str, np.ndarray]:
    """A layer's weights by name; where only the sum of the two biases is a parameter (every cell
    but a GRU with ``reset_after``), that sum, named ``"... bias + recurrent_bias"``."""
    out = {}
    for i, w in enumerate(weights):
        arrays = dict(w.arrays())
        if spec.biases_summed and "bias" in arrays:
            out[f"layer {i} bias + recurrent_bias"] = arrays.pop("bias") + arrays.pop("recurrent_bias")
        out.update({f"layer {i} {k}": v for k, v in arrays.items()})
    return out


def mismatches(a: dict[str, np.ndarray], b: dict[str, np.ndarray], unit_roundoff: float, *,
               rounded: set[str] | frozenset[str] = frozenset(), a_name: str = "keras",
               b_name: str = "torch") -> list[WeightMismatch]:
    """Every weight of ``a`` and ``b`` (same names) that differs beyond the transfer: bit-identical,
    or for the names in ``rounded``, one rounding to a format of ``unit_roundoff``."""
    out = []
    for name in sorted(set(a) | set(b)):
        va, vb = a.get(name), b.get(name)
        if va is None or vb is None or np.shape(va) != np.shape(vb):
            shape_a = None if va is None else np.shape(va)
            shape_b = None if vb is None else np.shape(vb)
            out.append(_missing(name, a_name, shape_a, b_name, shape_b))
            continue
        va, vb = np.asarray(va, dtype=np.float64), np.asarray(vb, dtype=np.float64)
        same = (va == vb) | (np.isnan(va) & np.isnan(vb))
        if name in rounded:
            with np.errstate(invalid="ignore", over="ignore"):
                allowed = unit_roundoff * np.maximum(np.abs(va), np.abs(vb)) + np.finfo(float).tiny
                same |= np.abs(va - vb) <= allowed
        if not same.all():
            bad = ~same
            i = tuple(int(k) for k in np.argwhere(bad)[0])
            out.append(WeightMismatch(name, i, a_name, float(va[i]), b_name, float(vb[i]),
                                      int(bad.sum()), int(va.size), name in rounded))
    return out


def _missing(name, a_name, shape_a, b_name, shape_b) -> WeightMismatch:
    return WeightMismatch(f"{name} (shape {a_name} {shape_a}, {b_name} {shape_b})", (), a_name,
                          float("nan"), b_name, float("nan"), 0, 0, False)


def layer_mismatches(spec: RecurrentSpec, a: Weights, b: Weights, unit_roundoff: float, *,
                     a_name: str = "keras", b_name: str = "torch") -> list[WeightMismatch]:
    """:func:`mismatches` of two layers' canonical weights (see :func:`layer_arrays`)."""
    named_a, named_b = layer_arrays(spec, a), layer_arrays(spec, b)
    rounded = {n for n in named_a if n.endswith("bias + recurrent_bias")}
    return mismatches(named_a, named_b, unit_roundoff, rounded=rounded, a_name=a_name,
                      b_name=b_name)
