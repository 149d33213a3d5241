"""Per-frame latency of gam-viewer's engine, and of Ultralytics on the same weights.

For each model: preprocess, forward, postprocess (decode + NMS) and attention taps, median
over N frames at 640 on a real-sized image. Models: yolov5n / yolov5s (YOLOv5-repo schema)
with and without GAM (random weights from the shipped YAMLs: speed does not depend on the
values), plus YOLOv5nu / YOLOv8n in Ultralytics' own package and in gam-viewer on the
*same* checkpoint, alternating frame by frame. Prints a table, writes JSON; never asserts on time.

``--backends``: the ONNX Runtime backend instead (issue 13): on the same Ultralytics checkpoints,
Ultralytics' PyTorch predict, gam-viewer on PyTorch and gam-viewer on ONNX Runtime round robin
frame by frame, and on GAM models (the bundled demo pair, shipped GAM YAMLs) gam-viewer on
PyTorch against ONNX Runtime with every gate copied out; plus each model's first open (the
ONNX export, into an empty cache folder) and second open (from the cache).

    python benchmarks/engine.py [--device cpu|cuda] [--frames 30] [--no-ultralytics]
    python benchmarks/engine.py --yolov7 PATH/TO/yolov7-checkout [--yolov7-width 1.0]
    python benchmarks/engine.py --backends [--frames 15] [--out benchmarks/results/engine-backends-cpu.json]

``--yolov7`` compares against the original YOLOv7 code (WongKinYiu/yolov7, a checkout given by
path, driven as ``scripts/make_yolov7_refs.py`` does, never copied): it builds yolov7-tiny with
two GAM_Attention blocks in that code, saves it as its ``train.py`` does, then times loading
(its ``attempt_load`` vs ``gam_viewer.load_model``) and per-frame inference (its letterbox +
forward + ``non_max_suppression`` + ``scale_coords`` vs ``Detector.predict``) on the same file,
alternating frame by frame.
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


# ----------------------------------------------------------------------------- YOLOv7 vs its own code
def yolov7_rows(repo, img, frames, warmup, width=1.0, loads=5):
    """Build yolov7-tiny + GAM in the original code, save it, time both sides on that file."""
    import copy
    import shutil

    import cv2

    sys.path.insert(0, str(ROOT / "scripts"))
    import make_yolov7_refs as v7ref

    work = Path(tempfile.mkdtemp(prefix="bench-yolov7-"))
    cwd = os.getcwd()
    try:
        src = v7ref.prepare_source(Path(repo).resolve(), work)
        v7ref.install_shims()
        sys.path.insert(0, str(src))
        os.chdir(src)
        from models.experimental import attempt_load
        from models.yolo import Model
        from utils.datasets import letterbox as v7_letterbox
        from utils.general import non_max_suppression, scale_coords

        from gam_viewer.models.insert import insert_after

        cfg = v7ref._yaml(src, "cfg/training/yolov7-tiny.yaml")
        cfg["width_multiple"] = width
        cfg, _ = insert_after(cfg, [75], [256], module="GAM_Attention")
        cfg, _ = insert_after(cfg, [28], [512], module="GAM_Attention")
        torch.manual_seed(0)
        model = Model(copy.deepcopy(cfg), ch=3, nc=80)
        with torch.no_grad():   # random weights: keep NMS to a realistic handful (as quiet_head)
            for conv in model.model[-1].m:
                conv.bias.view(model.model[-1].na, -1)[:, 4:] -= 8.0
        path = work / "yolov7-tiny-gam.pt"
        torch.save({"epoch": -1, "best_fitness": None, "training_results": None,
                    "model": copy.deepcopy(model).half().requires_grad_(False),  # as strip_optimizer leaves it
                    "ema": None, "updates": None, "optimizer": None, "wandb_id": None}, path)
        size_mb = path.stat().st_size / 1e6

        def timed(fn):
            t0 = time.perf_counter()
            out = fn()
            return out, (time.perf_counter() - t0) * 1e3

        from gam_viewer.models import read_model
        from gam_viewer.models.safe_pickle import load_checkpoint_dict

        load_theirs, load_ours, unpickle_ours, read_ours = [], [], [], []
        for _ in range(loads):
            theirs, t = timed(lambda: attempt_load(str(path), map_location="cpu"))
            load_theirs.append(t)
            ours, t = timed(lambda: load_model(path, backend="torch"))   # PyTorch against PyTorch
            load_ours.append(t)
            unpickle_ours.append(timed(lambda: load_checkpoint_dict(path))[1])   # the restricted unpickling
            read_ours.append(timed(lambda: read_model(path))[1])   # + rebuild from the YAML, tensors in
        stride = int(theirs.stride.max())

        def original(img0):
            im = v7_letterbox(img0, 640, stride=stride)[0]
            im = np.ascontiguousarray(im[:, :, ::-1].transpose(2, 0, 1))
            x = torch.from_numpy(im).float().unsqueeze(0) / 255.0
            with torch.no_grad():
                pred = theirs(x)[0]
            det = non_max_suppression(pred, 0.25, 0.45)[0]
            if len(det):
                det[:, :4] = scale_coords(x.shape[2:], det[:, :4], img0.shape).round()
            return det

        t_theirs, t_ours, t_ours_off = [], [], []
        for i in range(warmup + frames):
            det_t, a = timed(lambda: original(img))
            res, b = timed(lambda: ours.predict(img, imgsz=640, conf=0.25, iou=0.45))
            res_off, c = timed(lambda: ours.predict(img, imgsz=640, conf=0.25, iou=0.45, attention=False))
            if i >= warmup:
                t_theirs.append(a)
                t_ours.append(b)
                t_ours_off.append(c)
        params = sum(p.numel() for p in theirs.parameters())
        common = {"model": f"yolov7-tiny-gam (width {width}, {params} fused params, {size_mb:.1f} MB)"}
        return [
            {"impl": "yolov7 (original)", **common, "load_ms": med(load_theirs), "total": med(t_theirs),
             "n_det": int(len(det_t))},
            {"impl": "gam-viewer", **common, "load_ms": med(load_ours), "unpickle_ms": med(unpickle_ours),
             "read_model_ms": med(read_ours), "total": med(t_ours),
             "total_no_taps": med(t_ours_off), "n_det": len(res)},
        ]
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)
def timed_open(source, **kw):
    t0 = time.perf_counter()
    det = load_model(source, **kw)
    return det, (time.perf_counter() - t0) * 1e3


def round_robin(runners, frames, warmup):
    """Call each runner once per frame in turn; median total (and forward) per runner."""
    totals = {k: [] for k in runners}
    forwards = {k: [] for k in runners}
    n_det = {}
    for i in range(warmup + frames):
        for k, fn in runners.items():
            t0 = time.perf_counter()
            n, fwd = fn()
            dt = (time.perf_counter() - t0) * 1e3
            if i >= warmup:
                totals[k].append(dt)
                forwards[k].append(fwd)
            n_det[k] = n
    return {k: {"total": med(totals[k]), "forward": med(forwards[k]), "n_det": n_det[k]} for k in runners}


def engine_runner(det, img):
    def run():
        r = det.predict(img, imgsz=640, conf=0.25, iou=0.45, attention=True)
        return len(r), r.timings["forward"]
    return run


def _ultralytics_yolo():
    """Ultralytics' YOLO class, imported offline; None (and a line saying why) when it is absent."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    try:
        from ultralytics import YOLO
    except Exception as exc:  # noqa: BLE001
        print("ultralytics not available:", exc)
        return None
    return YOLO


