"""The paper figure grid: one row per image, one column per view, one colour scale per quantity.

    columns = parse_columns("input,baseline-cam,model-cam,L19,L23")
    rows = collect_rows(columns, images, model, baseline, GridOptions(...))   # runs the models
    fig = render_grid(columns, rows, width="double")                           # no models needed
    data = figure_bytes(fig, "pdf", dpi=300)

Column names (comma separated, case-insensitive):

``input``           the image with the GAM model's boxes; ``input:baseline`` with the baseline's,
                    ``input:none`` without boxes;
``model-cam``       the GAM model's CAM; ``baseline-cam`` the baseline's (method: ``--cam``);
``L19``             GAM layer 19's *spatial* gate, mean over channels;
``L19:channel``     the layer's *channel* gate reduced over channels (mean) - its spatial pattern;
``L19:spatial:max`` a reduction over channels: ``mean`` (default), ``max``, ``min``, ``std``, or
                    one channel ``c12``; ``L19:max`` is short for ``L19:spatial:max``.

Colour scales (the rule reviewers ask for): every heat column of one *quantity* shares one
colour scale across all rows and both models, with one colour bar per scale:

* ``cam``: both models' CAM columns (CAM values are relative: grad-cam scales each map to
  [0, 1] on the network input; the shared range is the min..max over all CAM cells);
* ``spatial`` / ``channel``: every layer column of that gate kind (a ``std`` reduction
  has its own scale: it is a spread, not a gate value).

The range is the min..max over every cell of the scale (on the image, letterbox padding
already cropped). A scale whose values go below zero (community channel gates are signed and
unbounded) uses a diverging map centred at 0 with a symmetric range. With ``per_image=True``
each row gets its own range per quantity (still shared by the models within the row) and
the figure says so. The normalisation is written under the colour bars.

Colour maps: perceptually uniform and colour-blind safe only - ``viridis`` family and
``cividis`` for sequential scales, Crameri's ``berlin`` (diverging, dark at 0) for signed ones.

Output: PDF and SVG with vector text and boxes and the heat images embedded unresampled at
the image's own resolution; PNG at any dpi (300 / 600 for papers). Widths: one column
(85 mm) or two columns (175 mm). Metadata with dates or versions is left out, so the same
inputs give the same bytes (the regenerate-from-sidecar test compares PNG bytes).

No Qt. Models run only in :func:`collect_rows` (imported lazily).
"""

from __future__ import annotations

import io
import math
import re
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..fsutil import sha256_file
from .boxes import MAX_DRAWN_BOXES
from .figures import colour_index
from .palette import class_rgb

__all__ = [
    "GridError", "Column", "Cell", "Row", "Scale", "GridFigure", "GridOptions", "parse_columns",
    "collect_rows", "render_grid", "figure_bytes", "sidecar", "check_outputs", "WIDTHS_MM", "FORMATS",
    "SEQUENTIAL_CMAPS", "DIVERGING_CMAP", "MAX_LABELLED_BOXES",
]

#: figure widths in millimetres (journal one- and two-column widths)
WIDTHS_MM = {"single": 85.0, "double": 175.0}
FORMATS = ("pdf", "svg", "png")
#: colour map of each quantity when its values are not signed
SEQUENTIAL_CMAPS = {"cam": "inferno", "spatial": "viridis", "channel": "cividis", "std": "magma"}
#: signed quantities: a diverging, perceptually uniform map (Crameri), centred at 0
DIVERGING_CMAP = "berlin"
REDUCTIONS = ("mean", "max", "min", "std")
MAX_LABELLED_BOXES = 30

_FONT = "DejaVu Sans"
_TITLE_PT = 6.5
_SMALL_PT = 5.5


class GridError(ValueError):
    """A bad column, image or option: one line naming it."""


# ----------------------------------------------------------------------------- columns
@dataclass(frozen=True)
class Column:
    """One column of the grid, parsed from its name."""

    spec: str                       # as the user wrote it
    kind: str                       # "input" | "cam" | "gate"
    role: str = "model"             # input / cam: "model" | "baseline" | "none" (input without boxes)
    layer: Optional[int] = None     # gate: the GAM layer index
    gate: str = "spatial"           # gate: "spatial" | "channel"
    reduce: Union[str, int] = "mean"   # gate: reduction over channels, or one channel index

    @property
    def scale_key(self) -> Optional[str]:
        """Which colour scale the column uses (None: no heat map)."""
        if self.kind == "cam":
            return "cam"
        if self.kind == "gate":
            return f"{self.gate}:std" if self.reduce == "std" else self.gate
        return None

    @property
    def reduce_text(self) -> str:
        return f"channel {self.reduce}" if isinstance(self.reduce, int) else f"{self.reduce} over channels"

    def title(self, model: str = "GAM model", baseline: str = "baseline", cam: str = "CAM") -> str:
        if self.kind == "input":
            return {"model": f"input + {model} boxes", "baseline": f"input + {baseline} boxes",
                    "none": "input"}[self.role]
        if self.kind == "cam":
            return f"{model if self.role == 'model' else baseline}\n{cam}"
        short = f"channel {self.reduce}" if isinstance(self.reduce, int) else f"{self.reduce} over C"
        return f"L{self.layer} {self.gate} gate\n({short})"


