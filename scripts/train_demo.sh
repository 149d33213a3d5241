#!/usr/bin/env bash
# Train the bundled demo pair (resources/demo/): a baseline YOLOv5nu and a GAM-YOLOv5nu
# (GAM before SPPF and after each C3 that feeds Detect, paper form), from scratch, on the
# synthetic shapes data set, with identical data, seed and schedule. CPU is enough; the
# two models train in parallel, one thread each. See docs/DEMO.md for the numbers this gave.
#
#   scripts/train_demo.sh [RUN_DIR]        (default RUN_DIR: ./demo-runs; outside the repo is best)
#
# Three phases per model, each a plain `gam-viewer train`:
#   1. EPOCHS (12) epochs from scratch            -> RUN_DIR/<model>.safetensors
#   2. EPOCHS2 (16) more, starting from phase 1   -> RUN_DIR/<model>-phase2.safetensors
#   3. EPOCHS3 (12) more, starting from phase 2   -> RUN_DIR/<model>-phase3.safetensors
#      (weights=<previous file>: every tensor carries over; a fresh schedule without warm-up)
# Environment: EPOCHS, EPOCHS2, EPOCHS3, N (1200 images, 20 % val), IMGSZ (320), SEED (0),
# DATA_SEED (6). Also writes RUN_DIR/train_demo.json (a summary). Copy the phase-3 files to
# resources/demo/{yolov5n,gam-yolov5n}.safetensors (and the summary to benchmarks/results/)
# by hand: this script never writes into the repository.
set -euo pipefail

RUN_DIR=$(realpath -m "${1:-demo-runs}")
EPOCHS=${EPOCHS:-12}
EPOCHS2=${EPOCHS2:-16}
EPOCHS3=${EPOCHS3:-12}
N=${N:-1200}
IMGSZ=${IMGSZ:-320}
SEED=${SEED:-0}
DATA_SEED=${DATA_SEED:-6}
GV=${GV:-gam-viewer}
PY=${PY:-python}

mkdir -p "$RUN_DIR/logs"
if [ ! -f "$RUN_DIR/synth/data.yaml" ]; then
  "$GV" data synth --out "$RUN_DIR/synth" --n "$N" --imgsz "$IMGSZ" --seed "$DATA_SEED"
fi

common=(data="$RUN_DIR/synth/data.yaml" imgsz="$IMGSZ" batch=16 seed="$SEED"
        deterministic=True device=cpu project="$RUN_DIR/runs")

# model  file  run-name: phase 1, then phases 2 and 3, each from the one before
all_phases() {
  OMP_NUM_THREADS=1 "$GV" train model="$1" name="$3" epochs="$EPOCHS" "${common[@]}" \
    out="$RUN_DIR/$2.safetensors" > "$RUN_DIR/logs/$2.log" 2>&1
  OMP_NUM_THREADS=1 "$GV" train model="$1" name="$3-p2" epochs="$EPOCHS2" warmup_epochs=0 "${common[@]}" \
    weights="$RUN_DIR/$2.safetensors" out="$RUN_DIR/$2-phase2.safetensors" > "$RUN_DIR/logs/$2-phase2.log" 2>&1
  OMP_NUM_THREADS=1 "$GV" train model="$1" name="$3-p3" epochs="$EPOCHS3" warmup_epochs=0 "${common[@]}" \
    weights="$RUN_DIR/$2-phase2.safetensors" out="$RUN_DIR/$2-phase3.safetensors" > "$RUN_DIR/logs/$2-phase3.log" 2>&1
}

if [ "${COLLECT_ONLY:-0}" != 1 ]; then
  all_phases yolov5nu yolov5n demo-yolov5nu &
  pid_base=$!
  all_phases yolov5nu-gam-full gam-yolov5n demo-gam-yolov5n &
  pid_gam=$!
  echo "training: baseline pid $pid_base, GAM pid $pid_gam; logs in $RUN_DIR/logs"
  status=0
  wait "$pid_base" || status=$?
  wait "$pid_gam" || status=$?
  [ "$status" = 0 ] || exit "$status"
fi

# summary: final validation of each phase's best.pt (as stored in the files), per-epoch mAPs
RUN_DIR="$RUN_DIR" N="$N" IMGSZ="$IMGSZ" SEED="$SEED" DATA_SEED="$DATA_SEED" "$PY" - <<'PYEOF'
import csv, json, math, os, platform
from pathlib import Path
from safetensors import safe_open

run = Path(os.environ["RUN_DIR"])
summary = {"what": "bundled demo pair: YOLOv5nu vs GAM-YOLOv5nu (yolov5nu-gam-full), from scratch, synthetic shapes",
           "data": {"generator": "gam-viewer data synth", "n": int(os.environ["N"]), "imgsz": int(os.environ["IMGSZ"]),
                    "seed": int(os.environ["DATA_SEED"]), "val_fraction": 0.2},
           "machine": f"{platform.machine()}, {os.cpu_count()} cores shared with other work; one thread per run",
           "models": {}}
for file, run_name in (("yolov5n", "demo-yolov5nu"), ("gam-yolov5n", "demo-gam-yolov5n")):
    phases = []
    for suffix, name in (("", run_name), ("-phase2", run_name + "-p2"), ("-phase3", run_name + "-p3")):
        st = run / f"{file}{suffix}.safetensors"
        if not st.is_file():
            continue
        with safe_open(str(st), framework="pt") as fh:
            extra = json.loads(fh.metadata()["extra"])
            params = sum(math.prod(fh.get_slice(k).get_shape()) for k in fh.keys())
        rows = list(csv.DictReader(open(run / "runs" / name / "results.csv")))
        m = extra["metrics"]
        phases.append({
            "command": "gam-viewer train " + " ".join(extra["argv"]),
            "file": st.name, "bytes": st.stat().st_size, "tensor_elements": params,
            "minutes": round(extra["seconds"] / 60, 1),
            "transferred": (extra.get("transfer") or {}).get("transferred"),
            "val_mAP50": m.get("metrics/mAP50(B)"), "val_mAP50-95": m.get("metrics/mAP50-95(B)"),
            "val_precision": m.get("metrics/precision(B)"), "val_recall": m.get("metrics/recall(B)"),
            "per_epoch": [{"epoch": int(r["epoch"]), "mAP50": float(r["metrics/mAP50(B)"]),
                           "mAP50-95": float(r["metrics/mAP50-95(B)"])} for r in rows],
        })
    summary["models"][file] = phases
out = run / "train_demo.json"
out.write_text(json.dumps(summary, indent=1) + "\n")
print(f"{'model':<14}{'phase':>6}{'mAP50':>8}{'mAP50-95':>10}{'min':>7}{'MB':>7}")
for k, phases in summary["models"].items():
    for i, v in enumerate(phases, 1):
        print(f"{k:<14}{i:>6}{v['val_mAP50']:>8.3f}{v['val_mAP50-95']:>10.3f}{v['minutes']:>7.1f}{v['bytes'] / 2**20:>7.1f}")
print(f"wrote {out}")
PYEOF
