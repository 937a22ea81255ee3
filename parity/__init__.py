"""rnn-parity: exact weight transfer and numerical parity checks between Keras and PyTorch RNNs.

    import parity
    module = parity.to_torch(keras_layer)          # drop-in torch module, same weights
    parity.assert_parity(keras_layer, module, x)   # raises parity.ParityError on a mismatch

    torch_model, verdict = parity.port(keras_model)  # convert and check every layer; verdict.ok
    torch_model = parity.to_torch(keras_model)     # whole Sequential: Embedding, RNNs, Dense, ...
    parity.assert_model_parity(keras_model, torch_model, ids)
    parity.assert_training_parity(keras_model, torch_model, batches,
                                  loss=parity.SparseCrossEntropy(), optimizer=parity.Adam(0.01))

The names below are the public API. They are imported on first use, so that tools which need
no framework (``python -m parity bench compare``) do not load torch or TensorFlow.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it, grouped by what users do with them
_API = {
    # transfer
    "to_torch": "parity.models.transfer", "to_keras": "parity.models.transfer",
    "copy_weights": "parity.models.transfer", "read": "parity.models.transfer",
    "KerasRNN": "parity.layers.torch_side", "GRUResetBefore": "parity.layers.torch_side",
    "KerasSequential": "parity.models.torch_blocks",
    # port a whole model and judge the port
    "port": "parity.porting.convert",
    # layer and gradient parity
    "assert_parity": "parity.checks.compare", "compare": "parity.checks.compare",
    "ParityReport": "parity.checks.compare",
    "assert_gradient_parity": "parity.checks.gradients",
    "compare_gradients": "parity.checks.gradients",
    "ParityCase": "parity.checks.cases", "check_case": "parity.checks.cases",
    "check_gradients": "parity.checks.cases",
    # whole models and training
    "assert_model_parity": "parity.checks.model_parity",
    "compare_models": "parity.checks.model_parity",
    "assert_training_parity": "parity.models.training", "train_lockstep": "parity.models.training",
    "Batch": "parity.models.training_record",
    "TrainingRecord": "parity.models.training_record",
    "SGD": "parity.models.optim", "Adam": "parity.models.optim",
    "SparseCrossEntropy": "parity.models.optim",
    "MaskedSequenceCrossEntropy": "parity.models.optim",
    # descriptions and errors
    "RecurrentSpec": "parity.core.spec", "LayerWeights": "parity.core.spec",
    "Outputs": "parity.core.spec",
    "ParityError": "parity.core.errors", "ParityConfigError": "parity.core.errors",
    "TransferError": "parity.core.errors", "UnsupportedConfig": "parity.core.errors",
}

__all__ = sorted(_API)


def __getattr__(name: str):
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'parity' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
