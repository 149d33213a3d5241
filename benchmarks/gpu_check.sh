#!/usr/bin/env bash
# Every GPU check and timing in one call, for a session that is lent a GPU machine
# (device tool: run this script once with a timeout, keep the JSON, give the machine back).
#   bash benchmarks/gpu_check.sh            # writes $OUT/*.json (or benchmarks/results/)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${OUT:-benchmarks/results}"
mkdir -p "$OUT_DIR"
PY="${PY:-python}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT_DIR/gpu_info.txt"
# CUDA tests (CUDA graph == eager, half precision) - skipped on CPU machines
QT_QPA_PLATFORM=offscreen $PY -m pytest -q tests/test_detector.py -k "cuda" 2>&1 | tail -5 | tee "$OUT_DIR/gpu_tests.txt"
$PY benchmarks/gam_block.py --device cuda --iters 30 --out "$OUT_DIR/gam_block-cuda.json" 2>&1 | tail -40
$PY benchmarks/engine.py --device cuda --frames 50 --no-ultralytics --out "$OUT_DIR/engine-cuda.json" 2>&1 | tail -25
