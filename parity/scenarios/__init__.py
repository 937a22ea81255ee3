"""The seed's course scenarios (:mod:`~parity.scenarios.course`) trained in both frameworks in
lock step, and their report (:mod:`~parity.scenarios.report`). Depends on :mod:`parity.checks`
and below."""
