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

from parity.core import exercised, inputs, progress, weight_verdict
from parity.core.errors import ParityError, TransferError, UnsupportedConfig
from parity.core.frameworks import keras, torch
from parity.core.mismatch import diff, format_point
from parity.core.tolerances import POLICY, TOLERANCES, from_runs, perturbation_size
from parity.layers import jax_side, keras_side, module_state, torch_side
from parity.models import blocks as models
from parity.models import native
from parity.models.optim import Adam, Loss, Optimizer

SEED = 20261126
PATTERNS = ("random",) * POLICY.model_runs  # random-sign rounding errors, one pattern per run
# the perturbed runs' root mean square deviation alone (factor 1, no floor): a weight's noise is
# the largest seen so far (see _Judge), and the policy's factor and floor are applied after that
_NOISE_ONLY = dataclasses.replace(POLICY, factor=1.0, floor_ulps=0.0)
FLOAT32_ROUNDOFF = TOLERANCES["float32"].unit_roundoff


@dataclass(frozen=True)
class Batch:
    """Inputs (token ids (batch, time) or features (batch, time, features)), integer labels and an
    optional boolean loss mask (batch, time).

    Examples:
        >>> import numpy as np, parity
        >>> batch = parity.Batch(np.array([[1, 2, 3]]), np.array([1]))
        >>> batch.x.shape, batch.mask is None
        ((1, 3), True)
    """

    x: np.ndarray
    y: np.ndarray
    mask: np.ndarray | None = None


@dataclass(frozen=True)
class Step:
    """One optimizer step: the losses computed before it, the weights after it."""

    index: int
    loss_keras: float
    loss_torch: float
    loss_reference: float
    loss_allowed: float          # one framework vs the reference; the frameworks may differ by 2x
    param_gap: float             # largest |keras - torch| over every weight element
    param_where: str             # which weight and element
    param_allowed: float         # the cross-framework tolerance at that element
    share_used: float            # largest |difference| / tolerance over losses and weights, 3 pairs
    tightest: str                # the comparison that used that share
    failure: str = ""            # the first broken comparison of this step, if any

    @property
    def loss_gap(self) -> float:
        return abs(self.loss_keras - self.loss_torch)


@dataclass
class TrainingRecord:
    """Every step of a lock-step run: both frameworks' losses and the float64 reference's, the
    largest weight gap, the share of the tolerance used and the first failure (``steps``); the
    notes on what was translated (optimizer defaults, data); ``ok``, ``summary()``,
    ``explain()``, ``losses(framework)``, ``share_used``.

    Examples:
        >>> import keras, numpy as np, parity
        >>> model = keras.Sequential([keras.Input((3, 2)), keras.layers.LSTM(2),
        ...                           keras.layers.Dense(2)])
        >>> x, y = np.ones((2, 3, 2), dtype="float32"), np.array([0, 1])
        >>> record = parity.train_lockstep(model, parity.to_torch(model), (x, y),
        ...                                loss=parity.SparseCrossEntropy(),
        ...                                optimizer=parity.SGD(0.1), epochs=3)
        >>> record.ok, len(record.losses("keras")), record.summary().split(";")[0]
        (True, 3, 'training parity holds over 3 steps')
    """

    steps: list[Step] = field(default_factory=list)
    context: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(not s.failure for s in self.steps)

    @property
    def largest_loss_gap(self) -> float:
        return max((s.loss_gap for s in self.steps), default=0.0)

    @property
    def largest_param_gap(self) -> float:
        return max((s.param_gap for s in self.steps), default=0.0)

    @property
    def share_used(self) -> float:
        return max((s.share_used for s in self.steps), default=0.0)

    def losses(self, side: str) -> list[float]:
        return [getattr(s, f"loss_{side}") for s in self.steps]

    def summary(self) -> str:
        """One line: verdict, largest loss and weight gaps, share of the tolerance used."""
        failed = any(s.failure for s in self.steps)
        return (f"training parity {'broken' if failed else 'holds'} over {len(self.steps)} steps; "
                f"largest loss gap {self.largest_loss_gap:.3g}, largest weight gap "
                f"{self.largest_param_gap:.3g}, {self.share_used:.1%} of tolerance used")

    def explain(self) -> str:
        failed = [s for s in self.steps if s.failure]
        lines = [self.summary()]
        if failed:
            first = failed[0]
            lines += [f"first failure at step {first.index}: {first.failure}",
                      f"  losses there: keras {first.loss_keras:.9g}, torch {first.loss_torch:.9g}, "
                      f"float64 reference {first.loss_reference:.9g} (allowed +-{first.loss_allowed:.3g})",
                      f"  {len(failed)} of {len(self.steps)} steps fail"]
        lines += [f"note: {n}" for n in self.notes]
        if self.context:
            lines.append(f"reproduce: {self.context}")
        return "\n".join(lines)


