"""Parity checks: pytest modules that ship with the package (``pytest --pyargs parity.checks``)."""
