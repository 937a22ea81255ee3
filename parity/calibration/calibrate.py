"""The calibration sweep: how close correct implementations come to the tolerance policy's limits.

Draws many cases (every cell, GRU variant, Bidirectional merge, stack depth, mask pattern, initial
states, both transfer directions, float32 and float64; sequence lengths up to 200 and sizes from 1
to 1024 units, the larger sizes with shorter sequences), runs every available correct
implementation (Keras, torch on the CPU, a float32/float64 numpy step loop, torch on CUDA where a
GPU is present) and records, per case and comparison, the largest difference in units of the
tolerance that decides the verdict (1.0 = at the limit). Forward outputs and states for every
case; gradients for the cases small enough to differentiate quickly.

``python -m parity sweep --calibrate --cases N --out DIR`` writes ``cases.jsonl`` (one line per
case and comparison), ``summary.md`` and ``summary.json`` (max, 99.99th and 99th percentiles per
comparison, cell and size) and ``ratios.png`` (the distribution). The committed evidence lives in
``fixtures/calibration/``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from parity.checks.cases import MASK_PATTERNS, ParityCase, build_pair
from parity.core import jsonfile, oracle
from parity.core import progress as progress_bars
from parity.core.errors import InputFileError
from parity.core.spec import MERGE_MODES, Outputs, RecurrentSpec
from parity.core.tolerances import POLICY, allowed_error, oracle_factor
from parity.layers import keras_side, torch_side

SIZES = (1, 2, 3, 5, 8, 16, 32, 64, 128, 256, 512, 1024)
WORK_BUDGET = 1024 * 1024 * 8  # units^2 x steps: the largest layers get the shortest sequences
GRADIENT_BUDGET = 64 * 64 * 24


@dataclass(frozen=True)
class Drawn:
    case: ParityCase
    direction: str
    gradients: bool


def draw(count: int, seed: int = 0, *, half: bool = True) -> Iterator[Drawn]:
    """``count`` reproducible calibration cases: float32 and float64, and (``half``) one in ten in
    float16 or bfloat16 with up to 16 units, where both frameworks run that cell here."""
    from parity.checks.capabilities import unsupported_reason

    rng = np.random.default_rng([seed, 2026])
    for i in range(count):
        kind = str(rng.choice(["simple_rnn", "lstm", "gru", "gru"]))
        units = int(rng.choice(SIZES))
        dtype = str(rng.choice(["float32", "float64"]))
        if half and rng.random() < 0.1:
            dtype = str(rng.choice(["float16", "bfloat16"]))
            units = min(units, 16)
            if unsupported_reason(dtype, kind):
                dtype = "float32"
        bidirectional = bool(rng.random() < 0.25)
        layers = int(rng.choice([1, 1, 1, 2, 3]))
        if units >= 256:
            layers = 1
        max_steps = max(1, min(200, WORK_BUDGET // (units * units * layers * (1 + bidirectional))))
        steps = int(np.exp(rng.uniform(0, np.log(max_steps + 1)))) or 1
        steps = min(steps, max_steps)
        return_sequences = bool(rng.random() < 0.6)
        spec = RecurrentSpec(
            kind, units, int(rng.choice([1, 3, units, 2 * units])) if units < 512 else units,
            num_layers=layers,
            activation=str(rng.choice(["tanh", "relu"])) if kind == "simple_rnn" and dtype in (
                "float32", "float64") else "tanh",
            use_bias=bool(rng.random() < 0.85), return_sequences=return_sequences,
            # Keras cannot return the states of a stack of Bidirectional layers
            return_state=bool(rng.random() < 0.5) and not (bidirectional and layers > 1),
            go_backwards=bool(not bidirectional and rng.random() < 0.2),
            dtype=dtype, reset_after=bool(kind != "gru" or rng.random() < 0.7),
            bidirectional=bidirectional,
            merge_mode=MERGE_MODES[int(rng.integers(len(MERGE_MODES)))] if bidirectional else "concat",
            zero_output_for_mask=return_sequences if bidirectional else bool(rng.random() < 0.3))
        case = ParityCase(spec, batch=int(rng.integers(1, 5)), steps=steps, seed=seed * 100003 + i,
                          recurrent_gain=float(rng.choice([0.5, 1.0, 1.0, 1.5])),
                          input_scale=float(rng.choice([0.5, 1.0, 2.0])),
                          with_initial_state=bool(rng.random() < 0.4),
                          mask=str(rng.choice(MASK_PATTERNS)))
        direction = str(rng.choice(["keras_to_torch", "torch_to_keras"]))
        work = units * units * steps * layers * (1 + bidirectional)
        yield Drawn(case, direction,
                    gradients=bool(work <= GRADIENT_BUDGET and units <= 64 and rng.random() < 0.2))


def numpy_run(spec: RecurrentSpec, weights, x, h0, mask) -> Outputs:
    """A plain step loop in the layer's own precision (float32 or float64): one more correct
    implementation, independent of both frameworks."""
    dtype = np.dtype(spec.dtype)

    class StepLoop(oracle.NumpyOps):
        asarray = staticmethod(lambda a: np.asarray(a, dtype=dtype))
        zeros = staticmethod(lambda shape, like: np.zeros(shape, dtype=dtype))

        @staticmethod
        def sigmoid(z):
            with np.errstate(over="ignore"):
                return (1 / (1 + np.exp(-z))).astype(dtype)

    return oracle.run(spec, weights, x, h0, mask, xp=StepLoop())


def _largest_ratio(a: np.ndarray, b: np.ndarray, allowed: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
        ratio = np.where(d == 0, 0.0, d / allowed)
    return float(np.nan_to_num(ratio, nan=np.inf).max(initial=0.0))


def _ratios(results: dict[str, Outputs], references: dict[str, Outputs],
            allowed: Outputs, spec: RecurrentSpec) -> dict[str, float]:
    """Largest difference / allowed, for each implementation vs the oracle and each pair."""
    limit = allowed.named()
    own = oracle_factor(spec.dtype)
    out = {}
    names = list(results)
    for name in names:
        ref = references[name].named()
        out[f"{name} vs oracle"] = max(_largest_ratio(v, ref[k], own * limit[k])
                                       for k, v in results[name].named().items())
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            rb = results[b].named()
            out[f"{a} vs {b}"] = max(_largest_ratio(v, rb[k], POLICY.cross * limit[k])
                                     for k, v in results[a].named().items())
    return out


def measure(drawn: Drawn, *, cuda: bool = False, keras_available: bool = True
            ) -> dict[str, float]:
    """Every comparison's largest difference in units of the tolerance, for one drawn case."""
    case, spec = drawn.case, drawn.case.spec
    x, h0, mask = case.inputs(), case.initial_state(), case.step_mask()
    results, weights_of = {}, {}
    if keras_available:
        keras_obj, torch_obj = build_pair(case, drawn.direction)
        results["keras"] = keras_side.run(keras_obj, x, h0, mask)
        weights_of["keras"] = keras_side.read_weights(keras_obj)
    else:
        torch_obj = case.torch_module()
    results["torch"] = torch_side.run(torch_obj, x, h0, mask)
    weights_of["torch"] = torch_side.read_weights(torch_obj)
    if spec.dtype in ("float32", "float64"):
        results["numpy"] = numpy_run(spec, weights_of["torch"], x, h0, mask)
        weights_of["numpy"] = weights_of["torch"]
    if cuda:
        results["torch-cuda"] = torch_side.run(torch_obj.to("cuda"), x, h0, mask)
        weights_of["torch-cuda"] = weights_of["torch"]
        torch_obj.to("cpu")
    references = {}
    for name, w in weights_of.items():
        same = next((references[k] for k in references
                     if all(np.array_equal(a, b) for wa, wb in zip(weights_of[k], w)
                            for a, b in zip(wa.arrays().values(), wb.arrays().values()))), None)
        references[name] = same or oracle.run(spec, w, x, h0, mask)
    devices = ("cuda",) if cuda else ("cpu",)
    allowed = allowed_error(spec, weights_of["torch"], x, h0, references["torch"], mask,
                            devices=devices)
    ratios = {f"forward {k}": v for k, v in _ratios(results, references, allowed, spec).items()}
    if drawn.gradients and keras_available:
        from parity.checks.gradients import compare_gradients
        used = compare_gradients(keras_obj, torch_obj, x, h0, mask, seed=case.seed).tolerance_used()
        ratios["gradients keras vs torch"] = used["cross"]
        ratios["gradients vs oracle"] = used["oracle"]
    return ratios