def backend_rows(img, frames, warmup, cache_dir):
    """Rows for --backends (see the module docstring)."""
    os.environ["GAM_VIEWER_CACHE"] = str(cache_dir)
    rows = []
    threads = torch.get_num_threads()
    YOLO = _ultralytics_yolo()
    with tempfile.TemporaryDirectory() as tmp:
        for name in (ULTRA_MODELS if YOLO is not None else []):
            torch.manual_seed(0)
            path = Path(tmp) / f"{name}.pt"
            YOLO(f"{name}.yaml").save(str(path))
            um = YOLO(str(path))
            um.predict(img, imgsz=640, device="cpu", verbose=False)
            torch.set_num_threads(threads)   # Ultralytics leaves the process at cpu_count - 1 threads

            def ultra(um=um):
                r = um.predict(img, imgsz=640, conf=0.25, iou=0.45, device="cpu", verbose=False)[0]
                return len(r.boxes), r.speed["inference"]

            dt_, open_t = timed_open(path, backend="torch")
            do_, open_o = timed_open(path, backend="onnxruntime")
            _, open_o2 = timed_open(path, backend="onnxruntime")
            res = round_robin({"ultralytics": ultra, "torch": engine_runner(dt_, img),
                               "onnxruntime": engine_runner(do_, img)}, frames, warmup)
            rows.append({"model": name, "weights": "Ultralytics .pt (its own init)", "gates": 0,
                         **{f"{k}_{m}": v[m] for k, v in res.items() for m in ("total", "forward", "n_det")},
                         "open_torch_ms": round(open_t, 1), "first_open_onnx_ms": round(open_o, 1),
                         "export_ms": round(do_.onnx_report.export_ms, 1), "second_open_onnx_ms": round(open_o2, 1),
                         "onnx_vs_ultralytics": round(res["onnxruntime"]["total"] / res["ultralytics"]["total"], 3),
                         "onnx_vs_torch": round(res["onnxruntime"]["total"] / res["torch"]["total"], 3)})
            print(rows[-1], flush=True)
    demo = ROOT / "resources" / "demo"
    for source in [demo / "gam-yolov5n.safetensors", demo / "yolov5n.safetensors", "yolov5n-gam-full",
                   "yolov5nu-gam-full"]:
        dt_, open_t = timed_open(source, backend="torch")
        if isinstance(source, str):            # random weights: quiet NMS, then export these weights
            quiet_head(dt_)
            do_ = load_model(source, backend="torch")
            do_.model.load_state_dict(dt_.model.state_dict())
            t0 = time.perf_counter()
            do_.use_backend("onnxruntime", cache=False)
            open_o, open_o2 = (time.perf_counter() - t0) * 1e3, None
        else:
            do_, open_o = timed_open(source, backend="onnxruntime")
            _, open_o2 = timed_open(source, backend="onnxruntime")
        res = round_robin({"torch": engine_runner(dt_, img), "onnxruntime": engine_runner(do_, img)}, frames, warmup)
        label = Path(source).name if not isinstance(source, str) else source + " (random weights)"
        n_gates = sum(int(g.channel_attention is not None) + int(g.spatial_attention is not None)
                      for g in dt_.model.gam_modules())
        rows.append({"model": label, "weights": "bundled demo" if not isinstance(source, str) else "shipped YAML",
                     "gates": n_gates,
                     **{f"{k}_{m}": v[m] for k, v in res.items() for m in ("total", "forward", "n_det")},
                     "open_torch_ms": round(open_t, 1),
                     "first_open_onnx_ms": round(open_o, 1), "export_ms": round(do_.onnx_report.export_ms, 1),
                     "second_open_onnx_ms": None if open_o2 is None else round(open_o2, 1),
                     "onnx_vs_torch": round(res["onnxruntime"]["total"] / res["torch"]["total"], 3)})
        print(rows[-1], flush=True)
    return rows


