"""Time the harness itself: seconds per drawn example of the forward, gradient and training checks
(the work ``pytest`` does per hypothesis example), so that a slower harness shows up in
``python -m parity compare`` like any other regression.

The examples are drawn under a derandomised profile (the same in every run), past its first few
(smallest) ones: small one-layer cases for the layer checks, the training property's models. The reference
pipeline's cache is emptied before every round: each round pays for the float64 reference and the
tolerance runs, as a fresh example does.
"""

from __future__ import annotations

from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from parity.bench import stats as bench_stats
from parity.bench import workloads as bench
from parity.checks import reference, strategies
from parity.checks.cases import check_case, check_gradients

EXAMPLES = {"forward": 2, "gradient": 1, "training": 1}  # drawn examples timed per round
# one-layer specs of at most 8 units and 8 steps: a round stays short enough for the main job
SMALL = strategies.parity_cases(specs=strategies.recurrent_specs(max_units=8, max_input_size=8,
                                                                 max_layers=1), max_steps=8)
_DRAWN: dict = {}


SKIP = 3  # a derandomised draw starts with the smallest cases; time the ones after them


def _draw(strategy, count: int) -> list:
    drawn = []

    @settings(max_examples=SKIP + count, derandomize=True, database=None,
              phases=[Phase.generate], deadline=None)
    @given(strategy)
    def collect(value):
        drawn.append(value)

    collect()
    return drawn[SKIP:SKIP + count]


def _examples(check: str) -> list:
    if check not in _DRAWN:
        if check == "training":
            from parity.models import optim
            _DRAWN[check] = _draw(st.tuples(strategies.model_cases(), st.just(optim.Adam(0.01))),
                                  EXAMPLES[check])
        else:
            _DRAWN[check] = _draw(SMALL, EXAMPLES[check])
    return _DRAWN[check]


def _round(check: str):
    examples = _examples(check)

    def run():
        reference.clear_cache()  # every round pays for its references
        for example in examples:
            if check == "forward":
                check_case(example, "keras_to_torch")
            elif check == "gradient":
                check_gradients(example, "keras_to_torch")
            else:
                from parity.suite.test_models import model_trains_the_same
                model_trains_the_same(*example)
    return run


def pytest_generate_tests(metafunc):
    windows = metafunc.config.getoption("bench_windows")
    metafunc.parametrize("window", range(windows), ids=[f"w{i}" for i in range(windows)])
    metafunc.parametrize("check", list(EXAMPLES))


def test_harness(benchmark, request, window, check):
    run = _round(check)
    run()  # warm: imports, first traces
    benchmark.group = f"harness {check}"
    benchmark.extra_info.update(
        window=window, cell="harness", size=request.config.getoption("bench_sizes"),
        pass_=check, path="parity-check", framework="parity", examples=len(_examples(check)),
        # no arithmetic count is meaningful for a whole check: one "flop" per drawn example
        flops=len(_examples(check)), kernel=f"{len(_examples(check))} drawn example(s) per round",
        threads=request.config.parity_threads, device=bench.device_name("cpu"), device_kind="cpu")
    before = bench.reference_seconds("cpu")
    benchmark.pedantic(run, rounds=bench_stats.MIN_ROUNDS, warmup_rounds=0, iterations=1)
    after = bench.reference_seconds("cpu")
    benchmark.extra_info["reference"] = {
        "seconds": min(before, after), "before": before, "after": after,
        "workload": bench.REFERENCE_WORKLOAD, "flops": bench.REFERENCE_FLOPS}
    if benchmark.stats is not None:
        benchmark.extra_info["seconds_per_example"] = \
            benchmark.stats.stats.median / len(_examples(check))
