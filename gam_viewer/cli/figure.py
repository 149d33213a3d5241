"""``gam-viewer figure``: the paper figure grid, headless.

    gam-viewer figure --model M --baseline B --source IMAGES... \\
                      --columns input,baseline-cam,model-cam,L19,L23 --out fig.pdf \\
                      [--also png svg] [--dpi 300|600] [--width single|double|MM] [--per-image] [--cam eigen|grad]
    gam-viewer figure --from fig.json [--out fig2.png] [--force]

Rows are the images in the order given (a folder adds its images in natural order); columns
as named (see :mod:`gam_viewer.render.grid`). Next to the figure goes ``<stem>.json``, the
sidecar: models and images with their SHA-256, the GAM semantics, CAM method, layers and
targets, thresholds, image size, the normalisation actually used, gam-viewer's version and
the command. ``--from`` replays it (refusing when a model or image changed) and gives the
same bytes for a PNG on the same machine and versions.

Nothing is overwritten without ``--force``; every file is written atomically. User errors
are one line and exit status 2 (through :mod:`gam_viewer.app`).
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import List, Optional

from .args import Parser, on_off

__all__ = ["run", "FigureError", "eval_sources"]


class FigureError(ValueError):
    """A problem with what the user asked for (one line, exit status 2)."""


def _parser() -> argparse.ArgumentParser:
    ap = Parser(
        prog="gam-viewer figure",
        description="A paper figure grid: one row per image; columns for the input with boxes, each model's CAM "
                    "and GAM layers' gates; one colour scale per quantity across rows and models. Writes PDF, SVG "
                    "or PNG and a JSON sidecar (same stem) that regenerates it (--from).")
    ap.add_argument("--model", help="the GAM-YOLO model (.pt, .safetensors, YAML or shipped name)")
    ap.add_argument("--baseline", help="the baseline model (needed by baseline-cam and input:baseline)")
    ap.add_argument("--source", nargs="+", metavar="IMAGE", help="images or folders of images: one row each")
    ap.add_argument("--from-eval", metavar="REPORT_DIR",
                    help="rows: the most-disagreeing images of a `gam-viewer eval` report (its per_image.csv); "
                         "with --top N")
    ap.add_argument("--top", type=int, default=8, metavar="N", help="with --from-eval: how many images (default 8)")
    ap.add_argument("--columns", help="comma-separated columns, e.g. input,baseline-cam,model-cam,L19,L23 "
                                      "(gates: L19, L19:channel, L19:spatial:max, L19:c5; default: input, the CAMs "
                                      "and every GAM layer's spatial gate)")
    ap.add_argument("--out", help="the figure: .pdf, .svg or .png (its sidecar is the same name with .json)")
    ap.add_argument("--also", nargs="+", choices=("pdf", "svg", "png"), default=[], metavar="FMT",
                    help="also write these formats next to --out (same stem): pdf svg png")
    ap.add_argument("--dpi", type=int, default=None, help="PNG resolution (default 300; 600 for print)")
    ap.add_argument("--width", default=None, help="single (85 mm), double (175 mm, default) or a width in mm")
    ap.add_argument("--per-image", action="store_true",
                    help="stretch each row's maps to that row's own range (said on the figure); default: one "
                         "scale per quantity across all rows and models")
    ap.add_argument("--cam", choices=("eigen", "grad"), default=None,
                    help="CAM method: eigen (EigenCAM, default) or grad (Grad-CAM of each model's top box)")
    ap.add_argument("--cam-layers", type=int, nargs="+", metavar="L",
                    help="CAM layers of --model (default: the layers feeding Detect; the baseline uses its own)")
    ap.add_argument("--alpha", type=float, default=None, help="heat map opacity over the image (default 0.5)")
    ap.add_argument("--conf", type=float, default=None, help="confidence threshold (default 0.25)")
    ap.add_argument("--iou", type=float, default=None, help="NMS IoU threshold (default 0.45)")
    ap.add_argument("--imgsz", type=int, help="inference size (default: each model's own)")
    ap.add_argument("--square", action="store_true", help="letterbox to a full square (auto=False)")
    ap.add_argument("--raster-max", type=int, metavar="PX",
                    help="downsample heat images longer than PX pixels (default: native resolution)")
    ap.add_argument("--channel-sigmoid", choices=("on", "off"), help="community GAM: sigmoid on the channel map")
    ap.add_argument("--shuffle", choices=("on", "off"), help="community GAM: shuffle the final spatial map")
    ap.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    ap.add_argument("--from", dest="from_json", metavar="SIDECAR",
                    help="regenerate the figure a sidecar (.json) describes; other options are not allowed "
                         "except --out, --also and --force")
    ap.add_argument("--force", action="store_true", help="overwrite existing files")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def _source_paths(sources: List[str]) -> List[Path]:
    from ..media.sources import IMAGE_EXTENSIONS, SourceError, list_images

    paths: List[Path] = []
    for s in sources:
        p = Path(s).expanduser()
        if p.is_dir():
            try:
                found = list_images(p)
            except SourceError as exc:
                raise FigureError(f"--source {s}: {exc}") from None
            if not found:
                raise FigureError(f"--source {s}: the folder has no images")
            paths += found
        elif not p.exists():
            raise FigureError(f"--source {s}: no such file or folder")
        elif p.suffix.lower() not in IMAGE_EXTENSIONS:
            raise FigureError(f"--source {s}: not an image ({', '.join(IMAGE_EXTENSIONS[:5])}, ...)")
        else:
            paths.append(p)
    return paths


#: per_image.csv columns read by --from-eval (first match wins)
EVAL_IMAGE_COLUMNS = ("path", "image", "file", "image_path")
EVAL_SCORE_COLUMNS = ("disagreement", "disagreement_score", "disagree")


def eval_sources(report: str, top: int) -> List[str]:
    """The ``top`` images of an eval report's per_image.csv with the highest disagreement score."""
    import csv
    import math

    if top < 1:
        raise FigureError(f"--top must be at least 1, got {top}")
    folder = Path(report).expanduser()
    table = folder / "per_image.csv" if folder.is_dir() else folder
    try:
        with open(table, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            rows = list(reader)
    except FileNotFoundError:
        raise FigureError(f"--from-eval {report}: no per_image.csv there (run `gam-viewer eval` first)") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise FigureError(f"--from-eval {table}: cannot read it ({exc})") from None
    img_col = next((c for c in EVAL_IMAGE_COLUMNS if c in fields), None)
    score_col = next((c for c in EVAL_SCORE_COLUMNS if c in fields), None)
    if img_col is None or score_col is None:
        raise FigureError(f"--from-eval {table}: needs an image column ({', '.join(EVAL_IMAGE_COLUMNS)}) and a "
                          f"disagreement column ({', '.join(EVAL_SCORE_COLUMNS)}); it has {', '.join(fields)}")
    scored = []
    for k, r in enumerate(rows):
        try:
            v = float(r[score_col])
        except (TypeError, ValueError):
            continue
        if math.isfinite(v):
            scored.append((-v, k, r[img_col]))
    if not scored:
        raise FigureError(f"--from-eval {table}: no row has a numeric {score_col}")
    # per_image.csv names images relative to the dataset's folder (report.json: dataset.source)
    bases = [table.parent]
    try:
        source = json.loads((table.parent / "report.json").read_text(encoding="utf-8"))["dataset"]["source"]
        src = Path(str(source)).expanduser()
        bases.insert(0, src if src.is_dir() else src.parent)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    out = []
    for _, _, name in sorted(scored)[:top]:
        p = Path(name).expanduser()
        if not p.is_absolute():
            p = next((b / p for b in bases if (b / p).exists()), bases[0] / p)
        out.append(str(p))
    return out


def _from_sidecar(args) -> dict:
    """Read ``--from``: the options, models and images it names, checked against their hashes."""
    from ..fsutil import sha256_file
    from ..render.grid import GridOptions

    given = [k for k in ("model", "baseline", "source", "from_eval", "columns", "dpi", "width", "cam", "cam_layers", "alpha",
                         "conf", "iou", "imgsz", "raster_max", "channel_sigmoid", "shuffle")
             if getattr(args, k) not in (None, [])]
    if args.per_image or args.square:
        given.append("per-image/square")
    if given:
        raise FigureError(f"--from replays a sidecar exactly: drop --{given[0].replace('_', '-')} "
                          "(only --out, --also and --force may be given)")
    path = Path(args.from_json).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FigureError(f"--from {path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FigureError(f"--from {path}: not a readable JSON sidecar ({exc})") from None
    if not isinstance(data, dict) or data.get("kind") != "gam-viewer figure grid":
        raise FigureError(f"--from {path}: not a gam-viewer figure sidecar")
    try:
        opts = GridOptions(**data["options"])
    except TypeError as exc:
        raise FigureError(f"--from {path}: unexpected options ({exc})") from None

    def locate(rec: dict, what: str) -> str:
        spec = rec.get("path") or rec["spec"]
        if rec.get("sha256"):
            if not Path(spec).is_file():
                raise FigureError(f"--from {path}: the {what} {spec} is missing")
            now = sha256_file(spec)
            if now != rec["sha256"]:
                raise FigureError(f"--from {path}: the {what} {spec} changed since the figure was made "
                                  f"(sha256 {now[:12]}..., the sidecar says {rec['sha256'][:12]}...)")
        return spec

    model = locate(data["model"], "model")
    baseline = locate(data["baseline"], "baseline") if data.get("baseline") else None
    sources = [locate({"spec": im["path"], **im}, "image") for im in data["images"]]
    outs = data.get("figure", {}).get("outputs") or []
    out = Path(args.out).expanduser() if args.out else path.parent / outs[0]
    if args.out or args.also:
        also = list(args.also)
    else:   # the same formats as the original
        also = [Path(o).suffix.lstrip(".") for o in outs[1:]]
    return {"opts": opts, "model": model, "baseline": baseline, "sources": sources, "out": out, "also": also}


def run(argv: List[str]) -> int:
    """Run ``gam-viewer figure`` with ``argv`` (without the sub-command). Returns the exit status."""
    args = _parser().parse_args(argv)
    from ..render import grid as G

    if args.from_json:
        job = _from_sidecar(args)
        opts, model_spec, base_spec, sources = job["opts"], job["model"], job["baseline"], job["sources"]
        out, also = job["out"], job["also"]
    else:
        if args.from_eval and args.source:
            raise FigureError("give either --source or --from-eval, not both")
        missing = [n for n, v in (("--model", args.model), ("--source", args.source or args.from_eval),
                                  ("--out", args.out)) if not v]
        if missing:
            raise FigureError(f"{', '.join(missing)} required (or --from SIDECAR)")
        model_spec, base_spec = args.model, args.baseline
        sources = eval_sources(args.from_eval, args.top) if args.from_eval else list(args.source)
        out, also = Path(args.out).expanduser(), args.also
        width = args.width or "double"
        if width not in G.WIDTHS_MM:
            try:
                float(width)
            except ValueError:
                raise FigureError(f"--width must be single, double or a width in mm, got {width!r}") from None
        opts = G.GridOptions(columns=[], width=width, dpi=300 if args.dpi is None else args.dpi, per_image=args.per_image,
                             cam=args.cam or "eigen", cam_layers=args.cam_layers,
                             alpha=0.5 if args.alpha is None else args.alpha,
                             conf=0.25 if args.conf is None else args.conf, iou=0.45 if args.iou is None else args.iou,
                             imgsz=args.imgsz, square=args.square, channel_sigmoid=on_off(args.channel_sigmoid),
                             shuffle=on_off(args.shuffle), raster_max=args.raster_max)
    G.output_paths(out, also)   # a bad suffix or --also first
    from ..fsutil import check_output_file

    check_output_file(out, "--out", overwrite=args.force)   # a file in the way, no permission: said plainly
    G.check_outputs(out, also, args.force)   # the folder, then nothing replaced: as write_figure checks
    if not (0 <= opts.conf <= 1 and 0 <= opts.iou <= 1):
        raise FigureError(f"--conf and --iou must be in [0, 1], got {opts.conf:g} and {opts.iou:g}")
    if not 0 <= opts.alpha <= 1:
        raise FigureError(f"--alpha must be in [0, 1], got {opts.alpha:g}")
    if not 50 <= opts.dpi <= 2400:
        raise FigureError(f"--dpi must be in 50..2400, got {opts.dpi}")
    columns = G.parse_columns(args.columns) if (not args.from_json and args.columns) else \
        (G.parse_columns(opts.columns) if opts.columns else None)
    image_paths = _source_paths(sources)
    bar = _LazyBar(len(image_paths), args.quiet)
    try:
        grid, written, sidecar_path = G.write_figure(
            out, model_spec, base_spec, image_paths, opts, columns=columns, also=also, overwrite=args.force,
            device=args.device, invoked="gam-viewer figure " + shlex.join(argv), progress=lambda i, n: bar.update(1))
    finally:
        bar.close()
    if not args.quiet:
        w, h = grid.size_mm
        print(f"wrote {', '.join(str(p) for p in written)} ({len(image_paths)} rows x {len(grid.columns)} columns, "
              f"{w:.0f} x {h:.0f} mm) and {sidecar_path}")
        for sc in grid.scales.values():
            print(f"  scale: {sc.describe()}")
    return 0


class _LazyBar:
    """A tqdm bar on stderr that appears with the first finished row (errors before it stay one line)."""

    def __init__(self, total: int, quiet: bool):
        self.total, self.quiet, self.bar = total, quiet, None

    def update(self, n: int = 1) -> None:
        if self.bar is None:
            from .progress import progress_bar

            self.bar = progress_bar(self.total, self.quiet, unit="image", desc="figure")
        self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
