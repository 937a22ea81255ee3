"""Benchmarks of the recurrent core: what is timed and how (:mod:`~parity.bench.workloads`),
stored runs (:mod:`~parity.bench.results`), their statistics (:mod:`~parity.bench.stats`),
reports and plots, comparison of two runs (:mod:`~parity.bench.compare`) and interleaved A/B
runs (:mod:`~parity.bench.ab`). ``results``, ``stats``, ``compare`` and ``plots`` import no
framework, so comparing stored runs needs neither torch nor TensorFlow."""
