"""``parity.port(model)``: convert a model to the other framework and judge the port.

The judgement, on inputs drawn in the model's own shapes (token ids or features; right-padded
with a mask where the model masks):

- every layer's weights, exactly (bit-identical, or one rounding of a recurrent layer's bias sum:
  :mod:`parity.core.weight_verdict`);
- every recurrent layer's forward pass and gradients (input, states, weights) against the other
  framework and the float64 oracle (:func:`parity.compare`, :func:`parity.compare_gradients`), on
  drawn features of that layer's input size, with the mask where the model's mask reaches it;
- the whole model's output against the other framework and a float64 reference
  (:func:`parity.compare_models`);
- for a Keras 2 (tf-keras) model, converted through its Keras 3 twin
  (:mod:`parity.models.keras2`), also the Keras 2 -> Keras 3 step: the twin's weights bit for bit,
  and the Keras 2 model's own output against its twin's and against torch.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from parity.checks import compare as layer_compare
from parity.checks import gradients, model_parity
from parity.core import weight_verdict
from parity.core.errors import ParityError, TransferError
from parity.core.frameworks import keras
from parity.core.inputs import check_finite_weights
from parity.core.mismatch import diff
from parity.core.tolerances import POLICY, TOLERANCES, oracle_factor
from parity.layers import keras_side, torch_side
from parity.models import blocks, chains, keras2, torch_blocks, training
from parity.models import transfer as model_transfer
from parity.porting.verdict import PortVerdict, Row


def port(model, x: np.ndarray | None = None, *, seed: int = 0, batch: int = 3, steps: int = 7,
         trust_code: bool = False):
    """Convert ``model`` to the other framework and check the conversion.

    Args:
        model: a Keras model or recurrent layer (Keras 3, or Keras 2 (tf-keras): converted
            through its Keras 3 twin, and its own outputs judged too), or the path of a
            ``.keras`` / ``.h5`` file (Keras 2 files loaded with tf-keras), or
            a torch module :func:`parity.to_keras` takes (``nn.RNN``/``LSTM``/``GRU``,
            ``parity.KerasRNN``, ``parity.KerasSequential``, an ``nn.Sequential`` of supported
            modules).
        x: the model's input for the whole-model check (token ids (batch, time) or features
            (batch, time, features)); drawn from ``seed`` when not given.
        seed: seeds the drawn inputs and the gradient checks' cotangents.
        batch: the drawn inputs' batch size.
        steps: the drawn inputs' length (time steps); a model whose input fixes its length
            is given inputs of that length.
        trust_code: for a file path only: load it even if it holds ``Lambda`` layers or custom
            classes, running the code they hold (refused by default, before anything in the
            file is deserialised: :func:`parity.porting.files.load_keras`).

    Returns:
        ``(converted, verdict)``: the new torch module (for a Keras model) or built Keras model
        or layer (for a torch module), and a :class:`parity.porting.verdict.PortVerdict` with
        ``ok``, ``summary()`` and ``explain()`` (one row per layer and check).

    Raises:
        TransferError, UnsupportedConfig: ``model`` is not something this library converts (the
            message names the layer or option and what is supported).

    Examples:
        >>> import keras, parity
        >>> model = keras.Sequential([keras.Input((None, 3)), keras.layers.GRU(4),
        ...                           keras.layers.Dense(2)])
        >>> torch_model, verdict = parity.port(model)
        >>> verdict.ok
        True
    """
    if isinstance(model, (str, os.PathLike)):
        from parity.porting.files import load_keras

        model = load_keras(model, trust_code=trust_code)
    # bad input, not a finding: refused before anything is converted (a NaN weight is exact to
    # copy but makes every tolerance of the verdict NaN)
    check_finite_weights(model, "torch" if torch_side.is_torch(model) else "keras")
    if keras2.is_keras2(model):
        with keras2.named_errors(model):
            keras_obj = keras2.twin(model)
            converted = model_transfer.to_torch(keras_obj)
        torch_obj = converted
    elif keras_side.is_keras(model):
        converted = model_transfer.to_torch(model)
        keras_obj, torch_obj = model, converted
    elif torch_side.is_torch(model):
        converted = model_transfer.to_keras(model)
        keras_obj, torch_obj = converted, model
    else:
        raise TransferError("model", type(model).__name__,
                            "parity.port takes a Keras model or recurrent layer, the path of a "
                            ".keras or .h5 file, or a torch module (nn.RNN/LSTM/GRU, "
                            "parity.KerasRNN, parity.KerasSequential or an nn.Sequential of "
                            "supported modules)")
    steps = _fixed_steps(keras_obj) or steps
    verdict = check_port(keras_obj, torch_obj, x, seed=seed, batch=batch, steps=steps)
    if keras2.is_keras2(model):
        _add_keras2_rows(verdict, model, keras_obj, torch_obj, x, seed=seed, batch=batch,
                         steps=steps)
    verdict.source, verdict.target = _name(model), _name(converted)
    return converted, verdict


def _twin_row(diffs: list) -> Row:
    """The Keras 2 object's outputs against its Keras 3 twin's, within the cross tolerance."""
    largest = max(diffs, key=lambda d: d.max_abs.difference).max_abs
    ok = all(d.ok for d in diffs)
    return Row("keras 2 -> 3", "output", largest.difference, largest.allowed,
               max(d.worst.ratio for d in diffs), ok,
               "" if ok else "\n".join(d.headline() for d in diffs if not d.ok))


def _fixed_steps(keras_obj) -> int | None:
    """The time steps a Keras model's input fixes (e.g. a Keras 2 ``input_length``), if any."""
    if not isinstance(keras_obj, keras.Model) or len(keras_obj.inputs) != 1:
        return None
    shape = tuple(keras_obj.inputs[0].shape)
    return int(shape[1]) if len(shape) > 1 and shape[1] is not None else None


