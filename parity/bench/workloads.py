"""What the benchmarks time, and how: sizes, FLOP counts, the machine's measured peak, and the
timed callables of each framework's execution paths (built, traced and compiled outside timing,
checked against the float64 oracle before timing, GPU-synchronised inside the callable)."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from parity.bench.names import CELLS, PASSES, PATHS  # noqa: F401 - the benchmarks read them here
from parity.checks.cases import ParityCase
from parity.checks.compare import assert_within, oracle_bounds
from parity.core.errors import UnsupportedConfig
from parity.core.frameworks import keras, torch
from parity.core.spec import Outputs, RecurrentSpec
from parity.layers import keras_side, torch_side


@dataclass(frozen=True)
class Size:
    name: str
    batch: int
    steps: int
    input_size: int
    units: int
    gpu_only: bool = False


# smoke: the seed's tiny layer plus one mid size; full: mid, torch fastrnns, DeepBench-derived
SIZE_SETS: dict[str, tuple[Size, ...]] = {
    "smoke": (Size("seed", 1, 5, 4, 2), Size("small", 16, 50, 32, 64)),
    "full": (Size("seed", 1, 5, 4, 2), Size("mid", 32, 100, 128, 128),
             Size("fastrnns", 64, 100, 512, 512),
             Size("deepbench-lstm", 16, 25, 1024, 1024, gpu_only=True),
             Size("deepbench-gru", 32, 187, 1536, 1536, gpu_only=True),
             Size("deepbench-vanilla", 16, 50, 1760, 1760, gpu_only=True)),
}


def flops(spec: RecurrentSpec, batch: int, steps: int, pass_: str) -> int:
    """Multiply-adds of the gate matmuls, 2*g*B*H*(I+H)*T per layer and direction (elementwise
    work ignored); a training step (forward + backward) counts as 3 forwards."""
    total = 0
    for layer in range(spec.num_layers):
        fan_in = spec.layer_input_size(layer)
        total += 2 * spec.cell.gates * batch * spec.units * (fan_in + spec.units) * steps
    total *= spec.directions
    return total * (3 if pass_ == "train" else 1)


def cuda_available() -> bool:
    return torch.cuda.is_available()


def path_device(path: str) -> str:
    """The device a path computes on: torch-cuda on the GPU, the other torch paths on the CPU, and
    the Keras paths wherever Keras' backend places tensors (the GPU, when it sees one)."""
    if path == "torch-cuda":
        return "cuda"
    return "cpu" if path.startswith("torch") else keras_side.device()


def device_name(dev: str = "cpu") -> str:
    if dev == "cuda":
        return torch.cuda.get_device_name()
    import platform
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


