#!/usr/bin/env bash
# One prepared check for a GPU machine, under 8 minutes on one GPU:
#   1. the tests marked `gpu` (bf16/16-mixed fit, channels_last, feature cache on CUDA, GPU JPEG decode,
#      export parity from a CUDA-trained run, serve on CUDA, a 1-GPU DDP launch via torchrun);
#   2. bench/gpu_bench.py: fine-tuning img/s (resnet50, efficientnet_lite0, vit_b_16 in fp32, bf16,
#      channels_last), headstart vs a plain loop, feature-cache speed-up, fraction of the bf16 matmul
#      peak, loader vs training img/s (CPU decode and GPU nvJPEG decode).
# Without CUDA the tests are skipped and the benchmark runs its short CPU fallback, so the script
# itself can be checked anywhere. Paste the printed tables into docs/performance.md.
#
#   bash bench/device_check.sh              # uses .venv/bin/python if present, else python3
#   PYTHON=/path/to/python bash bench/device_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
started=$(date +%s)

echo "## device_check $(date -u '+%Y-%m-%d %H:%M UTC') on $(hostname)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null \
  || echo "(no nvidia-smi: CPU fallback)"
"$PYTHON" -c "import torch; print('torch', torch.__version__, '| cuda', torch.cuda.is_available(), '| bf16', torch.cuda.is_available() and torch.cuda.is_bf16_supported())"

echo; echo "## 1. tests marked gpu"
timeout 300 "$PYTHON" -m pytest tests/gpu -m gpu -q -p no:cacheprovider -rs
tests_rc=$?

echo; echo "## 2. benchmarks"
timeout 240 "$PYTHON" bench/gpu_bench.py
bench_rc=$?

echo; echo "device_check: tests exit $tests_rc, benchmark exit $bench_rc, $(( $(date +%s) - started )) s"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
