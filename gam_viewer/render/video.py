"""Side-by-side videos for talks: the GAM model and the baseline on the same frame, with boxes,
the chosen overlay and a title strip (numpy + cv2; no Qt, no models run here).

    writer = VideoOut("talk.mp4", fps=25.0, frame_size=(w, h))   # picks a codec, says which
    writer.write(compose_frame([left, right], overlay_text))
    writer.close()                                                 # moves the file into place

Codecs: H.264 (``avc1``) in MP4 where the installed OpenCV can encode it; the
``opencv-python-headless`` wheel usually cannot (no libx264, no usable hardware encoder), and
then the MP4 gets MPEG-4 Part 2 (``mp4v``) instead, with a message saying so and how to
re-encode. ``.avi`` gets Motion-JPEG. The file is written under a temporary name in the
same folder and moved into place at the end: an interrupted export leaves no half video,
and an existing file is never replaced unless asked.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from ..fsutil import give_default_mode, check_output_file
from .boxes import MAX_DRAWN_BOXES, draw_boxes
from .colormaps import colormap_lut
from .figures import overlay

__all__ = ["VideoOut", "VideoError", "VideoJob", "export_video", "Pane", "compose_frame", "frame_size", "pane_image", "probe_codecs",
           "CONTAINERS"]

#: container -> codecs to try, best first ("fourcc", "what it is")
CONTAINERS = {
    ".mp4": (("avc1", "H.264"), ("mp4v", "MPEG-4 Part 2")),
    ".m4v": (("avc1", "H.264"), ("mp4v", "MPEG-4 Part 2")),
    ".mov": (("avc1", "H.264"), ("mp4v", "MPEG-4 Part 2")),
    ".avi": (("MJPG", "Motion-JPEG"), ("XVID", "MPEG-4 Part 2 (Xvid)")),
    ".mkv": (("avc1", "H.264"), ("MJPG", "Motion-JPEG")),
}
STRIP_FONT = cv2.FONT_HERSHEY_SIMPLEX


class VideoError(ValueError):
    """A video that cannot be written as asked (one line)."""


@contextmanager
def _quiet_stderr():
    """FFmpeg prints several lines per failed encoder probe on fd 2: hide them during a probe."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _try_open(path: str, fourcc: str, fps: float, size: Tuple[int, int]) -> Optional[cv2.VideoWriter]:
    with _quiet_stderr():
        w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), float(fps), size)
    if w.isOpened():
        return w
    w.release()
    return None


def probe_codecs(suffix: str = ".mp4") -> List[Tuple[str, str, bool]]:
    """(fourcc, name, works) for each codec tried for ``suffix``, on a tiny temporary file."""
    out = []
    for fourcc, name in CONTAINERS.get(suffix.lower(), ()):
        fd, tmp = tempfile.mkstemp(suffix=suffix)
        os.close(fd)
        try:
            w = _try_open(tmp, fourcc, 25.0, (64, 48))
            ok = w is not None
            if w is not None:
                w.release()
        finally:
            os.unlink(tmp)
        out.append((fourcc, name, ok))
    return out


