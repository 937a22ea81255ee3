"""Parity checks: the logic users call from their own tests (layer :mod:`~parity.checks.compare`,
:mod:`~parity.checks.gradients`, :mod:`~parity.checks.model_parity`, drawn
:mod:`~parity.checks.cases` and hypothesis :mod:`~parity.checks.strategies`), and the pytest
modules that ship with the package (``python -m parity check``, or
``pytest --pyargs parity.checks``). Depends on :mod:`parity.models` and below."""
