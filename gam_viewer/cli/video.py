"""``gam-viewer export --video out.mp4``: both models side by side on every frame, as a video.

Uses the export command's options: ``--model`` (left pane) and ``--baseline`` (right pane),
``--source`` (a video keeps its frame rate; images play at 25 fps / ``--every``), the overlay
(``--cam eigen|grad`` for each model's CAM, else the GAM layer of ``--layers`` (first one;
default the first GAM layer) with ``--gate``/``--reduce``/``--channel``, none with
``--no-heatmaps``), ``--cmap``, ``--alpha``, ``--vrange``, ``--conf``/``--iou``/``--imgsz``,
``--every``/``--max-frames``, ``--force`` and ``--quiet``. The frames are composed by
:mod:`gam_viewer.render.video`, which also picks the codec.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

__all__ = ["run_video"]

IMAGE_FPS = 25.0


def _name(spec: str) -> str:
    p = Path(spec)
    return p.stem if p.suffix else spec


def run_video(args) -> int:
    """Write the side-by-side video ``args.video``; returns the exit status. User errors raise ValueError."""
    from ..inference import load_model
    from ..inference.cam import eigen_cam, grad_cam
    from ..media.sources import SourceError, open_source
    from ..render import figures as F
    from ..render.video import Pane, VideoOut, compose_frame, frame_size, pane_image

    out = Path(args.video).expanduser()
    if out.exists() and not args.force:
        raise FileExistsError(f"{out}: already exists (not overwritten); use --force or another name")
    if not 0.0 <= args.alpha <= 1.0:
        raise ValueError(f"--alpha must be in [0, 1], got {args.alpha}")
    if args.vrange is not None and not args.vrange[0] < args.vrange[1]:
        raise ValueError(f"--vrange needs LOW < HIGH, got {args.vrange[0]} {args.vrange[1]}")
    try:
        src = open_source(args.source)
    except SourceError as exc:
        raise ValueError(f"--source: {exc}") from None
    if src.live:
        src.close()
        raise ValueError(f"--source {args.source}: a live source has no end; record it to a file first")
    sw = lambda v: None if v is None else v == "on"   # noqa: E731
    det = load_model(args.model, device=args.device, channel_sigmoid=sw(args.channel_sigmoid), shuffle=sw(args.shuffle))
    base = load_model(args.baseline, device=args.device, channel_sigmoid=sw(args.channel_sigmoid),
                      shuffle=sw(args.shuffle)) if args.baseline else None
    gam_layers = [info.index for info in det.model.gam_layers()]
    layer: Optional[int] = None
    if not args.cam and not args.no_heatmaps and gam_layers:
        layer = args.layers[0] if args.layers else gam_layers[0]
        if layer not in gam_layers:
            raise ValueError(f"--layers: {layer} is not a GAM layer of {args.model} "
                             f"(its GAM layers: {', '.join(map(str, gam_layers))})")
    reduce = args.channel if args.reduce == "channel" else args.reduce
    if args.reduce == "channel" and args.channel is None:
        raise ValueError("--reduce channel needs --channel K")
    imgsz = args.imgsz or det.default_imgsz
    base_imgsz = args.imgsz or (base.default_imgsz if base else imgsz)
    fps = (src.fps or IMAGE_FPS) if src.kind == "video" else IMAGE_FPS
    fps = fps / args.every
    total = src.count
    if total is not None:
        total = -(-total // args.every)
        if args.max_frames:
            total = min(total, args.max_frames)

    vrange = tuple(args.vrange) if args.vrange else None
    names = (_name(args.model), _name(args.baseline) if args.baseline else None)
    writer = None
    bar = None
    done = 0
    try:
        index = 0
        while not (args.max_frames and done >= args.max_frames):
            try:
                frame = src.read()
            except SourceError as exc:
                print(f"gam-viewer: warning: {exc}", file=sys.stderr)
                if src.kind == "video":
                    break
                continue
            if frame is None:
                break
            index += 1
            if (index - 1) % args.every:
                continue
            img = frame.image
            panes, over = [], ""
            for role, d, size, name in (("GAM", det, imgsz, names[0]), ("baseline", base, base_imgsz, names[1])):
                if d is None:
                    continue
                res = d.predict(img, args.conf, args.iou, size, auto=not args.square)
                values = None
                if args.cam == "eigen":
                    values = eigen_cam(d, img, args.cam_layers if d is det else None, imgsz=size,
                                       auto=not args.square).image_map()
                    over = f"overlay: EigenCAM of each model (relative, 0..1 per frame), {args.cmap}"
                elif args.cam == "grad" and len(res):
                    values = grad_cam(d, img, res, 0, args.cam_layers if d is det else None).image_map()
                    over = f"overlay: Grad-CAM of each model's top box (relative, 0..1 per frame), {args.cmap}"
                elif layer is not None and d is det:
                    values = res.attention_at(layer).image_map(reduce, args.gate)
                    vr = vrange or F.value_range(values)
                    how = "fixed" if vrange else "per-frame"
                    what = f"channel {reduce}" if isinstance(reduce, int) else f"{reduce} over channels"
                    over = (f"overlay: GAM layer {layer} {args.gate} gate ({what}), {how} range "
                            f"[{vr[0]:.3g}, {vr[1]:.3g}], {args.cmap}")
                n = min(len(res), 100)
                vr = (0.0, 1.0) if args.cam else vrange     # CAM maps are 0..1 by construction
                pane = pane_image(img, res.boxes[:n], [res.label(k) for k in range(n)], res.classes[:n], values,
                                  vr if values is not None else None, args.cmap, args.alpha)
                panes.append(Pane(pane, f"{role}: {name} - {len(res)} box{'es' if len(res) != 1 else ''}"))
            composed = compose_frame(panes, over or "overlay: none (boxes only)", args.cmap if over else None)
            if writer is None:
                writer = VideoOut(out, fps, frame_size(img.shape[:2], len(panes)), overwrite=args.force)
                if writer.fallback or not args.quiet:
                    print(("gam-viewer: note: " if writer.fallback else "") + writer.message, file=sys.stderr)
                if not args.quiet:
                    bar = _progress(total)
            writer.write(composed)
            done += 1
            if bar is not None:
                bar.update(1)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        if bar is not None:
            bar.close()
        src.close()
    if writer is None:
        raise ValueError(f"--source {args.source}: no frame could be read")
    path = writer.close()
    if not args.quiet:
        print(f"wrote {path}: {writer.frames} frames, {writer.size[0]}x{writer.size[1]}, {writer.fps:g} fps, "
              f"{writer.codec}")
    return 0


def _progress(total: Optional[int]):
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, file=sys.stderr, unit="frame", desc="video", dynamic_ncols=True)