# ------------------------------------------------------------------------------- the two sides

def _first(result):
    return result[0] if isinstance(result, (list, tuple)) else result


def as_torch_model(obj):
    """A torch module whose call returns logits first; a plain recurrent module is wrapped (its
    parameters are shared, so training the wrapper trains it)."""
    if isinstance(obj, (models.KerasSequential, torch.nn.Sequential, torch_side.KerasRNN)):
        return obj
    if torch_side.is_torch(obj):
        return torch_side.as_keras_like(obj, torch_side.describe(obj))
    raise TransferError("torch_model", type(obj).__name__, "expected a torch module")


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


def _to_torch_input(x: np.ndarray, dtype) -> torch.Tensor:
    if np.issubdtype(x.dtype, np.integer):
        return torch.from_numpy(x.astype(np.int64))
    return torch.from_numpy(x).to(dtype)


def _model_dtype(module) -> torch.dtype:
    return next(p.dtype for p in module.parameters() if p.is_floating_point())


class _TorchRun:
    def __init__(self, module, loss: Loss, optimizer: Optimizer) -> None:
        self.module, self.loss = module, loss
        self.module.eval()  # inference-mode dropout: see the module docstring
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.optimizer = optimizer.torch(self.params)
        self.grad_hook = None

    def step(self, batch: Batch) -> float:
        dtype = _model_dtype(self.module)
        x = _to_torch_input(batch.x, dtype)
        y = torch.from_numpy(batch.y.astype(np.int64))
        mask = None if batch.mask is None else torch.from_numpy(batch.mask)
        self.optimizer.zero_grad()
        logits = _first(self.module(x))
        self.logit_scale = float(logits.detach().abs().max())
        loss = self.loss.torch(logits, y, mask)
        loss.backward()
        if self.grad_hook:
            self.grad_hook(self.params, batch)
        self.optimizer.step()
        return float(loss.detach())


# Tracing a Keras model's loss and gradients into a tf.function costs about as much as 15 - 20
# eager steps of ten timesteps (a recurrent layer traces its while loop and gradient once,
# whatever the length); an eager step costs in proportion to its timesteps. So a run is traced
# from 160 timesteps trained in all (measured, CPU time: the drawn-model training property, 2
# batches x 2 epochs of up to ten steps, 2.6x cheaper eagerly; the 55-step stacked course
# scenario, 12 steps, 2.0x cheaper traced; the 10-step taggers at 12 steps cheaper eagerly).
TRACE_FROM_TIMESTEPS = 160


class _KerasRun:
    def __init__(self, model, loss: Loss, optimizer: Optimizer, *, timesteps: int) -> None:
        backend = keras.backend.backend()
        if backend not in ("tensorflow", "torch", "jax"):
            raise UnsupportedConfig("keras backend", backend, "training parity supports the "
                                    "tensorflow, jax and torch backends")
        self.model, self.loss, self.backend = model, loss, backend
        self.variables = list(model.trainable_variables)
        self.optimizer = optimizer.keras()
        self.optimizer.build(self.variables)
        if backend == "tensorflow":
            import tensorflow as tf

            def loss_and_gradients(x, y, mask):
                with tf.GradientTape() as tape:
                    loss = self.loss.keras(_first(self.model(x, training=False)), y, mask)
                return loss, tape.gradient(loss, self.variables)
            # traced once per batch shape (eager Keras RNNs run step by step in Python); the
            # optimizer stays eager so that its per-step epsilon is read at every step
            self._loss_and_gradients = tf.function(loss_and_gradients, reduce_retracing=True) \
                if timesteps >= TRACE_FROM_TIMESTEPS else loss_and_gradients
        if backend == "jax":
            # always compiled: eager Keras on JAX compiles each recurrent layer's scan at every
            # call anyway; one compilation serves every model of this configuration and loss
            template, self._jax_step = jax_side.compiled(
                model, ("training", loss), lambda t: _jax_loss_and_gradients(t, loss))
            if len(template.trainable_variables) != len(self.variables):
                raise UnsupportedConfig("model", type(model).__name__, "a model that Keras can "
                                        "rebuild from its config (keras.saving)")

    def step(self, batch: Batch) -> float:
        x = batch.x.astype(np.int32) if np.issubdtype(batch.x.dtype, np.integer) else batch.x
        if self.backend == "tensorflow":
            loss, grads = self._loss_and_gradients(x, batch.y, batch.mask)
        elif self.backend == "jax":
            loss, grads = self._jax_step([v.value for v in self.variables],
                                         [v.value for v in self.model.non_trainable_variables],
                                         x, batch.y, batch.mask)
        else:
            for v in self.variables:
                v.value.grad = None
            loss = self.loss.keras(_first(self.model(x, training=False)), batch.y, batch.mask)
            loss.backward()
            grads = [v.value.grad for v in self.variables]
        self.optimizer.apply_gradients(zip(grads, self.variables))
        return float(keras.ops.convert_to_numpy(loss))


