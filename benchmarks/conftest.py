"""pytest-benchmark setup for the recurrent-core benchmarks: size sets, pinned threads, the
machine's measured peak in the run's JSON, and no xdist (parallel workers would share cores).

    pytest benchmarks --bench-sizes=smoke --benchmark-json=run.json --benchmark-save-data
"""

from __future__ import annotations

import os

import pytest

from parity.bench import workloads as bench
from parity.core.frameworks import keras, pin_threads, torch


def pytest_addoption(parser):
    group = parser.getgroup("rnn-parity benchmarks")
    group.addoption("--bench-sizes", choices=sorted(bench.SIZE_SETS), default="smoke",
                    help="which size set to time (default: smoke)")
    group.addoption("--bench-threads", type=int, default=None,
                    help="threads for both frameworks (default: every core)")
    group.addoption("--bench-windows", type=int, default=3,
                    help="time each benchmark in this many windows spread over the session "
                         "(default 3): a slow phase of a shared machine then hits some windows, "
                         "not all, and compare can tell it from a regression")


def pytest_configure(config):
    if getattr(config.option, "numprocesses", None) or hasattr(config, "workerinput"):
        raise pytest.UsageError("benchmarks refuse to run under pytest-xdist: parallel workers "
                                "share the cores and void the timings; drop -n")
    threads = config.getoption("bench_threads") or os.cpu_count()
    if threads < 1:
        raise pytest.UsageError(f"--bench-threads={threads}: must be at least 1")
    if not pin_threads(threads, 1):
        raise pytest.UsageError("cannot pin TensorFlow's threads: its runtime already started "
                                "(a plugin or conftest ran TensorFlow before the benchmarks)")
    config.parity_threads = threads
    try:
        config.parity_slowdown = bench.slowdown_factor()
    except ValueError as e:
        raise pytest.UsageError(str(e)) from e
    bench.disable_tf32()
    for device in _devices():  # peaks measured now, on a quiet process, with the pinned threads
        bench.gemm_peak_gflops(device)


def _devices() -> list[str]:
    return ["cpu", "cuda"] if bench.cuda_available() else ["cpu"]


def pytest_generate_tests(metafunc):
    if "size" not in metafunc.fixturenames:
        return
    sizes = bench.SIZE_SETS[metafunc.config.getoption("bench_sizes")]
    windows = metafunc.config.getoption("bench_windows")
    if windows < 1:
        raise pytest.UsageError(f"--bench-windows={windows}: must be at least 1")
    metafunc.parametrize("window", range(windows), ids=[f"w{i}" for i in range(windows)])
    metafunc.parametrize("size", sizes, ids=[s.name for s in sizes])
    metafunc.parametrize("cell", bench.CELLS)
    metafunc.parametrize("pass_", bench.PASSES)
    metafunc.parametrize("path", bench.PATHS)


def pytest_benchmark_update_machine_info(config, machine_info):
    devices = _devices()
    machine_info["parity"] = {
        # the fastest device's peak; each benchmark's peak_fraction uses its own device's
        "fp32_gemm_peak_gflops": bench.gemm_peak_gflops(devices[-1]),
        "fp32_gemm_peak_gflops_by_device": {d: bench.gemm_peak_gflops(d) for d in devices},
        "peak_method": "best of 10 float32 square matmuls at session start "
                       "(n=2048 CPU, 8192 GPU, TF32 off)",
        "tf32": False,
        # timed around every benchmark window, in extra_info.reference
        "reference_workload": bench.REFERENCE_WORKLOAD,
        "threads": getattr(config, "parity_threads", None),
        "device": bench.device_name(devices[-1]),
        "devices": {d: bench.device_name(d) for d in devices},
        "torch": torch.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "tensorflow": _tensorflow_version(),
    }
    slowdown = getattr(config, "parity_slowdown", 1.0)
    if slowdown != 1:  # a deliberately slowed run must never pass for a real one
        machine_info["parity"]["synthetic_slowdown"] = slowdown


def _tensorflow_version():
    try:
        import tensorflow as tf
    except ImportError:
        return None
    return tf.__version__