_LAYER_RE = re.compile(r"^l(\d+)$")


def _parse_one(text: str) -> Column:
    raw = text.strip()
    name = raw.lower()
    if not name:
        raise GridError("--columns: an empty column name (two commas in a row?)")
    if name in ("input", "input:model"):
        return Column(raw, "input", "model")
    if name == "input:baseline":
        return Column(raw, "input", "baseline")
    if name in ("input:none", "input:plain"):
        return Column(raw, "input", "none")
    if name in ("model-cam", "baseline-cam"):
        return Column(raw, "cam", name.split("-")[0])
    parts = name.split(":")
    m = _LAYER_RE.match(parts[0])
    if not m:
        raise GridError(f"--columns: unknown column {raw!r} (use input, input:baseline, input:none, model-cam, "
                        "baseline-cam, or a GAM layer like L19, L19:channel, L19:spatial:max, L19:c5)")
    gate, reduce = None, None
    for p in parts[1:]:
        if p in ("spatial", "channel") and gate is None:
            gate = p
        elif p in REDUCTIONS and reduce is None:
            reduce = p
        elif re.fullmatch(r"c\d+", p) and reduce is None:
            reduce = int(p[1:])
        else:
            raise GridError(f"--columns: {raw!r}: {p!r} is not a gate (spatial, channel) or a reduction "
                            f"({', '.join(REDUCTIONS)}, or cK for channel K), or is given twice")
    return Column(raw, "gate", "model", int(m.group(1)), gate or "spatial", "mean" if reduce is None else reduce)


def parse_columns(text: Union[str, Sequence[str]]) -> List[Column]:
    """``"input,model-cam,L19"`` (or a list of names) -> columns; GridError names a bad one."""
    names = text.split(",") if isinstance(text, str) else [n for t in text for n in str(t).split(",")]
    cols = [_parse_one(n) for n in names]
    if not cols:
        raise GridError("--columns: no columns given")
    return cols


# ----------------------------------------------------------------------------- cells and rows
@dataclass
class Cell:
    """What one grid cell shows: the row's image, a heat map over it, boxes, or a note."""

    values: Optional[np.ndarray] = None        # (H0, W0) map on the original image; None: the image itself
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))   # xyxy, image pixels
    labels: Sequence[str] = ()
    classes: Sequence[int] = ()
    note: str = ""                             # shown over the cell, e.g. "no detections"


@dataclass
class Row:
    label: str
    image_bgr: np.ndarray
    cells: List[Cell]


@dataclass
class Scale:
    """One colour scale: which columns use it, its map and range(s)."""

    key: str
    label: str
    cmap: str
    signed: bool
    per_image: bool
    vrange: Tuple[float, float]                      # shared range (per_image: (0, 1), the normalised range)
    row_ranges: List[Optional[Tuple[float, float]]] = field(default_factory=list)   # per-image ranges
    columns: List[str] = field(default_factory=list)

    def range_for(self, row: int) -> Tuple[float, float]:
        return self.row_ranges[row] if self.per_image else self.vrange

    def describe(self) -> str:
        cols = ", ".join(self.columns)
        kind = f"{self.cmap}, diverging at 0 (signed values)" if self.signed else self.cmap
        if self.per_image:
            return (f"{self.label} ({cols}): {kind}; PER-IMAGE scaling, as asked: each row stretched to its own "
                    f"{'max |value|' if self.signed else 'min..max'} (shared within the row), so colours are "
                    "not comparable between rows")
        lo, hi = self.vrange
        how = "+-max |value|" if self.signed else "min..max"
        return (f"{self.label} ({cols}): {kind}; one scale for all rows and models, "
                f"[{_num(lo)}, {_num(hi)}] = {how} over these cells")

    def as_json(self) -> dict:
        return {"key": self.key, "label": self.label, "cmap": self.cmap, "signed": self.signed,
                "per_image": self.per_image, "range": list(self.vrange), "columns": self.columns,
                "row_ranges": [list(r) if r else None for r in self.row_ranges] if self.per_image else None}


def _num(v: float) -> str:
    return f"{v:.4g}"


def _scale_label(key: str, cam_label: str) -> str:
    if key == "cam":
        return f"{cam_label}, relative"
    gate, _, std = key.partition(":")
    return f"{gate} gate" + (" (std over channels)" if std else "")


def _range_of(arrays: Sequence[np.ndarray]) -> Optional[Tuple[float, float]]:
    lo, hi = math.inf, -math.inf
    for a in arrays:
        f = a[np.isfinite(a)]
        if f.size:
            lo, hi = min(lo, float(f.min())), max(hi, float(f.max()))
    if not math.isfinite(lo):
        return None
    return lo, hi


def _finish_range(r: Optional[Tuple[float, float]], signed: bool) -> Tuple[float, float]:
    if r is None:
        return (0.0, 1.0)
    lo, hi = r
    if signed:
        m = max(abs(lo), abs(hi)) or 1e-6
        return -m, m
    if hi <= lo:
        d = max(abs(lo) * 1e-3, 1e-6)
        return lo - d, hi + d
    return lo, hi


