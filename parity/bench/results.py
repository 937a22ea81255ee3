"""Reading pytest-benchmark JSON runs of ``benchmarks/``: validation with clear errors, and the
per-benchmark facts the report and the comparison use."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from parity.core import jsonfile, outputs
from parity.core.errors import InputFileError


class BenchmarkFileError(InputFileError):
    """A benchmark JSON file is missing, corrupt, or not a run of this suite's benchmarks."""


@dataclass(frozen=True)
class Result:
    """One benchmark (cell, size, pass, path), its timing windows pooled."""

    name: str             # e.g. seed-lstm-forward-torch-eager
    cell: str
    size: str
    pass_: str
    path: str
    framework: str
    median: float         # seconds: the median of the windows' medians
    iqr: float            # of all samples pooled
    flops: int
    gflops: float
    kernel: str
    data: tuple[float, ...]  # raw samples of every window (with --benchmark-save-data)
    shape: str = ""           # "B=.. T=.. I=.. H=.."
    windows: tuple[tuple[float, ...], ...] = ()  # raw samples per timing window
    device: str = "cpu"       # "cpu" or "cuda": which measured peak this result is a share of
    # seconds of the reference workload timed in the same process around each window (None for
    # runs written before it existed): dividing by it cancels the machine's speed at that moment
    references: tuple[float, ...] | None = None
    window_ids: tuple[str, ...] = ()  # extra_info.window of each window ("p0-w0": merged process 0)

    @property
    def normalised_windows(self) -> tuple[tuple[float, ...], ...] | None:
        """Each window's samples in units of its own reference time, or None without one."""
        if self.references is None:
            return None
        return tuple(tuple(v / ref for v in w) for w, ref in zip(self.windows, self.references))

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.cell, self.size, self.pass_, self.path)


@dataclass(frozen=True)
class Run:
    source: str
    machine: dict
    results: tuple[Result, ...]

    @property
    def peak_gflops(self) -> float | None:
        return self.machine.get("parity", {}).get("fp32_gemm_peak_gflops")

    def peak_of(self, result: Result) -> float | None:
        """The measured peak of the device ``result`` ran on (runs before GPU support: the one)."""
        by_device = self.machine.get("parity", {}).get("fp32_gemm_peak_gflops_by_device") or {}
        return by_device.get(result.device, self.peak_gflops)

    def by_key(self) -> dict[tuple[str, str, str, str], Result]:
        return {r.key: r for r in self.results}


_EXTRA = ("cell", "size", "pass_", "path", "framework", "flops", "kernel")
_TEXT = ("cell", "size", "pass_", "path", "framework", "kernel")  # joined into names and tables
DAY = 86400.0  # seconds: no benchmark sample or reference of this suite takes that long
# machine_info.parity facts the report and the comparison read: (key, check, what it must be)
_PARITY_FACTS = (("fp32_gemm_peak_gflops", lambda v: v is None or _positive(v), "a positive number"),
                 ("fp32_gemm_peak_gflops_by_device",
                  lambda v: v is None or (isinstance(v, dict) and all(
                      isinstance(k, str) and (p is None or _positive(p)) for k, p in v.items())),
                  "an object of device: positive number"),
                 ("synthetic_slowdown", lambda v: v is None or _positive(v), "a positive number"),
                 ("devices", lambda v: v is None or isinstance(v, dict), "an object"))


