"""Masks made by Keras' own layers (Masking, Embedding with mask_zero) flow into the recurrent layer
exactly as the explicit masks the torch module takes: the Keras model and the torch module given
``parity.core.masking.from_*`` masks both match the float64 oracle."""

from __future__ import annotations

import numpy as np
import pytest

import parity
from parity.checks.compare import assert_matches_oracle
from parity.core import masking
from parity.core.frameworks import keras
from parity.core.spec import CELL_KINDS, Outputs
from parity.layers import keras_side, torch_side


def _outputs(value) -> Outputs:
    flat = [keras.ops.convert_to_numpy(t) for t in (value if isinstance(value, (list, tuple))
                                                    else [value])]
    return Outputs(flat[0], tuple(flat[1:]))


@pytest.mark.parametrize("kind", list(CELL_KINDS))
def test_masking_layer_mask_matches_the_explicit_mask(kind):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (3, 6, 4)).astype(np.float32)
    x[0, 4:] = 0.0   # right padding
    x[1, 2] = 0.0    # a gap
    x[2, :] = 0.0    # a fully masked row
    keras.utils.set_random_seed(1)
    recurrent = keras_side.LAYER_CLASSES[kind](5, return_sequences=True, return_state=True)
    inputs = keras.Input((6, 4))
    model = keras.Model(inputs, recurrent(keras.layers.Masking(0.0)(inputs)))
    mask = masking.from_masking_layer(x)
    assert mask.tolist() == [[1, 1, 1, 1, 0, 0], [1, 1, 0, 1, 1, 1], [0] * 6]
    assert_matches_oracle(recurrent, _outputs(model(x)), x, mask=mask, label="Keras model")
    module = parity.to_torch(recurrent)
    assert_matches_oracle(recurrent, torch_side.run(module, x, mask=mask), x, mask=mask,
                          label="torch module")


@pytest.mark.parametrize("merge_mode", ["concat", "ave"])
def test_embedding_mask_zero_flows_into_a_bidirectional_layer(merge_mode):
    ids = np.array([[3, 1, 4, 1, 0, 0], [2, 7, 1, 8, 2, 8], [5, 0, 0, 0, 0, 0]])
    keras.utils.set_random_seed(2)
    embedding = keras.layers.Embedding(10, 4, mask_zero=True)
    recurrent = keras.layers.Bidirectional(keras.layers.GRU(3, return_sequences=True),
                                           merge_mode=merge_mode)
    inputs = keras.Input((6,), dtype="int32")
    model = keras.Model(inputs, recurrent(embedding(inputs)))
    x = keras.ops.convert_to_numpy(embedding(ids))
    mask = masking.from_token_ids(ids)
    assert_matches_oracle(recurrent, _outputs(model(ids)), x, mask=mask, label="Keras model")
    module = parity.to_torch(recurrent)
    assert_matches_oracle(recurrent, torch_side.run(module, x, mask=mask), x, mask=mask,
                          label="torch module")
