"""The numerical core every check stands on; imports nothing else from ``parity``.

- :mod:`~parity.core.spec`: one framework-neutral description of a recurrent layer and its weights
  in Keras' layout, which the Keras side, the torch side and the oracle are all built from.
- :mod:`~parity.core.oracle`: the float64 reference (one step loop, Keras' masking semantics).
- :mod:`~parity.core.emulation` and :mod:`~parity.core.tolerances`: the oracle rerun with
  randomised float32 rounding, and the one tolerance policy derived from it.
- :mod:`~parity.core.weight_verdict`: transferred weights must be bit-identical.
- :mod:`~parity.core.masking`, :mod:`~parity.core.errors`, :mod:`~parity.core.outputs` (files
  written atomically, never over a user's), :mod:`~parity.core.frameworks` (import order).
"""
