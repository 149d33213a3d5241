"""Figures of attention maps and CAMs, for the screen and for papers (numpy, cv2, matplotlib Agg).

Small building blocks the Qt panel shares with the exports (colour tables are
:mod:`render.colormaps`, boxes :mod:`render.boxes`, captions :mod:`render.captions`):

* :func:`value_range` - the value range of a map, per frame or fixed, never assumed [0, 1];
* :func:`apply_colormap`, :func:`overlay` - colour a map and blend it on the image;
* :func:`channel_bars` - a channel vector sorted / cut to the top k, with channel ids.

and renderers that return RGB uint8 arrays (matplotlib's ``Figure`` + Agg canvas, no pyplot
state, no display):

* :func:`heatmap_figure` - the image with the map overlaid at the source's resolution (image
  pixels are copied 1:1, not resampled), a colour bar of the real values and a caption;
* :func:`channel_chart_figure` (+ :func:`channel_csv`) - the channel weights as bars;
* :func:`composite_figure` - image(s) with boxes | a grid of per-layer heatmaps.

Conventions: images passed in are BGR (what cv2 and the engine use); rendered figures are
RGB (what matplotlib and Qt use); :func:`save_png` takes RGB. Colour ranges are never
clipped silently: values outside a fixed range are drawn with the end colours, and the
colour bar gets a triangle at that end, and the caption says so.

Files are written atomically (temp file in the same folder, flushed, then moved into
place) and never overwrite: by default an existing name raises FileExistsError;
``overwrite=True`` replaces it atomically; :func:`free_path` finds the next free name
(``name-1.png``, ``name-2.png``, ...) for callers that prefer a suffix (the GUI's Save).
"""

import csv
import io
import math
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from ..fsutil import write_atomic
from .boxes import draw_boxes
from .captions import caption_text
from .colormaps import DEFAULT_COLORMAP, check_cmap, colormap_lut

__all__ = [
    "value_range", "colour_index", "apply_colormap", "overlay", "out_of_range", "channel_bars", "HeatPanel", "ImagePanel",
    "heatmap_figure", "channel_chart_figure", "channel_csv", "composite_figure",
    "encode_png", "write_atomic", "save_png", "save_text", "free_path",
]

Range = Tuple[float, float]


# ----------------------------------------------------------------------------- ranges and colouring
def value_range(values: np.ndarray, mode: str = "frame", fixed: Optional[Range] = None) -> Range:
    """The (lo, hi) colour range of ``values``.

    ``mode="frame"``: the finite min and max of this map (community gates are unbounded:
    nothing is assumed about [0, 1]). ``mode="fixed"``: ``fixed`` as given (validated).
    A constant map gets a tiny symmetric range around its value so it can be drawn.
    """
    if mode == "fixed":
        if fixed is None or len(fixed) != 2:
            raise ValueError("a fixed value range needs (low, high)")
        lo, hi = float(fixed[0]), float(fixed[1])
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
            raise ValueError(f"fixed value range must have finite low < high, got ({lo}, {hi})")
        return lo, hi
    if mode != "frame":
        raise ValueError(f"value range mode must be 'frame' or 'fixed', got {mode!r}")
    v = np.asarray(values)
    ok = np.isfinite(v)
    finite = v if ok.all() else v[ok]
    if finite.size == 0:
        raise ValueError("the map has no finite values")
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        d = max(abs(lo) * 1e-3, 1e-6)
        lo, hi = lo - d, hi + d
    return lo, hi


def out_of_range(values: np.ndarray, vrange: Range) -> Tuple[bool, bool]:
    """(some values below the range, some above): where a colour bar needs an arrow."""
    v = np.asarray(values)
    return bool(np.nanmin(v) < vrange[0]), bool(np.nanmax(v) > vrange[1])


def colour_index(values: np.ndarray, vrange: Range) -> np.ndarray:
    """uint8 LUT index (0..255) of each value over ``vrange`` (NaN -> 0, outside -> the ends)."""
    lo, hi = vrange
    a = np.subtract(values, np.float32(lo), dtype=np.float32)
    a *= np.float32(255.0 / (hi - lo))
    a += np.float32(0.5)
    np.clip(a, 0.0, 255.0, out=a)
    if not np.isfinite(a).all():
        np.nan_to_num(a, copy=False, nan=0.0)
    return a.astype(np.uint8)


