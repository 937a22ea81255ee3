"""Port a whole model between the frameworks and check the port: ``parity.port(model)``
(:func:`parity.porting.convert.port`) and ``python -m parity port``.

- :mod:`parity.porting.convert`: convert, then judge every layer (forward and gradient parity on
  drawn inputs of the model's own shapes, weights exactly) and the whole model's output.
- :mod:`parity.porting.verdict`: the result, one row per layer and check.
- :mod:`parity.porting.files`: saved models in (``.keras``, ``.h5``, a torch factory and a state
  dict) and out (state dict + architecture + loader script, or a ``.keras`` file).
- :mod:`parity.porting.cli`: the ``port`` command (``add_parser`` and ``run``).

Nothing here imports a framework until it is used, so the command line starts quickly.
"""
