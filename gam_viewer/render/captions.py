"""Words and names: captions, the channel chart's gate and titles, and export file names.

The window's exports and ``gam-viewer export`` take every caption and every file name from
here, so the same frame exported from either gives the same names and the same words.

File names (``F`` is :func:`frame_stem`: ``bus``, or ``clip_f000120`` for frame 120 of a video)::

    F_gam-L23-heatmap-spatial-mean.png     a GAM layer's gate on the image   (heatmap_name)
    F_gam-L23-chart-mean.png / .csv        its channel gate as bars / values (chart_name)
    F_baseline-eigencam.png                a CAM                             (cam_name)
    F_gam-gradcam-box0.png                 Grad-CAM of detection 0           (cam_name)
    F_composite.png                        boxes | every heatmap             (composite_name)

``gam`` / ``baseline`` are the sides (:data:`SIDES`): the window's left and right pane, the
command line's ``--model`` and ``--baseline``.
"""

import math
import re
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

__all__ = [
    "SIDES", "SIDE_TITLES", "caption_text", "reduction_text", "reduction_tag", "chart_gate", "chart_what",
    "chart_title", "chart_caption", "cam_what", "model_label", "frame_stem", "frame_caption", "safe_name",
    "heatmap_name", "chart_name", "cam_name", "composite_name", "MOVING_KINDS",
]

SIDES = ("gam", "baseline")                         # left pane / --model, right pane / --baseline
SIDE_TITLES = {"gam": "GAM-YOLO", "baseline": "Baseline"}
MOVING_KINDS = ("video", "camera", "stream")        # sources whose frames are named by their index
Range = Tuple[float, float]
Reduction = Union[str, int]                         # "mean", "max" or a channel index


# ----------------------------------------------------------------------------- captions
def _fmt_range(lo: float, hi: float) -> str:
    """``[lo, hi]`` with enough significant digits to tell them apart."""
    big = max(abs(lo), abs(hi))
    sig = 4
    if hi > lo and big > 0:
        sig = max(4, int(math.ceil(math.log10(big / (hi - lo)))) + 3)
    return f"[{lo:.{min(sig, 12)}g}, {hi:.{min(sig, 12)}g}]"


def caption_text(model: str = "", layer: str = "", reduction: str = "", frame: str = "",
                 vrange: Optional[Range] = None, range_mode: str = "frame",
                 clipped: Tuple[bool, bool] = (False, False)) -> str:
    """One caption line: model, layer, reduction, frame and the colour range actually used."""
    parts = []
    if model:
        parts.append(f"model: {model}")
    if layer:
        parts.append(f"layer: {layer}")
    if reduction:
        parts.append(reduction)
    if frame:
        parts.append(f"frame: {frame}")
    if vrange is not None:
        what = "per-frame range" if range_mode == "frame" else "fixed range"
        r = f"{what} {_fmt_range(*vrange)}"
        if any(clipped):
            side = " and ".join(s for s, c in zip(("below", "above"), clipped) if c)
            r += f" (values {side} it drawn in the end colour)"
        parts.append(r)
    return " | ".join(parts)


def reduction_text(gate: str, reduction: Reduction) -> str:
    """``spatial gate, mean over channels`` or ``channel gate, channel 7``."""
    if isinstance(reduction, int) and not isinstance(reduction, bool):
        return f"{gate} gate, channel {reduction}"
    return f"{gate} gate, {reduction} over channels"


def reduction_tag(reduction: Reduction) -> str:
    """The reduction in a file name: ``mean``, ``max`` or ``ch7``."""
    return f"ch{reduction}" if isinstance(reduction, int) and not isinstance(reduction, bool) else str(reduction)


def chart_gate(amap) -> str:
    """The gate the channel chart shows: the channel gate, or the spatial one of a spatial-only block."""
    return "channel" if amap.channel_gate is not None else "spatial"


def chart_what(gate: str, reduction: Optional[str]) -> str:
    """``channel gate, mean over H x W``; ``reduction`` None: the vector at one clicked cell."""
    return f"{gate} gate at one cell" if reduction is None else f"{gate} gate, {reduction} over H x W"


def chart_title(side: str, index: int, name: str, what: str) -> str:
    return f"{SIDE_TITLES.get(side, side)} layer {index} {name}: {what}"


def chart_caption(model: str, frame: str, where: str = "") -> str:
    return caption_text(model, frame=frame) + (f" | {where}" if where else "")


def cam_what(method: str, box_label: Optional[str] = None) -> str:
    """``EigenCAM`` or ``Grad-CAM of person 0.87``."""
    return "EigenCAM" if method == "eigen" else f"Grad-CAM of {box_label}"


def model_label(source) -> str:
    """How a model is named in captions: its file name, or the shipped name as given."""
    text = str(source)
    return Path(text).name or text


def frame_caption(source: str, index: Optional[int] = None, count: Optional[int] = None) -> str:
    """``bus.jpg``, or ``clip.mp4 #120`` when the source has more than one frame."""
    if index is None or count == 1:
        return source
    return f"{source} #{index}"


# ----------------------------------------------------------------------------- file names
def safe_name(text: str) -> str:
    """``text`` with every run of characters other than letters, digits, ``.``, ``_``, ``-`` as ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "frame"


def frame_stem(name: Union[str, Path], index: Optional[int] = None, moving: bool = False,
               siblings: Sequence[Union[str, Path]] = ()) -> str:
    """The ``F`` of every file exported for a frame.

    ``name``: the frame's file (or the source's display name); ``moving``: a video, camera or
    stream frame, named ``<stem>_f<index:06d>``; ``siblings``: the other images exported with
    it (a folder) - when one shares the stem (``a.jpg``, ``a.png``) the extension joins it
    (``a_jpg``).
    """
    p = Path(str(name))
    stem = p.stem or str(name)
    if moving:
        return f"{safe_name(stem)}_f{int(index or 0):06d}"
    if any(Path(str(s)).stem == p.stem and Path(str(s)).name != p.name for s in siblings):
        stem = f"{stem}_{p.suffix.lstrip('.').lower()}"
    return safe_name(stem)


def heatmap_name(stem: str, side: str, layer: int, gate: str, reduction: Reduction) -> str:
    return f"{stem}_{side}-L{layer}-heatmap-{gate}-{reduction_tag(reduction)}.png"


def chart_name(stem: str, side: str, layer: int, reduction: Optional[str], suffix: str = ".png") -> str:
    """``reduction`` None: the chart of one clicked cell (``-chart-cell``)."""
    return f"{stem}_{side}-L{layer}-chart-{reduction or 'cell'}{suffix}"


def cam_name(stem: str, side: str, method: str, box: Optional[int] = None) -> str:
    kind = "eigencam" if method == "eigen" else "gradcam"
    return f"{stem}_{side}-{kind}" + (f"-box{box}" if box is not None else "") + ".png"


def composite_name(stem: str) -> str:
    return f"{stem}_composite.png"
