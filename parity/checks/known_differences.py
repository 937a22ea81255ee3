"""Known behavioural differences between implementations of one recurrent layer: each has a name,
the Keras backends it concerns, a predicate that recognises it in an observed difference, an
explanation and a minimal reproducer. A difference beyond the tolerance that one of them explains
is reported by name; any other is unexplained.

Implementations are labelled ``keras-tensorflow``, ``keras-jax``, ``keras-torch`` (Keras 3 on that
backend) and ``torch`` (the torch module holding the same weights). Nothing here imports a
framework: the predicates read numpy arrays.

Before anything runs, ``affects(spec, mask, initial_state)`` says whether a case runs into a
difference (:func:`known_differences`): a report of such a case names it (``ParityReport.known``
and its ``explain()``); on the backend concerned the drawn checks leave such cases out, and the
shipped check ``test_known_differences`` runs each entry's ``case`` and shows it as an expected
failure, so that it is seen, never silently passed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from parity.core.spec import RecurrentSpec, merge_directions


@dataclass(frozen=True, eq=False)
class Observation:
    """One returned tensor of one case on which two implementations differ beyond the tolerance.

    ``pair`` names the two implementations, ``values`` their results (in that order),
    ``tolerance`` the allowed difference per element; ``initial_state`` and ``mask`` are the
    case's inputs (Keras order, ``True`` = keep).

    Examples:
        >>> import numpy as np
        >>> from parity.core.spec import RecurrentSpec, merge_directions
        >>> obs = Observation(RecurrentSpec("gru", 2, 1), None, None, "state[0]",
        ...                   ("keras-jax", "torch"), (np.zeros((1, 2)), np.ones((1, 2))),
        ...                   np.full((1, 2), 1e-6))
        >>> int(obs.beyond.sum())
        2
    """

    spec: RecurrentSpec
    initial_state: tuple[np.ndarray, ...] | None
    mask: np.ndarray | None
    tensor: str
    pair: tuple[str, str]
    values: tuple[np.ndarray, np.ndarray]
    tolerance: np.ndarray

    @property
    def beyond(self) -> np.ndarray:
        """Where the two differ by more than the tolerance (bool, the tensor's shape)."""
        a, b = (np.asarray(v, dtype=np.float64) for v in self.values)
        with np.errstate(invalid="ignore"):
            return ~(np.abs(a - b) <= self.tolerance)  # NaN counts as beyond


@dataclass(frozen=True)
class KnownDifference:
    """A documented behavioural difference: ``backends`` are the Keras backends whose
    implementation behaves differently, ``predicate`` recognises it in an :class:`Observation`;
    ``summary`` is one line, ``affects(spec, mask, initial_state)`` says whether a case runs into
    it before it runs, and ``case`` holds a :class:`parity.ParityCase`'s arguments showing it.

    Examples:
        >>> [d.name for d in KNOWN_DIFFERENCES]
        ['jax-masked-leading-steps']
    """

    name: str
    backends: tuple[str, ...]
    predicate: Callable[[Observation], bool]
    explanation: str
    reproducer: str
    summary: str = ""
    affects: Callable[[RecurrentSpec, np.ndarray | None, Sequence[np.ndarray] | None], bool] | None = \
        None
    case: dict | None = field(default=None, hash=False, compare=False)

    def describe(self) -> str:
        """The summary, explanation and reproducer, as a report prints them."""
        code = "\n".join(f"    {line}" for line in self.reproducer.strip().splitlines())
        return (f"known difference {self.name!r} (Keras on {', '.join(self.backends)}): "
                f"{self.summary}\n  {self.explanation}\n  minimal reproducer:\n{code}")

    def explains(self, observation: Observation) -> bool:
        """Whether this difference accounts for every element of ``observation`` beyond the
        tolerance (and the pair involves one of its backends)."""
        involved = {f"keras-{b}" for b in self.backends} & set(observation.pair)
        return bool(involved) and bool(self.predicate(observation))


def _carried_output(spec: RecurrentSpec, initial_state, tensor: str) -> np.ndarray:
    """What Keras on JAX outputs at a masked step before any kept one: the top layer's initial
    h (per direction, merged as the layer merges its outputs)."""
    top = (spec.num_layers - 1) * spec.directions
    h = [np.asarray(initial_state[(top + d) * spec.states_per_layer], dtype=np.float64)
         for d in range(spec.directions)]
    if len(h) == 1 or tensor == "output[forward]":
        return h[0]
    if tensor == "output[backward]":
        return h[1]
    return merge_directions(spec.merge_mode, h[0], h[1],
                            lambda pair: np.concatenate(pair, axis=-1))


def _leading_masked_steps_output_carried_state(obs: Observation) -> bool:
    """Keras on JAX outputs the carried state at masked steps before a row's first kept step (a
    fully masked row's last output included); the others output zeros (the 'previous output'
    starts at zero)."""
    spec = obs.spec
    zero_output = spec.return_sequences if spec.bidirectional else spec.zero_output_for_mask
    if (not obs.tensor.startswith("output") or zero_output or obs.initial_state is None
            or obs.mask is None):
        return False
    mask = np.asarray(obs.mask, dtype=bool)
    if spec.go_backwards:
        mask = mask[:, ::-1]  # the returned sequence is in processing order
    leading = np.cumsum(mask, axis=1) == 0  # (batch, time): before the first kept step
    if not spec.return_sequences:
        leading = leading[:, -1]  # the last output: rows with no kept step at all
    beyond = obs.beyond
    where = np.broadcast_to(leading[..., None], beyond.shape)
    if not beyond.any() or (beyond & ~where).any():
        return False
    jax_side = obs.pair.index("keras-jax")
    carried, other = (np.asarray(v, dtype=np.float64) for v in
                      (obs.values[jax_side], obs.values[1 - jax_side]))
    expected = _carried_output(spec, obs.initial_state, obs.tensor)
    if spec.return_sequences:
        expected = expected[:, None, :]
    expected = np.broadcast_to(expected, carried.shape)
    tol = np.broadcast_to(obs.tolerance, beyond.shape)
    return bool(np.all(np.abs(carried - expected)[where] <= tol[where])
                and np.all(np.abs(other)[where] <= tol[where]))


def _leading_masked_steps_read(spec: RecurrentSpec, mask, initial_state) -> bool:
    """The case-level form of the predicate above: a masked step before the first kept one (in
    processing order) whose output is returned, with a nonzero initial state: outputs of a layer
    returning sequences with zero outputs off, or the last output of a fully masked row."""
    zero_output = spec.return_sequences if spec.bidirectional else spec.zero_output_for_mask
    if mask is None or initial_state is None or zero_output:
        return False
    if not any(np.any(np.asarray(s) != 0) for s in initial_state):
        return False
    mask = np.asarray(mask, dtype=bool)
    if spec.go_backwards:
        mask = mask[:, ::-1]
    if spec.return_sequences:
        return bool((~mask[:, 0]).any())
    return bool((~mask).all(axis=1).any())


JAX_MASKED_LEADING_STEPS = KnownDifference(
    name="jax-masked-leading-steps",
    backends=("jax",),
    predicate=_leading_masked_steps_output_carried_state,
    explanation=(
        "With an initial state, a mask whose first steps are masked and "
        "zero_output_for_mask=False, Keras on JAX outputs the carried state at those leading "
        "masked steps (its scan takes jnp.where(is_masked, states[0], output_t)), where Keras "
        "on TensorFlow and torch, and the torch module, output zeros (the previous output "
        "starts at zero). So a fully masked row's last output (return_sequences=False, "
        "Bidirectional included) is its initial h on JAX and zeros elsewhere. Final states "
        "agree; steps after the first kept one agree."),
    reproducer="""\
import numpy as np, keras  # run with KERAS_BACKEND=jax, then tensorflow
layer = keras.layers.SimpleRNN(2, return_sequences=True, kernel_initializer="ones",
                               recurrent_initializer="zeros", bias_initializer="zeros")
x, h0 = np.ones((1, 3, 1), "float32"), np.full((1, 2), 0.5, "float32")
out = layer(x, initial_state=[h0], mask=np.array([[False, True, True]]))
print(keras.ops.convert_to_numpy(out)[0, 0])  # jax: [0.5 0.5]; tensorflow, torch: [0. 0.]
""",
    summary="masked steps before the first kept step output the initial state, not zeros",
    affects=_leading_masked_steps_read,
    case=dict(spec=RecurrentSpec("simple_rnn", 2, 1, return_sequences=True), batch=2, steps=3,
              seed=0, with_initial_state=True, mask="left_padded"))

KNOWN_DIFFERENCES: tuple[KnownDifference, ...] = (JAX_MASKED_LEADING_STEPS,)


def explain(observation: Observation) -> KnownDifference | None:
    """The known difference that accounts for ``observation``, or None (unexplained).

    Args:
        observation: a tensor on which two implementations differ beyond the tolerance.

    Returns:
        The first of :data:`KNOWN_DIFFERENCES` that explains it, else None.

    Raises:
        ValueError: none of its own; numpy's, for arrays whose shapes do not match the spec.

    Examples:
        >>> import numpy as np
        >>> from parity.core.spec import RecurrentSpec, merge_directions
        >>> spec = RecurrentSpec("simple_rnn", 2, 1, return_sequences=True)
        >>> h0 = np.full((1, 2), 0.5)
        >>> jax_out = np.array([[[0.5, 0.5], [0.9, 0.9]]])
        >>> tf_out = np.array([[[0.0, 0.0], [0.9, 0.9]]])
        >>> obs = Observation(spec, (h0,), np.array([[False, True]]), "output",
        ...                   ("keras-jax", "keras-tensorflow"), (jax_out, tf_out),
        ...                   np.full(jax_out.shape, 1e-6))
        >>> explain(obs).name
        'jax-masked-leading-steps'
        >>> tf_out[0, 1, 0] = 0.8   # a difference at a kept step: not that one
        >>> explain(obs) is None
        True
    """
    return next((d for d in KNOWN_DIFFERENCES if d.explains(observation)), None)


def known_differences(spec: RecurrentSpec, mask: np.ndarray | None,
                      initial_state: Sequence[np.ndarray] | None,
                      backend: str | None = None) -> tuple[KnownDifference, ...]:
    """The known differences of Keras on ``backend`` (default: its current one) that a case with
    this spec, mask and initial state runs into, decided before it runs.

    Args:
        spec: the layer's description.
        mask: (batch, time) boolean, True = kept, or None.
        initial_state: the initial states in Keras order, or None.
        backend: a Keras backend name; None for the current one.

    Returns:
        The matching entries of :data:`KNOWN_DIFFERENCES` (empty when none applies).

    Raises:
        ValueError: none of its own; numpy's, for arrays whose shapes do not match the spec.

    Examples:
        >>> import numpy as np
        >>> spec = RecurrentSpec("gru", 2, 1, return_sequences=True)
        >>> mask, h0 = np.array([[False, True]]), [np.ones((1, 2))]
        >>> [d.name for d in known_differences(spec, mask, h0, backend="jax")]
        ['jax-masked-leading-steps']
        >>> known_differences(spec, mask, h0, backend="tensorflow"), known_differences(
        ...     spec, mask, None, backend="jax")
        ((), ())
    """
    return tuple(d for d in for_backend(backend)
                 if d.affects is not None and d.affects(spec, mask, initial_state))


def for_backend(backend: str | None = None) -> tuple[KnownDifference, ...]:
    """The known differences of Keras on ``backend`` (default: its current one).

    Examples:
        >>> [d.name for d in for_backend("jax")], for_backend("tensorflow")
        (['jax-masked-leading-steps'], ())
    """
    if backend is None:
        from parity.core.frameworks import keras  # only here: the rest reads numpy arrays

        backend = keras.backend.backend()
    return tuple(d for d in KNOWN_DIFFERENCES if backend in d.backends)
