"""One recurrent layer (or stack) on each side: reading and writing Keras layers
(:mod:`~parity.layers.keras_side`) and torch modules (:mod:`~parity.layers.torch_side`, which also
holds :class:`parity.KerasRNN`), and the exact transfer between them
(:mod:`~parity.layers.transfer`). Depends on :mod:`parity.core` only."""
