"""``gam-viewer export``: attention heatmaps, channel charts and CAMs as files, headless.

    gam-viewer export --model M [--baseline B] --source IMAGE|FOLDER|VIDEO --out DIR
                      [--layers 19 23] [--cam eigen|grad] [--every N] ...

Per frame it writes (``F`` is the image's stem, or ``<video stem>_f000012``):

* ``F_composite.png`` - the frame with each model's boxes | one heatmap per layer (and CAM);
* ``F_gam-L19-heatmap-spatial-mean.png`` - each chosen GAM layer's gate map on the image, at
  the source's resolution, with a colour bar of the real values and a caption;
* ``F_gam-L19-chart-mean.png`` and ``.csv`` - the layer's channel gate reduced over H x W;
* ``F_gam-eigencam.png`` / ``F_baseline-eigencam.png`` or ``F_gam-gradcam-box0.png`` ...

Names, captions, colours and box drawing are the window's (``render.captions``,
``render.view_state``, ``render.boxes``): the same frame exported from the window gives the
same files. ``gam`` is ``--model`` (the window's GAM-YOLO pane), ``baseline`` ``--baseline``.

and ``export-summary.json`` (files, frames, per-layer statistics). Nothing is overwritten
unless ``--force``: existing outputs make it stop before any work; every file is written to
a temporary name and moved into place, so an interrupted run leaves no half-written file.

No Qt is imported; figures are drawn with matplotlib's Agg canvas. User errors raise
:class:`ExportError` (a ValueError: one line, exit status 2 through ``gam_viewer.app``).
"""

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["run", "ExportError", "IMAGE_SUFFIXES", "VIDEO_SUFFIXES"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv")
SUMMARY_NAME = "export-summary.json"


class ExportError(ValueError):
    """A problem with what the user asked for (shown as one line by ``gam_viewer.app``)."""


# ----------------------------------------------------------------------------- arguments
def _layer_list(text: str) -> List[int]:
    out = []
    for part in text.replace(",", " ").split():
        try:
            out.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"layer indices must be integers, got {part!r}") from None
    return out