def load(path: str | Path) -> Run:
    """Parse and validate a run written with ``--benchmark-json``."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise BenchmarkFileError(f"{path}: no such file") from None
    except OSError as e:  # a folder, unreadable, ...
        raise BenchmarkFileError(f"{path}: cannot be read ({e.strerror or e}); expected the file "
                                 "written by pytest --benchmark-json") from None
    raw = jsonfile.parse(text, str(path), what="the file written by pytest --benchmark-json",
                         error=BenchmarkFileError)
    if not isinstance(raw, dict) or not isinstance(raw.get("benchmarks"), list):
        raise BenchmarkFileError(f"{path}: no 'benchmarks' list; expected the file written by "
                                 "pytest --benchmark-json")
    windows: dict[tuple, list] = {}
    for i, b in enumerate(raw["benchmarks"]):
        where = f"{path}: benchmarks[{i}]"
        if not isinstance(b, dict):
            raise BenchmarkFileError(f"{where} is {b!r}, not a benchmark record: not a run of "
                                     "this suite's benchmarks/")
        if not isinstance(b.get("name"), str):
            raise BenchmarkFileError(f"{where}: 'name' is {b.get('name')!r}, not a benchmark's "
                                     "name: not a run of this suite's benchmarks/")
        where = f"{where} ({b['name']})"
        extra, stats = b.get("extra_info") or {}, b.get("stats") or {}
        missing = [k for k in _EXTRA if not isinstance(extra, dict) or k not in extra]
        if missing:
            raise BenchmarkFileError(f"{where} lacks extra_info {missing}: "
                                     "not a run of this suite's benchmarks/")
        if not isinstance(stats, dict) or "median" not in stats:
            raise BenchmarkFileError(f"{where} has no stats (was it run with "
                                     "--benchmark-disable?)")
        wrong = [k for k in _TEXT if not isinstance(extra[k], str)]
        if wrong:
            raise BenchmarkFileError(f"{where}: extra_info {wrong[0]} {extra[wrong[0]]!r} is not "
                                     "a string; the file is corrupt")
        _check_timings(where, stats, extra)
        key = tuple(extra[k] for k in ("cell", "size", "pass_", "path"))
        windows.setdefault(key, []).append((extra, stats))
    if not windows:
        raise BenchmarkFileError(f"{path}: the run holds no benchmarks")
    return Run(str(path), _machine(path, raw),
               tuple(_pooled(key, parts) for key, parts in windows.items()))


def _machine(path: Path, raw: dict) -> dict:
    """``machine_info``, which the report's header and the comparison's machine check read."""
    machine = raw.get("machine_info")
    if not isinstance(machine, dict) or not isinstance(machine.get("parity"), dict):
        raise BenchmarkFileError(f"{path}: machine_info is {_short(machine)}, not an object with "
                                 "an object 'parity' (written by benchmarks/conftest.py); "
                                 "expected the file written by pytest --benchmark-json")
    for key, valid, what in _PARITY_FACTS:
        if not valid(machine["parity"].get(key)):
            raise BenchmarkFileError(f"{path}: machine_info parity {key} "
                                     f"{_short(machine['parity'].get(key))} is not {what}; the file "
                                     "is corrupt")
    if "cpu" in machine and not isinstance(machine["cpu"], (dict, str, type(None))):
        raise BenchmarkFileError(f"{path}: machine_info cpu {_short(machine['cpu'])} is not an "
                                 "object; the file is corrupt")
    return machine


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _time(value) -> bool:
    """A time in seconds a benchmark can take: positive, finite, under a day."""
    return _positive(value) and float(value) <= DAY


def _positive(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        value = float(value)
    except OverflowError:  # an int beyond float64 is no time either
        return False
    return math.isfinite(value) and value > 0


def _all_times(values: list) -> bool:
    """:func:`_time` of every value, at numpy's speed (runs hold 10^4 - 10^6 samples)."""
    if not {type(v) for v in values} <= {int, float}:  # bool, str, None, lists...: one by one
        return all(_time(v) for v in values)
    try:
        times = np.asarray(values, dtype=np.float64)
    except OverflowError:  # an int beyond float64
        return all(_time(v) for v in values)
    return bool(np.all(np.isfinite(times) & (times > 0) & (times <= DAY)))


TIME = f"positive, finite time in seconds, at most a day ({DAY:g} s)"


def _check_timings(where: str, stats: dict, extra: dict) -> None:
    """Times must be positive finite numbers under a day: a NaN sample would make every test
    statistic NaN, which reads as "unchanged", a median of 0 divides GFLOP/s by zero, and a
    1e308 s sample is no measurement."""
    if not _time(stats["median"]):
        raise BenchmarkFileError(f"{where}: stats median {_short(stats['median'])} is not a "
                                 f"{TIME}; the file is corrupt")
    iqr = stats.get("iqr", 0.0)  # read when a run has no raw samples
    if not (iqr == 0 and not isinstance(iqr, bool) or _time(iqr)):
        raise BenchmarkFileError(f"{where}: stats iqr {_short(iqr)} is not 0 or a {TIME}; the "
                                 "file is corrupt")
    data = stats.get("data", [])
    if not isinstance(data, list):
        raise BenchmarkFileError(f"{where}: raw samples 'data' is {type(data).__name__}, not a "
                                 "list of times")
    if not _all_times(data):
        bad = next(j for j, v in enumerate(data) if not _time(v))
        raise BenchmarkFileError(f"{where}: raw sample data[{bad}] = {_short(data[bad])} is not "
                                 f"a {TIME}; the file is corrupt")
    reference = extra.get("reference")
    if reference is not None and not (isinstance(reference, dict)
                                      and _time(reference.get("seconds"))):
        raise BenchmarkFileError(f"{where}: extra_info reference {_short(reference)} is not an "
                                 f"object with 'seconds' a {TIME}; the file is corrupt")
    if not _positive(extra["flops"]):
        raise BenchmarkFileError(f"{where}: extra_info flops {extra['flops']!r} is not a "
                                 "positive number")


