"""Time to make a 4 x 5 figure grid (``gam-viewer figure``) at 300 dpi, split into its steps.

Rows: four images (the shared reference bus.jpg and zidane.jpg plus two bundled samples when
../shared exists, else four bundled samples); columns input, baseline-cam, model-cam, L19,
L23 with the bundled demo pair at its trained size (320). Steps, each the median of
``--iters`` runs:

* models   - both models' predict + EigenCAM on every row, the maps placed on the images
             (``grid.collect_rows``);
* layout   - colour scales and the matplotlib figure (``grid.render_grid``);
* png/pdf/svg - writing each format (``grid.figure_bytes``; PNG at --dpi, native images in
             the vector formats), with the size of the result.

Prints a table and writes JSON (benchmarks/results/figure_grid-cpu.json by default). Never
asserts on time.

    python benchmarks/figure_grid.py [--iters 3] [--dpi 300] [--width double] [--out PATH]
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

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from gam_viewer import load_model  # noqa: E402
from gam_viewer.demo import BASE_DEMO, GAM_DEMO, SAMPLES_DIR  # noqa: E402
from gam_viewer.render import grid as G  # noqa: E402

SHARED = ROOT.parent / "shared" / "reference" / "images"
COLUMNS = "input,baseline-cam,model-cam,L19,L23"


def _images():
    shared = [SHARED / "bus.jpg", SHARED / "zidane.jpg"]
    if all(p.is_file() for p in shared):
        return shared + [SAMPLES_DIR / "synth_01.jpg", SAMPLES_DIR / "synth_02.jpg"]
    return [SAMPLES_DIR / f"synth_0{k}.jpg" for k in range(1, 5)]


CPU = {}


def _ms(fn, *a, **kw):
    """Wall milliseconds of one call (its CPU milliseconds, all threads, go to CPU[fn name])."""
    c, t = time.process_time(), time.perf_counter()
    out = fn(*a, **kw)
    CPU.setdefault(fn.__name__, []).append((time.process_time() - c) * 1e3)
    return (time.perf_counter() - t) * 1e3, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--dpi", type=int, default=300)
    ap.add_argument("--width", default="double")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "figure_grid-cpu.json"))
    args = ap.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    model, base = load_model(str(GAM_DEMO)), load_model(str(BASE_DEMO))
    paths = _images()
    images = G.read_images(paths)
    cols = G.parse_columns(COLUMNS)
    opts = G.GridOptions(columns=COLUMNS.split(","), dpi=args.dpi, width=args.width)
    G.collect_rows(cols, images[:1], model, base, opts)          # warm-up (grad-cam import, first pass)
    steps = {k: [] for k in ("models", "layout", "png", "pdf", "svg")}
    sizes = {}
    for _ in range(args.iters):
        t, (rows, _) = _ms(G.collect_rows, cols, images, model, base, opts)
        steps["models"].append(t)
        t, grid = _ms(G.render_grid, cols, rows, width=args.width)
        steps["layout"].append(t)
        for fmt in ("png", "pdf", "svg"):
            t, data = _ms(G.figure_bytes, grid, fmt, args.dpi)
            steps[fmt].append(t)
            sizes[fmt] = len(data)
        grid.fig.clear()
    med = {k: statistics.median(v) for k, v in steps.items()}
    n = args.iters
    cpu_lists = {"models": CPU["collect_rows"][1:], "layout": CPU["render_grid"],
                 "png": CPU["figure_bytes"][0::3], "pdf": CPU["figure_bytes"][1::3], "svg": CPU["figure_bytes"][2::3]}
    cpu = {k: statistics.median(v[-n:]) for k, v in cpu_lists.items()}
    total_png = med["models"] + med["layout"] + med["png"]
    print(f"figure grid {len(paths)} x {len(cols)} ({COLUMNS}), {args.width} width, {args.dpi} dpi, "
          f"median of {args.iters}; load average at start {load}")
    print(f"{'step':<8} {'wall ms':>9} {'CPU ms':>9}  {'output':>10}")
    for k, v in med.items():
        size = f"{sizes[k] / 1e6:.1f} MB" if k in sizes else ""
        print(f"{k:<8} {v:9.0f} {cpu[k]:9.0f}  {size:>10}")
    cpu_total = cpu["models"] + cpu["layout"] + cpu["png"]
    print(f"{'total':<8} {total_png:9.0f} {cpu_total:9.0f}  (models + layout + png)")
    result = {
        "meta": {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "command": "python benchmarks/figure_grid.py " + " ".join(sys.argv[1:]),
                 "machine": platform.machine(), "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                 "torch": torch.__version__, "load_average_at_start": load,
                 "note": "shared 2-core VM: other agents were running at the same time (see load average)",
                 "images": [p.name for p in paths], "columns": COLUMNS, "dpi": args.dpi, "width": args.width,
                 "iters": args.iters, "imgsz": model.default_imgsz},
        "median_ms": {k: round(v, 1) for k, v in med.items()},
        "all_ms": {k: [round(x, 1) for x in v] for k, v in steps.items()},
        "median_cpu_ms": {k: round(v, 1) for k, v in cpu.items()},
        "total_png_cpu_ms": round(cpu_total, 1),
        "load_average_at_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "total_png_ms": round(total_png, 1),
        "bytes": sizes,
        "size_mm": [round(v, 1) for v in grid.size_mm],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