@lru_cache(maxsize=None)
def _lut_cv(name: str, order: str) -> np.ndarray:
    lut = colormap_lut(name)
    lut = lut[:, ::-1] if order == "bgr" else lut   # cv2.applyColorMap writes the table's channels as given
    return np.ascontiguousarray(lut.reshape(256, 1, 3))


def apply_colormap(values: np.ndarray, cmap: str = DEFAULT_COLORMAP, vrange: Optional[Range] = None,
                   channel_order: str = "rgb") -> np.ndarray:
    """Colour a 2-D map: (H, W, 3) uint8 in ``channel_order`` ("rgb" or "bgr")."""
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"a heatmap must be 2-D (H x W), got shape {values.shape}")
    if channel_order not in ("rgb", "bgr"):
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
    vrange = vrange or value_range(values)
    return cv2.applyColorMap(colour_index(values, vrange), _lut_cv(check_cmap(cmap), channel_order))


def overlay(image: np.ndarray, values: np.ndarray, cmap: str = DEFAULT_COLORMAP, vrange: Optional[Range] = None,
            alpha: float = 0.5, channel_order: str = "bgr") -> np.ndarray:
    """Blend the coloured map onto ``image`` (H x W x 3 uint8, same size): (1-alpha)*image + alpha*colour.

    ``channel_order`` is the image's ("bgr" for cv2 frames); the result uses the same order.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"overlay needs an H x W x 3 uint8 image, got {image.dtype} {image.shape}")
    if np.shape(values)[:2] != image.shape[:2] or np.ndim(values) != 2:
        raise ValueError(f"map shape {np.shape(values)} does not match the image {image.shape[:2]}; "
                         "resample it onto the image first (AttentionMap.image_map / CamMap.image_map)")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"opacity must be in [0, 1], got {alpha}")
    colour = apply_colormap(values, cmap, vrange, channel_order)
    return cv2.addWeighted(image, 1.0 - float(alpha), colour, float(alpha), 0.0)


# ----------------------------------------------------------------------------- channel vectors
def channel_bars(values: np.ndarray, sort: bool = False, top_k: Optional[int] = None
                 ) -> Tuple[np.ndarray, np.ndarray]:
    """(channel ids, values) in display order: as is, or sorted descending, optionally the top k.

    ``top_k`` keeps the k largest values (sorted descending when ``sort``, else in channel
    order).
    """
    v = np.asarray(values, dtype=np.float32).reshape(-1)
    ids = np.arange(v.size)
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise ValueError(f"top-k must be a positive integer, got {top_k!r}")
        keep = np.argsort(-v, kind="stable")[: int(top_k)]
        ids = keep if sort else np.sort(keep)
    elif sort:
        ids = np.argsort(-v, kind="stable")
    return ids, v[ids]


def channel_csv(ids: np.ndarray, values: np.ndarray, value_name: str = "value") -> str:
    """CSV text ``rank,channel,<value_name>`` with full float precision (display order)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["rank", "channel", value_name])
    for r, (c, v) in enumerate(zip(ids, values)):
        w.writerow([r, int(c), repr(float(v))])
    return buf.getvalue()


# ----------------------------------------------------------------------------- matplotlib helpers
def _figure(width_px: int, height_px: int, dpi: int = 100):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def _render(fig) -> np.ndarray:
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    return np.ascontiguousarray(rgba[:, :, :3])


def _decimals(ticks: np.ndarray, step: float) -> Optional[int]:
    """Fewest decimals that print every tick exactly (None: more than 8 are needed)."""
    for d in range(0, 9):
        if np.all(np.abs(np.round(ticks, d) - ticks) < step * 1e-3):
            return d
    return None