class _ExtendLayers(argparse.Action):
    """``--layers 19 23``, ``--layers 19,23`` and repeated ``--layers`` all add up to one flat list."""

    def __call__(self, parser, namespace, values, option_string=None):
        out = list(getattr(namespace, self.dest, None) or [])
        for v in values:
            out.extend(v)
        setattr(namespace, self.dest, out)


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _parser() -> argparse.ArgumentParser:
    from ..render.colormaps import COLORMAPS, DEFAULT_COLORMAP

    ap = argparse.ArgumentParser(
        prog="gam-viewer export",
        description="Write GAM heatmaps, channel charts and CAM maps for an image, a folder of images or a "
                    "video, without a display. Existing files are never overwritten unless --force.")
    ap.add_argument("--model", required=True, help="GAM-YOLO model: a YOLO .pt, .safetensors, YAML or shipped name")
    ap.add_argument("--baseline", help="a second model to compare with (boxes and CAM)")
    ap.add_argument("--source", required=True, help="an image, a folder of images, or a video file")
    ap.add_argument("--out", required=True, help="output folder (created when missing)")
    ap.add_argument("--layers", type=_layer_list, action=_ExtendLayers, nargs="+", metavar="L",
                    help="GAM layer indices, e.g. '--layers 19 23' or '--layers 19,23' (default: every GAM layer)")
    ap.add_argument("--gate", choices=("spatial", "channel"), default="spatial",
                    help="which GAM gate the heatmaps show (default: spatial)")
    ap.add_argument("--reduce", choices=("mean", "max", "channel"), default="mean",
                    help="heatmap: reduce the gate over channels, or show one --channel")
    ap.add_argument("--channel", type=int, metavar="K", help="the channel shown with --reduce channel")
    ap.add_argument("--chart-reduce", choices=("mean", "max"), default="mean",
                    help="channel chart: reduce the channel gate over H x W (default: mean)")
    ap.add_argument("--sort", action="store_true", help="channel chart: sort channels by value")
    ap.add_argument("--top-k", type=_positive, metavar="K", help="channel chart: only the K largest channels")
    ap.add_argument("--cam", choices=("eigen", "grad"), help="also write CAM maps: EigenCAM, or Grad-CAM per box")
    ap.add_argument("--cam-layers", type=_layer_list, action=_ExtendLayers, nargs="+", metavar="L",
                    help="CAM layer indices of --model (default: the layers feeding Detect); the baseline "
                         "always uses its own Detect inputs")
    ap.add_argument("--cam-boxes", type=_positive, default=1, metavar="K",
                    help="Grad-CAM: the K highest-scoring boxes of each model (default: 1)")
    ap.add_argument("--every", type=_positive, default=1, metavar="N",
                    help="every Nth video frame (or every Nth image of a folder); default 1")
    ap.add_argument("--max-frames", type=_positive, metavar="N", help="stop after N exported frames")
    ap.add_argument("--cmap", choices=COLORMAPS, default=DEFAULT_COLORMAP,
                    help=f"colormap (default: {DEFAULT_COLORMAP}, as in the window)")
    ap.add_argument("--alpha", type=float, default=0.5, help="heatmap opacity in [0, 1] (default: 0.5)")
    ap.add_argument("--vrange", type=float, nargs=2, metavar=("LOW", "HIGH"),
                    help="fixed colour range for every heatmap and CAM (default: each map's own min..max)")
    ap.add_argument("--conf", type=float, default=0.25, help="confidence threshold (default: 0.25)")
    ap.add_argument("--iou", type=float, default=0.45, help="NMS IoU threshold (default: 0.45)")
    ap.add_argument("--imgsz", type=int, help="inference size (default: the model's)")
    ap.add_argument("--square", action="store_true", help="letterbox to a full square (auto=False)")
    ap.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    ap.add_argument("--channel-sigmoid", choices=("on", "off"), help="community GAM: sigmoid on the channel map")
    ap.add_argument("--shuffle", choices=("on", "off"), help="community GAM: shuffle the final spatial map")
    ap.add_argument("--no-composite", action="store_true", help="skip the composite figure")
    ap.add_argument("--no-heatmaps", action="store_true", help="skip the per-layer heatmap figures")
    ap.add_argument("--no-charts", action="store_true", help="skip the channel charts and CSVs")
    ap.add_argument("--force", action="store_true", help="overwrite existing output files")
    ap.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")
    return ap


def _switch(v: Optional[str]) -> Optional[bool]:
    return None if v is None else v == "on"


