"""Masks: validation, and the one place that says which positions are compared and why.

Keras semantics (``keras.src.backend.tensorflow.rnn``), which every side reproduces:

- A masked step leaves every state as it was (the state is carried over the step).
- Its output is the previous step's output, or zeros with ``zero_output_for_mask=True``; before the
  first unmasked step the "previous output" is zeros. ``Bidirectional`` forces
  ``zero_output_for_mask = return_sequences`` on both of its layers.
- The last output is the output of the last processed step, masked or not.
- ``go_backwards`` reverses the mask with the input.

Which positions are compared: all of them. Because Keras defines the value at every masked position
(carried output or zero) and the torch module from ``to_torch`` reproduces that definition, a
position where the two differ is a real difference in what a user would read, not padding noise.
A fully masked sequence returns its initial state and zero outputs; length-1 sequences and batches
of one need nothing special.
"""

from __future__ import annotations

import numpy as np

from parity.core.errors import UnsupportedConfig


def zero_output(spec, last: bool) -> bool:
    """Whether masked steps output zeros (else the previous output) in a layer of ``spec``;
    ``last``: the top layer of a stack. Keras' Bidirectional forces zero outputs whenever its
    layer returns sequences (every lower layer of a stack does)."""
    if spec.bidirectional:
        return spec.return_sequences or not last
    return spec.zero_output_for_mask


def check_mask(mask, batch_time: tuple[int, int]) -> None:
    if mask is None:
        return
    if not isinstance(mask, np.ndarray):  # Keras and torch each read a list their own way
        raise UnsupportedConfig("mask", type(mask).__name__, "a numpy boolean array (batch, time), "
                                "True where a step is kept: np.asarray(mask, dtype=bool)")
    if mask.dtype != np.bool_:
        raise UnsupportedConfig("mask.dtype", str(mask.dtype),
                                "a boolean (batch, time) array, True where a step is kept")
    if mask.shape != tuple(batch_time):
        raise UnsupportedConfig("mask.shape", mask.shape, f"expected (batch, time) = {batch_time}")


def right_padded_lengths(mask: np.ndarray) -> np.ndarray | None:
    """Sequence lengths if every row is ones then zeros (lengths >= 1), else None."""
    mask = np.asarray(mask, dtype=bool)
    lengths = mask.sum(axis=1)
    expected = np.arange(mask.shape[1])[None, :] < lengths[:, None]
    if np.array_equal(mask, expected) and lengths.min() >= 1:
        return lengths
    return None


def from_masking_layer(x: np.ndarray, mask_value: float = 0.0) -> np.ndarray:
    """The mask ``keras.layers.Masking(mask_value)`` attaches: a step is kept unless every feature
    equals ``mask_value``."""
    return np.any(np.asarray(x) != mask_value, axis=-1)


def from_token_ids(ids: np.ndarray) -> np.ndarray:
    """The mask ``keras.layers.Embedding(..., mask_zero=True)`` attaches: id 0 is padding."""
    return np.asarray(ids) != 0