class VideoOut:
    """A video file being written: codec chosen for the container, temp name, atomic finish.

    ``message`` says which codec was used and, when H.264 was wanted but not available, what
    was written instead. ``frame_size`` is (width, height); frames of another size are resized.
    """

    def __init__(self, path: Union[str, Path], fps: float, frame_size: Tuple[int, int], overwrite: bool = False):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in CONTAINERS:
            raise VideoError(f"--video {self.path}: use .mp4 (H.264 where available), .avi (Motion-JPEG), .mov, "
                             ".m4v or .mkv")
        if not self.path.parent.is_dir():
            raise VideoError(f"--video {self.path}: the folder {self.path.parent} does not exist")
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path}: already exists (not overwritten); use --force or another name")
        if not (fps and 0 < fps <= 1000):
            raise VideoError(f"frame rate must be in (0, 1000], got {fps}")
        w, h = (int(v) for v in frame_size)
        self.size = (w + w % 2, h + h % 2)          # most encoders want even dimensions
        self.fps = float(fps)
        self.overwrite = overwrite
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=f".part{suffix}", dir=self.path.parent)
        os.close(fd)
        self._writer = None
        tried = []
        for fourcc, name in CONTAINERS[suffix]:
            self._writer = _try_open(self._tmp, fourcc, self.fps, self.size)
            if self._writer is not None:
                self.fourcc, self.codec = fourcc, name
                break
            tried.append(f"{name} ({fourcc})")
        if self._writer is None:
            os.unlink(self._tmp)
            raise VideoError(f"--video {self.path}: this OpenCV cannot write {suffix} (tried {', '.join(tried)}); "
                             "try .avi (Motion-JPEG)")
        self.fallback = bool(tried)
        if tried:
            self.message = (f"{self.path.name}: {', '.join(tried)} is not available in this OpenCV build; wrote "
                            f"{self.codec} ({self.fourcc}) in {suffix} instead (plays in VLC/ffplay; for browsers "
                            f"and slides re-encode: ffmpeg -i {self.path.name} -c:v libx264 -pix_fmt yuv420p "
                            f"{self.path.stem}-h264{suffix})")
        else:
            self.message = f"{self.path.name}: {self.codec} ({self.fourcc}), {self.fps:g} fps, {self.size[0]}x{self.size[1]}"
        self.frames = 0

    def write(self, frame_bgr: np.ndarray) -> None:
        f = np.ascontiguousarray(frame_bgr)
        if (f.shape[1], f.shape[0]) != self.size:
            f = cv2.resize(f, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(f)
        self.frames += 1

    def close(self) -> Path:
        """Finish the file and move it to its name (never replacing a file unless ``overwrite``)."""
        self._writer.release()
        try:
            if self.frames == 0:
                raise VideoError(f"--video {self.path}: no frame was written")
            give_default_mode(self._tmp)
            if self.overwrite:
                os.replace(self._tmp, self.path)
            else:
                try:
                    os.link(self._tmp, self.path)
                except FileExistsError:
                    raise FileExistsError(f"{self.path}: already exists (not overwritten)") from None
                except OSError:
                    if self.path.exists():
                        raise FileExistsError(f"{self.path}: already exists (not overwritten)") from None
                    os.replace(self._tmp, self.path)
        finally:
            if os.path.exists(self._tmp):
                os.unlink(self._tmp)
        return self.path

    def abort(self) -> None:
        """Drop the partial file (after an error or an interruption)."""
        self._writer.release()
        if os.path.exists(self._tmp):
            os.unlink(self._tmp)


# ----------------------------------------------------------------------------- frames
@dataclass
class Pane:
    """One side of the video frame: a rendered image and its caption."""

    image_bgr: np.ndarray
    caption: str


def pane_image(image_bgr: np.ndarray, boxes: np.ndarray, labels: Sequence[str], classes: Sequence[int],
               values: Optional[np.ndarray] = None, vrange: Optional[Tuple[float, float]] = None,
               cmap: str = "viridis", alpha: float = 0.5) -> np.ndarray:
    """The frame with an optional heat overlay (a map on the image) and the boxes on top."""
    out = image_bgr
    if values is not None:
        out = overlay(image_bgr, values, cmap, vrange, alpha, channel_order="bgr")
    return draw_boxes(out, boxes, list(labels), list(classes))


def _strip_height(width: int) -> int:
    return int(max(24, round(width / 48)))


def frame_size(image_hw: Tuple[int, int], panes: int) -> Tuple[int, int]:
    """(width, height) of a composed frame for source frames of ``image_hw``: panes side by
    side with a gap, under a title strip of two text lines (before even-size padding)."""
    h, w = image_hw
    gap = 4 if panes > 1 else 0
    total_w = panes * w + (panes - 1) * gap
    return total_w, h + 2 * _strip_height(total_w)


def _put(img: np.ndarray, text: str, x: int, y: int, scale: float, max_w: int) -> None:
    thick = max(1, int(round(scale * 2)))
    while scale > 0.25:
        (tw, _), _ = cv2.getTextSize(text, STRIP_FONT, scale, thick)
        if tw <= max_w:
            break
        scale *= 0.9
    cv2.putText(img, text, (x, y), STRIP_FONT, scale, (255, 255, 255), thick, cv2.LINE_AA)


def compose_frame(panes: Sequence[Pane], overlay_text: str = "", cmap: Optional[str] = None) -> np.ndarray:
    """Panes side by side under a title strip: each pane's caption over it, then one line saying
    what the overlay is (layer, gate, reduction, colour range) with a small colour bar."""
    if not panes:
        raise ValueError("a video frame needs at least one pane")
    h, w = panes[0].image_bgr.shape[:2]
    W, H = frame_size((h, w), len(panes))
    s = _strip_height(W)
    frame = np.zeros((H, W, 3), np.uint8)
    frame[:2 * s] = (32, 32, 32)
    gap = 4 if len(panes) > 1 else 0
    scale = s / 40.0
    for k, p in enumerate(panes):
        img = p.image_bgr
        if img.shape[:2] != (h, w):
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        x = k * (w + gap)
        frame[2 * s:, x:x + w] = img
        _put(frame, p.caption, x + 6, int(s * 0.72), scale, w - 12)
    bar_w = 0
    if cmap and overlay_text:
        bar_w = min(160, W // 5)
        lut = colormap_lut(cmap)[:, ::-1]
        ramp = lut[np.linspace(0, 255, bar_w).astype(int)]
        frame[s + s // 4:2 * s - s // 4, W - bar_w - 6:W - 6] = ramp[None, :, :]
    if overlay_text:
        _put(frame, overlay_text, 6, s + int(s * 0.72), scale * 0.9, W - bar_w - 18)
    return frame


# ----------------------------------------------------------------------------- the whole export
@dataclass
class VideoJob:
    """What a side-by-side video shows (CLI ``export --video`` and the window's *Export > Video*)."""

    source: Union[str, Path]
    out: Union[str, Path]
    model: str                              # left pane (GAM model)
    baseline: Optional[str] = None          # right pane
    overlay: str = "gate"                   # "gate" | "eigen" | "grad" | "none"
    layer: Optional[int] = None             # gate overlay: GAM layer (None: the first one)
    gate: str = "spatial"
    reduce: Union[str, int] = "mean"
    cam_layers: Optional[List[int]] = None  # the GAM model's CAM layers
    cmap: str = "viridis"
    alpha: float = 0.5
    vrange: Optional[Tuple[float, float]] = None   # gate overlay: fixed range (None: per frame, said on the frame)
    conf: float = 0.25
    iou: float = 0.45
    imgsz: Optional[int] = None
    square: bool = False
    every: int = 1
    max_frames: Optional[int] = None
    overwrite: bool = False
    device: str = "cpu"
    channel_sigmoid: Optional[bool] = None
    shuffle: Optional[bool] = None


IMAGE_FPS = 25.0


def _short(spec: str) -> str:
    p = Path(spec)
    return p.stem if p.suffix else spec


def export_video(job: VideoJob, progress=None, on_open=None, warn=None, cancelled=None, models=None) -> "VideoOut":
    """Write ``job.out``; returns the closed :class:`VideoOut` (``message``, ``frames``, ``size``, ``fps``).

    ``on_open(writer, total)`` is called once the codec is chosen; ``progress(done, total)``
    after each frame; ``warn(text)`` for a frame that cannot be read; ``cancelled()`` is polled
    between frames (True: stop, nothing is written). ``models``: already loaded (model, baseline).
    Raises ValueError / FileExistsError with one-line messages.
    """
    from ..inference import load_model
    from ..inference.cam import eigen_cam, grad_cam
    from ..media.sources import SourceError, open_source
    from .figures import value_range

    out = Path(job.out).expanduser()
    if out.exists() and not job.overwrite:
        raise FileExistsError(f"{out}: already exists (not overwritten); use --force or another name")
    check_output_file(out, "--video", overwrite=job.overwrite)   # before any model is read
    if job.overlay not in ("gate", "eigen", "grad", "none"):
        raise VideoError(f"overlay must be gate, eigen, grad or none, got {job.overlay!r}")
    if not 0.0 <= job.alpha <= 1.0:
        raise VideoError(f"--alpha must be in [0, 1], got {job.alpha}")
    if job.vrange is not None and not job.vrange[0] < job.vrange[1]:
        raise VideoError(f"--vrange needs LOW < HIGH, got {job.vrange[0]} {job.vrange[1]}")
    if job.every < 1:
        raise VideoError(f"--every must be at least 1, got {job.every}")
    try:
        src = open_source(job.source)
    except SourceError as exc:
        raise VideoError(f"--source: {exc}") from None
    if src.live:
        src.close()
        raise VideoError(f"--source {job.source}: a live source has no end; record it to a file first")
    try:
        if models is not None:
            det, base = models
        else:
            det = load_model(job.model, device=job.device, channel_sigmoid=job.channel_sigmoid, shuffle=job.shuffle)
            base = load_model(job.baseline, device=job.device, channel_sigmoid=job.channel_sigmoid,
                              shuffle=job.shuffle) if job.baseline else None
        gam_layers = [info.index for info in det.model.gam_layers()]
        layer = None
        if job.overlay == "gate" and gam_layers:
            layer = gam_layers[0] if job.layer is None else job.layer
            if layer not in gam_layers:
                raise VideoError(f"--layers: {layer} is not a GAM layer of {job.model} "
                                 f"(its GAM layers: {', '.join(map(str, gam_layers))})")
    except BaseException:
        src.close()
        raise
    imgsz = job.imgsz or det.default_imgsz
    base_imgsz = job.imgsz or (base.default_imgsz if base else imgsz)
    fps = ((src.fps or IMAGE_FPS) if src.kind == "video" else IMAGE_FPS) / job.every
    total = src.count
    if total is not None:
        total = -(-total // job.every)
        if job.max_frames:
            total = min(total, job.max_frames)
    names = (_short(job.model), _short(job.baseline) if job.baseline else None)
    auto = not job.square
    writer: Optional[VideoOut] = None
    done = index = 0
    try:
        while not (job.max_frames and done >= job.max_frames):
            if cancelled is not None and cancelled():
                raise VideoError(f"{out.name}: cancelled, nothing written")
            try:
                frame = src.read()
            except SourceError as exc:
                if warn is not None:
                    warn(str(exc))
                if src.kind == "video":
                    break
                continue
            if frame is None:
                break
            index += 1
            if (index - 1) % job.every:
                continue
            img = frame.image
            panes, over = [], ""
            for role, d, size, name in (("GAM", det, imgsz, names[0]), ("baseline", base, base_imgsz, names[1])):
                if d is None:
                    continue
                res = d.predict(img, job.conf, job.iou, size, auto=auto)
                values, vr = None, None
                layers = job.cam_layers if d is det else None
                if job.overlay == "eigen":
                    values, vr = eigen_cam(d, img, layers, imgsz=size, auto=auto).image_map(), (0.0, 1.0)
                    over = f"overlay: EigenCAM of each model (relative: 0..1 per frame), {job.cmap}"
                elif job.overlay == "grad" and len(res):
                    values, vr = grad_cam(d, img, res, 0, layers).image_map(), (0.0, 1.0)
                    over = f"overlay: Grad-CAM of each model's top box (relative: 0..1 per frame), {job.cmap}"
                elif layer is not None and d is det:
                    values = res.attention_at(layer).image_map(job.reduce, job.gate)
                    vr = job.vrange or value_range(values)
                    what = f"channel {job.reduce}" if isinstance(job.reduce, int) else f"{job.reduce} over channels"
                    over = (f"overlay: GAM layer {layer} {job.gate} gate ({what}), "
                            f"{'fixed' if job.vrange else 'per-frame'} range [{vr[0]:.3g}, {vr[1]:.3g}], {job.cmap}")
                n = min(len(res), MAX_DRAWN_BOXES)
                pane = pane_image(img, res.boxes[:n], [res.label(k) for k in range(n)], res.classes[:n], values, vr,
                                  job.cmap, job.alpha)
                panes.append(Pane(pane, f"{role}: {name} - {len(res)} box{'es' if len(res) != 1 else ''}"))
            composed = compose_frame(panes, over or "overlay: none (boxes only)", job.cmap if over else None)
            if writer is None:
                writer = VideoOut(out, fps, frame_size(img.shape[:2], len(panes)), overwrite=job.overwrite)
                if on_open is not None:
                    on_open(writer, total)
            writer.write(composed)
            done += 1
            if progress is not None:
                progress(done, total)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        src.close()
    if writer is None:
        raise VideoError(f"--source {job.source}: no frame could be read")
    writer.close()
    return writer