def _tick_formatter(lo: float, hi: float):
    """Plain tick labels with just enough decimals for the ticks of [lo, hi] (no offset notation,
    which hides the real values of near-constant gates)."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ticks = np.asarray(MaxNLocator(nbins=6).tick_values(lo, hi), dtype=np.float64)
    step = float(np.min(np.diff(ticks))) if len(ticks) > 1 else (abs(hi - lo) or 1.0)
    big = max(abs(lo), abs(hi))
    d = _decimals(ticks, step)
    if big >= 1e6:
        return FuncFormatter(lambda v, _: f"{v:.4g}")
    if d is None:
        sig = int(math.ceil(math.log10(max(big, 1e-30) / step))) + 1 if big > 0 else 3
        return FuncFormatter(lambda v, _: f"{v:.{max(sig, 2)}g}" if abs(v) >= step / 2 else "0")
    return FuncFormatter(lambda v, _: f"{v:.{d}f}")


def _colorbar_bins(height_px: float, fontsize_pt: float, dpi: int = 100) -> int:
    """How many tick intervals fit a colour bar ``height_px`` tall without labels overlapping."""
    label_px = fontsize_pt * dpi / 72 * 1.8
    return int(np.clip(height_px // label_px, 1, 6))


def _colorbar(fig, cax, cmap: str, vrange: Range, clipped: Tuple[bool, bool], label: str, fontsize: float,
              ax=None, height_px: Optional[float] = None):
    """A colour bar in ``cax``, or stolen from ``ax`` (layout-managed) when ``cax`` is None.
    ``height_px``: the bar's height, which bounds the number of tick labels (wide images)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap, Normalize
    from matplotlib.ticker import MaxNLocator

    extend = {(False, False): "neither", (True, False): "min", (False, True): "max", (True, True): "both"}[
        tuple(bool(c) for c in clipped)]
    table = ListedColormap(colormap_lut(cmap, np.float32), name=cmap)   # the very colours of the image
    sm = ScalarMappable(norm=Normalize(vmin=vrange[0], vmax=vrange[1]), cmap=table)
    if cax is not None:
        cb = fig.colorbar(sm, cax=cax, extend=extend)
    else:
        cb = fig.colorbar(sm, ax=ax, extend=extend, fraction=0.05, pad=0.02, aspect=25)
    cb.locator = MaxNLocator(nbins=6 if height_px is None else _colorbar_bins(height_px, fontsize))
    cb.formatter = _tick_formatter(*vrange)
    cb.update_ticks()
    cb.ax.tick_params(labelsize=fontsize, length=fontsize * 0.4, width=max(0.6, fontsize / 14))
    cb.outline.set_linewidth(max(0.6, fontsize / 14))
    if label:
        cb.set_label(label, fontsize=fontsize)
    return cb


def _wrap(text: str, width_px: float, fontsize_pt: float, dpi: int = 100) -> str:
    char_px = 0.55 * fontsize_pt * dpi / 72
    return "\n".join(textwrap.fill(part, max(20, int(width_px / char_px))) for part in text.split("\n"))


# ----------------------------------------------------------------------------- figures
def heatmap_figure(image_bgr: np.ndarray, values: np.ndarray, *, cmap: str = DEFAULT_COLORMAP,
                   vrange: Optional[Range] = None, range_mode: str = "frame", alpha: float = 0.5,
                   caption: str = "", label: str = "gate value", boxes: Optional[np.ndarray] = None,
                   box_labels: Optional[Sequence[str]] = None, box_classes: Optional[Sequence[int]] = None,
                   dpi: int = 100) -> np.ndarray:
    """The overlay at the image's own resolution, a colour bar of the real values and a caption.

    ``caption`` (e.g. from :func:`caption_text` without a range) gets the colour range used
    appended, with a note when values fall outside it.

    ``values`` is the map on the image (H x W, e.g. ``AttentionMap.image_map``). The image
    area of the result is the overlay pixel for pixel (top-left at ``(margin, margin)``,
    see :func:`heatmap_layout`). ``vrange`` None: per-frame range. Returns RGB uint8.
    """
    check_cmap(cmap)
    h, w = image_bgr.shape[:2]
    vrange = vrange or value_range(values)
    clipped = out_of_range(values, vrange)
    blended = overlay(image_bgr, values, cmap, vrange, alpha)
    if boxes is not None and len(boxes):
        blended = draw_boxes(blended, boxes, box_labels, box_classes)
    lay = heatmap_layout(h, w)
    fs = lay["fontsize"]
    rng = caption_text(vrange=vrange, range_mode=range_mode, clipped=clipped)
    caption = f"{caption} | {rng}" if caption else rng
    text = _wrap(caption, lay["width"] - 2 * lay["margin"], fs, dpi)
    n_lines = text.count("\n") + 1
    cap_h = int(math.ceil(n_lines * fs * 1.45 * dpi / 72)) + lay["margin"]
    fig_w, fig_h = lay["width"], h + 2 * lay["margin"] + cap_h
    fig = _figure(fig_w, fig_h, dpi)
    m = lay["margin"]
    cb_x = m + w + lay["gap"]
    ax = fig.add_axes((cb_x / fig_w, (fig_h - m - h) / fig_h, lay["bar"] / fig_w, h / fig_h))
    _colorbar(fig, ax, cmap, vrange, clipped, label, fs, height_px=h)
    fig.text(m / fig_w, (cap_h - m * 0.5) / fig_h, text, ha="left", va="top", fontsize=fs,
             family="DejaVu Sans", linespacing=1.3)
    out = _render(fig)
    # the image, unresampled, pasted into the rendered figure pixel for pixel: matplotlib's
    # figimage would do the same through float RGBA copies (~120 bytes per pixel, 1.5 GB for
    # a 4096 x 3072 image); nothing else is drawn in this area
    out[m:m + h, m:m + w] = blended[:, :, ::-1]
    return out


