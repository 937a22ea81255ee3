"""Port a whole model between the frameworks and check the port: ``parity.port(model)`` and
``python -m parity port``.

- :mod:`parity.port.convert`: convert, then judge every layer (forward and gradient parity on
  drawn inputs of the model's own shapes, weights exactly) and the whole model's output.
- :mod:`parity.port.verdict`: the result, one row per layer and check.
- :mod:`parity.port.files`: saved models in (``.keras``, ``.h5``, a torch factory and a state
  dict) and out (state dict + architecture + loader script, or a ``.keras`` file).
- :mod:`parity.port.cli`: the ``port`` command (``add_parser`` and ``run``).

Nothing here imports a framework until it is used, so the command line starts quickly.
"""

from __future__ import annotations

import sys
import types


class _CallablePackage(types.ModuleType):
    """``parity.port`` is both this package and the function :func:`parity.port.convert.port`:
    importing a submodule makes Python bind the package as the attribute ``parity.port``, so the
    package forwards a call to the function."""

    def __call__(self, *args, **kwargs):
        from parity.port.convert import port

        return port(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