def disable_tf32() -> None:
    """TF32 rounds float32 matmul inputs to a 10-bit mantissa on Ampere and later GPUs, which a
    float32 check rightly rejects; benchmarks time float32 as float32 (both frameworks' cuDNN)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        tf.config.experimental.enable_tensor_float_32_execution(False)
    elif keras.backend.backend() == "jax":
        import jax
        jax.config.update("jax_default_matmul_precision", "highest")


def _sync(dev: str, result=None):
    """Wait for ``dev`` to finish: GPU work is asynchronous, and a timer must not stop before it."""
    if dev != "cuda":
        return result
    backend = keras.backend.backend()
    if backend == "jax" and result is not None and not torch.is_tensor(result):
        import jax
        jax.block_until_ready(result)
    elif backend == "tensorflow" and result is not None and not torch.is_tensor(result):
        import tensorflow as tf
        tf.test.experimental.sync_devices()
    else:
        torch.cuda.synchronize()
    return result


@functools.cache
def gemm_peak_gflops(dev: str = "cpu") -> float:
    """The measured float32 GEMM rate of ``dev`` (best of 10 square matmuls, TF32 off), in GFLOP/s.
    Measured once per process and device, first thing in a benchmark session (benchmarks/conftest.py)."""
    n = 8192 if dev == "cuda" else 2048
    if dev == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
    a = torch.randn(n, n, device=dev)
    b = torch.randn(n, n, device=dev)
    _sync(dev, torch.mm(a, b))
    best = float("inf")
    for _ in range(10):
        start = time.perf_counter()
        _sync(dev, torch.mm(a, b))
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


# The reference workload: fixed work timed in the same process right before and after each
# benchmark's timed rounds, so that compare can divide out how fast the machine was at that moment
# (a noisy neighbour, frequency scaling, a slower host) and keep what the code changed.
REFERENCE_SHAPES = {"gemm": 256, "batch": 16, "units": 64, "steps": 50}
REFERENCE_WORKLOAD = ("float32 GEMM 256x256x256, then 50 steps of h = tanh(x W + h U + b) at B=16, "
                      "I=H=64 (torch, on the benchmark's device); best of 5")
REFERENCE_FLOPS = 2 * 256 ** 3 + 50 * 2 * 16 * 64 * (64 + 64)


@functools.cache
def _reference_call(dev: str) -> Callable[[], object]:
    n, b, h, t = (REFERENCE_SHAPES[k] for k in ("gemm", "batch", "units", "steps"))
    gen = torch.Generator().manual_seed(0)
    a, m = (torch.randn(n, n, generator=gen).to(dev) for _ in range(2))
    x = torch.randn(t, b, h, generator=gen).to(dev)
    w, u = (torch.randn(h, h, generator=gen).to(dev) / h ** 0.5 for _ in range(2))
    bias = torch.zeros(h, device=dev)

    def run():
        with torch.no_grad():
            torch.mm(a, m)
            state = torch.zeros(b, h, device=dev)
            for step in range(t):
                state = torch.tanh(x[step] @ w + state @ u + bias)
            return _sync(dev, state)

    run()  # allocator and kernels warm
    return run


def reference_seconds(dev: str = "cpu", repeats: int = 5) -> float:
    """The fastest of ``repeats`` runs of the reference workload on ``dev``, in seconds."""
    run = _reference_call(dev)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


# A test-only knob for measuring what compare and bench ab can see: a benchmark process started
# with PARITY_BENCH_SLOWDOWN=1.1 makes every timed call of the recurrent core 10 % slower, live,
# while the reference workload (the machine's speed) is untouched. Runs made with it say so in
# machine_info and in every report header; a real upgrade never sets it.
SLOWDOWN_ENV = "PARITY_BENCH_SLOWDOWN"


def slowdown_factor(environ=os.environ) -> float:
    """The factor ``$PARITY_BENCH_SLOWDOWN`` asks for (1.0 when unset)."""
    raw = environ.get(SLOWDOWN_ENV, "")
    if raw == "":
        return 1.0
    try:
        factor = float(raw)
    except ValueError:
        factor = float("nan")
    if not (np.isfinite(factor) and factor >= 1):
        raise UnsupportedConfig(SLOWDOWN_ENV, raw, "a factor of at least 1, e.g. 1.1 to make "
                                "the timed recurrent core 10 % slower (unset: no slowdown)")
    return factor


def slowed_call(call: Callable[[], object], factor: float) -> Callable[[], object]:
    """``call``, followed by busy work for ``factor - 1`` times as long as that call took: each
    timed call of the core costs ``factor`` times its own duration, its own noise included (a call
    slowed by a neighbour is followed by proportionally more work), as if the core's kernels had
    become that much slower."""
    if factor == 1:
        return call
    extra = factor - 1

    def run():
        start = time.perf_counter()
        result = call()
        end = time.perf_counter()
        deadline = end + extra * (end - start)
        spins = 0
        while time.perf_counter() < deadline:
            spins += 1  # the work: this thread busy on its core until the deadline
        return result

    return run


def kernel_path(framework: str, spec: RecurrentSpec, path: str) -> str:
    """Which implementation runs, as far as it can be known without a profiler."""
    if framework == "torch":
        if spec.kind == "gru" and not spec.reset_after:
            return "parity.GRUResetBefore step loop"
        if path == "torch-cuda":
            return f"cuDNN {torch.backends.cudnn.version()}" if torch.backends.cudnn.enabled \
                else "CUDA native"
        mkldnn = torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
        kernel = f"aten {spec.kind} CPU kernel (oneDNN {'available' if mkldnn else 'off'})"
        if path == "torch-compile" and not torch._dynamo.config.allow_rnn:
            # Dynamo graph-breaks on nn.RNN/LSTM/GRU: the core runs eagerly between graphs
            kernel += "; Dynamo graph break around the recurrent module (allow_rnn=False)"
        return kernel
    backend = keras.backend.backend()
    if path == "tf-function-xla":
        return "XLA-compiled while loop"
    if keras_side.device() == "cuda" and spec.kind != "simple_rnn":
        return f"Keras {backend} backend: cuDNN where Keras' conditions hold, else its step loop"
    return f"Keras {backend} backend generic step loop"


@dataclass
class Timed:
    """A ready-to-time callable and what it is."""

    call: Callable[[], object]
    check: Callable[[], None]   # asserts the path computes the right thing (run once, untimed)
    kernel: str
    device: str                 # "cpu" or "cuda"


def _loss_weights(shape, dtype, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(dtype)


_BOUNDS: dict = {}  # (spec, size, device) -> OracleBounds: the costly oracle run, shared by paths


def prepare(spec: RecurrentSpec, size: Size, pass_: str, path: str) -> Timed:
    """Build, transfer, trace/compile and warm up ``path`` for ``spec`` at ``size``, with its
    inputs already on the path's device."""
    case = ParityCase(spec, size.batch, size.steps, seed=0)
    x = case.inputs()
    layer = keras_side.build(spec)
    keras_side.write_weights(layer, case.weights())
    out_shape = (size.batch, size.steps, spec.output_size) if spec.return_sequences \
        else (size.batch, spec.output_size)
    cot = _loss_weights(out_shape, x.dtype)
    dev = path_device(path)

    def check(forward) -> Callable[[], None]:
        def run_check():
            if (spec, size, dev) not in _BOUNDS:
                _BOUNDS[(spec, size, dev)] = oracle_bounds(layer, x, device=dev)
            assert_within(_BOUNDS[(spec, size, dev)], Outputs(_to_numpy(forward()), ()),
                          label=f"{path} {pass_} output")
        return run_check

    if path.startswith("torch"):
        if dev == "cuda" and not cuda_available():
            raise UnsupportedConfig("path", path, "no CUDA device is available")
        module = torch_side.KerasRNN(spec).to(dev)
        torch_side.write_weights(module, case.weights())
        fn = torch.compile(module) if path == "torch-compile" else module
        xt, ct = torch.from_numpy(x).to(dev), torch.from_numpy(cot).to(dev)
        params = list(module.parameters())

        def forward():
            with torch.no_grad():
                return _sync(dev, fn(xt))

        def train():
            return _sync(dev, torch.autograd.grad((fn(xt) * ct).sum(), params))

        timed = forward if pass_ == "forward" else train
        timed()  # warm-up: compilation and allocator
        return Timed(timed, check(forward), kernel_path("torch", spec, path), dev)

    backend = keras.backend.backend()
    if path != "keras-eager" and backend != "tensorflow":
        raise UnsupportedConfig("path", path, "tf.function paths need Keras' TensorFlow backend "
                                f"(this process runs Keras on {backend}); keras-eager runs on any")
    if pass_ == "train" and backend not in ("tensorflow", "torch"):
        raise UnsupportedConfig("path", f"{path} train", "the Keras training step is timed with "
                                "TensorFlow's GradientTape or torch autograd; Keras' "
                                f"{backend} backend has neither")
    xk, ck = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(cot)  # on Keras' device
    if path == "keras-eager":
        forward_fn = layer
    else:
        import tensorflow as tf
        forward_fn = tf.function(layer, jit_compile=path == "tf-function-xla")

    def keras_forward():
        if backend == "torch":  # inference: no autograd graph, as in Keras' own predict()
            with torch.no_grad():
                return _sync(dev, forward_fn(xk))
        return _sync(dev, forward_fn(xk))

    timed = keras_forward if pass_ == "forward" else _keras_train_step(layer, xk, ck, path, dev)
    timed()  # warm-up: tracing, XLA compilation
    return Timed(timed, check(keras_forward), kernel_path("keras", spec, path), dev)


def _keras_train_step(layer, x, cot, path: str, dev: str) -> Callable[[], object]:
    variables = [v.value for v in layer.trainable_weights]
    if keras.backend.backend() == "torch":
        return lambda: _sync(dev, torch.autograd.grad((layer(x) * cot).sum(), variables))
    import tensorflow as tf

    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x) * cot)
        return tape.gradient(loss, variables)

    fn = step if path == "keras-eager" else tf.function(step, jit_compile=path == "tf-function-xla")
    return lambda: _sync(dev, fn())


def _to_numpy(value) -> np.ndarray:
    if torch.is_tensor(value):
        return value.detach().cpu().numpy()
    return np.asarray(keras.ops.convert_to_numpy(value))