def heatmap_layout(h: int, w: int, dpi: int = 100) -> dict:
    """Pixel layout of :func:`heatmap_figure` for an H x W image: font size (pt), margin,
    gap, colour-bar width and the figure width. The image sits at x = y = margin."""
    long_side = max(h, w)
    fs = float(np.clip(long_side / 60.0, 8.0, 28.0))      # points
    fs_px = fs * dpi / 72
    margin = int(round(max(6, fs_px * 0.8)))
    gap = int(round(fs_px * 0.8))
    bar = int(round(max(10, fs_px * 1.2)))
    labels = int(round(fs_px * 8.5))                      # tick labels (up to ~10 characters) + axis label
    return {"fontsize": fs, "margin": margin, "gap": gap, "bar": bar,
            "width": margin + w + gap + bar + labels + margin}


def channel_chart_figure(values: np.ndarray, *, sort: bool = False, top_k: Optional[int] = None,
                         title: str = "", caption: str = "", ylabel: str = "channel gate",
                         size: Tuple[int, int] = (1200, 520), dpi: int = 100,
                         marked: Optional[int] = None) -> np.ndarray:
    """Bar chart of a channel vector (real values, bars from 0). ``marked``: a channel id to highlight.

    Returns RGB uint8 of ``size`` (width, height) pixels.
    """
    ids, vals = channel_bars(values, sort, top_k)
    width, height = size
    fig = _figure(width, height, dpi)
    fs = float(np.clip(height / 45, 8, 16))
    ax = fig.add_axes((0.08, 0.2 if caption else 0.13, 0.9, 0.68 if caption else 0.75))
    x = np.arange(len(ids))
    colours = np.where(vals >= 0, "#3465a4", "#c0392b").astype(object)
    if marked is not None:
        colours[ids == marked] = "#f0a30a"
    px_per_bar = 0.9 * width / max(len(ids), 1)
    dense = px_per_bar < 6          # gaps of a pixel or less alias into stripes: draw touching bars
    ax.bar(x, vals, width=1.0 if dense else 0.85, color=list(colours), linewidth=0, antialiased=not dense)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlim(-0.6, len(ids) - 0.4)
    lo, hi = float(min(0.0, vals.min())), float(max(0.0, vals.max()))
    pad = (hi - lo) * 0.05 or 1e-6
    ax.set_ylim(lo - (pad if lo < 0 else 0), hi + pad)
    ax.yaxis.set_major_formatter(_tick_formatter(lo, hi))
    ax.set_ylabel(ylabel, fontsize=fs)
    ordered = sort or top_k is not None
    if len(ids) <= 64:
        ax.set_xticks(x)
        ax.set_xticklabels([str(int(c)) for c in ids], rotation=90 if len(ids) > 16 else 0, fontsize=fs * 0.75)
        ax.set_xlabel("channel" + (" (sorted by value)" if sort else ""), fontsize=fs)
    else:
        ax.set_xlabel("rank (sorted by value)" if ordered and sort else "channel", fontsize=fs)
    ax.tick_params(labelsize=fs * 0.85)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, fontsize=fs * 1.1)
    if caption:
        fig.text(0.01, 0.015, _wrap(caption, width * 0.98, fs * 0.85, dpi), fontsize=fs * 0.85, ha="left", va="bottom")
    return _render(fig)


@dataclass
class HeatPanel:
    """One heatmap panel of a composite: a map on the image plus how to colour it."""

    title: str
    values: np.ndarray                  # (H0, W0): on the image, like AttentionMap.image_map
    vrange: Optional[Range] = None      # None: per-frame
    label: str = ""


