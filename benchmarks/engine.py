"""Per-frame latency of gam-viewer's engine, and of Ultralytics on the same weights.

For each model: preprocess, forward, postprocess (decode + NMS) and attention taps, median
over N frames at 640 on a real-sized image. Models: yolov5n / yolov5s (YOLOv5-repo schema)
with and without GAM (random weights from the shipped YAMLs: speed does not depend on the
values), plus YOLOv5nu / YOLOv8n in Ultralytics' own package and in gam-viewer on the
*same* checkpoint, alternating frame by frame. Prints a table, writes JSON; never asserts on time.

    python benchmarks/engine.py [--device cpu|cuda] [--frames 30] [--no-ultralytics]
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from gam_viewer import load_model  # noqa: E402

ENGINE_MODELS = ["yolov5n", "yolov5n-gam-backbone", "yolov5n-gam-full", "yolov5s", "yolov5s-gam-full"]
ULTRA_MODELS = ["yolov5nu", "yolov8n"]


def test_image(seed=0):
    """A 1080x810 (bus.jpg-sized) image with structure, so NMS has work to do."""
    bus = ROOT.parent / "shared" / "reference" / "images" / "bus.jpg"
    if bus.is_file():
        import cv2

        img = cv2.imread(str(bus))
        if img is not None:
            return img, "shared/reference/images/bus.jpg"
    rng = np.random.default_rng(seed)
    img = (rng.random((1080, 810, 3)) * 255).astype(np.uint8)
    return img, "random 1080x810"


def quiet_head(det):
    """Random weights flood NMS with ~25k near-equal candidates, a load no trained model has:
    bias the head's objectness/class logits down so NMS sees a realistic handful."""
    head = det.model.head
    with torch.no_grad():
        if head.kind == "anchor":
            for conv in head.m:
                conv.bias.view(head.na, -1)[:, 4:] -= 8.0
        else:
            for seq in head.cv3:
                seq[-1].bias -= 8.0


def med(xs):
    return round(statistics.median(xs), 3)


def time_engine(det, img, frames, warmup, attention=True):
    parts = {k: [] for k in ("preprocess", "forward", "postprocess", "taps", "total")}
    for i in range(warmup + frames):
        res = det.predict(img, imgsz=640, attention=attention)
        if i >= warmup:
            for k in parts:
                parts[k].append(res.timings[k])
    return {k: med(v) for k, v in parts.items()}, len(res)


def time_pair(path, det, img, frames, warmup, device):
    """Ultralytics' predict and gam-viewer's on the same checkpoint, alternating frame by
    frame (round robin), so drift in the machine's speed hits both alike."""
    from ultralytics import YOLO

    threads = torch.get_num_threads()
    model = YOLO(str(path))
    model.predict(img, imgsz=640, device=device, verbose=False)
    # Ultralytics' device selection sets torch to min(8, cpu_count - 1) threads for the whole
    # process (1 on a 2-core machine); put back what both sides should run with
    torch.set_num_threads(threads)
    theirs = {"preprocess": [], "inference": [], "postprocess": [], "total": []}
    ours = {k: [] for k in ("preprocess", "forward", "postprocess", "taps", "total")}
    for i in range(warmup + frames):
        t0 = time.perf_counter()
        r = model.predict(img, imgsz=640, conf=0.25, iou=0.45, device=device, verbose=False)[0]
        total = (time.perf_counter() - t0) * 1e3
        res = det.predict(img, imgsz=640, conf=0.25, iou=0.45)
        if i >= warmup:
            for k in ("preprocess", "inference", "postprocess"):
                theirs[k].append(r.speed[k])
            theirs["total"].append(total)
            for k in ours:
                ours[k].append(res.timings[k])
    return ({k: med(v) for k, v in theirs.items()}, len(r.boxes),
            {k: med(v) for k, v in ours.items()}, len(res))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--no-ultralytics", action="store_true")
    ap.add_argument("--only-ultralytics", action="store_true", help="only the same-weights comparison")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    img, img_name = test_image()
    rows = []
    cuda = args.device.startswith("cuda")
    configs = [("eager", {})]
    if cuda:
        configs += [("fp16", {"half": True}), ("fp16 + CUDA graph", {"half": True, "cuda_graph": True})]
    if args.threads:
        torch.set_num_threads(args.threads)
    for name in ([] if args.only_ultralytics else ENGINE_MODELS):
        for label, kw in configs:
            det = load_model(name, device=args.device, **kw)
            quiet_head(det)
            t, n = time_engine(det, img, args.frames, args.warmup)
            t_off, _ = time_engine(det, img, args.frames, args.warmup, attention=False)
            rows.append({"impl": "gam-viewer", "model": name, "mode": label, **t, "total_no_taps": t_off["total"],
                         "n_det": n, "taps_pct": round(100 * t["taps"] / t["total"], 2)})
            print(rows[-1], flush=True)

    if not args.no_ultralytics:
        os.environ.setdefault("YOLO_OFFLINE", "1")
        os.environ.setdefault("YOLO_AUTOINSTALL", "false")
        try:
            from ultralytics import YOLO
        except Exception as exc:  # noqa: BLE001
            print("ultralytics not available:", exc)
            YOLO = None
        if YOLO is not None:
            with tempfile.TemporaryDirectory() as tmp:
                for name in ULTRA_MODELS:
                    torch.manual_seed(0)
                    path = Path(tmp) / f"{name}.pt"
                    um = YOLO(f"{name}.yaml")  # Ultralytics' own init biases class logits low already
                    um.save(str(path))
                    det = load_model(path, device=args.device)   # Ultralytics' init already keeps NMS quiet
                    u, un, t, n = time_pair(path, det, img, args.frames, args.warmup, args.device)
                    rows.append({"impl": "ultralytics", "model": name, "preprocess": u["preprocess"],
                                 "forward": u["inference"], "postprocess": u["postprocess"], "taps": None,
                                 "total": u["total"], "n_det": un})
                    print(rows[-1], flush=True)
                    rows.append({"impl": "gam-viewer", "model": name + " (same .pt)", **t, "n_det": n,
                                 "taps_pct": round(100 * t["taps"] / t["total"], 2)})
                    print(rows[-1], flush=True)

    print()
    print(f"{'impl':<12}{'model':<26}{'mode':<19}{'pre':>8}{'fwd':>9}{'post':>8}{'taps':>8}{'total':>9}{'taps%':>7}")
    for r in rows:
        taps = "-" if r.get("taps") is None else f"{r['taps']:.3f}"
        pct = "-" if r.get("taps_pct") is None else f"{r['taps_pct']:.2f}"
        print(f"{r['impl']:<12}{r['model']:<26}{r.get('mode', ''):<19}{r['preprocess']:>8.2f}{r['forward']:>9.2f}{r['postprocess']:>8.2f}"
              f"{taps:>8}{r['total']:>9.2f}{pct:>7}")
    meta = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/engine.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else (platform.processor() or platform.machine()),
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "image": img_name, "imgsz": 640, "frames": args.frames, "units": "ms (median per frame)",
        "note": "ultralytics 'total' is wall time around predict(); its preprocess/inference/postprocess are its own timers",
    }
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"engine-{args.device.split(':')[0]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print("wrote", out)


if __name__ == "__main__":
    main()
