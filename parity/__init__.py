"""rnn-parity: exact weight transfer and numerical parity checks between Keras and PyTorch RNNs.

    import parity
    module = parity.to_torch(keras_layer)          # drop-in torch module, same weights
    parity.assert_parity(keras_layer, module, x)   # raises parity.ParityError on a mismatch

    torch_model = parity.to_torch(keras_model)     # whole Sequential: Embedding, RNNs, Dense, ...
    parity.assert_model_parity(keras_model, torch_model, ids)
    parity.assert_training_parity(keras_model, torch_model, batches,
                                  loss=parity.SparseCrossEntropy(), optimizer=parity.Adam(0.01))
"""

from parity import _frameworks  # noqa: F401  (torch before tensorflow, quiet TF logging)
from parity.cases import ParityCase, check_case, check_gradients
from parity.compare import ParityReport, assert_parity, compare
from parity.errors import ParityConfigError, ParityError, TransferError, UnsupportedConfig
from parity.gradients import assert_gradient_parity, compare_gradients
from parity.model_parity import assert_model_parity, compare_models
from parity.models import KerasSequential
from parity.optim import SGD, Adam, MaskedSequenceCrossEntropy, SparseCrossEntropy
from parity.spec import LayerWeights, Outputs, RecurrentSpec
from parity.torch_side import GRUResetBefore, KerasRNN
from parity.training import Batch, TrainingRecord, assert_training_parity, train_lockstep
from parity.transfer import copy_weights, read, to_keras, to_torch

__version__ = "0.1.0"

__all__ = [
    "SGD", "Adam", "Batch", "GRUResetBefore", "KerasRNN", "KerasSequential", "LayerWeights",
    "MaskedSequenceCrossEntropy", "Outputs", "ParityCase", "ParityConfigError", "ParityError",
    "ParityReport", "RecurrentSpec", "SparseCrossEntropy", "TrainingRecord", "TransferError",
    "UnsupportedConfig", "assert_gradient_parity", "assert_model_parity", "assert_parity",
    "assert_training_parity", "check_case", "check_gradients", "compare", "compare_gradients",
    "compare_models", "copy_weights", "read", "to_keras", "to_torch", "train_lockstep",
]
