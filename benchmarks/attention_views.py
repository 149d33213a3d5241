"""Cost of the attention views per frame, against the model's own inference time (goal: < 10 %).

Per frame the viewer needs, besides ``predict``:

* taps       - copying every GAM layer's gates to the CPU (``Detections.timings['taps']``);
* thumbnails - every layer's spatial gate reduced over channels and coloured at layer size;
* overlay    - the chosen layer's map resampled onto the image through the letterbox, its
               value range, coloured and blended at the image's resolution;
* chart      - the chosen layer's channel gate reduced over H x W, sorted for top-k;
* click      - the channel vector at one clicked pixel.

Measured at imgsz 640 on the CPU, median over the frames. The export figures (matplotlib)
are timed too, for information: they are not drawn per frame on screen. Prints a table,
writes JSON (benchmarks/results/attention_views-cpu.json by default). Never asserts on time.

    python benchmarks/attention_views.py [--model M] [--image PATH ...] [--iters N]
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from gam_viewer import load_model  # noqa: E402
from gam_viewer.demo import demo_media, demo_models  # noqa: E402
from gam_viewer.render import figures as F  # noqa: E402

SHARED_BUS = ROOT.parent / "shared" / "reference" / "images" / "bus.jpg"


def _ms(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return (time.perf_counter() - t) * 1e3, out


def views_once(res, image, layer_pos: int, cmap: str = "viridis"):
    """One frame's attention views; returns {step: ms}."""
    t = {"taps": res.timings["taps"]}
    start = time.perf_counter()
    for a in res.attention:
        F.apply_colormap(a.spatial_map("mean"), cmap)
    t["thumbnails"] = (time.perf_counter() - start) * 1e3
    a = res.attention[layer_pos]
    start = time.perf_counter()
    values = a.image_map("mean")
    vr = F.value_range(values)
    F.overlay(image, values, cmap, vr, 0.5)
    t["overlay"] = (time.perf_counter() - start) * 1e3
    start = time.perf_counter()
    vec = a.channel_vector("mean")
    F.channel_bars(vec, sort=True, top_k=32)
    t["chart"] = (time.perf_counter() - start) * 1e3
    h, w = res.letterbox.orig_hw
    start = time.perf_counter()
    a.channel_vector(at=(w * 0.4, h * 0.6))
    t["click"] = (time.perf_counter() - start) * 1e3
    t["views"] = sum(t[k] for k in ("taps", "thumbnails", "overlay", "chart", "click"))
    return t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="GAM model (default: the demo GAM model)")
    ap.add_argument("--image", action="append", help="image(s) to time on (default: a demo sample and bus.jpg)")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "attention_views-cpu.json"))
    args = ap.parse_args(argv)

    model = args.model or demo_models()[0]
    det = load_model(model)
    if not det.has_gam:
        print(f"{model} has no GAM layers: nothing to time", file=sys.stderr)
        return 1
    images = [Path(p) for p in args.image] if args.image else \
        [p for p in demo_media() if p.suffix.lower() in (".jpg", ".png")][:1] + ([SHARED_BUS] if SHARED_BUS.is_file() else [])
    load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    rows = []
    for path in images:
        img = cv2.imread(str(path))
        if img is None:
            print(f"{path}: cannot read, skipped", file=sys.stderr)
            continue
        for _ in range(2):  # warm-up
            res = det.predict(img, imgsz=args.imgsz)
        per = []
        for _ in range(args.iters):
            res = det.predict(img, imgsz=args.imgsz)
            t = views_once(res, img, layer_pos=len(res.attention) // 2)
            t["forward"] = res.timings["forward"]
            t["predict"] = res.timings["total"]
            per.append(t)
        # for information: the export figures of one layer (not drawn per frame on screen)
        a = res.attention[len(res.attention) // 2]
        values = a.image_map("mean")
        fig_ms = statistics.median(_ms(F.heatmap_figure, img, values, caption="bench")[0] for _ in range(3))
        chart_ms = statistics.median(_ms(F.channel_chart_figure, a.channel_vector("mean"))[0] for _ in range(3))
        med = {k: statistics.median(t[k] for t in per) for k in per[0]}
        row = {"image": path.name, "image_hw": list(img.shape[:2]), "input_hw": list(res.letterbox.input_hw),
               "layers": [x.name for x in res.attention], "overlay_layer": a.name,
               **{f"{k}_ms": round(v, 3) for k, v in med.items()},
               "views_pct_of_forward": round(100 * med["views"] / med["forward"], 2),
               "views_pct_of_predict": round(100 * med["views"] / med["predict"], 2),
               "export_heatmap_figure_ms": round(fig_ms, 1), "export_channel_chart_ms": round(chart_ms, 1)}
        rows.append(row)

    cols = ["taps", "thumbnails", "overlay", "chart", "click", "views", "forward", "predict"]
    print(f"attention views per frame, {model}, imgsz {args.imgsz}, CPU ({torch.get_num_threads()} threads), "
          f"median of {args.iters}; load average at start {load0}")
    print(f"{'image':<16}{'input':>10}" + "".join(f"{c:>11}" for c in cols) + f"{'views/fwd':>11}{'views/pred':>11}")
    for r in rows:
        print(f"{r['image']:<16}{'x'.join(map(str, r['input_hw'][::-1])):>10}"
              + "".join(f"{r[c + '_ms']:>9.2f}ms" for c in cols)
              + f"{r['views_pct_of_forward']:>10.1f}%{r['views_pct_of_predict']:>10.1f}%")
    for r in rows:
        print(f"  export figures for {r['image']}: heatmap PNG {r['export_heatmap_figure_ms']:.0f} ms, "
              f"channel chart {r['export_channel_chart_ms']:.0f} ms (not per frame on screen)")
    result = {
        "meta": {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "command": "python benchmarks/attention_views.py " + " ".join(argv or sys.argv[1:]),
                 "machine": platform.machine(), "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                 "torch": torch.__version__, "load_average_at_start": load0, "model": model,
                 "model_describe": det.describe(), "imgsz": args.imgsz, "iters": args.iters,
                 "goal": "views < 10 % of the model's forward time"},
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.part")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