def make_scales(columns: Sequence[Column], rows: Sequence[Row], per_image: bool = False,
                cam_label: str = "CAM") -> Dict[str, Scale]:
    """One :class:`Scale` per quantity, from every cell that uses it."""
    scales: Dict[str, Scale] = {}
    for j, col in enumerate(columns):
        key = col.scale_key
        if key is None:
            continue
        if key not in scales:
            scales[key] = Scale(key, _scale_label(key, cam_label), "", False, per_image, (0.0, 1.0))
        scales[key].columns.append(col.spec)
    for key, sc in scales.items():
        idx = [j for j, c in enumerate(columns) if c.scale_key == key]
        per_row = [[rows[i].cells[j].values for j in idx if rows[i].cells[j].values is not None]
                   for i in range(len(rows))]
        shared = _range_of([a for r in per_row for a in r])
        sc.signed = shared is not None and shared[0] < 0
        base = key.split(":")[0] if ":" not in key else "std"
        sc.cmap = DIVERGING_CMAP if sc.signed else SEQUENTIAL_CMAPS[base]
        if per_image:
            sc.row_ranges = [(_finish_range(_range_of(r), sc.signed) if r else None) for r in per_row]
            sc.vrange = (-1.0, 1.0) if sc.signed else (0.0, 1.0)
        else:
            sc.vrange = _finish_range(shared, sc.signed)
    return scales


# ----------------------------------------------------------------------------- rendering
def cmap_lut(name: str) -> np.ndarray:
    """(256, 3) uint8 RGB table of a colour map: the table :func:`render.colormaps.colormap_lut` serves
    the window's maps from, for the figure-only diverging map too (read-only, cached there)."""
    from .colormaps import sampled_lut

    return sampled_lut(name)


def heat_rgb(image_bgr: np.ndarray, values: np.ndarray, cmap: str, vrange: Tuple[float, float],
             alpha: float) -> np.ndarray:
    """RGB uint8: the coloured map blended over the image, (1 - alpha) * image + alpha * colour."""
    import cv2

    if np.shape(values) != image_bgr.shape[:2]:
        raise GridError(f"map shape {np.shape(values)} does not match the image {image_bgr.shape[:2]}")
    colour = cmap_lut(cmap)[colour_index(np.asarray(values, np.float32), vrange)]
    if alpha >= 1.0:
        return colour
    return cv2.addWeighted(np.ascontiguousarray(image_bgr[:, :, ::-1]), 1.0 - float(alpha), colour, float(alpha), 0.0)


@dataclass
class GridFigure:
    """A rendered grid: the matplotlib figure and where everything is (for tests and callers)."""

    fig: object
    size_mm: Tuple[float, float]
    cells: Dict[Tuple[int, int], Tuple[float, float, float, float]]   # (row, col) -> (x0, y0, x1, y1) fig fraction, y down
    colorbars: Dict[str, object]                                       # scale key -> colour bar axes
    scales: Dict[str, Scale]
    images: list                                                       # AxesImage artists (interpolation per format)
    notes: List[str]
    columns: List[Column] = field(default_factory=list)


def _mm(v: float) -> float:
    return v / 25.4


def _pt(v: float) -> float:
    return v / 72.0


def _wrap_lines(text: str, width_in: float, pt: float) -> List[str]:
    chars = max(8, int(width_in * 72 / (0.55 * pt)))
    out: List[str] = []
    for para in text.split("\n"):
        out += textwrap.wrap(para, chars, break_on_hyphens=False) or [""]
    return out


def _fit_label(text: str, height_in: float, pt: float) -> Tuple[str, float]:
    """A row label that fits along a row ``height_in`` tall: smaller type, then shortened with an ellipsis."""
    def length(t: str, p: float) -> float:
        return len(t) * 0.55 * p / 72

    for p in (pt, pt * 0.85, pt * 0.7):
        if length(text, p) <= height_in * 0.95:
            return text, p
    p = pt * 0.7
    keep = max(3, int(height_in * 0.95 / (0.55 * p / 72)) - 1)
    return text[:keep] + "\u2026", p


