"""Real-data sanity run: GAM-YOLOv5nu vs YOLOv5nu, both starting from the official yolov5n.pt.

Both models take the backbone and neck of the official YOLOv5 v7.0 COCO checkpoint
(``gam-viewer train ... weights=yolov5n.pt``: the same blocks, renumbered around the inserted
GAM layers; the anchor-based YOLOv5 head cannot go into the anchor-free head, which starts
from scratch) and are fine-tuned with the same seed and schedule on COCO128 (128 COCO
train2017 images), validated on the 128 held-out val2017 images.

    python scripts/coco128_sanity.py [--epochs 5] [--imgsz 320] [--out /tmp/coco128-sanity]

The shared data set is never written to: the script builds a mirror in the run folder (image
symlinks, copied label files, a data.yaml with an absolute ``path:``) so that Ultralytics'
label caches land there too. Prints a table and writes
``benchmarks/results/train_coco128_sanity.json``.

What this can show: that the training path works on real data, that the transferred weights
are used (a model trained from scratch for the same few epochs, ``--scratch``, stays near zero),
and roughly where a short CPU fine-tune lands. What it cannot show: whether GAM helps. A few
epochs on 128 images on a CPU are far too little for that; differences between the two are
within run-to-run noise.
"""

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
RESULTS = ROOT / "benchmarks" / "results" / "train_coco128_sanity.json"