def _add_keras2_rows(verdict: PortVerdict, original, twin, torch_obj, x, *, seed: int, batch: int,
                     steps: int) -> None:
    """The Keras 2 -> Keras 3 step, on the same inputs as the other rows: the twin's weights bit
    for bit, the Keras 2 object's outputs against the twin's, and against torch and the float64
    reference."""
    ours, theirs = keras2.get_weights(original), keras2.get_weights(twin)
    same = len(ours) == len(theirs) and all(
        a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(ours, theirs))
    largest = max((float(np.max(np.abs(a.astype(np.float64) - b), initial=0.0))
                   for a, b in zip(ours, theirs)), default=0.0)
    verdict.rows.append(Row("keras 2 -> 3", "weights", largest, 0.0, 0.0 if same else float("inf"),
                            same, "" if same else "the Keras 3 twin's weights differ from the "
                            "Keras 2 object's"))
    chain = chains.read(twin)[0]
    x = np.asarray(x) if x is not None else draw_input(chain, seed=seed, batch=batch, steps=steps)
    if model_transfer.is_model(twin):
        ref, allowed = model_parity.output_tolerance(torch_obj, x)
        axes = ("batch", "step", "unit") if ref.ndim == 3 else ("batch", "unit")
        verdict.rows.append(_twin_row([diff(
            "output", "keras 2", keras2.predict(original, x), "keras 3 twin",
            training.predict(twin, x), POLICY.cross * allowed, axis_names=axes)]))
        row = _model_row(original, torch_obj, x)
        verdict.rows.append(dataclasses.replace(row, layer="keras 2 model"))
    else:
        x = x.astype(chain[0].spec.np_dtype)
        bounds = layer_compare.oracle_bounds(twin, x)
        # oracle_bounds allow one implementation's distance from float64; two may differ by more
        scale = POLICY.cross / oracle_factor(bounds.spec.dtype)
        theirs = keras_side.run(twin, x).named()
        verdict.rows.append(_twin_row([
            diff(name, "keras 2", value, "keras 3 twin", theirs[name], scale * bounds.allowed[name])
            for name, value in keras2.run(original, x).named().items()]))
        verdict.rows.append(_report_row("keras 2 layer", "forward", layer_compare.compare(
            original, torch_obj, x)))
    verdict.notes.append(f"the {keras2.label()} object was rebuilt in Keras {keras.__version__} "
                         "(its twin, holding its weights bit for bit) to be converted; the "
                         "'keras 2' rows judge the Keras 2 object's own outputs")


