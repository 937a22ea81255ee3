"""Lock-step training parity: the same model, weights, batches (fixed order) and optimizer in both
frameworks, step by step, judged against a float64 reference run.

Matched semantics (each a silent source of diverging curves when left to defaults):

- Adam's epsilon: see :mod:`parity.models.optim` (stated once, converted for the other framework per step).
- Biases: where the Keras cell has one bias, torch's ``bias_hh`` is frozen for the run, so
  torch trains the same parameters (left trainable, both torch biases get the full gradient and
  their sum moves twice as far per SGD step).
- Frozen layers: a Keras ``trainable=False`` Embedding must be ``requires_grad=False`` in torch.
- Dropout: both run in inference mode (Dropout is the identity). Dropout masks come from each
  framework's own RNG and cannot be made equal, so training-mode dropout cannot be compared step
  by step; at rate 0 or in inference mode the computation is identical.

Tolerance, the policy of :mod:`parity.core.tolerances` for whole models: the run is repeated in float64
by torch (the reference) and ``POLICY.model_runs`` more times with rounding errors of the training
dtype injected with random signs at every step: every layer output is scaled by ``1 + s sqrt(n) u``
(n = the layer's fan-in), every nonzero gradient element moved by ``s sqrt(n) u (|g| + rms(g))``
(n = batch x time terms summed, the rms standing for the terms' scale; exact zeros, from inputs
absent from the batch, are exact in every framework) and every updated parameter by ``s u |p|``,
and the step size by its own rounding error (Keras computes Adam's ``1 - beta^t`` in the model's
dtype, where it cancels: ~6e-6 of the step size in float32 at step 1; see
``step_size_condition``). sqrt(n) is the probabilistic growth of a sum's rounding error (Higham &
Mary 2019); the worst case n u was 10^3 - 10^4 times wider than the observed gaps after ten steps.
The root mean square deviation of those runs from the reference, per step for the loss and per
element for every parameter (the largest so far: see ``_Judge``), times the policy's factor, plus
the storage rounding of the value, is what one framework may miss the reference by; the two
frameworks may differ by sqrt(2) times that. The loss also carries its own rounding,
``u (|loss| + max|logit|)``: log-softmax subtracts logits, so a confident prediction's tiny loss
has an absolute error of order ``u max|logit|``; and the error of each framework's exp and log
approximations (``CPU_ACTIVATION_ULPS u |loss|``, as for activations). Chaotic stretches of
training widen it exactly as much as this trajectory amplifies rounding.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field

import numpy as np

from parity.core import exercised, inputs, progress
from parity.core.errors import ParityError, UnsupportedConfig
from parity.core.frameworks import keras, torch
from parity.core.mismatch import diff, format_point
from parity.core.tolerances import POLICY, TOLERANCES, from_runs
from parity.layers import jax_side, keras_side, module_state, torch_side
from parity.models import chains, native
from parity.models.optim import Adam, Loss, Optimizer
from parity.models.perturbation import PATTERNS, SEED, Perturbation
from parity.models.training_record import Batch as Batch  # what a run takes, importable here
from parity.models.training_record import Step, TrainingRecord
from parity.models.training_runs import (
    KerasRun,
    TorchRun,
    as_torch_model,
    dtype_name,
    first_output,
    model_dtype,
    to_torch_input,
)
from parity.models.training_start import check_start

# the perturbed runs' root mean square deviation alone (factor 1, no floor): a weight's noise is
# the largest seen so far (see _Judge), and the policy's factor and floor are applied after that
_NOISE_ONLY = dataclasses.replace(POLICY, factor=1.0, floor_ulps=0.0)


def _recurrent_modules(module) -> list:
    if isinstance(module, torch_side.KerasRNN):
        return [module]
    return [m for m in module.modules() if isinstance(m, torch_side.KerasRNN)]


def _freeze_second_biases(module) -> list[str]:
    """Freeze bias_hh where Keras has one bias; the names frozen."""
    frozen = []
    for rnn_module in _recurrent_modules(module):
        if rnn_module.spec.use_bias and rnn_module.spec.biases_summed:
            for name, p in rnn_module.rnn.named_parameters():
                if name.startswith("bias_hh") and p.requires_grad:
                    p.requires_grad_(False)
                    frozen.append(name)
    return frozen


# ------------------------------------------------------------------------------- lock step

def _weights(obj) -> dict[str, np.ndarray]:
    blocks, weights = chains.read(obj)
    return chains.named_arrays(blocks, weights)


def _sparse_adam(keras_model, optimizer: Optimizer) -> bool:
    if not isinstance(optimizer, Adam) or keras.backend.backend() != "tensorflow":
        return False
    return any(isinstance(layer, keras.layers.Embedding) and layer.trainable
               for layer in getattr(keras_model, "layers", []))


def _prepare(keras_model, torch_model, optimizer: Optimizer) -> list[str]:
    """Freeze torch's second biases where Keras has one; the notes on what the run changed and
    on where Keras is known to train differently."""
    notes = []
    frozen = _freeze_second_biases(torch_model)
    if frozen:
        notes.append(f"torch {', '.join(sorted(set(frozen)))} frozen (Keras has one bias; "
                     "only the sum trains)")
    if _sparse_adam(keras_model, optimizer):
        notes.append(
            "Keras (TensorFlow backend) applies Adam to an Embedding's sparse gradient slice by "
            "slice: where a token repeats within a batch, its second moment gets the sum of the "
            "squared slices instead of the square of their sum (keras ops.square on IndexedSlices), "
            "so the embedding trains differently from torch's dense Adam; freeze it, use SGD, or "
            "expect a mismatch on repeated tokens")
    return notes


def _perturbed_runs(reference, loss: Loss, optimizer: Optimizer, u: float) -> list:
    """(run, its perturbation) for each of :data:`PATTERNS`: copies of the float64 reference
    carrying rounding errors of size ``u`` (see the module docstring)."""
    perturbed = []
    for k, pattern in enumerate(PATTERNS):
        module = copy.deepcopy(reference)
        noise = Perturbation(pattern, u, SEED + k)
        noise.attach(module)
        run = TorchRun(module, loss, optimizer)
        run.grad_hook = noise.gradients
        perturbed.append((run, noise))
    return perturbed


def train_lockstep(keras_model, torch_model, batches, *, loss, optimizer, epochs: int = 1,
                   context: str = "", shuffle_seed: int | None = None) -> TrainingRecord:
    """Train both models in place, ``epochs`` passes over ``batches``, and record every step
    against the float64 reference (see the module docstring). Raises ``TransferError`` if they do
    not start from the same weights; mismatches are in the record, not raised (see
    :func:`assert_training_parity`). The torch model's modes and ``requires_grad`` flags (set
    for the run: inference mode, ``bias_hh`` frozen) are restored afterwards; its weights keep
    what the run trained.

    Args:
        batches: a list of :class:`Batch` or ``(x, y[, mask])`` tuples, an ``(x, y)`` pair of
            arrays (one batch), a batched ``tf.data.Dataset`` or a ``torch.utils.data.DataLoader``
            (read once); labels (batch,), (batch, 1), (batch, time) or (batch, time, 1), or
            (time,) for a single sequence.
        loss: :class:`parity.SparseCrossEntropy` (mean or sum), :class:`parity.MaskedSequenceCrossEntropy`,
            ``keras.losses.SparseCategoricalCrossentropy(from_logits=True)`` or
            ``torch.nn.CrossEntropyLoss()``.
        optimizer: :class:`parity.Adam` / :class:`parity.SGD`, or a Keras or torch Adam or SGD
            (its hyperparameters read; Adam's epsilon kept in its framework's convention).
        shuffle_seed: shuffle the examples every epoch with this seed, the same order for both
            frameworks (default: the batches in the order given).

    Returns:
        The :class:`TrainingRecord`: mismatches are recorded, not raised.

    Raises:
        TransferError: the two models do not start from the same weights.
        UnsupportedConfig: data, loss or optimizer objects that are none of the above (named,
            with what to pass instead), or no batch or epoch.

    Examples:
        >>> import keras, numpy as np, parity, torch
        >>> model = keras.Sequential([keras.Input((5, 4)), keras.layers.GRU(3),
        ...                           keras.layers.Dense(2)])
        >>> torch_model = parity.to_torch(model)
        >>> x = np.eye(4, dtype="float32")[[[0, 1, 2, 2, 3], [3, 2, 1, 0, 0]]]
        >>> record = parity.train_lockstep(
        ...     model, torch_model, (x, np.array([0, 1])), loss=torch.nn.CrossEntropyLoss(),
        ...     optimizer=keras.optimizers.SGD(0.1))
        >>> record.ok, torch_model.training  # the module is left as it was found
        (True, True)
    """
    data = native.data(batches, shuffle_seed=shuffle_seed)
    loss = native.loss(loss)
    optimizer, notes = native.optimizer(optimizer)
    user_modules = [m for m in (torch_model,) if isinstance(m, torch.nn.Module)]
    with module_state.left_as_found(*user_modules):
        record = _lockstep(keras_model, torch_model, data, loss=loss, optimizer=optimizer,
                           epochs=epochs, context=context)
    record.notes += [*data.notes, *notes]
    return record


def _lockstep(keras_model, torch_model, data: native.Data, *, loss: Loss,
              optimizer: Optimizer, epochs: int = 1, context: str = "") -> TrainingRecord:
    batches = data.batches
    if epochs < 1 or not batches:
        raise UnsupportedConfig("epochs/batches", (epochs, len(batches)),
                                "give at least one batch and one epoch")
    for i, batch in enumerate(batches):
        if np.issubdtype(np.asarray(batch.x).dtype, np.floating):
            inputs.check_finite(f"batches[{i}].x", batch.x)
    torch_model = as_torch_model(torch_model)
    check_start(keras_model, torch_model)
    record = TrainingRecord(context=context, notes=_prepare(keras_model, torch_model, optimizer))
    dtype = dtype_name(torch_model)

    reference = copy.deepcopy(torch_model).double()
    timesteps = epochs * sum(b.x.shape[1] if b.x.ndim > 1 else 1 for b in batches)
    runs = {"keras": KerasRun(keras_model, loss, optimizer, timesteps=timesteps),
            "torch": TorchRun(torch_model, loss, optimizer),
            "reference": TorchRun(reference, loss, optimizer)}
    perturbed = _perturbed_runs(reference, loss, optimizer, TOLERANCES[dtype].unit_roundoff)

    index, judge = 0, _Judge(keras_model, torch_model, reference,
                             [r.module for r, _ in perturbed], dtype)
    bar = progress.bar(total=epochs * len(data.epoch(0)), desc="lock-step training")
    for epoch in range(epochs):
        for batch in data.epoch(epoch):
            index += 1
            bar.update()
            optimizer.before_step(index, runs["keras"].optimizer,
                                  [r.optimizer for r in runs.values() if isinstance(r, TorchRun)]
                                  + [r.optimizer for r, _ in perturbed])
            losses = {side: run.step(batch) for side, run in runs.items()}
            losses_perturbed = []
            for run, noise in perturbed:
                noise.step_size(run.optimizer, optimizer, index)
                losses_perturbed.append(run.step(batch))
                noise.parameters(run.params)
            losses["logit scale"] = runs["reference"].logit_scale
            record.steps.append(judge.step(index, losses, losses_perturbed))
            bar.set_postfix_str(f"{record.steps[-1].share_used:.0%} of tolerance used")
    bar.close()
    return record


_WEIGHT_AXES = {1: ("index",), 2: ("row", "column"), 3: ("dim0", "dim1", "dim2")}


def _worst(name: str, a_name: str, a, b_name: str, b, allowed) -> tuple[float, str]:
    """Largest |a - b| / allowed over the elements, and the element described by the one mismatch
    formatter (:func:`parity.core.mismatch.format_point`)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    t = diff(name, a_name, a, b_name, b, allowed, axis_names=_WEIGHT_AXES.get(a.ndim))
    if t.nonfinite:  # a NaN ratio would compare as "not > 1" and pass silently
        return float("inf"), f"{name}: {t.nonfinite_note()}"
    return t.worst.ratio, f"{name}: {format_point(t, t.worst)}"


