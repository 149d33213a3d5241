"""Benchmark of ``gam-viewer eval``: its own overhead over bare inference, and its peak memory
for N vs 4N images (the dataset repeated).

    python benchmarks/eval.py [--model M] [--baseline B] [--data data.yaml] [--images 32]
                              [--imgsz 640] [--memory-images 128] [--memory-imgsz 160]

1. Overhead: the same images through both models, interleaved to share the machine's noise:
   (a) bare inference only (read, letterbox, forward, NMS), (b) the whole evaluation
   (``gam_viewer.eval.runner.evaluate``: gates, attention statistics, outcomes, COCOeval for
   both models, 1000-resample paired bootstrap). Goal: (b) / (a) <= 1.25. On a shared machine
   (a) and (b) run under different loads; the *in-run ratio* (b's total over b's own timed
   model calls, measured in the same pass) does not have that problem.
2. Memory: ``evaluate`` in a fresh process on N and on 4N images (the list repeated); peak RSS
   (``ru_maxrss``). Goal: no growth beyond the detection records (a few hundred bytes a box).

Prints a table and writes ``benchmarks/results/eval.json``. Timings are wall-clock on whatever
machine runs it; say which, and whether it was shared.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
if not SHARED.is_dir():
    SHARED = Path("/work/shared")


def _defaults():
    from gam_viewer.demo import BASE_DEMO, GAM_DEMO

    data = SHARED / "datasets" / "coco128" / "data.yaml"
    weights = SHARED / "weights" / "yolov5n.pt"
    if data.is_file() and weights.is_file():
        return str(weights), str(weights), str(data)
    return str(GAM_DEMO), str(BASE_DEMO), None


def _dataset(data: str, n: int, repeat_to: int = 0):
    from gam_viewer.eval.datasets import open_dataset

    ds = open_dataset(data)
    ds.samples = ds.samples[:n]
    if repeat_to:
        import copy

        base = ds.samples
        out = []
        while len(out) < repeat_to:
            for s in base:
                c = copy.copy(s)
                c.image_id = len(out) + 1
                out.append(c)
                if len(out) == repeat_to:
                    break
        ds.samples = out
    return ds


def _bare(model, baseline, ds, settings) -> float:
    from gam_viewer.eval.inference import run_model
    from gam_viewer.media.sources import read_image

    t0 = time.perf_counter()
    for s in ds.samples:
        img, _ = read_image(s.path)
        for det in (model, baseline):
            run_model(det, img, settings.imgsz or det.default_imgsz, settings.conf, settings.iou, settings.max_det,
                      settings.letterbox, attention=False)
    return time.perf_counter() - t0


def _child(args) -> int:
    from gam_viewer.eval.runner import EvalSettings, evaluate
    from gam_viewer.inference import load_model

    ds = _dataset(args.data, args.images, args.repeat_to)
    model, baseline = load_model(args.model), load_model(args.baseline)
    settings = EvalSettings(imgsz=args.imgsz, allow_name_mismatch=True)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    streaming = {}

    def on_image(row):   # peak so far, at the last image = the peak of the streaming pass (before COCOeval)
        streaming["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    t0 = time.perf_counter()
    res = evaluate(model, baseline, ds, settings, on_image=on_image)
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"images": len(ds), "seconds": dt, "peak_rss_mb": rss, "rss_before_eval_mb": rss0,
                      "streaming_peak_mb": streaming.get("peak_mb"),
                      "detections": res.models["model"]["detections"] + res.models["baseline"]["detections"]}))
    return 0


def main() -> int:
    m, b, d = _defaults()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=m)
    ap.add_argument("--baseline", default=b)
    ap.add_argument("--data", default=d)
    ap.add_argument("--images", type=int, default=32, help="images for the overhead measurement")
    ap.add_argument("--imgsz", type=int, default=None, help="inference size (default: the models')")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved bare/eval rounds")
    ap.add_argument("--memory-images", type=int, default=128, help="N of the N vs 4N memory runs")
    ap.add_argument("--memory-imgsz", type=int, default=160, help="inference size of the memory runs")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-overhead", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "eval.json"))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--repeat-to", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.data:
        print("no dataset: give --data (coco128 was not found)", file=sys.stderr)
        return 2
    if args.child:
        return _child(args)

    from gam_viewer.eval.runner import EvalSettings, evaluate
    from gam_viewer.inference import load_model

    import torch

    model, baseline = load_model(args.model), load_model(args.baseline)
    ds = _dataset(args.data, args.images)
    settings = EvalSettings(imgsz=args.imgsz, allow_name_mismatch=True)
    bare, full, parts = [], [], []
    if not args.skip_overhead:
        _bare(model, baseline, _dataset(args.data, 2), settings)       # warm-up
    for _ in range(0 if args.skip_overhead else args.rounds):
        bare.append(_bare(model, baseline, ds, settings))
        t0 = time.perf_counter()
        res = evaluate(model, baseline, ds, settings)
        full.append(time.perf_counter() - t0)
        parts.append(res.timing)
    ratio = min(full) / min(bare) if full else None
    # the same comparison inside one run (same moment, same machine load): evaluate() times its
    # own model calls (letterbox + forward + NMS) and its total, gates / stats / COCOeval included
    in_run = [p["total_s"] / p["bare_inference_s"] for p in parts]
    result = {
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, torch {torch.__version__}, "
                   f"{torch.get_num_threads()} threads",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python benchmarks/eval.py " + " ".join(sys.argv[1:]),
        "model": args.model, "baseline": args.baseline, "data": args.data, "images": len(ds),
        "imgsz": args.imgsz, "bare_s": bare, "eval_s": full, "eval_parts": parts,
        "overhead_ratio": ratio, "in_run_ratio": in_run, "goal": 1.25,
    }
    if full:
        print(f"{'images':>8s} {'bare s':>9s} {'eval s':>9s} {'ratio':>7s}")
        print(f"{len(ds):8d} {min(bare):9.2f} {min(full):9.2f} {ratio:7.3f}   (best of {args.rounds}; goal <= 1.25)")
        print(f"in-run ratio (total / the run's own model time): {', '.join(f'{r:.3f}' for r in in_run)}")
    if not args.skip_memory:
        mem = []
        for n in (args.memory_images, 4 * args.memory_images):
            cmd = [sys.executable, __file__, "--child", "--model", args.model, "--baseline", args.baseline,
                   "--data", args.data, "--images", str(args.memory_images), "--repeat-to", str(n),
                   "--imgsz", str(args.memory_imgsz)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            mem.append(json.loads(out))
        result["memory"] = mem
        print(f"{'images':>8s} {'before MB':>10s} {'streaming peak MB':>18s} {'peak MB':>8s} {'detections':>11s} "
              f"{'s':>8s}")
        for r in mem:
            print(f"{r['images']:8d} {r['rss_before_eval_mb']:10.0f} {r['streaming_peak_mb']:18.0f} "
                  f"{r['peak_rss_mb']:8.0f} {r['detections']:11d} {r['seconds']:8.1f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
