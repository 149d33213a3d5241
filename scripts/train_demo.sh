#!/usr/bin/env bash
# Train the bundled demo pair (resources/demo/): a baseline YOLOv5nu and a GAM-YOLOv5nu
# (GAM before SPPF and after each C3 that feeds Detect, paper form), from scratch, on the
# synthetic shapes data set, with identical data, seed and schedule. CPU is enough; the
# two runs go in parallel, one thread each. See docs/DEMO.md for the numbers this gave.
#
#   scripts/train_demo.sh [RUN_DIR]        (default RUN_DIR: ./demo-runs; outside the repo is best)
#
# Environment: EPOCHS (15), N (1500 images, 20 % val), IMGSZ (320), SEED (0), DATA_SEED (6).
# Writes RUN_DIR/{synth,logs,runs} and RUN_DIR/{gam-yolov5n,yolov5n}.safetensors; copy those
# two files to resources/demo/ by hand (this script never overwrites bundled files).
set -euo pipefail

RUN_DIR=$(realpath -m "${1:-demo-runs}")
EPOCHS=${EPOCHS:-15}
N=${N:-1500}
IMGSZ=${IMGSZ:-320}
SEED=${SEED:-0}
DATA_SEED=${DATA_SEED:-6}
GV=${GV:-gam-viewer}

mkdir -p "$RUN_DIR/logs"
if [ ! -f "$RUN_DIR/synth/data.yaml" ]; then
  "$GV" data synth --out "$RUN_DIR/synth" --n "$N" --imgsz "$IMGSZ" --seed "$DATA_SEED"
fi

common=(data="$RUN_DIR/synth/data.yaml" epochs="$EPOCHS" imgsz="$IMGSZ" batch=16 seed="$SEED"
        deterministic=True device=cpu project="$RUN_DIR/runs")

OMP_NUM_THREADS=1 nohup "$GV" train model=yolov5nu name=demo-yolov5nu "${common[@]}" \
  out="$RUN_DIR/yolov5n.safetensors" > "$RUN_DIR/logs/yolov5n.log" 2>&1 &
pid_base=$!
OMP_NUM_THREADS=1 nohup "$GV" train model=yolov5nu-gam-full name=demo-gam-yolov5n "${common[@]}" \
  out="$RUN_DIR/gam-yolov5n.safetensors" > "$RUN_DIR/logs/gam-yolov5n.log" 2>&1 &
pid_gam=$!
echo "training: baseline pid $pid_base, GAM pid $pid_gam; logs in $RUN_DIR/logs"
status=0
wait "$pid_base" || status=$?
wait "$pid_gam" || status=$?
exit "$status"
