"""Keras side: read a recurrent layer into a spec and canonical weights, write weights back, build a
layer from a spec, and run one. Backend-agnostic (TensorFlow, torch or JAX under Keras 3).

Accepted objects: ``SimpleRNN``, ``LSTM``, ``GRU``; ``keras.layers.RNN`` over one of their cells or
over stacked cells (``RNN([cell, cell])``); ``Bidirectional`` around one of those layers; and a
stack written as a list, tuple or ``keras.Sequential`` of such layers, every layer but the last
returning sequences.

One module on purpose: like :mod:`parity.layers.torch_side`, it is one framework's side of the
interface :func:`parity.layers.transfer.side_of` hands out (``describe``, ``read_weights``,
``write_weights``, ``run``), and the mutation tests replace ``run`` in place.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from parity.core.errors import TransferError, UnsupportedConfig
from parity.core.frameworks import keras
from parity.core.inputs import flat_states
from parity.core.spec import DTYPES, LayerWeights, Outputs, RecurrentSpec, Weights
from parity.layers import jax_side

_CELLS = {keras.layers.SimpleRNNCell: "simple_rnn", keras.layers.LSTMCell: "lstm",
          keras.layers.GRUCell: "gru"}
LAYER_CLASSES = {"simple_rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM,
           "gru": keras.layers.GRU}
_CELL_OF = {v: k for k, v in _CELLS.items()}


def device() -> str:
    """Where Keras' backend puts new tensors: "cuda" or "cpu"."""
    backend = keras.backend.backend()
    if backend == "torch":
        from keras.src.backend.torch.core import get_device
        return "cuda" if str(get_device()).startswith("cuda") else "cpu"
    if backend == "jax":
        import jax
        return "cuda" if jax.default_backend() == "gpu" else "cpu"
    if backend == "tensorflow":
        import tensorflow as tf
        return "cuda" if tf.config.list_logical_devices("GPU") else "cpu"
    return "cpu"


def is_keras2(obj: object) -> bool:
    """Whether ``obj`` is a Keras 2 (tf-keras) layer or model, or a non-empty list of layers,
    decided by the module of its class (or a base class): ``tf_keras`` is never imported here.
    ``tf.keras`` objects under ``TF_USE_LEGACY_KERAS=1`` are tf-keras ones."""
    if isinstance(obj, (list, tuple)):
        return bool(obj) and all(is_keras2(o) for o in obj)
    return any(cls.__module__.split(".")[0] == "tf_keras" for cls in type(obj).__mro__)


def keras2_version() -> str:
    """The tf-keras version imported (``"not installed"`` when none is)."""
    return getattr(sys.modules.get("tf_keras"), "__version__", "not installed")


def keras2_label() -> str:
    """How messages name a Keras 2 object: ``Keras 2 (tf-keras 2.21.0)``."""
    return f"Keras 2 (tf-keras {keras2_version()})"


def not_keras3(obj, role: str, entry: str) -> TransferError:
    """The refusal of a Keras 2 object by an entry point that takes Keras 3 ones only."""
    return TransferError(role, type(obj).__name__, f"a {keras2_label()} object: {entry} takes "
                         f"Keras {keras.__version__} objects; parity.models.keras2.twin(obj) is its "
                         "Keras 3 twin holding the same weights (parity.to_torch, copy_weights, "
                         "read, compare, assert_parity, compare_models and port take Keras 2 "
                         "objects as they are)")


def is_keras(obj: object) -> bool:
    if isinstance(obj, (list, tuple)):
        return bool(obj) and all(isinstance(o, keras.layers.Layer) for o in obj)
    return isinstance(obj, keras.layers.Layer)


def _layers(obj) -> list:
    """The recurrent (or Bidirectional) layers that make up ``obj``, bottom first."""
    if isinstance(obj, keras.Sequential):
        layers = list(obj.layers)
    elif isinstance(obj, (list, tuple)):
        layers = list(obj)
    else:
        layers = [obj]
    if not layers:
        raise UnsupportedConfig("layers", "[]", "give at least one recurrent layer")
    if isinstance(obj, keras.Model):
        check_model_built(obj)
    for layer in layers:
        if not layer.built:
            raise TransferError("built", False, "build the layer first, e.g. "
                                "layer.build((None, None, input_size)) or call it once",
                                where=f"{type(layer).__name__} layer {layer.name!r}")
        if not isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)):
            raise UnsupportedConfig(
                "layer", type(layer).__name__,
                "a recurrent stack may hold only SimpleRNN, LSTM, GRU, keras.layers.RNN and "
                "Bidirectional layers; for whole models use parity.to_torch(model) and "
                "parity.assert_model_parity / parity.assert_training_parity")
    return layers