def render_grid(columns: Sequence[Column], rows: Sequence[Row], *, width: Union[str, float] = "double",
                per_image: bool = False, alpha: float = 0.5, titles: Optional[Sequence[str]] = None,
                notes: Sequence[str] = (), cam_label: str = "CAM", raster_max: Optional[int] = None) -> GridFigure:
    """Lay out the grid (no models run here). ``width``: "single", "double" or millimetres.

    ``alpha``: opacity of the heat map over the image (1: the map alone). ``titles``: one per
    column (default :meth:`Column.title`). ``notes``: lines written under the colour bars
    after the normalisation (models, thresholds...). ``raster_max``: downsample heat images
    whose long side exceeds it (default: native resolution).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    if not rows:
        raise GridError("a figure grid needs at least one image")
    if not columns:
        raise GridError("a figure grid needs at least one column")
    for r in rows:
        if len(r.cells) != len(columns):
            raise GridError(f"row {r.label!r} has {len(r.cells)} cells for {len(columns)} columns")
    if not 0.0 <= float(alpha) <= 1.0:
        raise GridError(f"--alpha must be in [0, 1], got {alpha}")
    try:
        width_mm = WIDTHS_MM[width] if width in WIDTHS_MM else float(width)
    except (TypeError, ValueError):
        width_mm = None
    if width_mm is None or not 30 <= width_mm <= 500:
        raise GridError(f"--width must be single, double or 30..500 mm, got {width!r}")
    titles = list(titles) if titles is not None else [c.title() for c in columns]
    titles = [str(t) for t in titles]
    if len(titles) != len(columns):
        raise GridError(f"{len(titles)} titles for {len(columns)} columns")
    scales = make_scales(columns, rows, per_image, cam_label)

    ncol = len(columns)
    W = _mm(width_mm)
    left, right, hgap, vgap = _pt(_TITLE_PT) * 1.6, 0.03, 0.025, 0.025
    cell_w = (W - left - right - (ncol - 1) * hgap) / ncol
    if cell_w < 0.25:
        raise GridError(f"{ncol} columns do not fit in {width_mm:g} mm (try --width double or fewer columns)")
    title_pt = _TITLE_PT if cell_w >= 0.9 else 5.5
    titles = ["\n".join(_wrap_lines(t, cell_w, title_pt)) for t in titles]
    n_title_lines = max(t.count("\n") + 1 for t in titles)
    top = _pt(title_pt) * 1.25 * n_title_lines + 0.05
    row_h = [cell_w * r.image_bgr.shape[0] / r.image_bgr.shape[1] for r in rows]
    grid_h = sum(row_h) + vgap * (len(rows) - 1)
    # colour bars: one slot per scale, each a label, the bar and its ticks
    slot = (W - left - right) / max(len(scales), 1)
    bar_labels = {k: "\n".join(_wrap_lines(sc.label + (" - per-image scaling (each row's own range)"
                                                         if sc.per_image else ""),
                                            slot * 0.95, _SMALL_PT)) for k, sc in scales.items()}
    bar_lines = max([t.count("\n") + 1 for t in bar_labels.values()] or [1])
    bar_band = (_pt(_SMALL_PT) * 1.3 * bar_lines + 0.065 + _pt(_SMALL_PT) * 1.6) if scales else 0.0
    text_lines: List[str] = []
    for sc in scales.values():
        text_lines += _wrap_lines(sc.describe(), W - 0.1, _SMALL_PT)
    for n in notes:
        text_lines += _wrap_lines(n, W - 0.1, _SMALL_PT)
    text_h = _pt(_SMALL_PT) * 1.22 * len(text_lines) + 0.04
    H = top + grid_h + 0.07 + bar_band + 0.05 + text_h

    fig = Figure(figsize=(W, H), dpi=100, facecolor="white")
    FigureCanvasAgg(fig)

    def frac(x0: float, y0: float, w: float, h: float) -> Tuple[float, float, float, float]:
        return x0 / W, 1.0 - (y0 + h) / H, w / W, h / H     # matplotlib rect from (x, y-down) inches

    cells: Dict[Tuple[int, int], Tuple[float, float, float, float]] = {}
    images = []
    y = top
    for j, t in enumerate(titles):
        x = left + j * (cell_w + hgap)
        fig.text((x + cell_w / 2) / W, 1.0 - (top - 0.03) / H, t, ha="center", va="bottom",
                 fontsize=title_pt, family=_FONT, linespacing=1.1)
    for i, row in enumerate(rows):
        h = row_h[i]
        ih, iw = row.image_bgr.shape[:2]
        label, label_pt = _fit_label(row.label, h, title_pt)
        fig.text((left - 0.04) / W, 1.0 - (y + h / 2) / H, label, rotation=90, ha="right", va="center",
                 fontsize=label_pt, family=_FONT)
        for j, (col, cell) in enumerate(zip(columns, row.cells)):
            x = left + j * (cell_w + hgap)
            ax = fig.add_axes(frac(x, y, cell_w, h))
            ax.set_axis_off()
            cells[(i, j)] = (x / W, y / H, (x + cell_w) / W, (y + h) / H)
            if cell.values is not None:
                sc = scales[col.scale_key]
                vr = sc.range_for(i) or (0.0, 1.0)
                rgb = heat_rgb(row.image_bgr, cell.values, sc.cmap, vr, alpha)
            else:
                rgb = row.image_bgr[:, :, ::-1]
            if raster_max and max(ih, iw) > raster_max:
                import cv2

                k = raster_max / max(ih, iw)
                rgb = cv2.resize(np.ascontiguousarray(rgb), (max(1, round(iw * k)), max(1, round(ih * k))),
                                 interpolation=cv2.INTER_AREA)
            im = ax.imshow(np.ascontiguousarray(rgb), extent=(0, iw, ih, 0), aspect="auto",
                           interpolation="antialiased")
            images.append(im)
            ax.set_xlim(0, iw)
            ax.set_ylim(ih, 0)
            n = min(len(cell.boxes), MAX_DRAWN_BOXES)
            lw = 0.5 if width_mm < 120 else 0.6
            for k in range(n):
                x1, y1, x2, y2 = (float(v) for v in cell.boxes[k])
                c = cell.classes[k] if k < len(cell.classes) else 0
                colour = tuple(v / 255 for v in class_rgb(c))
                ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linewidth=lw))
                if n <= MAX_LABELLED_BOXES and k < len(cell.labels) and cell.labels[k]:
                    ax.text(x1, y1, cell.labels[k], fontsize=3.5, family=_FONT, color="white", ha="left",
                            va="bottom", clip_on=True,
                            bbox={"facecolor": colour, "edgecolor": "none", "pad": 0.4, "alpha": 0.9})
            if cell.note:
                ax.text(0.5, 0.5, cell.note, transform=ax.transAxes, ha="center", va="center", fontsize=_SMALL_PT,
                        family=_FONT, color="white", bbox={"facecolor": "black", "alpha": 0.6, "edgecolor": "none"})
        y += h + vgap

    # colour bars, one per scale, side by side under the grid
    colorbars: Dict[str, object] = {}
    if scales:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        y_bar = top + grid_h + 0.07 + _pt(_SMALL_PT) * 1.3 * bar_lines
        for k, sc in enumerate(scales.values()):
            bw = min(slot * 0.8, 2.2)
            x0 = left + k * slot + (slot - bw) / 2
            cax = fig.add_axes(frac(x0, y_bar, bw, 0.065))
            sm = ScalarMappable(norm=Normalize(*sc.vrange), cmap=sc.cmap)
            cb = fig.colorbar(sm, cax=cax, orientation="horizontal")
            cb.outline.set_linewidth(0.4)
            cax.tick_params(labelsize=_SMALL_PT, length=2, width=0.4, pad=1)
            if sc.per_image:
                ticks = [-1, 0, 1] if sc.signed else [0, 1]
                cb.set_ticks(ticks, labels=["-max", "0", "max"] if sc.signed else ["min", "max"])
            else:
                from matplotlib.ticker import MaxNLocator, ScalarFormatter

                cb.locator = MaxNLocator(nbins=4)
                fmt = ScalarFormatter(useOffset=False)
                cb.formatter = fmt
                cb.update_ticks()
            label = bar_labels[sc.key]
            fig.text((x0 + bw / 2) / W, 1.0 - (y_bar - 0.015) / H, label, ha="center", va="bottom",
                     fontsize=_SMALL_PT, family=_FONT, linespacing=1.1)
            colorbars[sc.key] = cax
    if text_lines:
        y_text = top + grid_h + 0.07 + bar_band + 0.05
        fig.text(0.05 / W, 1.0 - y_text / H, "\n".join(text_lines), ha="left", va="top", fontsize=_SMALL_PT,
                 family=_FONT, linespacing=1.2, color="#333333")
    return GridFigure(fig, (width_mm, H * 25.4), cells, colorbars, scales, images, list(notes), list(columns))


def figure_bytes(grid: GridFigure, fmt: str, dpi: int = 300) -> bytes:
    """The figure as PDF / SVG (vector text and boxes, heat images unresampled) or PNG at ``dpi``.

    No creation dates or software versions are written: same figure, same bytes.
    """
    from matplotlib import rc_context

    fmt = fmt.lower().lstrip(".")
    if fmt not in FORMATS:
        raise GridError(f"unknown figure format {fmt!r}; use one of {', '.join(FORMATS)}")
    if isinstance(dpi, bool) or not isinstance(dpi, (int, np.integer)) or not 50 <= dpi <= 2400:
        raise GridError(f"--dpi must be an integer in 50..2400, got {dpi!r}")
    for im in grid.images:   # vector: embed the pixels as they are; raster: antialiased resampling
        im.set_interpolation("antialiased" if fmt == "png" else "none")
    meta = {"png": {"Software": None},
            "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
            "svg": {"Creator": None, "Date": None, "Format": None, "Type": None}}[fmt]
    buf = io.BytesIO()
    with rc_context({"pdf.fonttype": 42, "svg.fonttype": "none", "svg.hashsalt": "gam-viewer",
                     "image.composite_image": False, "font.family": _FONT}):
        grid.fig.savefig(buf, format=fmt, dpi=int(dpi), metadata=meta, facecolor="white")
    return buf.getvalue()


# ----------------------------------------------------------------------------- running the models
@dataclass
class GridOptions:
    """Everything that decides the figure's content (saved in the sidecar, replayed by ``--from``)."""

    columns: List[str]
    width: str = "double"
    dpi: int = 300
    per_image: bool = False
    cam: str = "eigen"
    cam_layers: Optional[List[int]] = None    # the GAM model's CAM layers (None: the layers feeding Detect)
    alpha: float = 0.5
    conf: float = 0.25
    iou: float = 0.45
    imgsz: Optional[int] = None
    square: bool = False
    channel_sigmoid: Optional[bool] = None
    shuffle: Optional[bool] = None
    raster_max: Optional[int] = None

    def as_json(self) -> dict:
        return asdict(self)


