"""Forward pass of the seed's lab-12-0 layer (SimpleRNN(2) on one-hot "hello") in both frameworks.

Run with ``pytest benchmarks`` (plain ``pytest`` does not collect this folder). Parity is asserted
before timing: timing a wrong computation is void. Layer construction, weight transfer and the first
(warm-up) call stay outside the timed rounds.
"""

from __future__ import annotations

import numpy as np
import pytest

import parity
from parity._frameworks import keras, torch

X = np.eye(4, dtype=np.float32)[[0, 1, 2, 2, 3]][None]  # one-hot "hello"


@pytest.fixture(scope="module")
def pair():
    keras.utils.set_random_seed(0)
    layer = keras.layers.SimpleRNN(2, return_sequences=True, return_state=True)
    layer.build((None, None, 4))
    module = parity.to_torch(layer)
    parity.assert_parity(layer, module, X)
    return layer, module


def test_keras_eager_forward(benchmark, pair):
    layer, _ = pair
    benchmark.group = "lab-12-0 SimpleRNN(2) forward, B=1 T=5"
    benchmark.extra_info.update(framework="keras", path="eager", keras=keras.__version__,
                                backend=keras.backend.backend())
    layer(X)  # warm-up
    benchmark(layer, X)


def test_torch_eager_forward(benchmark, pair):
    _, module = pair
    benchmark.group = "lab-12-0 SimpleRNN(2) forward, B=1 T=5"
    benchmark.extra_info.update(framework="torch", path="eager", torch=torch.__version__,
                                threads=torch.get_num_threads())
    x = torch.from_numpy(X)

    def forward():
        with torch.no_grad():
            return module(x)

    forward()  # warm-up
    benchmark(forward)
