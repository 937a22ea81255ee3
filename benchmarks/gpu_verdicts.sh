#!/usr/bin/env bash
# The GPU part of the sharp-verdict evidence (no TensorFlow needed: Keras runs on its torch
# backend): the CUDA checks (forward and gradients vs the float64 oracle, the corruption grid, TF32
# on an H=512 layer), the corruption table on CUDA, and a calibration sweep that adds torch on CUDA
# as an implementation (torch CPU, a numpy step loop, torch CUDA; PROCS processes of CASES each).
#   OUT=results/ CASES=400 PROCS=8 bash benchmarks/gpu_verdicts.sh
set -u -o pipefail
OUT=${OUT:?set OUT to a new or empty folder for the results}
CASES=${CASES:-400}
PROCS=${PROCS:-8}
PY=${PYTHON:-python3}
export KERAS_BACKEND=${KERAS_BACKEND:-torch} TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1
mkdir -p "$OUT"
failed=0
step() { echo "== $1"; shift; local t=$SECONDS; "$@" || { echo "!! failed: exit $?"; failed=$((failed + 1)); }; echo "== took $((SECONDS - t)) s"; }
sweeps() {
    local pids=() i
    for i in $(seq 1 "$PROCS"); do
        "$PY" -m parity sweep --calibrate --device cuda --cases "$CASES" --seed $((100 + i)) \
            --out "sweeps/cuda-$i" > "sweeps/cuda-$i.log" 2>&1 & pids+=($!)
    done
    local rc=0; for p in "${pids[@]}"; do wait "$p" || rc=1; done
    "$PY" -m parity sweep --summarise sweeps/cuda-* --out "$OUT/calibration-cuda" && rc=$rc
    cp "$OUT/calibration-cuda/summary.md" "$OUT/calibration-cuda.md"
    cp "$OUT/calibration-cuda/ratios.png" "$OUT/calibration-cuda.png"
    return $rc
}
mkdir -p sweeps
step "machine" bash -c "nvidia-smi -L; $PY -c 'import torch, keras; print(torch.__version__, torch.backends.cudnn.version(), keras.__version__)'"
step "CUDA checks" "$PY" -m pytest parity/suite/test_cuda.py -q -p no:cacheprovider -n 8 -rs \
    --junitxml="$OUT/cuda-checks.xml"
step "corruptions on CUDA" bash -c "$PY -m parity sweep --sensitivity --device cuda | tee $OUT/sensitivity-cuda.md"
step "calibration sweep with torch on CUDA" sweeps
exit $failed
