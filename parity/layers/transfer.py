"""Weight transfer between Keras recurrent layers and torch recurrent modules, through the
canonical layout (:mod:`parity.core.spec`). Whole models: :mod:`parity.models.transfer`."""

from __future__ import annotations

from parity.core.errors import TransferError
from parity.core.spec import RecurrentSpec, Weights
from parity.layers import keras_side, torch_side


def side_of(obj):
    """The module (``keras_side`` or ``torch_side``) that handles ``obj``."""
    if keras_side.is_keras(obj):
        return keras_side
    if torch_side.is_torch(obj):
        return torch_side
    if keras_side.is_keras2(obj):
        raise keras_side.not_keras3(obj, "object", "this function")
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


def copy_weights(src, dst) -> None:
    """Copy a recurrent layer's weights into one of the other framework; everything is validated
    before anything is written (the public entry point is :func:`parity.copy_weights`)."""
    src_spec, weights = read(src)
    dst_side = side_of(dst)
    dst_spec = dst_side.describe(dst)
    check_compatible(src_spec, dst_spec, src_reverses=_reverses(src), dst_reverses=_reverses(dst))
    dst_side.write_weights(dst, weights)


def to_torch(keras_obj):
    """A :class:`KerasRNN` holding a Keras recurrent layer's (or stack's) weights."""
    spec, weights = read(keras_obj)
    module = torch_side.KerasRNN(spec)
    torch_side.write_weights(module, weights)
    return module


def to_keras(torch_obj):
    """A built Keras layer holding a torch recurrent module's weights (flags restored from a
    ``KerasRNN``; a plain module's layer returns the sequence and every final state)."""
    spec, weights = read(torch_obj)
    layer = keras_side.build(spec)
    keras_side.write_weights(layer, weights)
    return layer
