"""Framework upgrade gating: golden outputs recorded with one set of versions and compared with
another (:mod:`~parity.upgrade.golden`; the baseline's files :mod:`~parity.upgrade.baseline`,
what a comparison found :mod:`~parity.upgrade.drift`), and the gate that combines them with
benchmark comparison into one exit code (:mod:`~parity.upgrade.gate`)."""
