"""Parity checks: the logic users call from their own tests (layer :mod:`~parity.checks.compare`,
:mod:`~parity.checks.gradients`, :mod:`~parity.checks.model_parity`, drawn
:mod:`~parity.checks.cases` and hypothesis :mod:`~parity.checks.strategies`). The pytest modules
that ship with the package, and use it, are :mod:`parity.suite`. Depends on
:mod:`parity.models` and below."""
