"""Data the shipped checks need, installed with the package (``importlib.resources``): the
course scenarios (``scenarios/*.json``, format in ``scenarios/README.md``). ``fixtures/scenarios``
in the checkout points here."""