def size_bucket(units: int) -> str:
    for limit, name in ((4, "1-4"), (32, "5-32"), (128, "33-128"), (512, "129-512")):
        if units <= limit:
            return name
    return "513-1024"


def run(count: int, out: Path, *, seed: int = 0, cuda: bool = False, keras_available: bool = True,
        progress: Callable[[int, int], None] | None = None) -> dict:
    """Measure ``count`` drawn cases into ``out`` (an existing empty folder) and summarise."""
    start = time.time()
    with open(out / "cases.jsonl", "w") as f, \
            progress_bars.bar(total=count, desc="calibration", unit="case") as bar:
        for i, drawn in enumerate(draw(count, seed)):
            bar.update()
            ratios = measure(drawn, cuda=cuda, keras_available=keras_available)
            spec = drawn.case.spec
            f.write(json.dumps({"case": repr(drawn.case), "direction": drawn.direction,
                                "kind": spec.kind if spec.reset_after else "gru_reset_before",
                                "units": spec.units, "steps": drawn.case.steps,
                                "dtype": spec.dtype, "ratios": ratios}) + "\n")
            if progress:
                progress(i + 1, count)
    summary = summarise(out / "cases.jsonl")
    summary["seconds"] = round(time.time() - start, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "summary.md").write_text(markdown(summary))
    plot(out / "cases.jsonl", out / "ratios.png")
    return summary