def check_model_built(model) -> None:
    """Refuse an unbuilt Keras model, naming the model (not one of its cells)."""
    if not model.built:
        raise TransferError("built", False, "the model has no weights yet: start it with an "
                            "input, keras.Input((None,), dtype='int32') for token ids or "
                            "keras.Input((None, features)) for features, or call it once on "
                            "data (or model.build(input_shape))",
                            where=f"Keras {type(model).__name__} {model.name!r}")


def _directions(layer) -> list:
    """The RNN layers of one stack level: itself, or a Bidirectional's forward and backward."""
    if isinstance(layer, keras.layers.Bidirectional):
        return [layer.forward_layer, layer.backward_layer]
    return [layer]


def _cells(layer) -> list:
    cell = layer.cell
    return list(cell.cells) if isinstance(cell, keras.layers.StackedRNNCells) else [cell]


def _all_cells(obj) -> list:
    """Every cell in canonical weight order: layer by layer, forward before backward."""
    return [c for layer in _layers(obj) for rnn in _directions(layer) for c in _cells(rnn)]


def _keras_activations() -> dict:
    """Keras' own activation functions by identity (the objects ``activation="tanh"`` stores)."""
    found = {}
    for name in ("tanh", "relu", "sigmoid", "linear", "softmax", "hard_sigmoid", "elu", "selu",
                 "softplus", "softsign", "exponential", "swish", "gelu", "leaky_relu"):
        try:
            found[keras.activations.get(name)] = name
        except ValueError:  # not in this Keras version
            continue
    return found


_ACTIVATIONS = _keras_activations()


def activation_name(fn) -> str:
    """The Keras activation ``fn`` is, matched by identity: a function of one's own that happens
    to be called ``tanh`` is not Keras' tanh and is named by its module and qualified name."""
    try:
        name = _ACTIVATIONS.get(fn)
    except TypeError:  # unhashable callable object
        name = None
    if name is not None:
        return name
    qualname = getattr(fn, "__qualname__", None) or type(fn).__name__
    return f"{getattr(fn, '__module__', None) or '?'}.{qualname} (not a keras.activations function)"


def layer_dtype(layer) -> str:
    policy = layer.dtype_policy
    if policy.variable_dtype != policy.compute_dtype:
        raise UnsupportedConfig("dtype", policy.name,
                                f"mixed precision is not supported; use one of {DTYPES}",
                                where=layer.name)
    if policy.compute_dtype not in DTYPES:
        raise UnsupportedConfig("dtype", policy.compute_dtype, f"supported dtypes are {DTYPES}",
                                where=layer.name)
    return policy.compute_dtype


def _check_cell(cell) -> None:
    if type(cell) not in _CELLS:
        raise UnsupportedConfig("cell", type(cell).__name__,
                                f"supported cells are {[c.__name__ for c in _CELLS]}")
    if not cell.built:
        raise TransferError("built", False, "build the layer first, e.g. "
                            "layer.build((None, None, input_size)) or call it once",
                            where=cell.name)
    for option in ("dropout", "recurrent_dropout"):
        if getattr(cell, option):
            raise UnsupportedConfig(option, getattr(cell, option),
                                    "torch's recurrent modules have no per-step dropout; set it "
                                    "to 0 (or compare in inference with a rate-0 copy)",
                                    where=cell.name)
    kind = _CELLS[type(cell)]
    if kind != "simple_rnn":
        for option, wanted in (("activation", "tanh"), ("recurrent_activation", "sigmoid")):
            name = activation_name(getattr(cell, option))
            if name != wanted:
                raise UnsupportedConfig(option, name, f"torch's {kind} uses {wanted} only "
                                        f"(Keras' own: {option}='{wanted}')", where=cell.name)
    elif activation_name(cell.activation) not in ("tanh", "relu"):
        raise UnsupportedConfig("activation", activation_name(cell.activation),
                                "torch.nn.RNN offers only 'tanh' and 'relu' (Keras' own: "
                                "activation='tanh' or keras.activations.tanh)", where=cell.name)


