"""Memory of the ONNX Runtime backend, and what EigenCAM costs next to a frame.

For each model, in a fresh process each: resident memory (RSS) after opening it with
``backend="torch"`` and with ``backend="onnxruntime"`` (which keeps the PyTorch model for CAM
*and* holds the ONNX Runtime session), after 3 predictions at 640. Then, with the ONNX
Runtime detector: median time of ``predict`` (gates on) and of ``eigen_cam`` at the default
layers (EigenCAM runs the kept PyTorch model), round robin. Prints a table, writes JSON.

    python benchmarks/backend_memory.py [--frames 5] [--out benchmarks/results/backend-memory-cpu.json]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = [ROOT / "resources" / "demo" / "gam-yolov5n.safetensors", ROOT / "resources" / "demo" / "yolov5n.safetensors"]


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(source: str, backend: str) -> None:
    sys.path.insert(0, str(ROOT))
    import cv2

    from gam_viewer import load_model

    img = cv2.imread(str(ROOT / "resources" / "samples" / "synth_01.jpg"))
    base = rss_mb()
    det = load_model(source, backend=backend)
    for _ in range(3):
        det.predict(img, imgsz=640)
    print(json.dumps({"rss_after_imports_mb": base, "rss_mb": rss_mb(), "backend": det.backend}))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "backend-memory-cpu.json"))
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(*args.child)
    rows = []
    env = dict(os.environ, GAM_VIEWER_CACHE=os.environ.get("GAM_VIEWER_CACHE") or tempfile.mkdtemp())
    for src in MODELS:
        row = {"model": src.name}
        for backend, key in (("torch", "torch"), ("onnxruntime", "onnx_first_open"), ("onnxruntime", "onnx_cached")):
            out = subprocess.run([sys.executable, __file__, "--child", str(src), backend], env=env,
                                 capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            row[f"rss_{key}_mb"] = round(json.loads(out)["rss_mb"], 1)
            row["rss_imports_mb"] = round(json.loads(out)["rss_after_imports_mb"], 1)
        rows.append(row)
        print(row, flush=True)
    # EigenCAM (PyTorch) against a frame on ONNX Runtime
    os.environ["GAM_VIEWER_CACHE"] = env["GAM_VIEWER_CACHE"]
    sys.path.insert(0, str(ROOT))
    import cv2

    from gam_viewer import load_model
    from gam_viewer.inference.cam import eigen_cam

    img = cv2.imread(str(ROOT / "resources" / "samples" / "synth_01.jpg"))
    for src, row in zip(MODELS, rows):
        det = load_model(src, backend="onnxruntime")
        eigen_cam(det, img, imgsz=640)   # warm-up (imports grad-cam)
        det.predict(img, imgsz=640)
        t_pred, t_cam = [], []
        for _ in range(args.frames):
            t0 = time.perf_counter()
            det.predict(img, imgsz=640)
            t1 = time.perf_counter()
            eigen_cam(det, img, imgsz=640)
            t2 = time.perf_counter()
            t_pred.append((t1 - t0) * 1e3)
            t_cam.append((t2 - t1) * 1e3)
        row.update(predict_onnx_ms=round(statistics.median(t_pred), 1), eigen_cam_torch_ms=round(statistics.median(t_cam), 1))
        print(row, flush=True)
    print(f"\n{'model':<28}{'imports':>9}{'torch':>9}{'onnx':>9}{'onnx 2nd':>9}{'predict':>9}{'eigencam':>9}  (MB, ms)")
    for r in rows:
        print(f"{r['model']:<28}{r['rss_imports_mb']:>9}{r['rss_torch_mb']:>9}{r['rss_onnx_first_open_mb']:>9}"
              f"{r['rss_onnx_cached_mb']:>9}{r['predict_onnx_ms']:>9}{r['eigen_cam_torch_ms']:>9}")
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": "python benchmarks/backend_memory.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "cpu_count": os.cpu_count(), "load_average": os.getloadavg()[0],
            "note": "rss_onnx_*_mb keeps the PyTorch model (CAM) and the ONNX Runtime session"}
    Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print("wrote", args.out)


if __name__ == "__main__":
    main()
