"""One case's inputs: ``x``, the initial state, the mask and the devices that compute, validated
against a spec once, here, for every check.

``initial_state`` is accepted in every form Keras accepts: None, one array (a layer with one
state), or a list or tuple of arrays in Keras order (per layer and direction: h, and c for an
LSTM), possibly nested one level per cell as ``keras.layers.RNN`` over stacked cells takes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from parity.core import masking
from parity.core.errors import NonFiniteInput, NonFiniteWeight, UnsupportedConfig
from parity.core.spec import RecurrentSpec


def check_finite(name: str, a, axes: Sequence[str] = ()) -> None:
    """Raise :class:`NonFiniteInput` naming ``name`` and its first NaN/Inf element. Tolerances
    are derived from the inputs: with a non-finite one they become NaN, and any verdict is noise."""
    values = np.asarray(a, dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i = tuple(int(k) for k in np.unravel_index(int(np.argmax(bad)), bad.shape))
        where = ", ".join(f"{axis}={k}" for axis, k in zip(axes, i)) if axes else str(list(i))
        raise NonFiniteInput(name, f"{values[i]} at ({where})",
                             f"{int(bad.sum())} of {bad.size} elements are NaN or Inf; parity is "
                             "checked on finite inputs only (a non-finite input makes every "
                             "tolerance NaN)")


def named_weights(obj):
    """``(name, values)`` of every weight of a Keras layer or model (Keras 3 or 2: their variables'
    paths), a torch module (parameters and floating buffers, such as a batch norm's running
    statistics), or a list of them. Read by duck typing: core imports no framework."""
    if isinstance(obj, (list, tuple)):
        for item in obj:
            yield from named_weights(item)
    elif hasattr(obj, "named_parameters"):  # torch
        tensors = [*obj.named_parameters(), *obj.named_buffers()]
        for name, t in tensors:
            if t.is_floating_point():
                yield name, t.detach().cpu().double().numpy()
    else:  # Keras: variables expose a path (Keras 3) or a name (Keras 2)
        for v in getattr(obj, "weights", ()):
            values = v.numpy() if hasattr(v, "numpy") else np.asarray(v)
            yield getattr(v, "path", None) or v.name, values


def check_finite_weights(obj, side: str, *, where: str = "") -> None:
    """Raise :class:`NonFiniteWeight` naming the first weight of ``obj`` (the ``side`` named, e.g.
    "keras"; ``where`` it came from, e.g. a file) that holds NaN or Inf, and its first such
    element: bad input, like a NaN in ``x``, never a finding against either framework (identical
    NaNs would be blamed on both)."""
    for name, values in named_weights(obj):
        values = np.asarray(values, dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            i = [int(k) for k in np.unravel_index(int(np.argmax(bad)), bad.shape)]
            raise NonFiniteWeight(f"{side} weight {name}", f"{values[tuple(i)]} at {i}",
                                  f"{int(bad.sum())} of {bad.size} elements are NaN or Inf; "
                                  "parity is checked on finite weights only (a non-finite weight "
                                  "makes every tolerance NaN); reload or re-initialise them",
                                  where=where)


def flat_states(initial_state) -> tuple | None:
    """Keras' accepted forms of ``initial_state`` as one flat tuple in Keras order (None stays)."""
    if initial_state is None:
        return None
    if isinstance(initial_state, (list, tuple)):
        flat = []
        for s in initial_state:
            # one level of nesting per cell, as keras.layers.RNN over stacked cells takes them;
            # a nested list of numbers is one (wrongly typed) state, refused by check()
            per_cell = isinstance(s, (list, tuple)) and s and all(hasattr(v, "shape") for v in s)
            flat.extend(s if per_cell else [s])
        return tuple(flat)
    return (initial_state,)


