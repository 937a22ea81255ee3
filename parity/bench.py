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

from parity import keras_side, torch_side
from parity._frameworks import keras, torch
from parity.cases import ParityCase
from parity.compare import assert_matches_oracle
from parity.errors import UnsupportedConfig
from parity.spec import Outputs, RecurrentSpec


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
CELLS = ("simple_rnn", "lstm", "gru")
PASSES = ("forward", "train")
PATHS = ("keras-eager", "tf-function", "tf-function-xla", "torch-eager", "torch-compile",
         "torch-cuda")


def flops(spec: RecurrentSpec, batch: int, steps: int, pass_: str) -> int:
    """Multiply-adds of the gate matmuls, 2*g*B*H*(I+H)*T per layer and direction (elementwise
    work ignored); a training step (forward + backward) counts as 3 forwards."""
    total = 0
    for layer in range(spec.num_layers):
        fan_in = spec.layer_input_size(layer)
        total += 2 * spec.cell.gates * batch * spec.units * (fan_in + spec.units) * steps
    total *= spec.directions
    return total * (3 if pass_ == "train" else 1)


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def device_name() -> str:
    if device() == "cuda":
        return torch.cuda.get_device_name()
    import platform
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


def _sync() -> None:
    if device() == "cuda":
        torch.cuda.synchronize()


@functools.cache
def gemm_peak_gflops() -> float:
    """The measured float32 GEMM rate of this device (best of 10 square matmuls), in GFLOP/s.
    Measured once per process, first thing in a benchmark session (see benchmarks/conftest.py)."""
    n = 8192 if device() == "cuda" else 2048
    if device() == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
    a = torch.randn(n, n, device=device())
    b = torch.randn(n, n, device=device())
    torch.mm(a, b)
    _sync()
    best = float("inf")
    for _ in range(10):
        start = time.perf_counter()
        torch.mm(a, b)
        _sync()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def kernel_path(framework: str, spec: RecurrentSpec, path: str) -> str:
    """Which implementation runs, as far as it can be known without a profiler."""
    if framework == "torch":
        if path == "torch-cuda":
            return f"cuDNN {torch.backends.cudnn.version()}" if torch.backends.cudnn.enabled \
                else "CUDA native"
        if spec.kind == "gru" and not spec.reset_after:
            return "parity.GRUResetBefore step loop"
        mkldnn = torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
        kernel = f"aten {spec.kind} CPU kernel (oneDNN {'available' if mkldnn else 'off'})"
        if path == "torch-compile" and not torch._dynamo.config.allow_rnn:
            # Dynamo graph-breaks on nn.RNN/LSTM/GRU: the core runs eagerly between graphs
            kernel += "; Dynamo graph break around the recurrent module (allow_rnn=False)"
        return kernel
    backend = keras.backend.backend()
    if path == "tf-function-xla":
        return "XLA-compiled while loop"
    return f"Keras {backend} generic step loop (cuDNN only on GPU under its conditions)"


@dataclass
class Timed:
    """A ready-to-time callable and what it is."""

    call: Callable[[], object]
    check: Callable[[], None]   # asserts the path computes the right thing (run once, untimed)
    kernel: str


def _loss_weights(shape, dtype, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(dtype)


def prepare(spec: RecurrentSpec, size: Size, pass_: str, path: str) -> Timed:
    """Build, transfer, trace/compile and warm up ``path`` for ``spec`` at ``size``."""
    case = ParityCase(spec, size.batch, size.steps, seed=0)
    x = case.inputs()
    layer = keras_side.build(spec)
    keras_side.write_weights(layer, case.weights())
    out_shape = (size.batch, size.steps, spec.output_size) if spec.return_sequences \
        else (size.batch, spec.output_size)
    cot = _loss_weights(out_shape, x.dtype)

    def check(result) -> Callable[[], None]:
        return lambda: assert_matches_oracle(
            layer, Outputs(_to_numpy(result()), ()), x, label=f"{path} {pass_} output")

    if path.startswith("torch"):
        dev = "cuda" if path == "torch-cuda" else "cpu"
        if dev == "cuda" and not torch.cuda.is_available():
            raise UnsupportedConfig("path", path, "no CUDA device is available")
        module = torch_side.KerasRNN(spec).to(dev)
        torch_side.write_weights(module, case.weights())
        fn = torch.compile(module) if path == "torch-compile" else module
        xt, ct = torch.from_numpy(x).to(dev), torch.from_numpy(cot).to(dev)
        params = list(module.parameters())

        def forward():
            with torch.no_grad():
                out = fn(xt)
            _sync()
            return out

        def train():
            grads = torch.autograd.grad((fn(xt) * ct).sum(), params)
            _sync()
            return grads

        timed = forward if pass_ == "forward" else train
        timed()  # warm-up: compilation and allocator
        return Timed(timed, check(forward), kernel_path("torch", spec, path))

    if (path != "keras-eager" or pass_ == "train") and keras.backend.backend() != "tensorflow":
        raise UnsupportedConfig("path", f"{path} {pass_}", "tf.function paths and the Keras "
                                "training step (GradientTape) need Keras' TensorFlow backend")
    if path == "keras-eager":
        forward_fn = layer
    else:
        import tensorflow as tf
        forward_fn = tf.function(layer, jit_compile=path == "tf-function-xla")

    def keras_forward():
        return forward_fn(x)

    if pass_ == "forward":
        timed = keras_forward
    else:
        timed = _keras_train_step(layer, x, cot, path)
    timed()  # warm-up: tracing, XLA compilation
    return Timed(timed, check(keras_forward), kernel_path("keras", spec, path))


def _keras_train_step(layer, x, cot, path):
    import tensorflow as tf

    variables = [v.value for v in layer.trainable_weights]

    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x) * cot)
        return tape.gradient(loss, variables)

    if path == "keras-eager":
        return step
    return tf.function(step, jit_compile=path == "tf-function-xla")


def _to_numpy(value) -> np.ndarray:
    if torch.is_tensor(value):
        return value.detach().cpu().numpy()
    return np.asarray(keras.ops.convert_to_numpy(value))
