#!/usr/bin/env bash
# The GPU session: CUDA parity checks, the TF32 measurement, and the recurrent-core benchmarks of
# torch on CUDA and Keras on its torch backend (for machines without TensorFlow), with a report.
#   OUT=results/ SIZES=full bash benchmarks/gpu.sh
# Each step runs even if an earlier one failed; the exit code is the number of failed steps.
set -u -o pipefail
OUT=${OUT:?set OUT to a new or empty folder for the results}
SIZES=${SIZES:-full}
PY=${PYTHON:-python3}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-420}
export KERAS_BACKEND=${KERAS_BACKEND:-torch} TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1
mkdir -p "$OUT"
failed=0
step() { echo "== $1"; shift; local t=$SECONDS; "$@" || { echo "!! failed: exit $?"; failed=$((failed + 1)); }; echo "== took $((SECONDS - t)) s"; }

machine() { nvidia-smi -L 2>/dev/null; "$PY" -c "import torch, keras; print('torch', torch.__version__, \
    'cuda', torch.cuda.is_available(), 'keras', keras.__version__, keras.backend.backend())"; }
tf32_effect() { "$PY" benchmarks/tf32_effect.py | tee "$OUT/tf32.md"; }
report() { "$PY" -m parity report "$OUT/bench-$SIZES.json" --out "$OUT/report" &&
    tar -C "$OUT" -czf "$OUT/report.tar.gz" report && rm -r "$OUT/report"; }

step "machine" machine
step "CUDA parity checks" "$PY" -m pytest parity/suite/test_cuda.py -q -p no:cacheprovider -rs \
    --junitxml="$OUT/cuda-checks.xml"
if "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
    step "TF32 effect" tf32_effect
fi
step "benchmarks ($SIZES)" timeout "$BENCH_TIMEOUT" "$PY" -m pytest benchmarks -q -p no:cacheprovider \
    --bench-sizes="$SIZES" --bench-windows=1 -k "torch-cuda or keras-eager" \
    --benchmark-json="$OUT/bench-$SIZES.json" --benchmark-save-data --benchmark-columns=median,iqr,rounds
step "report" report
exit $failed