def _check_columns(columns: Sequence[Column], model, baseline) -> None:
    gam_layers = [info.index for info in model.model.gam_layers()]
    for c in columns:
        if c.role == "baseline" and baseline is None:
            raise GridError(f"--columns: {c.spec} needs --baseline")
        if c.kind == "gate" and c.layer not in gam_layers:
            have = ", ".join(map(str, gam_layers)) or "none"
            raise GridError(f"--columns: {c.spec}: layer {c.layer} is not a GAM layer of the model "
                            f"(its GAM layers: {have})")


def _boxes_cell(res) -> Cell:
    n = min(len(res), MAX_DRAWN_BOXES)
    return Cell(None, res.boxes[:n].copy(), [res.label(k) for k in range(n)], [int(c) for c in res.classes[:n]],
                "" if len(res) else "no detections")


def collect_rows(columns: Sequence[Column], images: Sequence[Tuple[str, np.ndarray]], model, baseline,
                 opts: GridOptions, progress=None) -> Tuple[List[Row], List[dict]]:
    """Run both models on each (label, BGR image) and fill every cell; returns (rows, targets).

    ``targets`` records, per row, what each CAM explained (Grad-CAM: the box, class and score).
    ``progress(i, n)`` is called after each row. Raises GridError for a bad column.
    """
    from ..inference.cam import eigen_cam, grad_cam

    _check_columns(columns, model, baseline)
    need_cam = {c.role for c in columns if c.kind == "cam"}
    rows: List[Row] = []
    targets: List[dict] = []
    auto = not opts.square
    for i, (label, img) in enumerate(images):
        dets = {}
        for role, d in (("model", model), ("baseline", baseline)):
            if d is None:
                continue
            size = opts.imgsz or d.default_imgsz
            dets[role] = d.predict(img, opts.conf, opts.iou, size, auto=auto)
        cams, tgt = {}, {"image": label}
        for role in sorted(need_cam):
            d, res = (model, dets["model"]) if role == "model" else (baseline, dets["baseline"])
            layers = opts.cam_layers if role == "model" else None
            try:
                if opts.cam == "eigen":
                    cams[role] = eigen_cam(d, img, layers, imgsz=opts.imgsz or d.default_imgsz, auto=auto)
                    tgt[role] = {"method": "EigenCAM", "layers": list(cams[role].layers)}
                elif len(res):
                    cams[role] = grad_cam(d, img, res, 0, layers)
                    c = cams[role]
                    tgt[role] = {"method": "Grad-CAM", "layers": list(c.layers), "box": 0,
                                 "xyxy": [round(float(v), 2) for v in res.boxes[0]], "class": c.target_class,
                                 "name": res.names[c.target_class] if c.target_class < len(res.names) else "",
                                 "score": round(float(res.scores[0]), 4)}
                else:
                    cams[role] = None
                    tgt[role] = {"method": "Grad-CAM", "box": None, "note": "no detections: nothing to explain"}
            except ValueError as exc:
                raise GridError(f"--cam-layers: {exc}") from None
        cells: List[Cell] = []
        for c in columns:
            if c.kind == "input":
                cells.append(Cell() if c.role == "none" else _boxes_cell(dets[c.role]))
            elif c.kind == "cam":
                cam = cams[c.role]
                if cam is None:
                    cells.append(Cell(note="no detections"))
                    continue
                cell = Cell(cam.image_map())
                if cam.box is not None:
                    res = dets[c.role]
                    cell.boxes, cell.labels = res.boxes[cam.box:cam.box + 1].copy(), [res.label(cam.box)]
                    cell.classes = [int(res.classes[cam.box])]
                cells.append(cell)
            else:
                a = dets["model"].attention_at(c.layer)
                try:
                    cells.append(Cell(a.image_map(c.reduce, c.gate)))
                except ValueError as exc:
                    raise GridError(f"--columns: {c.spec}: {exc}") from None
        rows.append(Row(label, img, cells))
        targets.append(tgt)
        if progress is not None:
            progress(i + 1, len(images))
    return rows, targets