def _name(obj) -> str:
    if keras2.is_keras2(obj):
        kind = f"stack of {len(obj)} layers" if isinstance(obj, (list, tuple)) else (
            f"{type(obj).__name__} {obj.name!r}")
        return f"{keras2.label()} {kind}"
    if isinstance(obj, keras.Model):
        return f"Keras {type(obj).__name__} {obj.name!r}"
    if isinstance(obj, keras.layers.Layer):
        return f"Keras {type(obj).__name__} layer {obj.name!r}"
    if isinstance(obj, (list, tuple)):
        return f"Keras stack of {len(obj)} layers"
    module = type(obj).__module__
    prefix = "parity." if module.startswith("parity.") else (
        "torch.nn." if module.startswith("torch.") else module + ".")
    return prefix + type(obj).__name__


def _keras_parts(keras_obj, whole: bool) -> list:
    if not whole:
        return [keras_obj]
    # chains.read has validated the chain; a functional model lists its InputLayer too
    return [layer for layer in keras_obj.layers if not isinstance(layer, keras.layers.InputLayer)]


def _lengths(batch: int, steps: int) -> np.ndarray:
    """Right-padded lengths: the first sequence full, later ones shorter (at least one step)."""
    return np.maximum(steps - np.arange(batch) * max(1, steps // max(batch, 2)), 1)


def _mask(batch: int, steps: int) -> np.ndarray:
    return np.arange(steps)[None, :] < _lengths(batch, steps)[:, None]


def draw_input(chain: tuple, *, seed: int, batch: int, steps: int) -> np.ndarray:
    """An input of the model's own kind and shape: token ids (0 = padding, only where the
    embedding masks) or features (zero steps at the end where a Masking layer comes first)."""
    rng = np.random.default_rng([seed, 1])
    first = chain[0]
    if isinstance(first, blocks.Embedding):
        ids = rng.integers(1, max(first.input_dim, 2), (batch, steps))
        return np.where(_mask(batch, steps), ids, 0) if first.mask_zero else ids
    spec = next(b.spec for b in chain if isinstance(b, blocks.Recurrent))
    x = rng.uniform(-1, 1, (batch, steps, spec.input_size)).astype(spec.np_dtype)
    if isinstance(first, blocks.Masking):
        x = np.where(_mask(batch, steps)[..., None], x, np.asarray(first.mask_value, x.dtype))
    return x


def _masks_reaching(chain: tuple) -> list[bool]:
    """Whether Keras' mask reaches each layer (see :mod:`parity.models.blocks`)."""
    out, masked = [], False
    for block in chain:
        out.append(masked)
        if isinstance(block, blocks.Embedding):
            masked = block.mask_zero
        elif isinstance(block, blocks.Masking):
            masked = True
        elif isinstance(block, blocks.Recurrent):
            masked = masked and block.spec.return_sequences
    return out


def _report_row(layer: str, check: str, report) -> Row:
    diffs = report.cross + report.keras_vs_oracle + report.torch_vs_oracle
    share = max(max(t.worst.ratio for t in diffs), float("inf") if report.weights else 0.0)
    largest = max(report.cross, key=lambda t: t.max_abs.difference).max_abs
    return Row(layer, check, largest.difference, largest.allowed, share, report.ok,
               "" if report.ok else report.explain())


def _weights_row(layer: str, block, k_weights, t_weights, u: float) -> Row | None:
    named_k = chains.named_arrays((block,), [k_weights])
    named_t = chains.named_arrays((block,), [t_weights])
    if not named_k:
        return None
    rounded = chains.rounded_biases((block,), named_k)
    bad = weight_verdict.mismatches(named_k, named_t, u, rounded=rounded)
    largest = max(float(np.max(np.abs(named_k[n] - named_t[n]), initial=0.0)) for n in named_k)
    allowed = max((float(u * np.max(np.abs(named_k[n]), initial=0.0)) for n in rounded),
                  default=0.0)
    share = float("inf") if bad else (largest / allowed if largest else 0.0)
    return Row(layer, "weights", largest, allowed, share, not bad,
               "\n".join(f"weights differ beyond what the transfer allows: {w}" for w in bad))


def check_port(keras_obj, torch_obj, x: np.ndarray | None = None, *, seed: int = 0,
               batch: int = 3, steps: int = 7) -> PortVerdict:
    """Judge a Keras model or layer against its torch counterpart (see the module docstring)."""
    k_chain, k_weights = chains.read(keras_obj)
    t_chain, t_weights = chains.read(torch_obj)
    chains.check_same_blocks(k_chain, t_chain)
    whole = model_transfer.is_model(keras_obj) or model_transfer.is_model(torch_obj)
    k_parts = _keras_parts(keras_obj, whole)
    t_parts = torch_blocks.torch_parts(torch_obj)[1] if whole else [torch_obj]
    given = x is not None
    x = np.asarray(x) if given else draw_input(k_chain, seed=seed, batch=batch, steps=steps)
    mask_note = ", right-padded with a mask" if not given and _masked(k_chain) else ""
    verdict = PortVerdict(_name(keras_obj), _name(torch_obj),
                          f"{'given' if given else 'drawn'} x shape {x.shape} {x.dtype}{mask_note};"
                          f" recurrent layers on drawn features in [-1, 1]; seed {seed}")
    reaching = _masks_reaching(k_chain)
    for i, block in enumerate(k_chain):
        name = f"{i} {block.spec.kind if isinstance(block, blocks.Recurrent) else type(block).__name__}"
        dtype = block.spec.dtype if isinstance(block, blocks.Recurrent) else getattr(
            block, "dtype", "float32")
        row = _weights_row(name, block, k_weights[i], t_weights[i], TOLERANCES[dtype].unit_roundoff)
        if row is not None:
            verdict.rows.append(row)
        if not isinstance(block, blocks.Recurrent):
            continue
        spec = block.spec
        if whole or x.ndim != 3:
            rng = np.random.default_rng([seed, 2, i])
            x_i = rng.uniform(-1, 1, (x.shape[0], x.shape[1], spec.input_size)).astype(
                spec.np_dtype)
        else:
            x_i = x
        mask_i = _mask(x_i.shape[0], x_i.shape[1]) if reaching[i] else None
        verdict.rows.append(_report_row(name, "forward", layer_compare.compare(
            k_parts[i], t_parts[i], x_i, mask=mask_i)))
        verdict.rows.append(_report_row(name, "gradients", gradients.compare_gradients(
            k_parts[i], t_parts[i], x_i, mask=mask_i, seed=seed)))
    if whole:
        verdict.rows.append(_model_row(keras_obj, torch_obj, x))
    if any(isinstance(b, blocks.Dropout) for b in k_chain):
        verdict.notes.append("Dropout is compared in inference mode (the identity): dropout masks "
                             "come from each framework's own random generator")
    return verdict


def _masked(chain: tuple) -> bool:
    first = chain[0]
    return isinstance(first, blocks.Masking) or (isinstance(first, blocks.Embedding)
                                                  and first.mask_zero)


def _model_row(keras_obj, torch_obj, x: np.ndarray) -> Row:
    try:
        diffs = model_parity.assert_model_parity(keras_obj, torch_obj, x)
        detail = ""
    except ParityError as e:
        diffs, detail = e.report, str(e)
    share = max(d.worst.ratio for d in diffs)
    return Row("model", "output", diffs[0].max_abs.difference, diffs[0].max_abs.allowed, share,
               not detail, detail)
