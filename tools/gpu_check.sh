#!/usr/bin/env bash
# Every GPU check in one go, for a machine with one CUDA GPU. Sized to finish well inside
# 10 minutes on an H100 (an estimate: this script has not run on a GPU yet).
#   1. tests/test_cuda.py: the CUDA path gives the CPU path's semantics (bf16 tolerance);
#   2. the benchmark: ours vs reference vs ce-only, OKDDip ResNet-32, 4 branches, batch 128,
#      median of 3 (targets: >= 25,000 images/s, >= 8x the reference, <= 15 % overhead);
#   3. the same with torch.compile (one repeat; compilation is the warm-up);
#   4. the scaling sweep: batch 128..1024 and 3..8 branches, CSV + PNG.
#
#   bash tools/gpu_check.sh [OUT_DIR]        # default OUT_DIR: runs/gpu-check
#
# Runs from the source tree (no install needed beyond torch, torchvision, pandas, tqdm,
# matplotlib, psutil and pytest). Each step runs even if an earlier one failed, and every
# step's output goes to one log beside the results (OUT_DIR/gpu_check.log), so a partial
# run still leaves what it measured.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=${1:-runs/gpu-check}
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
: >"$LOG"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
status=0

step() {  # step NAME COMMAND...: run, append to the log, remember a failure
    local name=$1
    shift
    echo "== $name: $*" | tee -a "$LOG"
    "$@" 2>&1 | tee -a "$LOG"
    local rc=${PIPESTATUS[0]}
    [ "$rc" -eq 0 ] || { echo "== $name FAILED (exit $rc)" | tee -a "$LOG"; status=1; }
}

step gpu nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
step versions "$PY" -c "import torch, torchvision; print('torch', torch.__version__,
'torchvision', torchvision.__version__, 'cuda', torch.version.cuda,
torch.cuda.get_device_name())"

step tests "$PY" -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_bench.py \
    tests/test_costs.py
step bench "$PY" -m okddip_edu bench --device cuda --repeats 3 --out "$OUT" --name cuda
step bench_compile "$PY" -m okddip_edu bench --device cuda --repeats 1 --compile \
    --out "$OUT" --name cuda_compile
step sweep "$PY" -m okddip_edu bench --device cuda --sweep --sweep-branches 3 4 6 8 \
    --out "$OUT" --name cuda
exit $status
