"""Each framework's side of a lock-step training run (:mod:`parity.models.training`): a torch run
(also the float64 reference and the perturbed runs) and a Keras run on the TensorFlow, JAX or
torch backend, each taking one optimizer step per batch, and the torch model they train."""

from __future__ import annotations

import numpy as np

from parity.core.errors import TransferError, UnsupportedConfig
from parity.core.frameworks import keras, torch
from parity.layers import jax_side, torch_side
from parity.models import torch_blocks
from parity.models.optim import Loss, Optimizer
from parity.models.training_record import Batch


def first_output(result):
    """The first of a model's outputs (the logits), or its only one."""
    return result[0] if isinstance(result, (list, tuple)) else result


def as_torch_model(obj):
    """A torch module whose call returns logits first; a plain recurrent module is wrapped (its
    parameters are shared, so training the wrapper trains it)."""
    if isinstance(obj, (torch_blocks.KerasSequential, torch.nn.Sequential, torch_side.KerasRNN)):
        return obj
    if torch_side.is_torch(obj):
        return torch_side.as_keras_like(obj, torch_side.describe(obj))
    raise TransferError("torch_model", type(obj).__name__, "expected a torch module")



def to_torch_input(x: np.ndarray, dtype) -> torch.Tensor:
    """Token ids as int64, features in the model's dtype."""
    if np.issubdtype(x.dtype, np.integer):
        return torch.from_numpy(x.astype(np.int64))
    return torch.from_numpy(x).to(dtype)


def model_dtype(module) -> torch.dtype:
    """The dtype of the module's first floating-point parameter."""
    return next(p.dtype for p in module.parameters() if p.is_floating_point())


class TorchRun:
    """A torch module trained in inference mode, one optimizer step per :meth:`step`."""

    def __init__(self, module, loss: Loss, optimizer: Optimizer) -> None:
        self.module, self.loss = module, loss
        self.module.eval()  # inference-mode dropout: see the module docstring
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.optimizer = optimizer.torch(self.params)
        self.grad_hook = None

    def step(self, batch: Batch) -> float:
        dtype = model_dtype(self.module)
        x = to_torch_input(batch.x, dtype)
        y = torch.from_numpy(batch.y.astype(np.int64))
        mask = None if batch.mask is None else torch.from_numpy(batch.mask)
        self.optimizer.zero_grad()
        logits = first_output(self.module(x))
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


class KerasRun:
    """A Keras model trained on its backend, one optimizer step per :meth:`step`."""

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
                    loss = self.loss.keras(first_output(self.model(x, training=False)), y, mask)
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
            loss = self.loss.keras(first_output(self.model(x, training=False)), batch.y, batch.mask)
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
            return loss.keras(first_output(template(x, training=False)), y, mask)

    return jax.jit(jax.value_and_grad(value))

def dtype_name(torch_model) -> str:
    """The torch model's dtype as the tolerance tables name it (``"float32"``)."""
    return torch_side.DTYPE_NAMES[model_dtype(torch_model)]