@dataclass
class _Judge:
    """Judges each step of one lock-step run. ``seen`` carries each weight's largest envelope so
    far: a perturbed run's deviation can pass through zero when that weight's motion reverses,
    while a real rounding error of that size may still be there, so a weight's envelope never
    shrinks."""

    keras_model: object
    torch_model: object
    reference: object
    perturbed_modules: list
    dtype: str
    seen: dict[str, np.ndarray] = field(default_factory=dict)

    def step(self, index: int, losses: dict[str, float], losses_perturbed: list[float]) -> Step:
        """Judge one step: the losses computed before it, the weights after it."""
        j, dtype, seen = self, self.dtype, self.seen  # short names for the formulas below
        ref_loss = losses["reference"]
        # the loss's own rounding: log-softmax subtracts logits of size max|z|, so a confident
        # prediction's tiny loss carries an absolute error of order u max|z|, whatever the weights;
        # and its exp and log are each framework's approximations, which the perturbed runs do not
        # model (measured from exact float32 logits: up to 2.4 u |loss| on TensorFlow and torch,
        # 3.8 u under jax.jit)
        loss_allowed = float(from_runs(ref_loss, losses_perturbed, dtype, activation=True,
                                       extra_rounding=losses["logit scale"]))
        cross = POLICY.cross
        checks = [_worst("loss", "keras", losses["keras"], "reference", ref_loss, loss_allowed),
                  _worst("loss", "torch", losses["torch"], "reference", ref_loss, loss_allowed),
                  _worst("loss", "keras", losses["keras"], "torch", losses["torch"],
                         cross * loss_allowed)]
        k, t, r = _weights(j.keras_model), _weights(j.torch_model), _weights(j.reference)
        others = [_weights(m) for m in j.perturbed_modules]
        gap, where, gap_allowed = 0.0, "", 0.0
        for name, ref in r.items():
            noise = from_runs(ref, [o[name] for o in others], dtype, policy=_NOISE_ONLY)
            seen[name] = noise = np.maximum(seen.get(name, noise), noise)
            allowed = POLICY.factor * noise + 2 * POLICY.floor_ulps * TOLERANCES[dtype].unit_roundoff \
                * np.abs(ref)
            checks += [_worst(f"weight {name}", "keras", k[name], "reference", ref, allowed),
                       _worst(f"weight {name}", "torch", t[name], "reference", ref, allowed),
                       _worst(f"weight {name}", "keras", k[name], "torch", t[name], cross * allowed)]
            d = np.abs(k[name] - t[name])
            if d.size and d.max() >= gap:
                i = np.unravel_index(int(np.argmax(d)), d.shape)
                gap, where, gap_allowed = float(d[i]), f"{name}{[int(x) for x in i]}", \
                    float(cross * allowed[i])
        share, tightest = max(checks, key=lambda c: c[0])
        failure = next((text for ratio, text in checks if ratio > 1), "")
        return Step(index, losses["keras"], losses["torch"], ref_loss, loss_allowed, gap, where,
                    gap_allowed, share, tightest, failure)