@dataclass(frozen=True, eq=False)
class CaseInputs:
    """Validated inputs of one case (make it with :meth:`of`). ``initial_state`` is a flat tuple in
    Keras order or None; ``devices`` are where the compared results are computed ("cpu",
    "cuda"), which sets the tolerance's activation error."""

    spec: RecurrentSpec
    x: np.ndarray
    initial_state: tuple[np.ndarray, ...] | None = None
    mask: np.ndarray | None = None
    devices: tuple[str, ...] = ("cpu",)

    @classmethod
    def of(cls, spec: RecurrentSpec, x, initial_state=None, mask=None, *,
           devices: Sequence[str] = ("cpu",)) -> CaseInputs:
        """Validate and normalise; raises a typed error naming the offending argument."""
        x = np.asarray(x)
        states = flat_states(initial_state)
        check(spec, x, states, mask)
        # private copies: a reference computed from them may be reused by a later check
        x, mask = _frozen(x), None if mask is None else _frozen(mask)
        states = None if states is None else tuple(_frozen(s) for s in states)
        return cls(spec, x, states, mask, tuple(sorted(set(devices))))

    def with_devices(self, devices: Sequence[str]) -> CaseInputs:
        return CaseInputs(self.spec, self.x, self.initial_state, self.mask,
                          tuple(sorted(set(devices))))

    def repeated(self, runs: int) -> tuple[np.ndarray, list | None, np.ndarray | None]:
        """x, states and mask as float64 with ``runs`` copies stacked along the batch axis (each copy
        one independent emulated implementation)."""
        xs = np.concatenate([np.asarray(self.x, dtype=np.float64)] * runs)
        h0 = None if self.initial_state is None else \
            [np.concatenate([s] * runs) for s in self.initial_state]
        masks = None if self.mask is None else np.concatenate([self.mask] * runs)
        return xs, h0, masks

    def describe(self) -> str:
        """One line for a failure message."""
        x, mask = self.x, self.mask
        return (f"x shape {x.shape} {x.dtype}, max |x| {np.abs(x.astype(np.float64)).max():.3g}, "
                f"initial_state {'given' if self.initial_state is not None else 'zeros'}, mask "
                f"{'none' if mask is None else f'{int(np.sum(~mask))} of {mask.size} steps masked'}")

    def digest(self) -> bytes:
        """Identifies the values (for caching a reference computed from them)."""
        import hashlib
        h = hashlib.blake2b(digest_size=16)
        h.update(repr((self.spec, self.x.shape, str(self.x.dtype), self.devices)).encode())
        for a in (self.x, *(self.initial_state or ()), *([] if self.mask is None else [self.mask])):
            h.update(np.ascontiguousarray(a).tobytes())
            h.update(b"|")
        h.update(b"state" if self.initial_state is not None else b"zeros")
        return h.digest()


def _frozen(a: np.ndarray) -> np.ndarray:
    return np.array(a, copy=True)


def check(spec: RecurrentSpec, x: np.ndarray, initial_state: tuple | None, mask=None) -> None:
    """Raise a typed error unless ``x``, the flat ``initial_state`` and ``mask`` fit ``spec``."""
    if x.ndim != 3 or x.shape[-1] != spec.input_size or x.shape[1] < 1 or x.shape[0] < 1:
        raise UnsupportedConfig("x.shape", x.shape,
                                f"expected (batch >= 1, time >= 1, {spec.input_size})")
    if x.dtype != spec.np_dtype:
        raise UnsupportedConfig("x.dtype", str(x.dtype),
                                f"the layer computes in {spec.dtype}; pass x.astype('{spec.dtype}')")
    check_finite("x", x, ("batch", "step", "feature"))
    if initial_state is not None:
        shapes = [tuple(np.shape(s)) for s in initial_state]
        expected = (x.shape[0], spec.units)
        if len(shapes) != spec.state_count or any(s != expected for s in shapes):
            raise UnsupportedConfig("initial_state", shapes,
                                    f"expected {spec.state_count} array(s) of shape {expected}: "
                                    "per layer and direction, h (and c for an LSTM); one array "
                                    "alone for a layer with one state")
        for i, s in enumerate(initial_state):
            # as for x: the frameworks would each cast a differently typed state their own way
            dtype = getattr(s, "dtype", type(s).__name__)
            if not isinstance(s, np.ndarray) or dtype != spec.np_dtype:
                raise UnsupportedConfig(f"initial_state[{i}].dtype", str(dtype),
                                        f"the layer computes in {spec.dtype}; pass numpy arrays "
                                        f"of that dtype (s.astype('{spec.dtype}'))")
            check_finite(f"initial_state[{i}]", s, ("batch", "unit"))
    masking.check_mask(mask, x.shape[:2])
