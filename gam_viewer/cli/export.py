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

and ``export-summary.json`` (files, frames, what was skipped and why, per-layer statistics).
Frames are read by ``media.sources``, the window's reader (same files, order and decoding).
Figures are drawn with the image's long side at most ``--max-edge`` (4096) px unless
``--full-res``. Bad input is skipped and listed, never a traceback. Nothing is overwritten
unless ``--force``: existing outputs make it stop before any work; every file is written to
a temporary name and moved into place, so an interrupted run leaves no half-written file.

No Qt is imported; figures are drawn with matplotlib's Agg canvas. User errors raise
:class:`ExportError` (a ValueError: one line, exit status 2 through ``gam_viewer.app``).
"""

import argparse
import json
from glob import escape as glob_escape
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .args import Parser, finite_float, on_off, positive_int
from .progress import progress_bar

__all__ = ["run", "ExportError", "MAX_EDGE", "MAX_ASPECT"]

SUMMARY_NAME = "export-summary.json"
MAX_EDGE = 4096       # figures are drawn with the image's long side at most this (--max-edge, --full-res)
MAX_ASPECT = 20       # a figure of an image thinner than 1:20 is unreadable: such images are skipped
COMPOSITE_EDGE = 1280  # the composite's panels are ~480 px wide: drawn from at most this long side


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


def _parser() -> argparse.ArgumentParser:
    from ..render.colormaps import COLORMAPS, DEFAULT_COLORMAP

    ap = Parser(
        prog="gam-viewer export",
        description="Write GAM heatmaps, channel charts and CAM maps for an image, a folder of images or a "
                    "video, without a display. Existing files are never overwritten unless --force.")
    ap.add_argument("--model", required=True, help="GAM-YOLO model: a YOLO .pt, .safetensors, YAML or shipped name")
    ap.add_argument("--baseline", help="a second model to compare with (boxes and CAM)")
    ap.add_argument("--source", required=True,
                    help="an image, a folder of images (natural order: img2 before img10), a video file, "
                         "or a camera index / stream URL together with --max-frames")
    ap.add_argument("--out", help="output folder (created when missing); not needed with --video")
    ap.add_argument("--video", metavar="FILE", help="instead: a side-by-side video of --model and --baseline with "
                    "boxes and the overlay (.mp4: H.264 where OpenCV can, else MPEG-4; .avi: Motion-JPEG)")
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
    ap.add_argument("--top-k", type=positive_int, metavar="K", help="channel chart: only the K largest channels")
    ap.add_argument("--cam", choices=("eigen", "grad"), help="also write CAM maps: EigenCAM, or Grad-CAM per box")
    ap.add_argument("--cam-layers", type=_layer_list, action=_ExtendLayers, nargs="+", metavar="L",
                    help="CAM layer indices of --model (default: the layers feeding Detect); the baseline "
                         "always uses its own Detect inputs")
    ap.add_argument("--cam-boxes", type=positive_int, default=1, metavar="K",
                    help="Grad-CAM: the K highest-scoring boxes of each model (default: 1)")
    ap.add_argument("--every", type=positive_int, default=1, metavar="N",
                    help="every Nth video frame (or every Nth image of a folder); default 1")
    ap.add_argument("--max-frames", type=positive_int, metavar="N", help="stop after N exported frames")
    ap.add_argument("--cmap", choices=COLORMAPS, default=DEFAULT_COLORMAP,
                    help=f"colormap (default: {DEFAULT_COLORMAP}, as in the window)")
    ap.add_argument("--alpha", type=finite_float, default=0.5, help="heatmap opacity in [0, 1] (default: 0.5)")
    ap.add_argument("--vrange", type=finite_float, nargs=2, metavar=("LOW", "HIGH"),
                    help="fixed colour range for every heatmap and CAM (default: each map's own min..max)")
    ap.add_argument("--conf", type=finite_float, default=0.25, help="confidence threshold (default: 0.25)")
    ap.add_argument("--iou", type=finite_float, default=0.45, help="NMS IoU threshold (default: 0.45)")
    ap.add_argument("--imgsz", type=positive_int, help="inference size (default: the model's)")
    ap.add_argument("--square", action="store_true", help="letterbox to a full square (auto=False)")
    ap.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    ap.add_argument("--backend", choices=("auto", "torch", "onnxruntime"), default="auto",
                    help="what runs the models: auto (ONNX Runtime on the CPU, PyTorch on a GPU), torch, onnxruntime")
    ap.add_argument("--channel-sigmoid", choices=("on", "off"), help="community GAM: sigmoid on the channel map")
    ap.add_argument("--shuffle", choices=("on", "off"), help="community GAM: shuffle the final spatial map")
    ap.add_argument("--no-composite", action="store_true", help="skip the composite figure")
    ap.add_argument("--no-heatmaps", action="store_true", help="skip the per-layer heatmap figures")
    ap.add_argument("--no-charts", action="store_true", help="skip the channel charts and CSVs")
    ap.add_argument("--max-edge", type=positive_int, default=MAX_EDGE, metavar="PX",
                    help=f"draw figures with the image's long side at most PX pixels (default: {MAX_EDGE}); "
                         "inference always sees the whole image")
    ap.add_argument("--full-res", action="store_true",
                    help="draw figures at the image's own size, however large (refused up front when the "
                         "estimated memory is not available)")
    ap.add_argument("--strict", action="store_true",
                    help="exit with status 1 when anything was skipped, damaged or missing (a video that "
                         "stops early, an unreadable image); the files that could be made are still written")
    ap.add_argument("--force", action="store_true", help="overwrite existing output files")
    ap.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")
    return ap


# ----------------------------------------------------------------------------- frame sources
# Which files a folder holds, in what order, how images are decoded (truncated JPEGs
# included) and how a video is read: gam_viewer.media.sources, the window's own reader.
@dataclass
class _Source:
    kind: str                      # "image", "folder", "video", "camera" or "stream"
    spec: str                      # what the user gave
    path: Optional[Path] = None
    files: List[Path] = field(default_factory=list)
    frame_count: Optional[int] = None        # a video's header
    frame_hw: Optional[Tuple[int, int]] = None
    notes: List[str] = field(default_factory=list)

    def total(self, every: int, max_frames: Optional[int]) -> Optional[int]:
        """Frames the export is expected to write (None when unknown: a live source)."""
        if self.kind in ("image", "folder"):
            n: Optional[int] = len(range(0, len(self.files), every))
        elif self.frame_count is not None:
            n = len(range(0, self.frame_count, every))
        else:
            n = None
        if max_frames:
            n = max_frames if n is None else min(n, max_frames)
        return n

    def reader(self):
        from ..media.sources import ImageListSource, open_source

        if self.kind in ("image", "folder"):
            return ImageListSource(self.files, name=self.spec, kind=self.kind)
        return open_source(self.spec)


def _open_source(text: str, max_frames: Optional[int]) -> _Source:
    from ..media.sources import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, SourceError, VideoSource, classify, \
        list_images, open_source

    kind = classify(text)
    path = Path(text).expanduser()
    if kind == "missing":
        raise FileNotFoundError(f"--source {text}: no such file or folder")
    if kind in ("camera", "stream"):
        if not max_frames:
            raise ExportError(f"--source {text}: a {kind} never ends; give --max-frames N")
        return _Source(kind, text)
    try:
        if kind == "folder":
            files = list_images(path)
            if not files:
                raise ExportError(f"--source {text}: the folder holds no images "
                                  f"({', '.join(IMAGE_EXTENSIONS[:7])}, ...)")
            src = _Source("folder", text, path, files)
            videos = [p for p in path.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS]
            if videos:
                src.notes.append(f"{len(videos)} video(s) in the folder are not exported (give a video as --source)")
            return src
        if kind == "image":
            return _Source("image", text, path, [path])
        if kind == "unknown":   # no known extension: the reader looks at the content
            with open_source(path) as probe:
                if probe.kind == "image":
                    return _Source("image", text, path, [path])
        with VideoSource(path) as video:
            first = video.read()   # a video whose first frame cannot be read is refused up front
            if first is None:
                raise ExportError(f"--source {text}: the video has no readable frames")
            return _Source("video", text, path, frame_count=video.count, frame_hw=first.shape, notes=list(video.notes))
    except SourceError as exc:
        if kind == "unknown":
            raise ExportError(f"--source {text}: cannot open it as an image or a video") from None
        raise ExportError(f"--source {exc}") from None


@dataclass
class _Problems:
    """What did not go as planned; listed in the summary, warned about on stderr."""

    unreadable: List[dict] = field(default_factory=list)   # images that could not be decoded
    skipped: List[dict] = field(default_factory=list)      # decoded, but not something figures can be made of
    damaged: List[dict] = field(default_factory=list)      # decoded with a warning (a truncated JPEG)
    video: Optional[dict] = None                           # frames expected vs read, and why they differ

    def warn(self, kind: str, source: str, reason: str) -> None:
        getattr(self, kind).append({"source": source, "reason": reason})
        print(f"gam-viewer: warning: {reason}{'' if kind == 'damaged' else ', skipped'}", file=sys.stderr)

    def count(self) -> int:
        short = self.video is not None and self.video.get("problem") is not None
        return len(self.unreadable) + len(self.skipped) + len(self.damaged) + int(short)


def _frames(src: _Source, every: int, max_frames: Optional[int], names: Dict[int, str],
            problems: _Problems) -> Iterator[Tuple[str, np.ndarray, str, str]]:
    """(frame name, BGR image, caption, file name) of each frame to export; every Nth frame / image.

    Unreadable images are listed and skipped; a video that stops before its header says it
    should ends the loop with the reason recorded."""
    from ..media.sources import SourceError
    from ..render.captions import frame_caption, frame_stem

    count = 0
    with src.reader() as reader:
        while not (max_frames and count >= max_frames):
            try:
                frame = reader.read()
            except SourceError as exc:
                if reader.kind in ("image", "folder"):
                    name = src.files[reader.last_index].name
                    problems.warn("unreadable", name, str(exc))
                    _skip(reader, every - 1, problems)
                    continue
                problems.video = {"problem": str(exc)}
                return
            if frame is None:
                return
            if frame.warning:
                problems.warn("damaged", frame.source, frame.warning)
            count += 1
            if reader.kind in ("image", "folder"):
                yield (names[frame.index], frame.image, frame_caption(frame.source, frame.index, len(src.files)),
                       frame.source)
            else:
                yield (frame_stem(src.path or src.spec, frame.index, moving=True), frame.image,
                       frame_caption(frame.source, frame.index, src.frame_count), f"{frame.source} frame {frame.index}")
            if not _skip(reader, every - 1, problems):
                return


def _skip(reader, n: int, problems: _Problems) -> bool:
    """--every N: move over N - 1 frames without decoding them (False: the source ended)."""
    from ..media.sources import SourceError

    if n <= 0:
        return True
    if reader.live:  # a live source cannot skip without reading
        for _ in range(n):
            reader.read()
        return True
    try:
        reader.skip(n)
    except SourceError as exc:
        problems.video = {"problem": str(exc)}
        return False
    return True


def _frame_names(files: Sequence[Path]) -> Dict[int, str]:
    """Index in ``files`` -> output prefix: the window's (``render.captions.frame_stem``: the
    stem, or stem_ext when two files share a stem), made unique by construction, also where the
    file system ignores case (``a.jpg``, ``a.png`` and ``a_jpg.png``: the third ``a_jpg`` gets
    a counter, ``a_jpg_2``)."""
    from ..render.captions import frame_stem

    wanted = [frame_stem(p, siblings=files) for p in files]
    counts: Dict[str, int] = {}
    for w in wanted:
        counts[w.casefold()] = counts.get(w.casefold(), 0) + 1
    taken = {w.casefold() for w in wanted}
    out: Dict[int, str] = {}
    seen: set = set()
    for i, name in enumerate(wanted):
        key = name.casefold()
        if counts[key] == 1 or key not in seen:   # the first file with a name keeps it
            seen.add(key)
            out[i] = name
            continue
        k = 2
        while f"{name}_{k}".casefold() in taken:
            k += 1
        final = f"{name}_{k}"
        taken.add(final.casefold())
        out[i] = final
    return out


def _drawable(shape: Tuple[int, int], name: str) -> Optional[str]:
    """Why no figure can be drawn of an image of this size (None: it can). Inference itself
    runs on any image (the letterbox pads it)."""
    h, w = shape
    if max(h, w) / min(h, w) > MAX_ASPECT:
        return (f"{name}: a {w} x {h} image is thinner than 1:{MAX_ASPECT}; its figures would be unreadable "
                "(crop or pad it)")
    return None


# memory per image pixel when a heatmap is drawn at full resolution: the decoded image (3 B),
# decoding (~6 B, transient), the map on the image (4 B), overlay + figure canvas + PNG (~14 B,
# measured with /proc/self/status VmHWM on a 4096 x 3072 figure): ~30 B, 40 with a margin
BYTES_PER_DRAWN_PIXEL = 40


def _available_memory() -> Optional[int]:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _largest_size(src: _Source) -> Optional[Tuple[int, int]]:
    """(h, w) of the largest image of the source, from the file headers (no decoding)."""
    if src.frame_hw is not None:
        return src.frame_hw
    best = None
    try:
        from PIL import Image
    except ImportError:
        return None
    for p in src.files:
        try:
            with Image.open(p) as im:
                w, h = im.size
        except Exception:  # noqa: BLE001 - an unreadable header is reported when the image is read
            continue
        if best is None or h * w > best[0] * best[1]:
            best = (h, w)
    return best


def _check_memory(src: _Source, args) -> None:
    """--full-res: refuse up front when drawing the largest image would not fit in memory."""
    if not args.full_res:
        return
    hw = _largest_size(src)
    avail = _available_memory()
    if hw is None or avail is None:
        return
    need = hw[0] * hw[1] * BYTES_PER_DRAWN_PIXEL
    if need > avail:
        raise ExportError(f"--full-res: drawing a {hw[1]} x {hw[0]} image needs about {need / 2**30:.1f} GiB, "
                          f"{avail / 2**30:.1f} GiB are available; leave out --full-res (figures are then drawn "
                          f"at most {args.max_edge} px wide)")


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


def _planned_names(src: _Source, plan: _Plan, args, names: Dict[int, str]) -> List[str]:
    """Every output file of an image / folder export, checked unique (case-insensitively) up front."""
    out: List[str] = []
    for i in range(0, len(src.files), args.every)[: args.max_frames or None]:
        out += plan.names(names[i], args.cam, args.cam_boxes, bool(args.baseline))
    seen: Dict[str, str] = {}
    for n in out:
        if n.casefold() in seen:   # cannot happen with _frame_names; a safety net, never a lost file
            raise ExportError(f"two outputs would be named {n} and {seen[n.casefold()]}; rename one source")
        seen[n.casefold()] = n
    return out


def _check_existing(out: Path, src: _Source, plan: _Plan, args, names: Dict[int, str]) -> None:
    if args.force or not out.is_dir():
        return
    clash: List[Path] = []
    if (out / SUMMARY_NAME).exists():
        clash.append(out / SUMMARY_NAME)
    if src.kind in ("image", "folder"):
        present = {p.name.casefold() for p in out.iterdir()}
        clash += [out / n for n in _planned_names(src, plan, args, names) if n.casefold() in present]
    else:
        from ..render.captions import frame_stem

        stem = frame_stem(src.path or src.spec, 0, moving=True)[: -len("_f000000")]
        clash += sorted(out.glob(f"{glob_escape(stem)}_f[0-9]*_*"))[:1]
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
    # inference above saw the whole image; figures are drawn on a copy whose long side is at
    # most --max-edge (unless --full-res): a 108 MP photo would need GBs per figure. The
    # composite's ~480 px panels are drawn from at most COMPOSITE_EDGE px.
    full = image
    image, scale = _drawing_image(full, None if args.full_res else args.max_edge)
    if scale != 1.0:
        ctx["scaled"].append(what)
    comp, comp_scale = _drawing_image(full, COMPOSITE_EDGE) if plan.composite else (image, scale)
    panels: List = []
    for i in plan.layers:
        a = res.attention_at(i)
        ctx["stats"].add(a)
        if plan.composite:
            view = gate_view(st, "gam", a, model_name, out_hw=comp.shape[:2])
            panels.append(F.HeatPanel(f"layer {i}: {a.name}", view.values, fixed, view.label))
        if plan.heatmaps:
            view = _drawn_at(gate_view(st, "gam", a, model_name, out_hw=image.shape[:2]), scale)
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
                cams = [eigen_cam(d, full, layers, imgsz=size, auto=not args.square)]
            else:
                cams = [grad_cam(d, full, r, k, layers) for k in range(min(args.cam_boxes, len(r)))]
                if not cams:
                    ctx["no_boxes"].append(f"{what} ({side})")
            for cam in cams:
                view = _drawn_at(cam_view(st, side, cam, r, name, out_hw=image.shape[:2]), scale)
                save(*export_map(st, view, image, frame, what))
                if plan.composite:
                    small = cam_view(st, side, cam, r, name, out_hw=comp.shape[:2])
                    panels.append(F.HeatPanel(f"{C.SIDE_TITLES[side]}: {cam.title}", small.values, fixed, small.label))
    if plan.composite:
        images = [_boxes_panel(F, model_name, comp, res, comp_scale)]
        if base_res is not None:
            images.append(_boxes_panel(F, base_name, comp, base_res, comp_scale))
        cap = C.caption_text(model_name + (f" vs {base_name}" if base_name else ""), "",
                             C.reduction_text(st.gate, plan.reduce) if plan.layers else "", what)
        if fixed:
            cap += f" | fixed range [{fixed[0]:g}, {fixed[1]:g}]"
        fig = F.composite_figure(images, panels, comp, cmap=st.cmap, alpha=st.opacity, caption=cap)
        save(C.composite_name(frame), fig)
    ctx["detections"].append({"frame": frame, "source": what, "model_boxes": len(res),
                              "baseline_boxes": len(base_res) if base_res is not None else None,
                              "ms": round(res.timings["total"], 1)})
    return written


MAX_LABELLED_BOXES = 40


def _boxes_panel(F, name: str, image: np.ndarray, res, scale: float = 1.0):
    from ..render.boxes import MAX_DRAWN_BOXES, draw_boxes

    n = min(len(res), MAX_DRAWN_BOXES)   # detections come sorted by score
    labels = [res.label(i) for i in range(n)] if n <= MAX_LABELLED_BOXES else None
    title = f"{name}: {len(res)} box{'es' if len(res) != 1 else ''}"
    if n < len(res):
        title += f" (the {n} best drawn)"
    return F.ImagePanel(title, draw_boxes(image, res.boxes[:n] * scale, labels, res.classes[:n]))


def _drawn_at(view, scale: float):
    """``view`` exported as drawn: its map at the drawing size (not the source's), its box scaled."""
    values = view.values
    view.full = lambda: values
    if view.boxes is not None:
        view.boxes = view.boxes * np.float32(scale)
    return view


def _drawing_image(image: np.ndarray, max_edge: Optional[int]) -> Tuple[np.ndarray, float]:
    """``image`` shrunk so its long side is at most ``max_edge`` (None: as is), and the scale used."""
    import cv2

    h, w = image.shape[:2]
    if max_edge is None or max(h, w) <= max_edge:
        return image, 1.0
    scale = max_edge / max(h, w)
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return small, size[0] / w


# ----------------------------------------------------------------------------- entry point
def run(argv: List[str]) -> int:
    """Run ``gam-viewer export`` with ``argv`` (without the sub-command). Returns the exit status."""
    args = _parser().parse_args(argv)
    if args.video:
        from .video import run_video

        return run_video(args)
    if not args.out:
        raise ExportError("--out DIR is required (or --video FILE)")
    # everything that does not need a model is checked before one is loaded: options, the
    # source, the output folder, the memory a --full-res figure would take
    if not 0.0 <= args.alpha <= 1.0:
        raise ExportError(f"--alpha must be in [0, 1], got {args.alpha}")
    if args.vrange is not None and not args.vrange[0] < args.vrange[1]:
        raise ExportError(f"--vrange needs LOW < HIGH, got {args.vrange[0]} {args.vrange[1]}")
    if not (0 <= args.conf <= 1 and 0 <= args.iou <= 1):
        raise ExportError(f"--conf and --iou must be in [0, 1], got {args.conf} and {args.iou}")
    from ..fsutil import check_output_folder
    from ..inference.detector import check_device

    try:
        device = check_device(args.device)
    except ValueError as exc:
        raise ExportError(f"--device: {exc}") from None
    src = _open_source(args.source, args.max_frames)
    out = check_output_folder(args.out, "--out")
    _check_memory(src, args)

    from ..inference import load_model
    from ..render import figures as F

    det = load_model(args.model, device=device, channel_sigmoid=on_off(args.channel_sigmoid),
                     shuffle=on_off(args.shuffle), backend=args.backend)
    base = load_model(args.baseline, device=device, channel_sigmoid=on_off(args.channel_sigmoid),
                      shuffle=on_off(args.shuffle), backend=args.backend) if args.baseline else None
    plan = _make_plan(args, det)
    imgsz = det.default_imgsz if args.imgsz is None else args.imgsz
    base_imgsz = (base.default_imgsz if base else imgsz) if args.imgsz is None else args.imgsz
    from ..inference.letterbox import check_imgsz

    try:
        check_imgsz(imgsz, det.stride)
        if base is not None:
            check_imgsz(base_imgsz, base.stride)
    except ValueError as exc:
        raise ExportError(f"--imgsz: {exc}") from None
    names = _frame_names(src.files)
    if src.kind in ("image", "folder"):
        _planned_names(src, plan, args, names)
    _check_existing(out, src, plan, args, names)
    out.mkdir(parents=True, exist_ok=True)

    ctx = {"args": args, "plan": plan, "det": det, "base": base, "out": out, "imgsz": imgsz,
           "base_imgsz": base_imgsz, "stats": _Stats(), "detections": [], "scaled": [], "no_boxes": []}
    total = src.total(args.every, args.max_frames)
    written: List[Path] = []
    problems = _Problems()
    t0 = time.perf_counter()
    bar = progress_bar(total, args.quiet)
    try:
        for frame, image, what, name in _frames(src, args.every, args.max_frames, names, problems):
            why = _drawable(image.shape[:2], name)
            if why:
                problems.warn("skipped", name, why)
            else:
                written += _export_frame(ctx, frame, image, what)
            bar.update(1)
    finally:
        bar.close()
    elapsed = time.perf_counter() - t0
    frames = len(ctx["detections"])
    if src.kind in ("video", "camera", "stream"):
        read = frames + len(problems.skipped)
        problems.video = {**(problems.video or {}), "frames_in_file": src.frame_count,
                          "frames_expected": total, "frames_read": read}
        # a header that is one frame off (common) is not a damaged file; the reader raises for real gaps
        if problems.video.get("problem") is None and total is not None and read < total - 1:
            problems.video["problem"] = (f"{src.path.name if src.path else src.spec}: {read} of {total} expected "
                                         "frames could be read")
        if problems.video.get("problem"):
            print(f"gam-viewer: warning: {problems.video['problem']}; exported {read} of {total} expected frames",
                  file=sys.stderr)
    for where in ctx["no_boxes"]:
        print(f"gam-viewer: warning: --cam grad: {where}: no boxes above --conf {args.conf:g}, so no Grad-CAM "
              "(lower --conf, or use --cam eigen)", file=sys.stderr)
    if frames == 0:
        raise ExportError(f"--source {args.source}: no frame could be exported "
                          f"({problems.count()} unreadable, skipped or missing; see the warnings above)")
    stats = ctx["stats"].table()
    summary = {
        "command": "gam-viewer export " + " ".join(argv),
        "model": {"spec": args.model, "describe": det.describe(), "gam": [r.describe() for r in det.gam]},
        "baseline": {"spec": args.baseline, "describe": base.describe()} if base else None,
        "source": str(src.path or src.spec), "source_kind": src.kind, "frames": frames,
        "frames_expected": total, "seconds": round(elapsed, 2),
        "imgsz": imgsz, "letterbox": "square" if args.square else "minimal padding",
        "drawn_at_most": None if args.full_res else args.max_edge, "drawn_smaller": ctx["scaled"],
        "layers": plan.layers, "gate": plan.gate, "reduce": plan.reduce_tag, "cam": args.cam,
        "files": [p.name for p in written], "unreadable": problems.unreadable, "skipped": problems.skipped,
        "damaged": problems.damaged, "video": problems.video, "no_gradcam_boxes": ctx["no_boxes"],
        "notes": src.notes, "per_frame": ctx["detections"], "layer_stats": stats,
    }
    F.save_text(json.dumps(summary, indent=2), out / SUMMARY_NAME, overwrite=args.force)
    if not args.quiet:
        print(f"exported {frames} frame{'s' if frames != 1 else ''}"
              f"{f' of {total} expected' if total is not None and total != frames else ''} from "
              f"{src.path or src.spec} in {elapsed:.1f} s: {len(written) + 1} files in {out} (summary: {SUMMARY_NAME})")
        for note in src.notes:
            print(f"note: {note}")
        for key, words in (("unreadable", "unreadable image(s) skipped"), ("skipped", "image(s) skipped"),
                           ("damaged", "damaged image(s) exported as far as they decode")):
            items = getattr(problems, key)
            if items:
                print(f"note: {len(items)} {words}: {', '.join(i['source'] for i in items[:5])}"
                      f"{' ...' if len(items) > 5 else ''}")
        if ctx["scaled"]:
            print(f"note: {len(ctx['scaled'])} frame(s) drawn with their long side at {args.max_edge} px "
                  "(--full-res draws them at their own size)")
        if not plan.layers:
            print(f"note: {args.model} has no GAM layers: no heatmaps or channel charts")
        _print_table(stats, sys.stdout)
    if args.strict and (problems.count() or ctx["no_boxes"]):
        print(f"gam-viewer: error: --strict: {problems.count() + len(ctx['no_boxes'])} problem(s) "
              f"(see {out / SUMMARY_NAME})", file=sys.stderr)
        return 1
    return 0
