"""The shipped parity checks: pytest modules over the :mod:`parity.checks` library, run by
``python -m parity check`` (``pytest -p parity.pytest_plugin --pyargs parity.suite``). Nothing in
the package imports them; they may use any layer, and the plugin's options.

- ``test_recurrent``: hypothesis-drawn layers (every cell, Bidirectional, stacks, masks, states),
  Keras <-> torch against the float64 oracle, forward and gradients
- ``test_models``: hypothesis-drawn whole Keras models ported to torch, forward and lock-step
  training
- ``test_keras_masks``: masks made by Keras' own layers (Masking, Embedding with mask_zero)
- ``test_golden``: constant initialisers against an independent scalar recurrence
- ``test_lab_12_0``, ``test_scenarios``: the course's lab and scenarios (parity/data/scenarios)
- ``test_known_differences``: each known difference between Keras' backends still as described
- ``test_onnx``: ONNX Runtime as further implementations (the ``onnx`` extra)
- ``test_cuda``: torch on CUDA against the oracle (skipped without a CUDA device)
"""
