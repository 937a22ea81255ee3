"""Time the recurrent core of both frameworks: each cell, forward and training step (forward +
backward), on each execution path, over the chosen size set. Build, trace and compile happen in
``bench.prepare``; each path's output is checked against the float64 oracle before it is timed."""

from __future__ import annotations

import time

import pytest

from parity.bench import stats as bench_stats
from parity.bench import workloads as bench
from parity.core.errors import UnsupportedConfig
from parity.core.spec import RecurrentSpec

TARGET_SECONDS = {"smoke": 0.15, "full": 0.5}  # timed seconds per benchmark and window
_PREPARED: dict = {}  # built and compiled once, timed in every window


def test_recurrent_core(benchmark, request, window, cell, size, pass_, path):
    device = bench.path_device(path)
    if device == "cuda" and not bench.cuda_available():
        pytest.skip(f"no CUDA device: {path} runs only on a GPU machine")
    if size.gpu_only and device == "cpu":
        pytest.skip(f"size {size.name} runs on GPU only ({path} runs on the CPU)")
    spec = RecurrentSpec(cell, size.units, size.input_size, return_sequences=True)
    key = (spec, size, pass_, path)
    if key not in _PREPARED:
        try:
            _PREPARED[key] = bench.prepare(spec, size, pass_, path)
        except UnsupportedConfig as e:
            _PREPARED[key] = e
        else:
            _PREPARED[key].check()  # timing a wrong computation is void
    timed = _PREPARED[key]
    if isinstance(timed, UnsupportedConfig):
        pytest.skip(str(timed))
    # 1.0 unless the session was started with $PARITY_BENCH_SLOWDOWN (detection-rate runs)
    slowdown = request.config.parity_slowdown
    call = bench.slowed_call(timed.call, slowdown)

    start = time.perf_counter()
    call()
    once = time.perf_counter() - start
    target = TARGET_SECONDS[request.config.getoption("bench_sizes")]
    # compare calls a window with fewer rounds unstable (its minimum means little)
    rounds = max(bench_stats.MIN_ROUNDS, min(300, int(target / max(once, 1e-6))))

    flops = bench.flops(spec, size.batch, size.steps, pass_)
    benchmark.group = f"{cell} {size.name} {pass_}"
    benchmark.extra_info.update(
        window=window, cell=cell, size=size.name, batch=size.batch, steps=size.steps,
        input_size=size.input_size, units=size.units, pass_=pass_, path=path,
        framework="torch" if path.startswith("torch") else "keras", kernel=timed.kernel,
        flops=flops, threads=request.config.parity_threads, device=bench.device_name(timed.device),
        device_kind=timed.device, **({"slowdown": slowdown} if slowdown != 1 else {}))
    before = bench.reference_seconds(timed.device)
    benchmark.pedantic(call, rounds=rounds, warmup_rounds=1, iterations=1)
    after = bench.reference_seconds(timed.device)
    # the faster of the two: interference only adds time (parity.bench.stats)
    benchmark.extra_info["reference"] = {
        "seconds": min(before, after), "before": before, "after": after,
        "workload": bench.REFERENCE_WORKLOAD, "flops": bench.REFERENCE_FLOPS}
    if benchmark.stats is not None:  # None under --benchmark-disable
        median = benchmark.stats.stats.median
        gflops = flops / median / 1e9
        benchmark.extra_info.update(
            gflops=gflops, peak_fraction=gflops / bench.gemm_peak_gflops(timed.device))