def _jax_loss_and_gradients(template, loss: Loss):
    """``jax.jit(jax.value_and_grad(...))`` of the loss of ``template`` (a clone standing for the
    trained model: :mod:`parity.layers.jax_side`) w.r.t. its trainable variables' values; the
    optimizer is applied eagerly, as on TensorFlow, so that its per-step epsilon is read."""
    import jax

    trainable, frozen = template.trainable_variables, template.non_trainable_variables

    def value(values, frozen_values, x, y, mask):
        with jax_side.stateless([*trainable, *frozen], [*values, *frozen_values]):
            return loss.keras(_first(template(x, training=False)), y, mask)

    return jax.jit(jax.value_and_grad(value))


# ------------------------------------------------------------------------------- perturbations

def _fan_in(block_or_module) -> int:
    if isinstance(block_or_module, models.Dense):
        return block_or_module.input_size + 1
    if isinstance(block_or_module, models.Recurrent):
        spec = block_or_module.spec
        return spec.input_size + spec.units + 1
    return 0


def _perturbable_layers(module) -> list[tuple[torch.nn.Module, int]]:
    if isinstance(module, models.KerasSequential):
        return [(layer, _fan_in(block)) for block, layer in zip(module.blocks, module.layers)
                if _fan_in(block)]
    if isinstance(module, torch_side.KerasRNN):
        return [(module, _fan_in(models.Recurrent(module.spec)))]
    blocks, owners = models.read_torch(module)[0], models.torch_parts(module)[1]
    return [(o, _fan_in(b)) for b, o in zip(blocks, owners) if _fan_in(b)]


class Perturbation:
    """Rounding errors of size ``u`` injected into a float64 run (see the module docstring)."""

    def __init__(self, pattern: str, u: float, seed: int) -> None:
        self.pattern, self.u = pattern, u
        self.generator = torch.Generator().manual_seed(seed)

    def signs(self, like: torch.Tensor) -> torch.Tensor:
        if self.pattern == "+":
            return torch.ones_like(like)
        if self.pattern == "-":
            return -torch.ones_like(like)
        bits = torch.randint(0, 2, like.shape, generator=self.generator)
        return (2 * bits - 1).to(like.dtype)

    def attach(self, module) -> None:
        for layer, fan_in in _perturbable_layers(module):
            def hook(_module, _inputs, output, n=fan_in):
                first = _first(output)
                perturbed = first * (1 + self.signs(first) * perturbation_size(n, self.u))
                if isinstance(output, tuple):
                    return (perturbed, *output[1:])
                return perturbed
            layer.register_forward_hook(hook)

    def weights(self, module) -> None:
        """Scale every Dense and recurrent weight by ``1 + s sqrt(n) u`` (n = the layer's fan-in)."""
        with torch.no_grad():
            for layer, fan_in in _perturbable_layers(module):
                for p in layer.parameters():
                    p.mul_(1 + self.signs(p) * perturbation_size(fan_in, self.u))

    def step_size(self, optimizer, spec: Optimizer, step: int) -> None:
        """Move the learning rate by the step size's rounding error (see ``step_size_condition``).
        At least float32's: TensorFlow makes Python-float hyperparameters float32 constants before
        Keras casts them to the variable's dtype, so even a float64 model's Adam bias correction
        uses float32-rounded betas (Keras 3.15, TF backend: 6.7e-6 of the first step)."""
        sign = float(self.signs(torch.zeros(1, dtype=torch.float64)))
        u = max(self.u, FLOAT32_ROUNDOFF)
        for group in optimizer.param_groups:
            group["lr"] = spec.learning_rate * (1 + sign * spec.step_size_condition(step) * u)

    def gradients(self, params, batch: Batch) -> None:
        terms = int(np.prod(batch.x.shape[:2]))
        for p in params:
            if p.grad is not None:
                g = p.grad
                # structural zeros (weights of inputs absent from the batch) are exact in every
                # framework: no noise there
                scale = (g.abs() + g.pow(2).mean().sqrt()) * (g != 0)
                g.add_(self.signs(g) * perturbation_size(terms, self.u) * scale)

    def parameters(self, params) -> None:
        with torch.no_grad():
            for p in params:
                p.add_(self.signs(p) * self.u * p.abs())


# ------------------------------------------------------------------------------- lock step

def _weights(obj) -> dict[str, np.ndarray]:
    blocks, weights = models.read(obj)
    return models.named_arrays(blocks, weights)


