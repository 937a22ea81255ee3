"""Whole models: their blocks (Embedding, Masking, recurrent layers, Dropout, Dense) described once
(:mod:`~parity.models.blocks`), read, built and written on each side
(:mod:`~parity.models.keras_blocks`, :mod:`~parity.models.torch_blocks`) and moved between them
(:mod:`~parity.models.chains`); the public transfer entry points for layers and models
(:mod:`~parity.models.transfer`), matching losses and optimizers (:mod:`~parity.models.optim`) and
lock-step training (:mod:`~parity.models.training`, its record :mod:`~parity.models.training_record`,
each framework's run :mod:`~parity.models.training_runs`, the perturbed runs' rounding
:mod:`~parity.models.perturbation`, the start-state checks :mod:`~parity.models.training_start`).
Depends on :mod:`parity.layers` and below."""