def mirror_dataset(src: Path, dst: Path) -> Path:
    """A data.yaml in ``dst`` whose images are symlinks to ``src`` and whose labels are copies."""
    spec = yaml.safe_load((src / "data.yaml").read_text(encoding="utf-8"))
    for split in ("train", "val"):
        img_dir = dst / "images" / split
        lab_dir = dst / "labels" / split
        img_dir.mkdir(parents=True, exist_ok=True)
        lab_dir.mkdir(parents=True, exist_ok=True)
        for img in sorted((src / spec[split]).iterdir()):
            link = img_dir / img.name
            if not link.exists():
                link.symlink_to(img.resolve())
            label = src / "labels" / split / (img.stem + ".txt")
            if label.is_file() and not (lab_dir / label.name).exists():
                shutil.copyfile(label, lab_dir / label.name)
    data = {"path": str(dst.resolve()), "train": "images/train", "val": "images/val", "names": spec["names"]}
    out = dst / "data.yaml"
    out.write_text("# derived from " + str(src / "data.yaml") + " (path added, caches kept here)\n"
                   + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return out


def train(name: str, model: str, data: Path, weights, args, out_dir: Path) -> dict:
    out = out_dir / f"{name}.safetensors"
    cmd = [sys.executable, "-m", "gam_viewer", "train", f"model={model}", f"data={data}",
           f"epochs={args.epochs}", f"imgsz={args.imgsz}", f"batch={args.batch}", f"seed={args.seed}",
           f"optimizer={args.optimizer}", f"lr0={args.lr0}", f"warmup_epochs={args.warmup_epochs}",
           "device=cpu", "deterministic=True", f"project={out_dir / 'runs'}", f"name={name}", f"out={out}"]
    if weights:
        cmd.append(f"weights={weights}")
    log = out_dir / f"{name}.log"
    if not args.collect:
        print("$ " + " ".join(cmd[1:]), flush=True)
        with open(log, "w") as fh:
            rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT,
                                env={**os.environ, "OMP_NUM_THREADS": str(args.threads)}).returncode
        if rc != 0:
            raise SystemExit(f"{name}: training failed (exit {rc}); see {log}")
    from safetensors import safe_open

    with safe_open(str(out), framework="pt") as fh:
        extra = json.loads(fh.metadata()["extra"])
    m = extra.get("metrics", {})
    transfer = extra.get("transfer") or {}
    with open(out_dir / "runs" / name / "results.csv", newline="") as fh:
        last = list(csv.DictReader(fh))[-1]
    return {
        "name": name, "model": model, "weights": str(weights) if weights else None,
        "command": "gam-viewer " + " ".join(cmd[3:]),
        "minutes": round(extra["seconds"] / 60, 1),
        "final_train_loss": {k: round(float(last[f"train/{k}_loss"]), 3) for k in ("box", "cls", "dfl")},
        "mAP50": m.get("metrics/mAP50(B)"), "mAP50-95": m.get("metrics/mAP50-95(B)"),
        "precision": m.get("metrics/precision(B)"), "recall": m.get("metrics/recall(B)"),
        "transferred": transfer.get("transferred"), "target_tensors": transfer.get("target_tensors"),
        "not_transferred": transfer.get("not_transferred"), "log": str(log),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=SHARED / "datasets" / "coco128")
    ap.add_argument("--weights", type=Path, default=SHARED / "weights" / "yolov5n.pt")
    ap.add_argument("--out", type=Path, default=Path("/tmp/coco128-sanity"))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    # Ultralytics' optimizer=auto picks AdamW at lr 0.002*5/(4+nc) = 1.2e-4 for 80 classes on a
    # short run: too slow for a head that starts from scratch. YOLOv5's own SGD 0.01 instead.
    ap.add_argument("--optimizer", default="SGD")
    ap.add_argument("--lr0", type=float, default=0.01)
    ap.add_argument("--warmup-epochs", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (the runs are sequential)")
    ap.add_argument("--scratch", action="store_true", help="also train the GAM model from scratch (control)")
    ap.add_argument("--no-json", action="store_true", help=f"do not write {RESULTS.relative_to(ROOT)}")
    ap.add_argument("--collect", action="store_true", help="do not train: report the runs already in --out")
    args = ap.parse_args()
    for p in (args.data / "data.yaml", args.weights):
        if not p.exists():
            print(f"coco128_sanity: {p} is missing (shared data); nothing to do", file=sys.stderr)
            return 2
    args.out.mkdir(parents=True, exist_ok=True)
    if any(args.out.glob("*.safetensors")) and not args.collect:
        print(f"coco128_sanity: {args.out} holds results of an earlier run; choose another --out", file=sys.stderr)
        return 2
    data = mirror_dataset(args.data, args.out / "coco128")
    runs = [train("gam-yolov5nu", "yolov5nu-gam-full", data, args.weights, args, args.out),
            train("yolov5nu", "yolov5nu", data, args.weights, args, args.out)]
    if args.scratch:
        runs.append(train("gam-yolov5nu-scratch", "yolov5nu-gam-full", data, None, args, args.out))
    print(f"\nCOCO128, {args.epochs} epochs at {args.imgsz}, batch {args.batch}, {args.optimizer} lr0 {args.lr0}, "
          f"seed {args.seed}, CPU")
    print(f"{'run':<22}{'start':<12}{'transferred':>12}{'mAP50':>8}{'mAP50-95':>10}"
          f"{'loss box/cls/dfl':>20}{'min':>7}")
    for r in runs:
        tr = f"{r['transferred']}/{r['target_tensors']}" if r["transferred"] is not None else "-"
        loss = "/".join(f"{v:.2f}" for v in r["final_train_loss"].values())
        print(f"{r['name']:<22}{'yolov5n.pt' if r['weights'] else 'scratch':<12}{tr:>12}"
              f"{r['mAP50'] or 0:>8.3f}{r['mAP50-95'] or 0:>10.3f}{loss:>20}{r['minutes']:>7.1f}")
    if not args.no_json:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({
            "what": "COCO128 fine-tune from the official yolov5n.pt backbone+neck, GAM vs no GAM (CPU sanity run)",
            "epochs": args.epochs, "imgsz": args.imgsz, "batch": args.batch, "seed": args.seed,
            "optimizer": args.optimizer, "lr0": args.lr0, "warmup_epochs": args.warmup_epochs,
            "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
            "runs": runs,
        }, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
