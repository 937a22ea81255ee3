"""The start state a lock-step run requires (:mod:`parity.models.training`): the same weights in
both models, a head that outputs logits, and the same layers trainable; each refusal a typed
error saying what to change."""

from __future__ import annotations

from parity.core import inputs, weight_verdict
from parity.core.errors import TransferError, UnsupportedConfig
from parity.core.tolerances import TOLERANCES
from parity.models import blocks as models
from parity.models import chains, torch_blocks
from parity.models.training_runs import as_torch_model, dtype_name


def weight_mismatches(keras_model, torch_model) -> list[weight_verdict.WeightMismatch]:
    """Every weight of the two models that differs beyond what the transfer allows: bit-identical,
    except the sum of a recurrent layer's two biases, which torch -> Keras rounds once."""
    torch_model = as_torch_model(torch_model)
    (kb, kw), (tb, tw) = chains.read(keras_model), chains.read(torch_model)
    chains.check_same_blocks(kb, tb)
    k, t = chains.named_arrays(kb, kw), chains.named_arrays(tb, tw)
    rounded = chains.rounded_biases(kb, k)
    unit_roundoff = TOLERANCES[dtype_name(torch_model)].unit_roundoff
    return weight_verdict.mismatches(k, t, unit_roundoff, rounded=rounded)


def check_same_start(keras_model, torch_model) -> None:
    """Refuse models that do not start from the same weights."""
    # bit-identical, except torch's two biases, compared as their sum rounded as Keras stores it
    mismatches = weight_mismatches(keras_model, torch_model)
    if mismatches:
        raise TransferError("weights", str(mismatches[0]), "both models must start from the same "
                            "weights; build one from the other with parity.to_torch / "
                            "parity.to_keras or copy with parity.copy_weights")


def check_trainable(keras_model, torch_model) -> None:
    """Refuse an Embedding trainable in one framework and frozen in the other."""
    if not isinstance(torch_model, torch_blocks.KerasSequential):
        return
    for i, (block, layer) in enumerate(zip(torch_model.blocks, torch_model.layers)):
        if isinstance(block, models.Embedding) and layer.weight.requires_grad != block.trainable:
            raise TransferError("trainable", block.trainable, f"layer {i} is an Embedding whose torch "
                                f"weight has requires_grad={layer.weight.requires_grad}; match them")


def check_logits(torch_model) -> None:
    """The losses take logits. Keras' cross-entropy finds the pre-activation of a softmax or
    sigmoid output (``_keras_logits``) and silently uses it instead, even with from_logits=True,
    so such a head would train on different maths in the two frameworks."""
    blocks = getattr(torch_model, "blocks", ())
    if blocks and isinstance(blocks[-1], models.Dense) and \
            blocks[-1].activation in ("softmax", "sigmoid"):
        raise UnsupportedConfig("activation", blocks[-1].activation, "the last Dense must output "
                                "logits (activation='linear'): Keras' cross-entropy would silently "
                                "use its pre-activation instead (keras _get_logits), torch's would "
                                "not", where=f"layer {len(blocks) - 1}")



def check_start(keras_model, torch_model) -> None:
    """Refuse a run that cannot start: non-finite weights, models that do not start from the same
    weights, a head that does not output logits, an Embedding trainable on one side only."""
    inputs.check_finite_weights(keras_model, "keras")
    inputs.check_finite_weights(torch_model, "torch")
    check_same_start(keras_model, torch_model)
    check_logits(torch_model)
    check_trainable(keras_model, torch_model)