def weight_mismatches(keras_model, torch_model) -> list[weight_verdict.WeightMismatch]:
    """Every weight of the two models that differs beyond what the transfer allows: bit-identical,
    except the sum of a recurrent layer's two biases, which torch -> Keras rounds once."""
    torch_model = as_torch_model(torch_model)
    (kb, kw), (tb, tw) = models.read(keras_model), models.read(torch_model)
    models.check_same_blocks(kb, tb)
    k, t = models.named_arrays(kb, kw), models.named_arrays(tb, tw)
    rounded = models.rounded_biases(kb, k)
    unit_roundoff = TOLERANCES[dtype_name(torch_model)].unit_roundoff
    return weight_verdict.mismatches(k, t, unit_roundoff, rounded=rounded)


def _check_same_start(keras_model, torch_model) -> None:
    # bit-identical, except torch's two biases, compared as their sum rounded as Keras stores it
    mismatches = weight_mismatches(keras_model, torch_model)
    if mismatches:
        raise TransferError("weights", str(mismatches[0]), "both models must start from the same "
                            "weights; build one from the other with parity.to_torch / "
                            "parity.to_keras or copy with parity.copy_weights")


def _check_trainable(keras_model, torch_model) -> None:
    if not isinstance(torch_model, models.KerasSequential):
        return
    for i, (block, layer) in enumerate(zip(torch_model.blocks, torch_model.layers)):
        if isinstance(block, models.Embedding) and layer.weight.requires_grad != block.trainable:
            raise TransferError("trainable", block.trainable, f"layer {i} is an Embedding whose torch "
                                f"weight has requires_grad={layer.weight.requires_grad}; match them")


def _check_logits(torch_model) -> None:
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


def _sparse_adam(keras_model, optimizer: Optimizer) -> bool:
    if not isinstance(optimizer, Adam) or keras.backend.backend() != "tensorflow":
        return False
    return any(isinstance(layer, keras.layers.Embedding) and layer.trainable
               for layer in getattr(keras_model, "layers", []))


def dtype_name(torch_model) -> str:
    return torch_side.DTYPE_NAMES[_model_dtype(torch_model)]


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
    inputs.check_finite_weights(keras_model, "keras")
    inputs.check_finite_weights(torch_model, "torch")
    _check_same_start(keras_model, torch_model)
    _check_logits(torch_model)
    _check_trainable(keras_model, torch_model)
    record = TrainingRecord(context=context)
    frozen = _freeze_second_biases(torch_model)
    if frozen:
        record.notes.append(f"torch {', '.join(sorted(set(frozen)))} frozen (Keras has one bias; "
                            "only the sum trains)")
    if _sparse_adam(keras_model, optimizer):
        record.notes.append(
            "Keras (TensorFlow backend) applies Adam to an Embedding's sparse gradient slice by "
            "slice: where a token repeats within a batch, its second moment gets the sum of the "
            "squared slices instead of the square of their sum (keras ops.square on IndexedSlices), "
            "so the embedding trains differently from torch's dense Adam; freeze it, use SGD, or "
            "expect a mismatch on repeated tokens")
    dtype = dtype_name(torch_model)
    u = TOLERANCES[dtype].unit_roundoff

    reference = copy.deepcopy(torch_model).double()
    timesteps = epochs * sum(b.x.shape[1] if b.x.ndim > 1 else 1 for b in batches)
    runs = {"keras": _KerasRun(keras_model, loss, optimizer, timesteps=timesteps),
            "torch": _TorchRun(torch_model, loss, optimizer),
            "reference": _TorchRun(reference, loss, optimizer)}
    perturbed = []
    for k, pattern in enumerate(PATTERNS):
        module = copy.deepcopy(reference)
        noise = Perturbation(pattern, u, SEED + k)
        noise.attach(module)
        run = _TorchRun(module, loss, optimizer)
        run.grad_hook = noise.gradients
        perturbed.append((run, noise))

    index, judge = 0, _Judge(keras_model, torch_model, reference,
                             [r.module for r, _ in perturbed], dtype)
    bar = progress.bar(total=epochs * len(data.epoch(0)), desc="lock-step training")
    for epoch in range(epochs):
        for batch in data.epoch(epoch):
            index += 1
            bar.update()
            optimizer.before_step(index, runs["keras"].optimizer,
                                  [r.optimizer for r in runs.values() if isinstance(r, _TorchRun)]
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
    specs, masked = models.checked_layers(keras_model)
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
            out = _first(model(xs, training=False))
        return np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float64)
    module = as_torch_model(model)
    with module_state.left_as_found(module), torch.no_grad():
        module.eval()
        out = _first(module(_to_torch_input(x, _model_dtype(module))))
    return out.to(torch.float64).numpy()


def _jax_logits(template):
    import jax

    trainable, frozen = template.trainable_variables, template.non_trainable_variables

    def logits(values, frozen_values, x):
        with jax_side.stateless([*trainable, *frozen], [*values, *frozen_values]):
            return _first(template(x, training=False))

    return jax.jit(logits)