def _check_stack(layers) -> None:
    for layer in layers:
        for rnn in _directions(layer):
            if rnn.stateful:
                raise UnsupportedConfig("stateful", True, "torch keeps no state between calls; "
                                        "pass the previous final state as initial_state instead",
                                        where=rnn.name)
        if isinstance(layer, keras.layers.Bidirectional):
            fw, bw = layer.forward_layer, layer.backward_layer
            if len(_cells(fw)) > 1:
                raise UnsupportedConfig(
                    "layer", "Bidirectional(RNN(stacked cells))", "a torch bidirectional stack "
                    "feeds both directions to the next layer; stack Bidirectional layers instead",
                    where=layer.name)
            if fw.go_backwards or not bw.go_backwards:
                raise UnsupportedConfig("go_backwards", fw.go_backwards,
                                        "wrap a layer with go_backwards=False", where=layer.name)
            a, b = fw.cell.get_config(), bw.cell.get_config()
            differing = sorted(k for k in a if k not in ("name", "seed") and
                               not k.endswith("initializer") and a[k] != b.get(k))
            if differing or type(fw.cell) is not type(bw.cell):
                raise UnsupportedConfig(
                    "backward_layer", differing or type(bw.cell).__name__,
                    "torch's bidirectional modules share one configuration for both directions; "
                    "give the backward layer the forward layer's options", where=layer.name)
    if len(layers) == 1:
        return
    for layer in layers[:-1]:
        if not layer.return_sequences:
            raise UnsupportedConfig("return_sequences", False,
                                    "every layer of a stack but the last must return sequences",
                                    where=layer.name)
        if isinstance(layer, keras.layers.Bidirectional) and layer.merge_mode != "concat":
            raise UnsupportedConfig("merge_mode", layer.merge_mode, "lower layers of a "
                                    "bidirectional stack must concatenate, as torch does",
                                    where=layer.name)
    for layer in layers:
        if layer.return_state:
            raise UnsupportedConfig(
                "return_state", True, "a list of layers returns only the last layer's output; "
                "use keras.layers.RNN([cell, cell, ...], return_state=True) for every state",
                where=layer.name)
    for layer in layers[1:]:
        if getattr(layer, "go_backwards", False):
            raise UnsupportedConfig(
                "go_backwards", True, "only the first layer of a stack may read backwards "
                "(torch runs the whole stack in one direction)", where=layer.name)
    kinds = {isinstance(layer, keras.layers.Bidirectional) for layer in layers}
    if len(kinds) > 1:
        raise UnsupportedConfig("layers", "Bidirectional mixed with unidirectional",
                                "torch's stacks are bidirectional throughout or not at all")


def describe(obj) -> RecurrentSpec:
    """The spec of a built Keras recurrent layer or stack; raises for options without a counterpart."""
    layers = _layers(obj)
    _check_stack(layers)
    cells = _all_cells(obj)
    for cell in cells:
        _check_cell(cell)
    wrappers = [c for layer in layers for rnn in _directions(layer) for c in [rnn.cell]
                if isinstance(c, keras.layers.StackedRNNCells)]
    # per cell, bottom layer first, so that a refusal lists the values in layer order
    values = {
        "kind": [_CELLS[type(c)] for c in cells],
        "activation": [activation_name(c.activation) for c in cells],
        "use_bias": [bool(c.use_bias) for c in cells],
        "units": [c.units for c in cells],
        "reset_after": [bool(getattr(c, "reset_after", True)) for c in cells],
        "dtype": [layer_dtype(x) for x in [*cells, *wrappers, *layers]],
    }
    for option, found in values.items():
        if len(set(found)) > 1:
            if option == "dtype":  # cells, wrappers and layers: the set of dtypes says it
                raise UnsupportedConfig(option, sorted(set(found)), "torch needs one value for "
                                        "the whole stack (a StackedRNNCells or RNN wrapper "
                                        "computes in its own dtype too: pass dtype= to each)")
            raise UnsupportedConfig(option, found, "torch needs one value for the whole stack "
                                    "(values per layer and direction, bottom layer first)")
    values = {option: found[0] for option, found in values.items()}
    first, last = layers[0], layers[-1]
    bidirectional = isinstance(last, keras.layers.Bidirectional)
    last_rnn = last.forward_layer if bidirectional else last
    return RecurrentSpec(
        kind=values["kind"], units=values["units"],
        input_size=int(cells[0].kernel.shape[0]),
        num_layers=len(cells) // (2 if bidirectional else 1),
        activation=values["activation"], use_bias=values["use_bias"],
        return_sequences=bool(last.return_sequences), return_state=bool(last.return_state),
        go_backwards=bool(getattr(first, "go_backwards", False)), dtype=values["dtype"],
        reset_after=values["reset_after"], bidirectional=bidirectional,
        merge_mode=last.merge_mode if bidirectional else "concat",
        zero_output_for_mask=bool(last_rnn.zero_output_for_mask))


