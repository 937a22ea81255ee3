"""Weight transfer between Keras recurrent layers and torch modules, through the canonical layout."""

from __future__ import annotations

from parity import keras_side, models, torch_side
from parity.errors import TransferError
from parity.spec import RecurrentSpec, Weights


def side_of(obj):
    """The module (``keras_side`` or ``torch_side``) that handles ``obj``."""
    if keras_side.is_keras(obj):
        return keras_side
    if torch_side.is_torch(obj):
        return torch_side
    raise TransferError("object", type(obj).__name__,
                        "expected a Keras recurrent layer (or list/Sequential of them), "
                        "a torch.nn.RNN, LSTM or GRU, or a parity.KerasRNN")


def read(obj) -> tuple[RecurrentSpec, Weights]:
    """The spec and canonical weights of a Keras or torch recurrent object."""
    side = side_of(obj)
    return side.describe(obj), side.read_weights(obj)


def check_compatible(src_spec: RecurrentSpec, dst_spec: RecurrentSpec, *,
                     src_reverses: bool, dst_reverses: bool) -> None:
    """Raise TransferError unless both describe the same weights and the same maths.

    ``*_reverses`` say whether that side can express ``go_backwards`` (a plain torch module
    cannot).
    """
    diffs = src_spec.same_computation(dst_spec)
    if diffs:
        option, mine, theirs = diffs[0]
        others = "".join(f"; also {o}: {a!r} vs {b!r}" for o, a, b in diffs[1:])
        raise TransferError(option, mine, f"the destination has {option}={theirs!r}; build it "
                            f"with {option}={mine!r} (or use parity.to_torch / parity.to_keras, "
                            f"which build a matching one){others}")
    if src_spec.go_backwards or dst_spec.go_backwards:
        if not (src_reverses and dst_reverses):
            raise TransferError("go_backwards", True,
                                "a plain torch recurrent module reads time forwards; use "
                                "parity.to_torch, whose module reverses time as Keras does")
        if src_spec.go_backwards != dst_spec.go_backwards:
            raise TransferError("go_backwards", src_spec.go_backwards,
                                f"the destination has go_backwards={dst_spec.go_backwards}")


def _reverses(obj) -> bool:
    return keras_side.is_keras(obj) or isinstance(obj, torch_side.KerasRNN)


def _is_model(obj) -> bool:
    return models.is_keras_model(obj) or isinstance(obj, (models.KerasSequential,
                                                          torch_side.nn.Sequential))


def _copy_model(src, dst) -> None:
    src_blocks, weights = models.read(src)
    dst_blocks, _ = models.read(dst)
    models.check_same_blocks(src_blocks, dst_blocks)
    if keras_side.is_keras(dst):
        models.write_keras(dst, weights)
    else:
        models.write_torch(dst, weights)


def copy_weights(src, dst) -> None:
    """Copy every weight of ``src`` into ``dst`` (Keras -> torch or torch -> Keras), exactly.

    Works for single recurrent layers and stacks, and for whole models (Keras Sequential or chain
    functional models <-> ``KerasSequential`` / ``nn.Sequential``). Everything is validated before
    anything is written. Keras' single bias goes to ``bias_ih`` with ``bias_hh`` = 0; torch's two
    biases are summed into Keras' one.
    """
    src_side, dst_side = side_of(src), side_of(dst)
    if src_side is dst_side:
        raise TransferError("dst", type(dst).__name__,
                            "copy_weights goes between frameworks; the source is of the same one")
    if _is_model(src) or _is_model(dst):
        _copy_model(src, dst)
        return
    src_spec, weights = read(src)
    dst_spec = dst_side.describe(dst)
    check_compatible(src_spec, dst_spec, src_reverses=_reverses(src), dst_reverses=_reverses(dst))
    dst_side.write_weights(dst, weights)


def to_torch(keras_obj):
    """A new torch module that computes what ``keras_obj`` computes and returns what it returns:
    a :class:`KerasRNN` for a recurrent layer or stack, a :class:`KerasSequential` for a model with
    other layers (Embedding, Masking, Dropout, Dense, TimeDistributed)."""
    if not keras_side.is_keras(keras_obj):
        raise TransferError("keras_obj", type(keras_obj).__name__,
                            "to_torch takes a Keras recurrent layer, a list of them, or a model")
    if models.is_keras_model(keras_obj):
        return models.to_torch(keras_obj)
    spec, weights = read(keras_obj)
    module = torch_side.KerasRNN(spec)
    torch_side.write_weights(module, weights)
    return module


def to_keras(torch_obj):
    """A new, built Keras layer that computes what ``torch_obj`` computes.

    From a ``KerasSequential`` or ``nn.Sequential`` it is a ``keras.Sequential``. From a ``KerasRNN``
    the Keras flags are restored; from a plain torch module the layer returns
    the whole sequence and every final state, as torch does (a stack becomes ``RNN([cells...])``,
    a bidirectional stack a ``Sequential`` of ``Bidirectional`` layers).
    """
    if not torch_side.is_torch(torch_obj):
        raise TransferError("torch_obj", type(torch_obj).__name__,
                            "to_keras takes a torch.nn.RNN, LSTM or GRU, a parity.KerasRNN, a "
                            "parity.KerasSequential or an nn.Sequential of supported modules")
    if isinstance(torch_obj, (models.KerasSequential, torch_side.nn.Sequential)):
        return models.to_keras(torch_obj)
    spec, weights = read(torch_obj)
    layer = keras_side.build(spec)
    keras_side.write_weights(layer, weights)
    return layer
