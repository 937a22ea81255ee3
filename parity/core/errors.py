"""Typed errors. Each names the offending option or shape, the value seen, and what would work."""

from __future__ import annotations


class ParityConfigError(ValueError):
    """Base class for configurations the suite refuses; carries the option, value and a remedy.

    Args:
        option: the offending option, argument or shape, as the user spelled it.
        value: the value seen.
        expected: what would work instead.
        where: optional place (a layer, a file) the option belongs to.

    Examples:
        >>> from parity import UnsupportedConfig
        >>> str(UnsupportedConfig("activation", "selu", "torch offers tanh and relu"))
        "activation='selu': torch offers tanh and relu"
    """

    def __init__(self, option: str, value: object, expected: str, *, where: str = "") -> None:
        self.option = option
        self.value = value
        self.expected = expected
        self.where = where
        place = f" in {where}" if where else ""
        super().__init__(f"{option}={value!r}{place}: {expected}")


class UnsupportedConfig(ParityConfigError):
    """An option of one framework has no exact counterpart in the other (or in the oracle).

    Examples:
        >>> import parity
        >>> parity.RecurrentSpec("lstm", units=4, input_size=3, activation="relu")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        parity.core.errors.UnsupportedConfig: activation='relu': torch's lstm offers only ('tanh',); ...
    """


class TransferError(ParityConfigError):
    """Source and destination of a weight copy do not describe the same computation.

    Examples:
        >>> import parity, torch
        >>> parity.copy_weights(torch.nn.GRU(3, 4), torch.nn.GRU(3, 4))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        parity.core.errors.TransferError: dst='GRU': copy_weights goes between frameworks; ...
    """


class ParityError(AssertionError):
    """Two frameworks (or a framework and the float64 oracle) disagree beyond the allowed tolerance.

    An ``AssertionError``, so pytest shows the message as a test failure.

    Args:
        message: where (batch, step, unit), by how much, what was allowed, and how to reproduce.
        report: the check's result, which follows :class:`parity.core.mismatch.Report`
            (``ok``, ``summary()``, ``explain()``): a ``ParityReport`` (layer or gradient checks),
            an ``OracleReport``, a ``ModelReport``, a ``TrainingRecord`` or a golden
            ``DriftReport``.

    Examples:
        >>> import keras, numpy as np, parity, torch
        >>> layer = keras.layers.SimpleRNN(2); layer.build((None, 5, 4))
        >>> module = parity.to_torch(layer)
        >>> with torch.no_grad():
        ...     _ = module.rnn.weight_hh_l0.mul_(1.5)  # a broken transfer
        >>> try:
        ...     parity.assert_parity(layer, module, np.eye(4, dtype="float32")[[0, 1, 2, 2, 3]][None])
        ... except parity.ParityError as error:
        ...     print(error.report.ok, "recurrent_kernel" in str(error))
        False True
    """

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report


class InputFileError(ValueError):
    """A file or folder given on the command line (a baseline, a benchmark run) is missing,
    truncated, corrupt or of another kind; the message names the path and the reason."""


class OutputError(ValueError):
    """An output cannot be written where asked (the place is a file, not writable, or holds
    something already): refused before any work starts, naming the path."""


class NonFiniteInput(UnsupportedConfig):
    """An input holds NaN or Inf: tolerances are derived from the inputs, so such a check could
    only report noise. Names the argument and the first non-finite element."""


class NonFiniteWeight(NonFiniteInput):
    """A weight of a compared layer or model holds NaN or Inf: refused like a non-finite input,
    naming the framework, the weight and its first non-finite element.

    Examples:
        >>> import keras, numpy as np, parity
        >>> layer = keras.layers.SimpleRNN(2); layer.build((None, 5, 4))
        >>> kernel, recurrent, bias = layer.get_weights(); kernel[1, 0] = np.nan
        >>> layer.set_weights([kernel, recurrent, bias])
        >>> parity.compare(layer, parity.to_torch(layer), np.zeros((1, 5, 4), "float32"))
        Traceback (most recent call last):
        ...
        parity.core.errors.NonFiniteWeight: keras weight ...kernel='nan at [1, 0]': 1 of 8 elements ...
    """


class MissingDependency(ParityConfigError, ImportError):
    """An optional implementation was asked for whose packages are not installed; names the
    packages and the extra that installs them. An ``ImportError`` too, so ``except ImportError``
    code keeps working.

    Examples:
        >>> from parity.core.errors import MissingDependency
        >>> error = MissingDependency("onnxruntime", "not installed", "pip install onnxruntime")
        >>> isinstance(error, ImportError), str(error)
        (True, "onnxruntime='not installed': pip install onnxruntime")
    """
