"""Evidence for the tolerance policy: how close correct implementations come to it
(:mod:`~parity.calibration.calibrate`), the corruptions it must catch
(:mod:`~parity.calibration.corruptions`), and the hypothesis sweep behind
``python -m parity sweep`` (:mod:`~parity.calibration.sweep`)."""
