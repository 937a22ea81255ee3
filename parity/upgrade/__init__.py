"""Framework upgrade gating: golden outputs recorded with one set of versions and compared with
another (:mod:`~parity.upgrade.golden`), and the gate that combines them with benchmark
comparison into one exit code (:mod:`~parity.upgrade.gate`)."""