# ----------------------------------------------------------------------------- provenance
def _model_record(det, spec: str) -> dict:
    rec = {"spec": spec, "name": Path(spec).name, "format": getattr(det, "format", None),
           "describe": det.describe()}
    p = Path(spec)
    if p.is_file():
        rec["path"] = str(p.resolve())
        rec["sha256"] = sha256_file(p)
    else:
        rec["sha256"] = None      # a shipped YAML name: random weights, no file
    rec["gam"] = [{"layer": r.index, "position": r.position, "variant": r.variant, "groups": r.groups,
                   "channel_sigmoid": r.channel_sigmoid, "shuffle": r.shuffle, "decided_by": r.decided_by,
                   "describe": r.describe()} for r in getattr(det, "gam", [])]
    rec["imgsz_default"] = getattr(det, "default_imgsz", None)
    return rec


def sidecar(opts: GridOptions, model, model_spec: str, baseline, baseline_spec: Optional[str],
            image_paths: Sequence[Union[str, Path]], images: Sequence[np.ndarray], grid: GridFigure,
            targets: List[dict], outputs: Sequence[Union[str, Path]], command: str) -> dict:
    """The JSON record next to a figure: enough to make it again (``gam-viewer figure --from``)."""
    from .. import __version__

    imgs = []
    for p, img in zip(image_paths, images):
        rec = {"path": str(Path(p).resolve()) if p else None, "name": Path(p).name if p else None,
               "sha256": sha256_file(p) if p and Path(p).is_file() else None,
               "size_wh": [int(img.shape[1]), int(img.shape[0])]}
        imgs.append(rec)
    cam_layers = {"model": [int(i) for i in (opts.cam_layers or [])] or None}
    for t in targets:
        for role in ("model", "baseline"):
            if role in t and t[role].get("layers"):
                cam_layers[role] = t[role]["layers"]
    return {
        "gam_viewer_version": __version__,
        "kind": "gam-viewer figure grid",
        "command": command,
        "options": opts.as_json(),
        "model": _model_record(model, model_spec),
        "baseline": _model_record(baseline, baseline_spec) if baseline is not None else None,
        "images": imgs,
        "cam": {"method": opts.cam, "layers": cam_layers,
                "note": "CAM maps are relative: grad-cam scales each to [0, 1] on the network input"},
        "targets": targets,
        "thresholds": {"conf": opts.conf, "iou": opts.iou},
        "image_size": {"imgsz": opts.imgsz or getattr(model, "default_imgsz", None),
                       "baseline_imgsz": (opts.imgsz or getattr(baseline, "default_imgsz", None)) if baseline else None,
                       "letterbox": "square" if opts.square else "minimal padding (cropped in the figure)"},
        "normalisation": {"per_image": opts.per_image, "scales": [s.as_json() for s in grid.scales.values()],
                          "text": [s.describe() for s in grid.scales.values()]},
        "figure": {"size_mm": [round(v, 2) for v in grid.size_mm], "dpi": opts.dpi,
                   "outputs": [Path(o).name for o in outputs]},
    }