def _pooled(key, parts) -> Result:
    extra = parts[0][0]
    per_window = tuple(tuple(np.asarray(stats.get("data", ()), dtype=np.float64).tolist())
                       for _, stats in parts)
    data = tuple(v for w in per_window for v in w)
    median = float(np.median([float(stats["median"]) for _, stats in parts]))
    iqr = float(np.subtract(*np.percentile(data, [75, 25]))) if data else \
        float(parts[0][1].get("iqr", 0.0))
    references = [(extra_.get("reference") or {}).get("seconds") for extra_, _ in parts]
    return Result(
        name="-".join((extra["size"], extra["cell"], extra["pass_"], extra["path"])),
        cell=extra["cell"], size=extra["size"], pass_=extra["pass_"], path=extra["path"],
        framework=extra["framework"], median=median, iqr=iqr,
        flops=int(extra["flops"]), gflops=extra["flops"] / median / 1e9,
        kernel=str(extra["kernel"]), data=data,
        shape=" ".join(f"{k}={extra[n]}" for k, n in (("B", "batch"), ("T", "steps"),
                                                      ("I", "input_size"), ("H", "units"))
                       if n in extra),
        windows=per_window, device=str(extra.get("device_kind", "cpu")),
        window_ids=tuple(str(extra_.get("window", i)) for i, (extra_, _) in enumerate(parts)),
        # all windows or none: a reference for some windows only would mix units
        references=tuple(float(r) for r in references) if all(references) else None)


# A window whose reference workload took more than this factor off its run's typical (median)
# reference time measured a stalled process, not the machine's speed: dividing by it would turn a
# stall into a 1000x "speed-up" (seen on the CI machine with 2 threads on 2 busy cores)
DISTURBED = 2.0


def typical_reference(run: Run) -> float | None:
    """The median reference time over every window of every benchmark of ``run`` (None without)."""
    refs = [v for r in run.results for v in (r.references or ())]
    return float(np.median(refs)) if refs else None


def reference_disturbed(reference: float, typical: float) -> bool:
    return not typical / DISTURBED <= reference <= typical * DISTURBED


def machine_differences(a: Run, b: Run) -> list[str]:
    """What differs between two runs' machines (hardware, threads, peak beyond 10 %)."""
    out = []
    for key in ("node", "processor", "machine", "cpu"):
        va, vb = a.machine.get(key), b.machine.get(key)
        if isinstance(va, dict):
            va, vb = va.get("brand_raw"), (vb or {}).get("brand_raw")
        if va != vb:
            out.append(f"{key}: {va!r} vs {vb!r}")
    pa, pb = a.machine.get("parity", {}), b.machine.get("parity", {})
    for key in ("threads", "device"):
        if pa.get(key) != pb.get(key):
            out.append(f"{key}: {pa.get(key)!r} vs {pb.get(key)!r}")
    peak_a, peak_b = a.peak_gflops, b.peak_gflops
    if peak_a and peak_b and not 1 / 1.1 < peak_a / peak_b < 1.1:
        out.append(f"measured fp32 GEMM peak: {peak_a:.0f} vs {peak_b:.0f} GFLOP/s")
    return out


def versions(run: Run) -> str:
    p = run.machine.get("parity", {})
    tf = f", tensorflow {p['tensorflow']}" if p.get("tensorflow") else ""
    slowed = f"; recurrent core slowed x{p['synthetic_slowdown']:g} on purpose " \
        "($PARITY_BENCH_SLOWDOWN)" if p.get("synthetic_slowdown") else ""
    return f"torch {p.get('torch')}, keras {p.get('keras')} ({p.get('keras_backend')}){tf}{slowed}"


def merge(inputs: list[str | Path], output: str | Path) -> Path:
    """Merge runs of the same benchmarks made in separate processes into one run whose timing
    windows are those processes' windows (machine_info from the first; every peak kept)."""
    output = outputs.check_new_file(output)
    merged, peaks = None, []
    for i, path in enumerate(inputs):
        load(path)  # validate
        raw = json.loads(Path(path).read_text())
        for b in raw["benchmarks"]:
            b["extra_info"]["window"] = f"p{i}-w{b['extra_info'].get('window', 0)}"
        peaks.append(raw.get("machine_info", {}).get("parity", {}).get("fp32_gemm_peak_gflops"))
        if merged is None:
            merged = raw
        else:
            merged["benchmarks"].extend(raw["benchmarks"])
    if merged is None:
        raise BenchmarkFileError("merge: no input runs given")
    parity_info = merged.setdefault("machine_info", {}).setdefault("parity", {})
    parity_info["fp32_gemm_peak_gflops_per_process"] = peaks
    valid = [p for p in peaks if p]
    if valid:
        parity_info["fp32_gemm_peak_gflops"] = float(np.median(valid))
    return outputs.write_new_file(output, json.dumps(merged))