# ----------------------------------------------------------------------------- frame sources
@dataclass
class _Source:
    kind: str                      # "image", "folder" or "video"
    path: Path
    files: List[Path] = field(default_factory=list)
    frame_count: int = 0
    skipped: List[str] = field(default_factory=list)

    def total(self, every: int, max_frames: Optional[int]) -> int:
        n = len(self.files[::every]) if self.kind != "video" else -(-self.frame_count // every)
        return min(n, max_frames) if max_frames else n


def _open_source(text: str) -> _Source:
    import cv2

    path = Path(text).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"--source {text}: no such file or folder")
    if path.is_dir():
        from ..media.sources import list_images

        files = [p for p in list_images(path) if p.suffix.lower() in IMAGE_SUFFIXES]   # natural order, as the window
        if not files:
            raise ExportError(f"--source {text}: the folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
        src = _Source("folder", path, files)
        others = [p.name for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
        if others:
            src.skipped.append(f"{len(others)} video(s) in the folder are not exported (give a video as --source)")
        return src
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return _Source("image", path, [path])
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise ExportError(f"--source {text}: cannot open it as an image or a video")
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        ok, _ = cap.read()
        if not ok:
            raise ExportError(f"--source {text}: the video has no readable frames")
    finally:
        cap.release()
    return _Source("video", path, frame_count=max(n, 1))


def _frames(src: _Source, every: int, max_frames: Optional[int]) -> Iterator[Tuple[str, Optional[np.ndarray], str]]:
    """(frame name, BGR image or None when unreadable, description) for the frames to export."""
    import cv2

    from ..render.captions import frame_caption, frame_stem

    count = 0
    if src.kind != "video":
        names = _frame_names(src.files)
        for k, p in enumerate(src.files):
            if k % every:
                continue
            if max_frames and count >= max_frames:
                return
            count += 1
            yield names[p], cv2.imread(str(p), cv2.IMREAD_COLOR), frame_caption(p.name, k, len(src.files))
        return
    cap = cv2.VideoCapture(str(src.path))
    try:
        index = 0
        while not (max_frames and count >= max_frames):
            if index % every:
                if not cap.grab():
                    return
                index += 1
                continue
            ok, frame = cap.read()
            if not ok:
                return
            count += 1
            yield (frame_stem(src.path, index, moving=True), frame,
                   frame_caption(src.path.name, index, src.frame_count))
            index += 1
    finally:
        cap.release()


def _frame_names(files: Sequence[Path]) -> Dict[Path, str]:
    """File -> output prefix (``render.captions.frame_stem``: its stem, or stem_ext when two files share a stem)."""
    from ..render.captions import frame_stem

    return {p: frame_stem(p, siblings=files) for p in files}


# ----------------------------------------------------------------------------- plan
@dataclass
class _Plan:
    layers: List[int]
    state: object                  # render.view_state.AttentionState: gate, reduction, look, chart options
    reduce: object                 # "mean" | "max" | channel index
    cam_layers: Optional[List[int]]
    composite: bool
    heatmaps: bool
    charts: bool

    @property
    def gate(self) -> str:
        return self.state.gate

    @property
    def reduce_tag(self) -> str:
        from ..render.captions import reduction_tag

        return reduction_tag(self.reduce)

    def names(self, frame: str, cam: Optional[str], cam_boxes: int, baseline: bool) -> List[str]:
        from ..render import captions as C

        out = []
        if self.composite:
            out.append(C.composite_name(frame))
        chart = self.state.chart_reduce
        for i in self.layers:
            if self.heatmaps:
                out.append(C.heatmap_name(frame, "gam", i, self.gate, self.reduce))
            if self.charts:
                out += [C.chart_name(frame, "gam", i, chart, ".png"), C.chart_name(frame, "gam", i, chart, ".csv")]
        for side in ["gam"] + (["baseline"] if baseline else []):
            if cam == "eigen":
                out.append(C.cam_name(frame, side, "eigen"))
            elif cam == "grad":
                out += [C.cam_name(frame, side, "grad", k) for k in range(cam_boxes)]
        return out


def _make_plan(args, det) -> _Plan:
    gam_layers = [info.index for info in det.model.gam_layers()]
    infos = det.model.layers
    if args.layers:
        if not gam_layers:
            raise ExportError(f"--layers: {args.model} has no GAM layers (CAM still works: --cam eigen)")
        bad = [i for i in args.layers if i not in gam_layers]
        if bad:
            what = "is not a GAM layer" if len(bad) == 1 else "are not GAM layers"
            raise ExportError(f"--layers: {', '.join(map(str, bad))} {what} of {args.model} (its GAM layers: "
                              f"{', '.join(map(str, gam_layers))})")
        layers = list(dict.fromkeys(args.layers))
    else:
        layers = gam_layers
    for i in layers:
        block = det.model.gam_block(i)
        if args.gate == "spatial" and block.spatial_attention is None and not args.no_heatmaps:
            raise ExportError(f"--gate spatial: GAM layer {i} has no spatial gate (a channel-only block); "
                              "use --gate channel or leave the layer out")
        if args.gate == "channel" and block.channel_attention is None and not args.no_heatmaps:
            raise ExportError(f"--gate channel: GAM layer {i} has no channel gate (a spatial-only block)")
    if args.reduce == "channel":
        if args.channel is None:
            raise ExportError("--reduce channel needs --channel K")
        for i in layers:
            c = infos[i].channels
            if not 0 <= args.channel < c:
                raise ExportError(f"--channel {args.channel}: GAM layer {i} has {c} channels (0..{c - 1})")
        reduce = args.channel
    else:
        if args.channel is not None:
            raise ExportError("--channel K only applies with --reduce channel")
        reduce = args.reduce
    cam_layers = None
    if args.cam_layers:
        if not args.cam:
            raise ExportError("--cam-layers only applies with --cam eigen|grad")
        from ..inference.cam import check_cam_layers

        try:
            cam_layers = check_cam_layers(det, args.cam_layers)
        except ValueError as exc:
            raise ExportError(f"--cam-layers: {exc}") from None
    if not 0.0 <= args.alpha <= 1.0:
        raise ExportError(f"--alpha must be in [0, 1], got {args.alpha}")
    if args.vrange is not None and not args.vrange[0] < args.vrange[1]:
        raise ExportError(f"--vrange needs LOW < HIGH, got {args.vrange[0]} {args.vrange[1]}")
    from ..render.view_state import AttentionState

    state = AttentionState(gate=args.gate, reduce=args.reduce, cmap=args.cmap, opacity=args.alpha,
                           range_mode="fixed" if args.vrange else "frame",
                           fixed=tuple(args.vrange) if args.vrange else (0.0, 1.0), chart_reduce=args.chart_reduce,
                           chart_sort=bool(args.sort), chart_top_k=args.top_k)
    if args.reduce == "channel":
        state.channels.update({("gam", i): args.channel for i in layers})
    plan = _Plan(layers, state, reduce, cam_layers, not args.no_composite, not args.no_heatmaps, not args.no_charts)
    if not plan.names("f", args.cam, args.cam_boxes, bool(args.baseline)):
        raise ExportError("nothing to write: every output is switched off"
                          + ("" if layers else f" and {args.model} has no GAM layers (try --cam eigen)"))
    return plan


def _check_existing(out: Path, src: _Source, plan: _Plan, args) -> None:
    if args.force:
        return
    clash: List[Path] = []
    if (out / SUMMARY_NAME).exists():
        clash.append(out / SUMMARY_NAME)
    if src.kind == "video":
        clash += sorted(out.glob(f"{src.path.stem}_f[0-9]*_*"))[:1]
    else:
        names = _frame_names(src.files)
        for p in src.files[:: args.every]:
            for n in plan.names(names[p], args.cam, args.cam_boxes, bool(args.baseline)):
                if (out / n).exists():
                    clash.append(out / n)
                    break
    if clash:
        raise FileExistsError(f"{clash[0]}: already exists ({'and other outputs ' if len(clash) > 1 else ''}"
                              f"would be overwritten); use --force or another --out")


# ----------------------------------------------------------------------------- statistics
class _Stats:
    """Running min / mean / max of each layer's gates over the exported frames."""

    def __init__(self):
        self.rows: Dict[int, dict] = {}

    def add(self, a) -> None:
        row = self.rows.setdefault(a.index, {"layer": a.index, "name": a.name, "frames": 0})
        row["frames"] += 1
        row["name"] = a.name
        for which in ("spatial", "channel"):
            g = a.spatial_gate if which == "spatial" else a.channel_gate
            if g is None:
                continue
            s = row.setdefault(which, {"min": float("inf"), "max": float("-inf"), "sum": 0.0, "count": 0})
            s["min"] = min(s["min"], float(g.min()))
            s["max"] = max(s["max"], float(g.max()))
            s["sum"] += float(g.double().sum())
            s["count"] += int(g.numel())

    def table(self) -> List[dict]:
        out = []
        for i in sorted(self.rows):
            row = dict(self.rows[i])
            for which in ("spatial", "channel"):
                if which in row:
                    s = row[which]
                    row[which] = {"min": s["min"], "mean": s["sum"] / max(s["count"], 1), "max": s["max"]}
            out.append(row)
        return out


def _print_table(rows: List[dict], file) -> None:
    if not rows:
        return
    print(f"{'layer':>5}  {'name':<22} {'frames':>6}  {'spatial gate min / mean / max':<32} "
          f"{'channel gate min / mean / max':<32}", file=file)
    for r in rows:
        cells = []
        for which in ("spatial", "channel"):
            s = r.get(which)
            cells.append(f"{s['min']:.4g} / {s['mean']:.4g} / {s['max']:.4g}" if s else "-")
        print(f"{r['layer']:>5}  {r['name']:<22} {r['frames']:>6}  {cells[0]:<32} {cells[1]:<32}", file=file)


# ----------------------------------------------------------------------------- one frame
def _export_frame(ctx: dict, frame: str, image: np.ndarray, what: str) -> List[Path]:
    """Every file of one frame. Names, captions and figures come from ``render.view_state``,
    exactly as the window's File > Export makes them."""
    from ..inference.cam import eigen_cam, grad_cam
    from ..render import captions as C
    from ..render import figures as F
    from ..render.view_state import cam_view, chart_view, export_chart, export_map, gate_view

    args, plan, det, base, out = ctx["args"], ctx["plan"], ctx["det"], ctx["base"], ctx["out"]
    st = plan.state
    written: List[Path] = []
    force = bool(args.force)
    model_name = C.model_label(getattr(det, "source", None) or args.model)   # as the window names it
    base_name = C.model_label(getattr(base, "source", None) or args.baseline) if base is not None else ""
    fixed = st.fixed if st.range_mode == "fixed" else None

    def save(name: str, rgb_or_text) -> None:
        path = out / name
        if isinstance(rgb_or_text, str):
            F.save_text(rgb_or_text, path, overwrite=force)
        else:
            F.save_png(rgb_or_text, path, overwrite=force)
        written.append(path)

    res = det.predict(image, args.conf, args.iou, ctx["imgsz"], auto=not args.square)
    base_res = base.predict(image, args.conf, args.iou, ctx["base_imgsz"], auto=not args.square) if base else None
    panels: List = []
    for i in plan.layers:
        a = res.attention_at(i)
        ctx["stats"].add(a)
        if plan.heatmaps or plan.composite:
            view = gate_view(st, "gam", a, model_name)
            panels.append(F.HeatPanel(f"layer {i}: {a.name}", view.values, fixed, view.label))
            if plan.heatmaps:
                save(*export_map(st, view, image, frame, what))
        if plan.charts:
            for name, data in export_chart(st, chart_view(st, "gam", a, model_name), frame, what):
                save(name, data)
    if args.cam:
        sides = [("gam", det, res, model_name, plan.cam_layers, ctx["imgsz"])]
        if base is not None:
            sides.append(("baseline", base, base_res, base_name, None, ctx["base_imgsz"]))
        for side, d, r, name, layers, size in sides:
            if args.cam == "eigen":
                cams = [eigen_cam(d, image, layers, imgsz=size, auto=not args.square)]
            else:
                cams = [grad_cam(d, image, r, k, layers) for k in range(min(args.cam_boxes, len(r)))]
            for cam in cams:
                view = cam_view(st, side, cam, r, name)
                save(*export_map(st, view, image, frame, what))
                panels.append(F.HeatPanel(f"{C.SIDE_TITLES[side]}: {cam.title}", view.values, fixed, view.label))
    if plan.composite:
        images = [_boxes_panel(F, model_name, image, res)]
        if base_res is not None:
            images.append(_boxes_panel(F, base_name, image, base_res))
        cap = C.caption_text(model_name + (f" vs {base_name}" if base_name else ""), "",
                             C.reduction_text(st.gate, plan.reduce) if plan.layers else "", what)
        if fixed:
            cap += f" | fixed range [{fixed[0]:g}, {fixed[1]:g}]"
        fig = F.composite_figure(images, panels, image, cmap=st.cmap, alpha=st.opacity, caption=cap)
        save(C.composite_name(frame), fig)
    ctx["detections"].append({"frame": frame, "source": what, "model_boxes": len(res),
                              "baseline_boxes": len(base_res) if base_res is not None else None,
                              "ms": round(res.timings["total"], 1)})
    return written


MAX_DRAWN_BOXES = 100   # a composite with more boxes is unreadable (random weights give 1000)
MAX_LABELLED_BOXES = 40


def _boxes_panel(F, name: str, image: np.ndarray, res):
    n = min(len(res), MAX_DRAWN_BOXES)   # detections come sorted by score
    labels = [res.label(i) for i in range(n)] if n <= MAX_LABELLED_BOXES else None
    title = f"{name}: {len(res)} box{'es' if len(res) != 1 else ''}"
    if n < len(res):
        title += f" (the {n} best drawn)"
    from ..render.boxes import draw_boxes

    return F.ImagePanel(title, draw_boxes(image, res.boxes[:n], labels, res.classes[:n]))


# ----------------------------------------------------------------------------- entry point
def run(argv: List[str]) -> int:
    """Run ``gam-viewer export`` with ``argv`` (without the sub-command). Returns the exit status."""
    args = _parser().parse_args(argv)
    from ..inference import load_model
    from ..render import figures as F

    src = _open_source(args.source)
    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {args.out}: exists and is not a folder")
    det = load_model(args.model, device=args.device, channel_sigmoid=_switch(args.channel_sigmoid),
                     shuffle=_switch(args.shuffle))
    base = load_model(args.baseline, device=args.device, channel_sigmoid=_switch(args.channel_sigmoid),
                      shuffle=_switch(args.shuffle)) if args.baseline else None
    plan = _make_plan(args, det)
    imgsz = args.imgsz or det.default_imgsz
    from ..inference.letterbox import check_imgsz

    try:
        check_imgsz(imgsz, det.stride)
        if base is not None:
            check_imgsz(args.imgsz or base.default_imgsz, base.stride)
    except ValueError as exc:
        raise ExportError(f"--imgsz: {exc}") from None
    if not (0 <= args.conf <= 1 and 0 <= args.iou <= 1):
        raise ExportError(f"--conf and --iou must be in [0, 1], got {args.conf} and {args.iou}")
    out.mkdir(parents=True, exist_ok=True)
    _check_existing(out, src, plan, args)

    ctx = {"args": args, "plan": plan, "det": det, "base": base, "out": out, "imgsz": imgsz,
           "base_imgsz": args.imgsz or (base.default_imgsz if base else imgsz), "stats": _Stats(),
           "detections": []}
    total = src.total(args.every, args.max_frames)
    written: List[Path] = []
    unreadable: List[str] = []
    t0 = time.perf_counter()
    bar = _progress(total, args.quiet)
    try:
        for frame, image, what in _frames(src, args.every, args.max_frames):
            if image is None:
                unreadable.append(what)
                print(f"gam-viewer: warning: {what}: cannot read this image, skipped", file=sys.stderr)
            else:
                written += _export_frame(ctx, frame, image, what)
            bar.update(1)
    finally:
        bar.close()
    elapsed = time.perf_counter() - t0
    frames = len(ctx["detections"])
    if frames == 0:
        raise ExportError(f"--source {args.source}: no frame could be read")
    stats = ctx["stats"].table()
    summary = {
        "command": "gam-viewer export " + " ".join(argv),
        "model": {"spec": args.model, "describe": det.describe(), "gam": [r.describe() for r in det.gam]},
        "baseline": {"spec": args.baseline, "describe": base.describe()} if base else None,
        "source": str(src.path), "source_kind": src.kind, "frames": frames, "seconds": round(elapsed, 2),
        "imgsz": imgsz, "letterbox": "square" if args.square else "minimal padding",
        "layers": plan.layers, "gate": plan.gate, "reduce": plan.reduce_tag, "cam": args.cam,
        "files": [p.name for p in written], "unreadable": unreadable, "notes": src.skipped,
        "per_frame": ctx["detections"], "layer_stats": stats,
    }
    F.save_text(json.dumps(summary, indent=2), out / SUMMARY_NAME, overwrite=args.force)
    if not args.quiet:
        print(f"exported {frames} frame{'s' if frames != 1 else ''} from {src.path} in {elapsed:.1f} s: "
              f"{len(written) + 1} files in {out} (summary: {SUMMARY_NAME})")
        for note in src.skipped:
            print(f"note: {note}")
        if unreadable:
            print(f"note: {len(unreadable)} unreadable image(s) skipped")
        if not plan.layers:
            print(f"note: {args.model} has no GAM layers: no heatmaps or channel charts")
        _print_table(stats, sys.stdout)
    return 0


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, quiet: bool):
    if quiet:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm comes with grad-cam; stay useful without it
        return _NoBar()
    return tqdm(total=total, file=sys.stderr, unit="frame", desc="export", dynamic_ncols=True)