def gam_semantics(det) -> str:
    """The GAM layers and their semantics in one short line, identical ones grouped."""
    groups: Dict[str, List[int]] = {}
    for r in getattr(det, "gam", []):
        sem = r.describe().split(": ", 1)[-1]
        groups.setdefault(sem, []).append(r.index)
    if not groups:
        return "no GAM layers"
    return "; ".join(f"GAM layer{'s' if len(v) > 1 else ''} {', '.join(map(str, v))}: {k}" for k, v in groups.items())


def _short_sha(spec: Optional[str]) -> str:
    p = Path(spec) if spec else None
    return f", sha256 {sha256_file(p)[:12]}" if p is not None and p.is_file() else ""


def build_figure(columns: Sequence[Column], model, model_spec: str, baseline, baseline_spec: Optional[str],
                 images: Sequence[Tuple[str, np.ndarray]], opts: GridOptions, progress=None
                 ) -> Tuple[GridFigure, List[dict]]:
    """Run the models and render the grid with its titles and provenance notes (CLI and window)."""
    rows, targets = collect_rows(columns, images, model, baseline, opts, progress)
    mname = Path(model_spec).stem if Path(model_spec).suffix else model_spec
    bname = (Path(baseline_spec).stem if Path(baseline_spec).suffix else baseline_spec) if baseline_spec else ""
    cam_label = "EigenCAM" if opts.cam == "eigen" else "Grad-CAM (top box)"
    titles = [c.title(mname, bname or "baseline", cam_label) for c in columns]
    size = opts.imgsz or model.default_imgsz
    notes = [f"GAM model {Path(model_spec).name}{_short_sha(model_spec)}: {gam_semantics(model)}"]
    if baseline is not None:
        notes.append(f"baseline {Path(baseline_spec).name}{_short_sha(baseline_spec)}")
    if any(c.kind == "cam" for c in columns):
        layers = []
        for role in ("model", "baseline"):
            got = next((t[role]["layers"] for t in targets if role in t and t[role].get("layers")), None)
            if got:
                layers.append(f"{role} {', '.join(map(str, got))}")
        what = "EigenCAM (gradient-free, class-agnostic)" if opts.cam == "eigen" else \
            "Grad-CAM of each model's highest-scoring box (drawn)"
        notes.append(f"CAM: {what}, layers {'; '.join(layers) or 'feeding Detect'}; grad-cam scales each map to "
                     "[0, 1] on the network input, so CAM values are relative")
    notes.append(f"image size {size}, {'square' if opts.square else 'minimal-padding'} letterbox (padding cropped), "
                 f"conf {opts.conf:g}, IoU {opts.iou:g}; heat maps drawn at opacity {opts.alpha:g} over the image"
                 + (f"; images longer than {opts.raster_max} px downsampled" if opts.raster_max else ""))
    grid = render_grid(columns, rows, width=opts.width, per_image=opts.per_image, alpha=opts.alpha, titles=titles,
                       notes=notes, cam_label=cam_label, raster_max=opts.raster_max)
    return grid, targets


# ----------------------------------------------------------------------------- one call: files on disk
def read_images(paths: Sequence[Union[str, Path]]) -> List[Tuple[str, np.ndarray]]:
    """(file name, BGR image) of each path; GridError names an unreadable one."""
    from ..media.sources import SourceError, read_image

    out = []
    for p in paths:
        try:
            img, _ = read_image(p)
        except SourceError as exc:
            raise GridError(f"--source: {exc}") from None
        out.append((Path(p).name, img))
    return out


def output_paths(out: Union[str, Path], also: Sequence[str] = ()) -> List[Path]:
    """The figure files: ``out`` and the same stem in each of ``also``'s formats."""
    out = Path(out)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise GridError(f"--out {out}: the figure must end in .pdf, .svg or .png")
    paths = [out]
    for f in also:
        f = str(f).lower().lstrip(".")
        if f not in FORMATS:
            raise GridError(f"--also {f}: use pdf, svg or png")
        p = out.with_suffix("." + f)
        if p not in paths:
            paths.append(p)
    return paths


