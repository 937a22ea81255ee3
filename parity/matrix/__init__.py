"""The backend matrix: the canonical cases computed by Keras on each installed backend (one
process each) and by the torch module, every pair compared against the float64 oracle's tolerance
(:mod:`~parity.matrix.worker`, :mod:`~parity.matrix.table`, :mod:`~parity.matrix.run`); and the
support table aggregated from the shipped checks' recorded outcomes (:mod:`~parity.matrix.support`).
Depends on :mod:`parity.upgrade` (its canonical cases) and below."""
