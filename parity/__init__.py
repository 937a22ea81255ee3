"""rnn-parity: exact weight transfer and numerical parity checks between Keras and PyTorch RNNs.

    import parity
    module = parity.to_torch(keras_layer)          # drop-in torch module, same weights
    parity.assert_parity(keras_layer, module, x)   # raises parity.ParityError on a mismatch
"""

from parity import _frameworks  # noqa: F401  (torch before tensorflow, quiet TF logging)
from parity.cases import ParityCase, check_case, check_gradients
from parity.compare import ParityReport, assert_parity, compare
from parity.errors import ParityConfigError, ParityError, TransferError, UnsupportedConfig
from parity.gradients import assert_gradient_parity, compare_gradients
from parity.spec import LayerWeights, Outputs, RecurrentSpec
from parity.torch_side import GRUResetBefore, KerasRNN
from parity.transfer import copy_weights, read, to_keras, to_torch

__version__ = "0.1.0"

__all__ = [
    "GRUResetBefore", "KerasRNN", "LayerWeights", "Outputs", "ParityCase", "ParityConfigError", "ParityError",
    "ParityReport", "RecurrentSpec", "TransferError", "UnsupportedConfig", "assert_parity",
    "assert_gradient_parity", "check_case", "check_gradients", "compare", "compare_gradients",
    "copy_weights", "read", "to_keras", "to_torch",
]