def as_float64(variable) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(variable), dtype=np.float64)


def read_weights(obj, *, values=as_float64, gradients: bool = False) -> Weights:
    """Canonical float64 weights of every cell. ``values`` maps a Keras variable to an array; with
    ``gradients`` it returns the variable's gradient, and a single bias's gradient is the gradient
    of both canonical biases (each enters only through their sum)."""
    out = []
    for cell in _all_cells(obj):
        bias = recurrent_bias = None
        if cell.use_bias:
            b = values(cell.bias)
            if b.ndim == 2:  # GRU reset_after: rows are the input and the recurrent bias
                bias, recurrent_bias = b[0], b[1]
            else:  # one bias acting as the sum of both
                bias, recurrent_bias = b, (b if gradients else np.zeros_like(b))
        out.append(LayerWeights(kernel=values(cell.kernel),
                                recurrent_kernel=values(cell.recurrent_kernel),
                                bias=bias, recurrent_bias=recurrent_bias))
    return tuple(out)


def write_weights(obj, weights: Weights) -> None:
    """Assign canonical weights; where Keras has one bias, it gets the sum of the two."""
    for cell, w in zip(_all_cells(obj), weights, strict=True):
        dtype = cell.kernel.dtype
        cell.kernel.assign(w.kernel.astype(dtype))
        cell.recurrent_kernel.assign(w.recurrent_kernel.astype(dtype))
        if cell.use_bias:
            if len(cell.bias.shape) == 2:
                cell.bias.assign(np.stack([w.bias, w.recurrent_bias]).astype(dtype))
            else:
                cell.bias.assign((w.bias + w.recurrent_bias).astype(dtype))


def _cell_options(spec: RecurrentSpec) -> dict:
    options = dict(use_bias=spec.use_bias, dtype=spec.dtype)
    if spec.kind == "simple_rnn":
        options["activation"] = spec.activation
    if spec.kind == "gru":
        options["reset_after"] = spec.reset_after
    if spec.dtype == "bfloat16":
        # the default Orthogonal initialiser needs a QR that TensorFlow lacks for bfloat16; the
        # initial values are overwritten by the transfer anyway
        options["recurrent_initializer"] = "glorot_uniform"
    return options


def build(spec: RecurrentSpec):
    """A built Keras object computing ``spec``: a SimpleRNN/LSTM/GRU layer, ``RNN`` over stacked
    cells for a stack, ``Bidirectional`` around a layer, or a ``Sequential`` of ``Bidirectional``
    layers for a bidirectional stack (which Keras cannot ask for states)."""
    flags = dict(return_sequences=spec.return_sequences, return_state=spec.return_state,
                 zero_output_for_mask=spec.zero_output_for_mask)
    layer_class, cell_class = LAYER_CLASSES[spec.kind], _CELL_OF[spec.kind]
    if spec.bidirectional:
        if spec.num_layers > 1 and spec.return_state:
            raise UnsupportedConfig("return_state", True, "Keras cannot return the states of a "
                                    "stack of Bidirectional layers; set return_state=False")
        levels = []
        for layer in range(spec.num_layers):
            last = layer == spec.num_layers - 1
            rnn = layer_class(spec.units, **_cell_options(spec),
                              **(flags if last else dict(flags, return_sequences=True)))
            levels.append(keras.layers.Bidirectional(
                rnn, merge_mode=spec.merge_mode if last else "concat", dtype=spec.dtype))
        if spec.num_layers == 1:
            levels[0].build((None, None, spec.input_size))
            return levels[0]
        model = keras.Sequential([keras.Input((None, spec.input_size), dtype=spec.dtype), *levels])
        return model
    if spec.num_layers == 1:
        layer = layer_class(spec.units, **_cell_options(spec), go_backwards=spec.go_backwards,
                            **flags)
    else:
        cells = [cell_class(spec.units, **_cell_options(spec)) for _ in range(spec.num_layers)]
        # StackedRNNCells is a layer too: left at the default policy it would cast to float32
        stacked = keras.layers.StackedRNNCells(cells, dtype=spec.dtype)
        layer = keras.layers.RNN(stacked, go_backwards=spec.go_backwards, dtype=spec.dtype,
                                 **flags)
    layer.build((None, None, spec.input_size))
    return layer


