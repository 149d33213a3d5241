"""How well the bundled demo pair detects the bundled sample pictures.

The sample pictures (resources/samples/synth_0*.jpg) are drawn by the synthetic generator
with a known seed (scripts/make_demo_media.py), so their ground-truth boxes can be drawn
again here. For each demo model this counts, at the viewer's default thresholds
(conf 0.25, IoU 0.45) and the models' own image size, the objects found (same class,
box IoU >= 0.5), the objects missed and the extra boxes. Prints a table and writes JSON.

    python scripts/demo_sample_check.py [--out benchmarks/results/demo_samples.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from make_demo_media import DEFAULT_SEED, IMAGE_OBJECTS, IMAGES  # noqa: E402

from gam_viewer import load_model  # noqa: E402
from gam_viewer.inference.decode import box_iou  # noqa: E402
from gam_viewer.data.synth import render_scene  # noqa: E402

MODELS = {"GAM-YOLOv5nu": ROOT / "resources/demo/gam-yolov5n.safetensors",
          "YOLOv5nu": ROOT / "resources/demo/yolov5n.safetensors"}


def match(gt, boxes, classes, thr=0.5):
    """Greedy one-to-one matching, predictions in score order (they come sorted)."""
    used = set()
    tp = 0
    for box, cls in zip(boxes, classes):
        best, best_j = thr, None
        for j, (gc, *g) in enumerate(gt):
            if j in used or gc != cls:
                continue
            v = float(box_iou([g], box)[0])
            if v >= best:
                best, best_j = v, j
        if best_j is not None:
            used.add(best_j)
            tp += 1
    return tp, len(boxes) - tp, len(gt) - tp


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/demo_samples.json")
    args = ap.parse_args(argv)
    truth = {}
    for k, (name, w, h) in enumerate(IMAGES):
        img, labels = render_scene(np.random.default_rng([DEFAULT_SEED, k]), w, h, n_objects=IMAGE_OBJECTS)
        disk = cv2.imread(str(ROOT / "resources/samples" / name))
        if disk is None or disk.shape != img.shape:
            raise SystemExit(f"resources/samples/{name}: missing or not the picture seed {DEFAULT_SEED} draws")
        truth[name] = labels
    result = {"thresholds": {"conf": 0.25, "iou_nms": 0.45, "match_iou": 0.5}, "models": {}}
    print(f"{'model':<14}{'picture':<14}{'objects':>8}{'found':>7}{'missed':>8}{'extra':>7}")
    for label, path in MODELS.items():
        det = load_model(str(path))
        rows = {}
        for name, gt in truth.items():
            r = det.predict(cv2.imread(str(ROOT / "resources/samples" / name)), conf=0.25, iou=0.45,
                            imgsz=det.default_imgsz)
            tp, fp, fn = match(gt, [list(map(float, b)) for b in r.boxes], [int(c) for c in r.classes])
            rows[name] = {"objects": len(gt), "found": tp, "missed": fn, "extra": fp}
            print(f"{label:<14}{name:<14}{len(gt):>8}{tp:>7}{fn:>8}{fp:>7}")
        tot = {k: sum(v[k] for v in rows.values()) for k in ("objects", "found", "missed", "extra")}
        print(f"{label:<14}{'all':<14}{tot['objects']:>8}{tot['found']:>7}{tot['missed']:>8}{tot['extra']:>7}")
        result["models"][label] = {"file": str(path.relative_to(ROOT)), "pictures": rows, "total": tot}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
