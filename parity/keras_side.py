"""Keras side: read a recurrent layer into a spec and canonical weights, write weights back, build a
layer from a spec, and run one. Backend-agnostic (TensorFlow, torch or JAX under Keras 3).

Accepted objects: ``SimpleRNN``; ``keras.layers.RNN`` over a ``SimpleRNNCell`` or over stacked
cells (``RNN([cell, cell])``); and a stack written as a list, tuple or ``keras.Sequential`` of
``SimpleRNN`` layers, every layer but the last returning sequences.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from parity._frameworks import keras
from parity.errors import TransferError, UnsupportedConfig
from parity.spec import DTYPES, LayerWeights, Outputs, RecurrentSpec, Weights

_CELL_KINDS = {keras.layers.SimpleRNNCell: "simple_rnn"}
_ACTIVATION_NAMES = {"tanh": "tanh", "relu": "relu"}


def is_keras(obj: object) -> bool:
    if isinstance(obj, (list, tuple)):
        return bool(obj) and all(isinstance(o, keras.layers.Layer) for o in obj)
    return isinstance(obj, keras.layers.Layer)


def _recurrent_layers(obj) -> list:
    """The RNN layers that make up ``obj``, bottom first."""
    if isinstance(obj, keras.Sequential):
        layers = list(obj.layers)
    elif isinstance(obj, (list, tuple)):
        layers = list(obj)
    else:
        layers = [obj]
    for layer in layers:
        if not isinstance(layer, keras.layers.RNN):
            raise UnsupportedConfig(
                "layer", type(layer).__name__,
                "a recurrent stack may hold only SimpleRNN / keras.layers.RNN layers "
                "(whole models with other layers are not supported yet)")
    if not layers:
        raise UnsupportedConfig("layers", "[]", "give at least one recurrent layer")
    return layers


def _cells(layer) -> list:
    cell = layer.cell
    return list(cell.cells) if isinstance(cell, keras.layers.StackedRNNCells) else [cell]


def _activation_name(cell) -> str:
    fn = cell.activation
    name = getattr(fn, "__name__", None) or type(fn).__name__
    if name not in _ACTIVATION_NAMES:
        raise UnsupportedConfig("activation", name,
                                "torch.nn.RNN offers only 'tanh' and 'relu'", where=cell.name)
    return _ACTIVATION_NAMES[name]


def _dtype(layer) -> str:
    policy = layer.dtype_policy
    if policy.variable_dtype != policy.compute_dtype:
        raise UnsupportedConfig("dtype", policy.name,
                                "mixed precision is not supported; use 'float32' or 'float64'",
                                where=layer.name)
    if policy.compute_dtype not in DTYPES:
        raise UnsupportedConfig("dtype", policy.compute_dtype, f"supported dtypes are {DTYPES}",
                                where=layer.name)
    return policy.compute_dtype


def describe(obj) -> RecurrentSpec:
    """The spec of a built Keras recurrent layer or stack; raises for options without a counterpart."""
    layers = _recurrent_layers(obj)
    cells = [c for layer in layers for c in _cells(layer)]
    for layer in layers:
        if layer.stateful:
            raise UnsupportedConfig("stateful", True, "torch keeps no state between calls; "
                                    "pass the previous final state as initial_state instead",
                                    where=layer.name)
    for cell in cells:
        if type(cell) not in _CELL_KINDS:
            raise UnsupportedConfig("cell", type(cell).__name__,
                                    f"supported cells are {[c.__name__ for c in _CELL_KINDS]}")
        if not cell.built:
            raise TransferError("built", False, "build the layer first, e.g. "
                                "layer.build((None, None, input_size)) or call it once",
                                where=cell.name)
        for option in ("dropout", "recurrent_dropout"):
            if getattr(cell, option):
                raise UnsupportedConfig(option, getattr(cell, option),
                                        "torch.nn.RNN has no per-step dropout; set it to 0",
                                        where=cell.name)
    if len(layers) > 1:
        for layer in layers[:-1]:
            if not layer.return_sequences:
                raise UnsupportedConfig("return_sequences", False,
                                        "every layer of a stack but the last must return sequences",
                                        where=layer.name)
        for layer in layers:
            if layer.return_state:
                raise UnsupportedConfig(
                    "return_state", True, "a list of layers returns only the last layer's output; "
                    "use keras.layers.RNN([cell, cell, ...], return_state=True) for every state",
                    where=layer.name)
        for layer in layers[1:]:
            if layer.go_backwards:
                raise UnsupportedConfig(
                    "go_backwards", True, "only the first layer of a stack may read backwards "
                    "(torch runs the whole stack in one direction)", where=layer.name)
    activations = {_activation_name(c) for c in cells}
    biases = {bool(c.use_bias) for c in cells}
    wrappers = [layer.cell for layer in layers
                if isinstance(layer.cell, keras.layers.StackedRNNCells)]
    dtypes = {_dtype(x) for x in [*layers, *wrappers, *cells]}
    units = {c.units for c in cells}
    for option, values in (("activation", activations), ("use_bias", biases),
                           ("dtype", dtypes), ("units", units)):
        if len(values) > 1:
            raise UnsupportedConfig(option, sorted(values),
                                    "torch.nn.RNN needs one value for the whole stack (a "
                                    "StackedRNNCells or RNN wrapper computes in its own dtype "
                                    "too: pass dtype= to each)")
    last = layers[-1]
    return RecurrentSpec(
        kind=_CELL_KINDS[type(cells[0])], units=cells[0].units,
        input_size=int(cells[0].kernel.shape[0]), num_layers=len(cells),
        activation=activations.pop(), use_bias=biases.pop(),
        return_sequences=bool(last.return_sequences), return_state=bool(last.return_state),
        go_backwards=bool(layers[0].go_backwards), dtype=dtypes.pop())


def read_weights(obj) -> Weights:
    """Canonical float64 weights of every layer; Keras has one bias, so ``recurrent_bias`` is 0."""
    out = []
    for layer in _recurrent_layers(obj):
        for cell in _cells(layer):
            bias = None
            if cell.use_bias:
                bias = np.asarray(keras.ops.convert_to_numpy(cell.bias), dtype=np.float64)
            out.append(LayerWeights(
                kernel=np.asarray(keras.ops.convert_to_numpy(cell.kernel), dtype=np.float64),
                recurrent_kernel=np.asarray(keras.ops.convert_to_numpy(cell.recurrent_kernel),
                                            dtype=np.float64),
                bias=bias, recurrent_bias=None if bias is None else np.zeros_like(bias)))
    return tuple(out)


def write_weights(obj, weights: Weights) -> None:
    """Assign canonical weights; Keras adds one bias, so the two canonical biases are summed."""
    cells = [c for layer in _recurrent_layers(obj) for c in _cells(layer)]
    for cell, w in zip(cells, weights, strict=True):
        dtype = cell.kernel.dtype
        cell.kernel.assign(w.kernel.astype(dtype))
        cell.recurrent_kernel.assign(w.recurrent_kernel.astype(dtype))
        if cell.use_bias:
            cell.bias.assign((w.bias + w.recurrent_bias).astype(dtype))


def build(spec: RecurrentSpec):
    """A built Keras layer computing ``spec``: SimpleRNN for one layer, RNN over cells for a stack."""
    cell_options = dict(activation=spec.activation, use_bias=spec.use_bias, dtype=spec.dtype)
    flags = dict(return_sequences=spec.return_sequences, return_state=spec.return_state,
                 go_backwards=spec.go_backwards)
    if spec.num_layers == 1:
        layer = keras.layers.SimpleRNN(spec.units, **cell_options, **flags)
    else:
        cells = [keras.layers.SimpleRNNCell(spec.units, **cell_options)
                 for _ in range(spec.num_layers)]
        # StackedRNNCells is a layer too: left at the default policy it would cast to float32
        stacked = keras.layers.StackedRNNCells(cells, dtype=spec.dtype)
        layer = keras.layers.RNN(stacked, **flags, dtype=spec.dtype)
    layer.build((None, None, spec.input_size))
    return layer


def run(obj, x: np.ndarray, initial_state: Sequence[np.ndarray] | None = None) -> Outputs:
    """Call the layer (or each layer of a list stack) on ``x``; states come back bottom first."""
    layers = _recurrent_layers(obj)
    if len(layers) == 1:
        kwargs = {} if initial_state is None else {"initial_state": list(initial_state)}
        result = layers[0](x, **kwargs)
    else:
        result = x
        for i, layer in enumerate(layers):
            kwargs = {} if initial_state is None else {"initial_state": [initial_state[i]]}
            result = layer(result, **kwargs)
    if not isinstance(result, (list, tuple)):
        return Outputs(keras.ops.convert_to_numpy(result), ())
    flat = [result[0]]
    for s in result[1:]:  # RNN over stacked cells returns each cell's states as a list
        flat.extend(s if isinstance(s, (list, tuple)) else [s])
    arrays = [keras.ops.convert_to_numpy(t) for t in flat]
    return Outputs(arrays[0], tuple(arrays[1:]))