def _flat(result) -> list:
    flat = []
    for item in result if isinstance(result, (list, tuple)) else [result]:
        flat.extend(_flat(item) if isinstance(item, (list, tuple)) else [item])
    return flat


def call(obj, x, initial_state=None, mask=None, *, run_with: Sequence | None = None) -> list:
    """Call the layer (or each layer of a list stack); the returned tensors, flattened: the output
    (two for merge_mode=None), then the states in spec order. ``run_with``: layers of the same
    structure to call instead (a Keras 2 object whose Keras 3 twin is ``obj``)."""
    layers = _layers(obj)
    callables = layers if run_with is None else list(run_with)
    initial_state = flat_states(initial_state)
    kwargs = {} if mask is None else {"mask": mask}
    if len(layers) == 1:
        layer = layers[0]
        states = None if initial_state is None else list(initial_state)
        if states is not None and isinstance(getattr(layer, "cell", None),
                                             keras.layers.StackedRNNCells):
            per = len(states) // len(layer.cell.cells)  # stacked cells take one list per cell
            states = [states[i:i + per] for i in range(0, len(states), per)]
        state = {} if states is None else {"initial_state": states}
        return _flat(callables[0](x, **state, **kwargs))
    result, states_each = x, len(initial_state) // len(layers) if initial_state else 0
    for i, layer in enumerate(callables):
        state = {} if initial_state is None else {
            "initial_state": list(initial_state[i * states_each:(i + 1) * states_each])}
        result = layer(result, **state, **kwargs)
    return _flat(result)


def outputs(obj, flat: list) -> Outputs:
    """Flat returned values (as from :func:`call`, converted to numpy) as :class:`Outputs`."""
    last = _layers(obj)[-1]
    if isinstance(last, keras.layers.Bidirectional) and last.merge_mode is None:
        return Outputs((flat[0], flat[1]), tuple(flat[2:]))
    return Outputs(flat[0], tuple(flat[1:]))


def run(obj, x: np.ndarray, initial_state: Sequence[np.ndarray] | None = None,
        mask: np.ndarray | None = None) -> Outputs:
    """Call on numpy arrays; numpy :class:`Outputs` back, states in spec order. On JAX the call
    is ``jax.jit``-compiled, once per configuration (:mod:`parity.layers.jax_side`): eager Keras
    compiles the layer's scan and every op of a new shape at each call, about twice the CPU time
    of compiling the whole call once (measured on fresh configurations, same outputs)."""
    if keras.backend.backend() == "jax":
        _, forward = jax_side.compiled(obj, "forward", _jax_forward)
        states = flat_states(initial_state)
        flat = forward([v.value for v in variables(obj)], x, list(states or ()), mask)
    else:
        flat = call(obj, x, initial_state, mask)
    return outputs(obj, [keras.ops.convert_to_numpy(t) for t in flat])


def _jax_forward(template):
    import jax

    weights = variables(template)

    def forward(values, x, states, mask):
        with jax_side.stateless(weights, values):
            return call(template, x, states or None, mask)

    return jax.jit(forward)


def variables(obj) -> list:
    """Every weight variable, in canonical reading order."""
    return [v for cell in _all_cells(obj)
            for v in (cell.kernel, cell.recurrent_kernel, *([cell.bias] if cell.use_bias else []))]
