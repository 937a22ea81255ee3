"""Measure the ONNX Runtime columns: per cell and exporter, over
hypothesis-drawn float32 cases (the shipped check's strategies, derandomised, N per cell; M whole
models), the largest ORT-vs-source and ORT-vs-oracle difference, the share of the tolerance used,
and the export time per case (CPU seconds of the process, and wall seconds).

Run from the repository root, with the onnx extra installed (figures in docs/guides/backends.md):
  python scripts/onnx_columns.py 20 10

The export time is taken by wrapping the exporters (private helpers of
parity.checks.onnx_runtime), so that the CPU time of the export alone is measured.
"""
import statistics
import sys
import time
from collections import defaultdict

import torch  # noqa: F401  (before tensorflow)
from hypothesis import given, settings

import parity
from parity.checks import onnx_runtime
from parity.checks.cases import build_pair
from parity.checks.compare import compare
from parity.checks.model_parity import compare_models
from parity.core.errors import UnsupportedConfig
from parity.core.spec import CELL_KINDS
from parity.suite.test_onnx import MODEL_CASES, cases

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20
M = int(sys.argv[2]) if len(sys.argv) > 2 else 10
torch.set_num_threads(1)

cpu_log = []  # (exporter, cpu seconds) of each export, in call order


def timed(fn, exporter_arg):
    def wrapper(*args, **kwargs):
        exporter = exporter_arg(args, kwargs)
        start = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            cpu_log.append((exporter, time.process_time() - start))
    return wrapper


onnx_runtime.export = timed(onnx_runtime.export,
                            lambda a, k: k.get("exporter", a[2] if len(a) > 2 else "dynamo"))
onnx_runtime._torch_export = timed(onnx_runtime._torch_export, lambda a, k: a[3])
onnx_runtime._tf2onnx_model = timed(onnx_runtime._tf2onnx_model, lambda a, k: "tf2onnx")


def drawn(strategy, n):
    found = []

    @settings(max_examples=n, derandomize=True, database=None, deadline=None)
    @given(case=strategy)
    def collect(case):
        found.append(case)

    collect()
    return found


stats = defaultdict(lambda: defaultdict(list))  # (cell, exporter) -> metric -> values
refused = []
for kind in CELL_KINDS:
    for case in drawn(cases(kind), N):
        layer, module = build_pair(case, "keras_to_torch")
        torch_exporters = ("dynamo", "torchscript") if case.mask == "none" else ("torchscript",)
        for exporter in (*torch_exporters, "tf2onnx"):
            mark = len(cpu_log)
            try:
                r = compare(layer, module, case.inputs(), case.initial_state(), case.step_mask(),
                            onnx=exporter)
            except UnsupportedConfig as e:
                refused.append((kind, exporter, case, str(e)))
                continue
            c = r.onnx[0]
            s = stats[(kind, exporter)]
            s["ok"].append(r.ok)
            s["vs_source"].append(max(d.max_abs.difference for d in c.vs_source))
            s["vs_oracle"].append(max(d.max_abs.difference for d in c.vs_oracle))
            s["source_vs_oracle"].append(max(d.max_abs.difference for d in (
                r.torch_vs_oracle if c.run.source == "torch" else r.keras_vs_oracle)))
            s["used_source"].append(max(d.worst.ratio for d in c.vs_source))
            s["used_oracle"].append(max(d.worst.ratio for d in c.vs_oracle))
            s["wall"].append(c.run.export_seconds)
            s["cpu"].append(sum(t for _, t in cpu_log[mark:]))
            s["masked"].append(case.mask != "none")
            s["mask_input"].append("mask" in c.run.graph_inputs)
            s["mask_constant"].append(c.run.mask_constant)
            rec = [o for o in c.run.operators if o in ("RNN", "LSTM", "GRU", "Loop", "Scan")]
            s["ops"].append("/".join(rec) or "unrolled")
            s["opset"].append(c.run.opset)
            versions = c.run.versions
            if not r.ok:
                print("FAIL", kind, exporter, repr(case), r.summary())

for case in drawn(MODEL_CASES, M):
    masks = any(getattr(b, "mask_zero", False) for b in case.blocks)
    keras_model = case.keras_model()
    torch_model = parity.to_torch(keras_model)
    for exporter in (("torchscript",) if masks else ("dynamo", "torchscript")) + ("tf2onnx",):
        mark = len(cpu_log)
        try:
            diffs = compare_models(keras_model, torch_model, case.ids, onnx=exporter)
        except UnsupportedConfig as e:
            refused.append(("model", exporter, case, str(e)))
            continue
        s = stats[("model", exporter)]
        vs_source, vs_ref = diffs[3], diffs[4]
        s["ok"].append(all(d.ok for d in diffs))
        s["vs_source"].append(vs_source.max_abs.difference)
        s["vs_oracle"].append(vs_ref.max_abs.difference)
        s["source_vs_oracle"].append(diffs[2 if vs_source.b_name == "torch" else 1].max_abs.difference)
        s["used_source"].append(vs_source.worst.ratio)
        s["used_oracle"].append(vs_ref.worst.ratio)
        s["cpu"].append(sum(t for _, t in cpu_log[mark:]))
        s["wall"].append(float("nan"))
        s["masked"].append(masks)

print(f"{'cell':10} {'exporter':11} {'cases':>5} {'ok':>3} {'masked':>6} {'max|ort-src|':>12} "
      f"{'max|ort-orc|':>12} {'max|src-orc|':>12} {'used ort-src':>12} {'used ort-orc':>12} "
      f"{'export cpu s median (max)':>26} {'wall s median':>13}")
for (kind, exporter), s in stats.items():
    print(f"{kind:10} {exporter:11} {len(s['ok']):5d} {sum(s['ok']):3d} {sum(s['masked']):6d} "
          f"{max(s['vs_source']):12.3g} {max(s['vs_oracle']):12.3g} {max(s['source_vs_oracle']):12.3g} "
          f"{max(s['used_source']):12.1%} {max(s['used_oracle']):12.1%} "
          f"{statistics.median(s['cpu']):14.2f} ({max(s['cpu']):.2f}) "
          f"{statistics.median(s['wall']):13.2f}")
for (kind, exporter), s in stats.items():
    if kind == "model":
        continue
    ops = defaultdict(int)
    for o in s["ops"]:
        ops[o] += 1
    masked = sum(s["masked"])
    print(f"{kind:10} {exporter:11} ops {dict(ops)}, opsets {sorted(set(s['opset']))}"
          + (f"; masked {masked}: mask a graph input in {sum(s['mask_input'])}, a constant in "
             f"{sum(s['mask_constant'])}" if masked else ""))
for kind, exporter, case, reason in refused:
    print("REFUSED", kind, exporter, repr(case)[:120], reason[:200])
print(versions)
