"""``gam-viewer export --video out.mp4``: both models side by side on every frame, as a video.

Uses the export command's options: ``--model`` (left pane) and ``--baseline`` (right pane),
``--source`` (a video keeps its frame rate; images play at 25 fps, divided by ``--every``),
the overlay (``--cam eigen|grad`` for each model's CAM, else the GAM layer of ``--layers``
(the first one; default the model's first GAM layer) with ``--gate``/``--reduce``/``--channel``;
none with ``--no-heatmaps``), ``--cmap``, ``--alpha``, ``--vrange``, ``--conf``/``--iou``/
``--imgsz``/``--square``, ``--max-frames``, ``--force`` and ``--quiet``. The work is done by
:func:`gam_viewer.render.video.export_video`, which also picks the codec.
"""

from __future__ import annotations

import sys
from typing import Optional

__all__ = ["run_video"]


def run_video(args) -> int:
    """Write the side-by-side video ``args.video``; returns the exit status. User errors raise ValueError."""
    from ..render.video import VideoJob, export_video
    from .args import on_off
    from .progress import progress_bar

    if args.reduce == "channel" and args.channel is None:
        raise ValueError("--reduce channel needs --channel K")
    job = VideoJob(
        source=args.source, out=args.video, model=args.model, baseline=args.baseline,
        overlay=args.cam or ("none" if args.no_heatmaps else "gate"),
        layer=args.layers[0] if args.layers else None, gate=args.gate,
        reduce=args.channel if args.reduce == "channel" else args.reduce, cam_layers=args.cam_layers,
        cmap=args.cmap, alpha=args.alpha, vrange=tuple(args.vrange) if args.vrange else None, conf=args.conf,
        iou=args.iou, imgsz=args.imgsz, square=args.square, every=args.every, max_frames=args.max_frames,
        overwrite=args.force, device=args.device, channel_sigmoid=on_off(args.channel_sigmoid),
        shuffle=on_off(args.shuffle))
    bar = [progress_bar(None, True)]   # replaced by a real bar when the video opens (unless --quiet)

    def on_open(writer, total: Optional[int]) -> None:
        if writer.fallback or not args.quiet:
            print(("gam-viewer: note: " if writer.fallback else "") + writer.message, file=sys.stderr)
        bar[0] = progress_bar(total, args.quiet, unit="frame", desc="video")

    def progress(done: int, total: Optional[int]) -> None:
        bar[0].update(1)

    def warn(text: str) -> None:
        print(f"gam-viewer: warning: {text}", file=sys.stderr)

    try:
        writer = export_video(job, progress=progress, on_open=on_open, warn=warn)
    finally:
        bar[0].close()
    if not args.quiet:
        print(f"wrote {writer.path}: {writer.frames} frames, {writer.size[0]}x{writer.size[1]}, {writer.fps:g} fps, "
              f"{writer.codec}")
    return 0