def write_result(args, argv, default_name, rows, device, **fields):
    """The JSON every mode writes: common meta (date, command, machine, torch) + ``fields``, and the rows."""
    meta = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/engine.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "device": device, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__, **fields,
    }
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / default_name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print("wrote", out)


def main_backends(args, argv, img, img_name):
    with tempfile.TemporaryDirectory() as cache:
        load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        rows = backend_rows(img, args.frames, args.warmup, cache)
    print()
    print(f"{'model':<42}{'ultra':>9}{'torch':>9}{'onnx':>9}{'onnx/ultra':>11}{'onnx/torch':>11}"
          f"{'export':>9}{'reopen':>9}")
    for r in rows:
        u = r.get("ultralytics_total")
        print(f"{r['model']:<42}{(f'{u:.1f}' if u else '-'):>9}{r['torch_total']:>9.1f}{r['onnxruntime_total']:>9.1f}"
              f"{(str(r.get('onnx_vs_ultralytics')) if u else '-'):>11}{r['onnx_vs_torch']:>11}"
              f"{r['export_ms']:>9.0f}{(str(r['second_open_onnx_ms']) if r['second_open_onnx_ms'] else '-'):>9}")
    import onnxruntime

    write_result(args, argv, "engine-backends-cpu.json", rows, platform.processor() or platform.machine(),
                 onnxruntime=onnxruntime.__version__, image=img_name, imgsz=640, frames=args.frames,
                 warmup=args.warmup, load_average_start=load0,
                 load_average_end=os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
                 units="ms (median per frame, wall time around each predict, round robin)",
                 note="gam-viewer rows include every GAM gate copied to the CPU (attention=True); "
                      "first_open_onnx_ms = read + fuse + export + session, into an empty cache")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--no-ultralytics", action="store_true")
    ap.add_argument("--only-ultralytics", action="store_true", help="only the same-weights comparison")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's)")
    ap.add_argument("--backends", action="store_true",
                    help="ONNX Runtime vs PyTorch vs Ultralytics, and export times (CPU)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--yolov7", metavar="REPO", default=None,
                    help="a WongKinYiu/yolov7 checkout: compare yolov7-tiny+GAM with that code (only this)")
    ap.add_argument("--yolov7-width", type=float, default=1.0, help="width_multiple of that yolov7-tiny")
    args = ap.parse_args(argv)
    if args.yolov7:
        return main_yolov7(args, argv)
    img, img_name = test_image()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.backends:
        return main_backends(args, argv, img, img_name)
    rows = []
    cuda = args.device.startswith("cuda")
    configs = [("eager", {})]
    if cuda:
        configs += [("fp16", {"half": True}), ("fp16 + CUDA graph", {"half": True, "cuda_graph": True})]
    if args.threads:
        torch.set_num_threads(args.threads)
    for name in ([] if args.only_ultralytics else ENGINE_MODELS):
        for label, kw in configs:
            det = load_model(name, device=args.device, backend="torch", **kw)
            quiet_head(det)
            t, n = time_engine(det, img, args.frames, args.warmup)
            t_off, _ = time_engine(det, img, args.frames, args.warmup, attention=False)
            rows.append({"impl": "gam-viewer", "model": name, "mode": label, **t, "total_no_taps": t_off["total"],
                         "n_det": n, "taps_pct": round(100 * t["taps"] / t["total"], 2)})
            print(rows[-1], flush=True)

    if not args.no_ultralytics:
        YOLO = _ultralytics_yolo()
        if YOLO is not None:
            with tempfile.TemporaryDirectory() as tmp:
                for name in ULTRA_MODELS:
                    torch.manual_seed(0)
                    path = Path(tmp) / f"{name}.pt"
                    um = YOLO(f"{name}.yaml")  # Ultralytics' own init biases class logits low already
                    um.save(str(path))
                    # Ultralytics' init already keeps NMS quiet
                    det = load_model(path, device=args.device, backend="torch")
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
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else (platform.processor() or platform.machine())
    write_result(args, argv, f"engine-{args.device.split(':')[0]}.json", rows, device, image=img_name, imgsz=640,
                 frames=args.frames, units="ms (median per frame)",
                 note="ultralytics 'total' is wall time around predict(); its preprocess/inference/postprocess "
                      "are its own timers")


def main_yolov7(args, argv):
    img, img_name = test_image()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = yolov7_rows(args.yolov7, img, args.frames, args.warmup, width=args.yolov7_width)
    print()
    print(f"{'impl':<20}{'load ms':>10}{'frame ms':>10}{'no taps':>10}{'boxes':>7}  model")
    for r in rows:
        off = "-" if r.get("total_no_taps") is None else f"{r['total_no_taps']:.1f}"
        print(f"{r['impl']:<20}{r['load_ms']:>10.1f}{r['total']:>10.1f}{off:>10}{r['n_det']:>7}  {r['model']}")
    write_result(args, argv, "engine-yolov7-cpu.json", rows, platform.processor() or platform.machine(),
                 image=img_name, imgsz=640, frames=args.frames, units="ms (median)",
                 load_average=list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
                 note="same .pt file on both sides; frame = letterbox + forward + NMS + box scaling (gam-viewer's "
                      "also copies every GAM gate to the host unless 'no taps'); load = file to ready fused eval model")


if __name__ == "__main__":
    main()