@dataclass
class ImagePanel:
    """One image panel of a composite (e.g. the frame with a model's boxes)."""

    title: str
    image_bgr: np.ndarray


def composite_figure(images: Sequence[ImagePanel], panels: Sequence[HeatPanel], background_bgr: np.ndarray,
                     *, cmap: str = DEFAULT_COLORMAP, alpha: float = 0.5, caption: str = "", columns: Optional[int] = None,
                     panel_width: int = 480, dpi: int = 100) -> np.ndarray:
    """Image panels in the left column | a grid of heatmaps overlaid on ``background_bgr``.

    Each heatmap has its own colour bar with its real values (per-panel ``vrange``, None =
    per-frame). ``panel_width`` is the approximate width of one panel in pixels. Returns RGB uint8.
    """
    check_cmap(cmap)
    if not images and not panels:
        raise ValueError("a composite needs at least one panel")
    h0, w0 = background_bgr.shape[:2]
    aspect = h0 / w0
    n = len(panels)
    cols = columns or (min(n, 3) if n else 0)
    rows = max(len(images), int(math.ceil(n / cols)) if n else 0, 1)
    left = 1 if images else 0
    fs = 10.0
    cell_w = panel_width
    # a very wide image still gets panels tall enough for a readable colour bar
    image_h = max(panel_width * aspect, 120.0)
    cell_h = image_h + 40
    fig_w = int(left * (cell_w + 60) + cols * (cell_w + 110) + 20)
    text = _wrap(caption, fig_w - 30, fs, dpi) if caption else ""
    cap_h = (text.count("\n") + 1) * fs * 1.6 * dpi / 72 if text else 0
    fig_h = int(rows * cell_h + cap_h + 20)
    fig = _figure(fig_w, fig_h, dpi)
    fig.set_layout_engine("constrained", w_pad=4 / dpi, h_pad=4 / dpi, wspace=0.02, hspace=0.02)
    gs = fig.add_gridspec(rows, left + cols, width_ratios=[cell_w + 60] * left + [cell_w + 110] * cols)
    for r, panel in enumerate(images):
        ax = fig.add_subplot(gs[r, 0])
        ax.imshow(panel.image_bgr[:, :, ::-1], interpolation="antialiased")
        ax.set_title(panel.title, fontsize=fs)
        ax.set_axis_off()
    for k, panel in enumerate(panels):
        r, c = divmod(k, cols)
        ax = fig.add_subplot(gs[r, left + c])
        vrange = panel.vrange or value_range(panel.values)
        clipped = out_of_range(panel.values, vrange)
        ax.imshow(overlay(background_bgr, panel.values, cmap, vrange, alpha)[:, :, ::-1], interpolation="antialiased")
        ax.set_title(panel.title, fontsize=fs)
        ax.set_axis_off()
        _colorbar(fig, None, cmap, vrange, clipped, panel.label, fs * 0.85, ax=ax, height_px=image_h)
    if text:
        fig.supxlabel(text, x=0.01, ha="left", fontsize=fs)
    return _render(fig)


# ----------------------------------------------------------------------------- files
def encode_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an RGB (H x W x 3) or grey (H x W) uint8 array."""
    a = np.asarray(rgb)
    if a.dtype != np.uint8 or a.ndim not in (2, 3):
        raise ValueError(f"PNG export needs a uint8 image, got {a.dtype} {a.shape}")
    ok, buf = cv2.imencode(".png", a[:, :, ::-1] if a.ndim == 3 else a)
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def save_png(rgb: np.ndarray, path: Union[str, Path], overwrite: bool = False) -> Path:
    """Save an RGB uint8 array as PNG atomically (see :func:`write_atomic`)."""
    return write_atomic(path, encode_png(rgb), overwrite)


def save_text(text: str, path: Union[str, Path], overwrite: bool = False) -> Path:
    """Save UTF-8 text atomically (see :func:`write_atomic`)."""
    return write_atomic(path, text.encode("utf-8"), overwrite)


def free_path(path: Union[str, Path]) -> Path:
    """``path`` if no file has that name, else the first free ``stem-1.ext``, ``stem-2.ext``, ..."""
    path = Path(path)
    if not path.exists():
        return path
    for k in range(1, 100000):
        p = path.with_name(f"{path.stem}-{k}{path.suffix}")
        if not p.exists():
            return p
    raise FileExistsError(f"{path}: no free numbered name left")