def check_outputs(out: Union[str, Path], also: Sequence[str] = (), overwrite: bool = False
                  ) -> Tuple[List[Path], Path]:
    """(figure files, sidecar path) for ``out``: its folder must exist and, unless ``overwrite``,
    none of them may exist yet (FileExistsError). Used up front by ``gam-viewer figure`` too."""
    out = Path(out)
    paths = output_paths(out, also)
    side_path = out.with_suffix(".json")
    if not out.parent.is_dir():
        raise GridError(f"--out {out}: the folder {out.parent} does not exist")
    if not overwrite:
        for p in paths + [side_path]:
            if p.exists():
                raise FileExistsError(f"{p}: already exists (not overwritten); use --force or another --out")
    return paths, side_path


def command_line(opts: GridOptions, model: str, baseline: Optional[str], sources: Sequence[Union[str, Path]],
                 out: Union[str, Path], also: Sequence[str] = ()) -> str:
    """The full ``gam-viewer figure`` command that makes this figure (every option spelled out)."""
    import shlex

    argv = ["gam-viewer", "figure", "--model", str(model)]
    if baseline:
        argv += ["--baseline", str(baseline)]
    argv += ["--source", *map(str, sources), "--columns", ",".join(opts.columns), "--out", str(out)]
    if also:
        argv += ["--also", *also]
    argv += ["--dpi", str(opts.dpi), "--width", str(opts.width), "--cam", opts.cam, "--alpha", f"{opts.alpha:g}",
             "--conf", f"{opts.conf:g}", "--iou", f"{opts.iou:g}"]
    if opts.per_image:
        argv.append("--per-image")
    if opts.cam_layers:
        argv += ["--cam-layers", *map(str, opts.cam_layers)]
    if opts.imgsz:
        argv += ["--imgsz", str(opts.imgsz)]
    if opts.square:
        argv.append("--square")
    if opts.raster_max:
        argv += ["--raster-max", str(opts.raster_max)]
    for name, v in (("--channel-sigmoid", opts.channel_sigmoid), ("--shuffle", opts.shuffle)):
        if v is not None:
            argv += [name, "on" if v else "off"]
    return shlex.join(argv)


def default_columns(model, baseline) -> List[Column]:
    """input, the CAMs of both models, and every GAM layer's spatial gate."""
    names = ["input"] + (["baseline-cam"] if baseline is not None else []) + ["model-cam"]
    names += [f"L{info.index}" for info in model.model.gam_layers()]
    return parse_columns(names)


def write_figure(out: Union[str, Path], model_spec: str, baseline_spec: Optional[str],
                 image_paths: Sequence[Union[str, Path]], opts: GridOptions, *,
                 columns: Optional[Sequence[Column]] = None, also: Sequence[str] = (), overwrite: bool = False,
                 device: str = "cpu", invoked: Optional[str] = None, progress=None,
                 models: Optional[tuple] = None) -> Tuple[GridFigure, List[Path], Path]:
    """Load the models, make the grid, write ``out`` (+ ``also`` formats) and the sidecar ``<stem>.json``.

    Used by ``gam-viewer figure`` and the window's *Export > Figure grid*. Nothing is replaced
    unless ``overwrite``; checked before any model runs. ``models``: already loaded
    (model, baseline) detectors to use instead of loading ``model_spec`` / ``baseline_spec``.
    Returns (figure, written files, sidecar path).
    """
    import json

    from ..fsutil import write_atomic

    out = Path(out)
    paths, side_path = check_outputs(out, also, overwrite)
    images = read_images(image_paths)
    if models is not None:
        model, baseline = models
    else:
        from ..inference import load_model

        model = load_model(model_spec, device=device, channel_sigmoid=opts.channel_sigmoid, shuffle=opts.shuffle)
        baseline = load_model(baseline_spec, device=device, channel_sigmoid=opts.channel_sigmoid,
                              shuffle=opts.shuffle) if baseline_spec else None
    columns = list(columns) if columns else default_columns(model, baseline)
    opts.columns = [c.spec for c in columns]
    if opts.imgsz is not None:
        from ..inference.letterbox import check_imgsz

        try:
            for d in (model, baseline):
                if d is not None:
                    check_imgsz(opts.imgsz, d.stride)
        except ValueError as exc:
            raise GridError(f"--imgsz: {exc}") from None
    grid, targets = build_figure(columns, model, model_spec, baseline, baseline_spec, images, opts, progress)
    written = []
    for p in paths:
        write_atomic(p, figure_bytes(grid, p.suffix, opts.dpi), overwrite=overwrite)
        written.append(p)
    command = command_line(opts, model_spec, baseline_spec, image_paths, out, [p.suffix[1:] for p in paths[1:]])
    record = sidecar(opts, model, model_spec, baseline, baseline_spec, image_paths, [im for _, im in images], grid,
                     targets, written, command)
    record["invoked"] = invoked or command
    write_atomic(side_path, (json.dumps(record, indent=2) + "\n").encode("utf-8"), overwrite=overwrite)
    return grid, written, side_path