# a row of cases.jsonl, as run() writes it
_NUMBER = {"type": "number", "minimum": 0}
ROW = {"type": "object", "required": ["case", "direction", "kind", "units", "steps", "dtype",
                                      "ratios"],
       "properties": {"case": {"type": "string"}, "direction": {"type": "string"},
                      "kind": {"type": "string"}, "dtype": {"type": "string"},
                      "units": {"type": "integer", "minimum": 1},
                      "steps": {"type": "integer", "minimum": 1},
                      "ratios": {"type": "object", "minProperties": 1,
                                 "additionalProperties": _NUMBER}}}
_WHAT = "a row of cases.jsonl, as python -m parity sweep --calibrate writes it"


def _load(path: Path | list[Path]) -> list[dict]:
    """The rows of one or more ``cases.jsonl`` files. A last line without its newline (a sweep
    interrupted while writing it: each row is written with its newline) is skipped if it is
    not a row; any other line that is not such a row is refused, naming file and line."""
    rows = []
    for p in path if isinstance(path, list) else [path]:
        try:
            data = Path(p).read_bytes()
        except OSError as e:
            raise InputFileError(f"{p}: cannot be read ({e.strerror or e}); give folders written "
                                 "by python -m parity sweep --calibrate") from None
        lines = data.splitlines()
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rows.append(jsonfile.parse(line, f"{p}:{n}", ROW, _WHAT))
            except InputFileError:
                if n < len(lines) or data.endswith(b"\n"):
                    raise
    if not rows:
        raise InputFileError(f"{', '.join(map(str, path)) if isinstance(path, list) else path}: "
                             "no calibration case; give folders written by python -m parity "
                             "sweep --calibrate")
    return rows


def _stats(values: list[float]) -> dict[str, float]:
    a = np.asarray(values)
    return {"n": int(a.size), "max": float(a.max()), "p99.99": float(np.percentile(a, 99.99)),
            "p99": float(np.percentile(a, 99)), "median": float(np.median(a))}


def summarise(path: Path | list[Path]) -> dict:
    rows = _load(path)
    by_comparison: dict[str, list[float]] = {}
    by_cell: dict[str, list[float]] = {}
    by_size: dict[str, list[float]] = {}
    worst = (0.0, "")
    for r in rows:
        largest = max(r["ratios"].values())
        for k, v in r["ratios"].items():
            by_comparison.setdefault(k, []).append(v)
        by_cell.setdefault(f"{r['kind']} {r['dtype']}", []).append(largest)
        by_size.setdefault(size_bucket(r["units"]), []).append(largest)
        if largest > worst[0]:
            worst = (largest, f"{r['case']} ({r['direction']})")
    return {"cases": len(rows), "factor": POLICY.factor,
            "all": _stats([max(r["ratios"].values()) for r in rows]),
            "by_comparison": {k: _stats(v) for k, v in sorted(by_comparison.items())},
            "by_cell": {k: _stats(v) for k, v in sorted(by_cell.items())},
            "by_units": {k: _stats(v) for k, v in by_size.items()},
            "worst": {"ratio": worst[0], "case": worst[1]}}