def assert_training_parity(keras_model, torch_model, batches, *, loss, optimizer,
                           epochs: int = 1, context: str = "",
                           shuffle_seed: int | None = None) -> TrainingRecord:
    """:func:`train_lockstep`, raising :class:`parity.ParityError` (with the record) on a mismatch.

    Args:
        keras_model: as for :func:`train_lockstep`.
        torch_model: as for :func:`train_lockstep`.
        batches: as for :func:`train_lockstep`.
        loss: as for :func:`train_lockstep`.
        optimizer: as for :func:`train_lockstep`.
        epochs: as for :func:`train_lockstep`.
        context: as for :func:`train_lockstep`.
        shuffle_seed: as for :func:`train_lockstep`.

    Returns:
        The :class:`TrainingRecord` when every step agrees.

    Raises:
        ParityError: the first step whose loss or weights differ beyond the tolerance, named
            (step, weight, element, both values, allowed), with the record as ``.report``.
        TransferError: the two models do not start from the same weights.

    Examples:
        >>> import keras, numpy as np, parity
        >>> model = keras.Sequential([keras.Input((5, 4)), keras.layers.SimpleRNN(3),
        ...                           keras.layers.Dense(2)])
        >>> torch_model = parity.to_torch(model)
        >>> x = np.eye(4, dtype="float32")[[[0, 1, 2, 2, 3], [3, 2, 1, 0, 0]]]
        >>> record = parity.assert_training_parity(
        ...     model, torch_model, [(x, np.array([0, 1]))],
        ...     loss=parity.SparseCrossEntropy(), optimizer=parity.Adam(0.01), epochs=2)
        >>> record.ok, len(record.steps)
        (True, 2)
    """
    specs, masked = chains.checked_layers(keras_model)
    with exercised.checking(specs, "training", masked=masked):
        record = train_lockstep(keras_model, torch_model, batches, loss=loss,
                                optimizer=optimizer, epochs=epochs, context=context,
                                shuffle_seed=shuffle_seed)
        if not record.ok:
            raise ParityError(record.explain(), record)
    return record


def predict(model, x: np.ndarray) -> np.ndarray:
    """Logits of a Keras or torch model on numpy input, as float64 numpy (inference mode)."""
    if keras_side.is_keras(model):
        xs = x.astype(np.int32) if np.issubdtype(x.dtype, np.integer) else x
        if keras.backend.backend() == "jax":  # compiled once per configuration, as the forward
            _, logits = jax_side.compiled(model, "predict", _jax_logits)  # of a layer (keras_side)
            out = logits([v.value for v in model.trainable_variables],
                         [v.value for v in model.non_trainable_variables], xs)
        else:
            out = first_output(model(xs, training=False))
        return np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float64)
    module = as_torch_model(model)
    with module_state.left_as_found(module), torch.no_grad():
        module.eval()
        out = first_output(module(to_torch_input(x, model_dtype(module))))
    return out.to(torch.float64).numpy()


def _jax_logits(template):
    import jax

    trainable, frozen = template.trainable_variables, template.non_trainable_variables

    def logits(values, frozen_values, x):
        with jax_side.stateless([*trainable, *frozen], [*values, *frozen_values]):
            return first_output(template(x, training=False))

    return jax.jit(logits)
