"""The public transfer entry points: a recurrent layer or stack, or a whole model, in either
direction. Layers go through :mod:`parity.layers.transfer`, models through
:mod:`parity.models.blocks`; this module only decides which."""

from __future__ import annotations

from parity.core.errors import TransferError
from parity.core.spec import RecurrentSpec, Weights
from parity.layers import keras_side, torch_side
from parity.layers import transfer as layer_transfer
from parity.models import chains, keras2, keras_blocks, torch_blocks


def is_model(obj) -> bool:
    """Whether ``obj`` is a whole model (Keras model, ``KerasSequential`` or ``nn.Sequential``)."""
    if keras2.is_keras2(obj):
        with keras2.named_errors(obj):
            return keras_blocks.is_keras_model(keras2.twin(obj))
    return keras_blocks.is_keras_model(obj) or isinstance(obj, (torch_blocks.KerasSequential,
                                                          torch_side.nn.Sequential))


def read(obj) -> tuple[RecurrentSpec, Weights]:
    """The spec and canonical weights of a Keras or torch recurrent layer or stack.

    Args:
        obj: a built Keras ``SimpleRNN``/``LSTM``/``GRU`` (or ``Bidirectional``, ``RNN`` of cells,
            list of layers; Keras 3 or Keras 2 (tf-keras)), a ``torch.nn.RNN``/``LSTM``/``GRU`` or
            a :class:`parity.KerasRNN`.

    Returns:
        ``(spec, weights)``: the framework-neutral description and the weights in Keras' layout.

    Raises:
        TransferError: ``obj`` is not a recurrent layer either framework describes.

    Examples:
        >>> import parity, torch
        >>> spec, weights = parity.read(torch.nn.GRU(3, 4, batch_first=True))
        >>> spec.kind, spec.units, spec.input_size
        ('gru', 4, 3)
    """
    with keras2.named_errors(obj):
        return layer_transfer.read(keras2.as_keras3(obj))


def copy_weights(src, dst) -> None:
    """Copy every weight of ``src`` into ``dst`` (Keras -> torch or torch -> Keras), exactly.

    Works for single recurrent layers and stacks, and for whole models (Keras Sequential or chain
    functional models <-> ``KerasSequential`` / ``nn.Sequential``), Keras 3 or Keras 2 (tf-keras:
    through a Keras 3 twin, :mod:`parity.models.keras2`). Everything is validated before
    anything is written. Keras' single bias goes to ``bias_ih`` with ``bias_hh`` = 0; torch's two
    biases are summed into Keras' one.

    Args:
        src: the layer, stack or model to copy from.
        dst: a layer, stack or model of the other framework, of the same structure.

    Returns:
        None: ``dst`` holds ``src``'s weights.

    Raises:
        TransferError: the two differ in structure, options or framework (the message names the
            first difference and how to build a matching destination).

    Examples:
        >>> import keras, parity, torch
        >>> layer = keras.layers.SimpleRNN(2); layer.build((None, 5, 4))
        >>> module = torch.nn.RNN(4, 2, batch_first=True)
        >>> parity.copy_weights(layer, module)
        >>> bool((module.weight_ih_l0.detach().numpy() == layer.get_weights()[0].T).all())
        True
    """
    if keras2.is_keras2(src) or keras2.is_keras2(dst):
        with keras2.named_errors(src), keras2.named_errors(dst):
            if keras2.is_keras2(src):
                copy_weights(keras2.twin(src), dst)
                return
            dst_twin = keras2.twin(dst)
            copy_weights(src, dst_twin)
            keras2.write_back(dst, dst_twin)
        return
    src_side, dst_side = layer_transfer.side_of(src), layer_transfer.side_of(dst)
    if src_side is dst_side:
        raise TransferError("dst", type(dst).__name__,
                            "copy_weights goes between frameworks; the source is of the same one")
    if not (is_model(src) or is_model(dst)):
        layer_transfer.copy_weights(src, dst)
        return
    src_blocks, weights = chains.read(src)
    dst_blocks, _ = chains.read(dst)
    chains.check_same_blocks(src_blocks, dst_blocks)
    if keras_side.is_keras(dst):
        keras_blocks.write_keras(dst, weights)
    else:
        torch_blocks.write_torch(dst, weights)


def to_torch(keras_obj):
    """A new torch module that computes what ``keras_obj`` computes and returns what it returns.

    Args:
        keras_obj: a built Keras recurrent layer, a list of them, or a Keras model (Keras 3, or
            Keras 2 (tf-keras): rebuilt in Keras 3 first, :func:`parity.models.keras2.twin`).

    Returns:
        For a recurrent layer or stack a :class:`parity.KerasRNN`; for a model with other layers
        (Embedding, Masking, Dropout, Dense, TimeDistributed) a :class:`parity.KerasSequential`.

    Raises:
        TransferError: ``keras_obj`` is not a Keras layer or model this library transfers.
        UnsupportedConfig: an option torch cannot express (named in the message).

    Examples:
        >>> import keras, parity, torch
        >>> layer = keras.layers.SimpleRNN(2, return_sequences=True); layer.build((None, 5, 4))
        >>> module = parity.to_torch(layer)
        >>> module.rnn
        RNN(4, 2, batch_first=True)
        >>> tuple(module(torch.zeros(1, 5, 4)).shape)
        (1, 5, 2)
    """
    if keras2.is_keras2(keras_obj):
        with keras2.named_errors(keras_obj):
            return to_torch(keras2.twin(keras_obj))
    if not keras_side.is_keras(keras_obj):
        raise TransferError("keras_obj", type(keras_obj).__name__,
                            "to_torch takes a Keras recurrent layer, a list of them, or a model")
    if keras_blocks.is_keras_model(keras_obj):
        return chains.to_torch(keras_obj)
    return layer_transfer.to_torch(keras_obj)


def to_keras(torch_obj):
    """A new, built Keras layer or model that computes what ``torch_obj`` computes.

    From a ``KerasSequential`` or ``nn.Sequential`` it is a ``keras.Sequential``. From a ``KerasRNN``
    the Keras flags are restored; from a plain torch module the layer returns the whole sequence
    and every final state, as torch does (a stack becomes ``RNN([cells...])``, a bidirectional
    stack a ``Sequential`` of ``Bidirectional`` layers).

    Args:
        torch_obj: a ``torch.nn.RNN``/``LSTM``/``GRU``, a :class:`parity.KerasRNN`, a
            :class:`parity.KerasSequential` or an ``nn.Sequential`` of supported modules.

    Returns:
        A built Keras layer (or ``keras.Sequential``) holding the same weights.

    Raises:
        TransferError: ``torch_obj`` is not a module this library transfers.

    Examples:
        >>> import parity, torch
        >>> layer = parity.to_keras(torch.nn.LSTM(3, 4, batch_first=True))
        >>> type(layer).__name__, layer.units, layer.return_sequences, layer.return_state
        ('LSTM', 4, True, True)
    """
    if keras_side.is_keras2(torch_obj):
        raise keras_side.not_keras3(torch_obj, "torch_obj", "to_keras (torch -> Keras)")
    if not torch_side.is_torch(torch_obj):
        raise TransferError("torch_obj", type(torch_obj).__name__,
                            "to_keras takes a torch.nn.RNN, LSTM or GRU, a parity.KerasRNN, a "
                            "parity.KerasSequential or an nn.Sequential of supported modules")
    if isinstance(torch_obj, (torch_blocks.KerasSequential, torch_side.nn.Sequential)):
        return chains.to_keras(torch_obj)
    return layer_transfer.to_keras(torch_obj)