def markdown(summary: dict) -> str:
    lines = [f"# Calibration sweep: {summary['cases']} cases, policy factor {summary['factor']:g}",
             "",
             "Largest difference between correct implementations in units of the tolerance that "
             "decides the verdict (1.0 = at the limit; its reciprocal is the false-alarm margin).",
             "", "| group | n | max | 99.99th pct | 99th pct | median |", "|---|---|---|---|---|---|"]
    a = summary["all"]
    lines.append(f"| every case (largest comparison) | {a['n']} | {a['max']:.3f} | "
                 f"{a['p99.99']:.3f} | {a['p99']:.3f} | {a['median']:.3f} |")
    for section in ("by_comparison", "by_cell", "by_units"):
        for k, s in summary[section].items():
            lines.append(f"| {k} | {s['n']} | {s['max']:.3f} | {s['p99.99']:.3f} | "
                         f"{s['p99']:.3f} | {s['median']:.3f} |")
    lines += ["", f"Worst case ({summary['worst']['ratio']:.3f} of the tolerance): "
              f"`{summary['worst']['case']}`", ""]
    if "seconds" in summary:
        lines.append(f"Sweep time: {summary['seconds']:.0f} s.")
    return "\n".join(lines) + "\n"


def plot(path: Path | list[Path], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _load(path)
    groups: dict[str, list[float]] = {}
    for r in rows:
        for k, v in r["ratios"].items():
            groups.setdefault(k, []).append(max(v, 1e-4))
    fig, ax = plt.subplots(figsize=(9, 5))
    bins = np.logspace(-4, 1, 61)
    for k, v in sorted(groups.items()):
        ax.hist(v, bins=bins, histtype="step", label=f"{k} (n={len(v)})")
    ax.axvline(1.0, color="black", linestyle="--", label="tolerance")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("largest difference / tolerance, per case (identical results drawn at 1e-4)")
    ax.set_ylabel("cases")
    ax.set_title(f"Correct implementations against the tolerance policy ({len(rows)} cases)")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)



SENSITIVITY_SIZES = (2, 8, 64, 256, 1024)


def sensitivity(kind: str, units: int, *, device: str = "cpu", batch: int = 4, steps: int = 20,
                seed: int = 1) -> dict[str, float]:
    """For a ``kind`` layer of ``units`` units (float32, input size = units, dense random weights),
    the largest difference from the float64 oracle in units of the tolerance (> 1 fails) of the
    correct torch module on ``device`` and of the same module computing with each corruption of
    :mod:`parity.calibration.corruptions` (its stored weights exact). Every corruption must exceed 1 and the
    correct module stay below it."""
    from parity.calibration import corruptions
    from parity.checks.compare import oracle_bounds

    spec = RecurrentSpec(kind, units, units, return_sequences=True, return_state=True)
    case = ParityCase(spec, batch=batch, steps=steps, seed=seed)
    module = case.torch_module(device)
    x = case.inputs()
    bounds = oracle_bounds(module, x, device=device)
    reference = bounds.reference.named()

    def used() -> float:
        got = torch_side.run(module, x).named()
        return max(_largest_ratio(v, reference[k], bounds.allowed[k]) for k, v in got.items())

    out = {"correct": used()}
    for name in corruptions.NAMES:
        with corruptions.corrupted(module, name):
            out[name] = used()
    return out


def sensitivity_table(kinds=("simple_rnn", "lstm", "gru"), sizes=SENSITIVITY_SIZES, *,
                      device: str = "cpu") -> list[str]:
    """Markdown: :func:`sensitivity` for every kind and size (float32, batch 4, 20 steps)."""
    from parity.calibration.corruptions import NAMES

    lines = ["| cell | units | correct | " + " | ".join(NAMES) + " |",
             "|---|---|---|" + "---|" * len(NAMES)]
    for kind in kinds:
        for units in sizes:
            r = sensitivity(kind, units, device=device)
            lines.append(f"| {kind} | {units} | {r['correct']:.3f} | "
                         + " | ".join(f"{r[n]:.1f}" for n in NAMES) + " |")
    return lines
