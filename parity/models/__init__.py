"""Whole models: their blocks (Embedding, Masking, recurrent layers, Dropout, Dense) on both sides
(:mod:`~parity.models.blocks`), the public transfer entry points for layers and models
(:mod:`~parity.models.transfer`), matching losses and optimizers (:mod:`~parity.models.optim`) and
lock-step training (:mod:`~parity.models.training`). Depends on :mod:`parity.layers` and below."""
