"""What the gate heatmaps and the CAM maps share on screen: look, colour bar, CAM choices.

* :class:`OverlayStyle` - colormap, opacity and value range (per frame or fixed); the range is
  computed by ``render.figures.value_range`` and never assumed to be [0, 1];
* :func:`show_on_pane` - put a map (already on the image, ``AttentionMap.image_map`` /
  ``CamMap.image_map``) over a pane with that style; returns what is shown (:class:`Shown`);
* :class:`ColourBar` - the colours against the real values, with the exact min / max and a
  warning when values fall outside a fixed range (drawn in the end colours, never hidden);
* :class:`StyleControls` - opacity and range widgets; :class:`CamControls` - the CAM layer of
  each pane (``inference.cam.cam_layers``, sent by the workers);
* :func:`box_at`, :func:`rect_marker` - picking a detection by clicking it, marking a rectangle.

On screen the map is resampled to at most :data:`MAX_OVERLAY_SIDE` pixels on its long side
(exports use the source's resolution); either way it is stretched over exactly the frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import (
    QComboBox, QDoubleSpinBox, QFormLayout, QGraphicsRectItem, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget,
)

from ..render import figures as F
from .controls import SliderSpin
from .model_spec import SIDE_TITLES, SIDES
from .pane import colormap_lut as pg_colormap_lut

__all__ = ["OverlayStyle", "Shown", "overlay_lut", "overlay_hw", "show_on_pane", "colour_rgb", "ColourBar",
           "StyleControls", "CamControls", "box_at", "rect_marker", "MAX_OVERLAY_SIDE", "RANGE_MODES"]

MAX_OVERLAY_SIDE = 1024
RANGE_MODES = ("frame", "fixed")
Range = Tuple[float, float]


@dataclass
class OverlayStyle:
    cmap: str = "inferno"
    opacity: float = 0.5
    range_mode: str = "frame"        # "frame": each map's own min..max; "fixed": ``fixed``
    fixed: Range = (0.0, 1.0)

    def vrange(self, values: np.ndarray) -> Range:
        return F.value_range(values, self.range_mode, self.fixed if self.range_mode == "fixed" else None)


@dataclass
class Shown:
    """One map as it is shown over a pane (what the colour bar and the exports describe)."""

    side: str
    kind: str                           # "gate", "eigen" or "grad"
    model: str                          # the model's file name
    layer: str                          # e.g. "23 head/P4 (40x30)" or "layers 19, 23, 27"
    what: str                           # e.g. "spatial gate, mean over channels" or "EigenCAM"
    label: str                          # colour-bar label: "spatial gate" or "CAM (relative)"
    values: np.ndarray                  # the map on screen (H x W, on the image)
    vrange: Range
    clipped: Tuple[bool, bool]
    full: Callable[[], np.ndarray]      # the same map at the source's resolution
    frame_index: Optional[int] = None
    boxes: Optional[np.ndarray] = None  # Grad-CAM: its box (1 x 4), drawn in exports
    box_labels: List[str] = field(default_factory=list)
    box_classes: List[int] = field(default_factory=list)


def overlay_lut(name: str) -> np.ndarray:
    """The 256 x 3 uint8 table of colormap ``name``: the engine's (matplotlib's) when it has it,
    so the screen matches the exports; pyqtgraph's otherwise (e.g. CET-L1)."""
    if name in F.COLORMAPS:
        return F.colormap_lut(name)
    return pg_colormap_lut(name)


def export_cmap(name: str) -> str:
    """A colormap the figure renderer knows: ``name``, or inferno for pyqtgraph-only maps."""
    return name if name in F.COLORMAPS else "inferno"


def overlay_hw(image_hw: Tuple[int, int], limit: int = MAX_OVERLAY_SIDE) -> Tuple[int, int]:
    """Size of the on-screen map for an H x W frame: the frame's, or scaled to ``limit``."""
    h, w = int(image_hw[0]), int(image_hw[1])
    s = min(1.0, limit / max(h, w))
    return max(1, int(round(h * s))), max(1, int(round(w * s)))


def colour_rgb(values: np.ndarray, cmap: str, vrange: Range) -> np.ndarray:
    """H x W x 3 uint8 RGB of ``values`` over ``vrange`` (ends clipped to the end colours)."""
    return np.ascontiguousarray(overlay_lut(cmap)[F.colour_index(values, vrange)])


def show_on_pane(pane, values: np.ndarray, style: OverlayStyle) -> Tuple[Range, Tuple[bool, bool]]:
    """Show ``values`` over ``pane`` in ``style``; returns (range used, (below, above) it)."""
    vr = style.vrange(values)
    pane.set_overlay(values, lut=overlay_lut(style.cmap), levels=vr, opacity=style.opacity)
    return vr, F.out_of_range(values, vr)


def nice_ticks(lo: float, hi: float, n: int = 5) -> List[float]:
    """Round values inside [lo, hi], about ``n`` of them."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = first
    while v <= hi + step * 1e-9:
        ticks.append(0.0 if abs(v) < step * 1e-9 else v)
        v += step
    return ticks


def fmt_value(v: float, step: float) -> str:
    """``v`` with as many decimals as ``step`` needs (plain notation)."""
    if abs(v) >= 1e5 or (0 < abs(v) < 1e-4 and step < 1e-4):
        return f"{v:.3g}"
    d = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 3
    scaled = step * 10 ** d
    if abs(scaled - round(scaled)) > 1e-6 * max(1.0, scaled):   # 2.5, 0.25: one more decimal
        d += 1
    return f"{v:.{min(d, 8)}f}"


class ColourBar(QWidget):
    """A horizontal colour bar: title, min / max, colours with ticks of the real values."""

    BAR_H = 12

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.title = ""
        self.label = ""
        self.levels: Optional[Range] = None
        self.clipped: Tuple[bool, bool] = (False, False)
        self.data_range: Optional[Range] = None
        self.range_mode = "frame"
        self._lut = overlay_lut("inferno")
        self._strip: Optional[QImage] = None
        fm = QFontMetrics(self.font())
        self.setMinimumHeight(3 * fm.height() + self.BAR_H + 10)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    @property
    def ticks(self) -> List[Tuple[float, str]]:
        if self.levels is None:
            return []
        lo, hi = self.levels
        t = nice_ticks(lo, hi)
        step = (t[1] - t[0]) if len(t) > 1 else (hi - lo)
        return [(v, fmt_value(v, step)) for v in t]

    def set_map(self, title: str, label: str, levels: Range, clipped: Tuple[bool, bool], values: np.ndarray,
                lut: np.ndarray, range_mode: str) -> None:
        self.title, self.label, self.range_mode = title, label, range_mode
        self.levels = (float(levels[0]), float(levels[1]))
        self.clipped = (bool(clipped[0]), bool(clipped[1]))
        finite = values[np.isfinite(values)] if values.size else values
        self.data_range = (float(finite.min()), float(finite.max())) if finite.size else None
        if self._strip is None or not np.array_equal(lut, self._lut):
            self._lut = np.ascontiguousarray(lut, dtype=np.uint8)
            row = np.ascontiguousarray(self._lut.reshape(1, 256, 3))
            self._strip = QImage(row.data, 256, 1, 768, QImage.Format.Format_RGB888).copy()
        self.setToolTip(f"{title} — {label}\n{self.summary()}")
        self.show()
        self.update()

    def summary(self) -> str:
        if self.levels is None:
            return ""
        lo, hi = self.levels
        mode = "per-frame range" if self.range_mode == "frame" else "fixed range"
        text = f"{mode} [{lo:.6g}, {hi:.6g}]"
        if self.data_range is not None and self.range_mode == "fixed":
            text += f"; values {self.data_range[0]:.6g} … {self.data_range[1]:.6g}"
        if any(self.clipped):
            side = " and ".join(s for s, c in zip(("below", "above"), self.clipped) if c)
            text += f" (values {side} the range drawn in the end colour)"
        return text

    def footer(self) -> str:
        """The last line under the bar: the map's own min / max and how the range is chosen."""
        dr = self.data_range
        text = f"values {dr[0]:.4g} … {dr[1]:.4g}" if dr else ""
        if self.range_mode == "fixed":
            text += " · fixed range"
            if any(self.clipped):
                text += ", outside it: end colours"
        else:
            text += " · per-frame range"
        return text

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self.levels is None or self._strip is None:
            return
        p = QPainter(self)
        fm = QFontMetrics(self.font())
        lh = fm.height()
        pad = 8
        w = self.width()
        left, right = pad + (8 if self.clipped[0] else 0), w - pad - (8 if self.clipped[1] else 0)
        text_pen = self.palette().windowText().color()
        p.setPen(text_pen)
        p.drawText(QRectF(pad, 0, w - 2 * pad, lh), Qt.AlignmentFlag.AlignLeft,
                   fm.elidedText(f"{self.title} — {self.label}", Qt.TextElideMode.ElideRight, w - 2 * pad))
        # the colours, with a triangle at an end that values go past
        top = lh + 2
        bar = QRectF(left, top, max(1, right - left), self.BAR_H)
        p.drawImage(bar, self._strip)
        p.setPen(QPen(QColor("#808080")))
        p.drawRect(bar)
        for end, on in ((0, self.clipped[0]), (1, self.clipped[1])):
            if not on:
                continue
            c = self._lut[255 if end else 0]
            x0 = right if end else left
            dx = 8 if end else -8
            tri = QPolygonF([QPointF(x0, top), QPointF(x0 + dx, top + self.BAR_H / 2), QPointF(x0, top + self.BAR_H)])
            p.setBrush(QColor(int(c[0]), int(c[1]), int(c[2])))
            p.drawPolygon(tri)
        # ticks with the real values
        lo, hi = self.levels
        p.setPen(text_pen)
        last_right = -1e9
        y_ticks = top + self.BAR_H + 3
        for v, text in self.ticks:
            x = left + (v - lo) / (hi - lo) * (right - left)
            p.drawLine(QPointF(x, top + self.BAR_H), QPointF(x, y_ticks))
            tw = fm.horizontalAdvance(text)
            tx = min(max(x - tw / 2, 0), w - tw)
            if tx > last_right + 4:
                p.drawText(QRectF(tx, y_ticks, tw + 2, lh), Qt.AlignmentFlag.AlignLeft, text)
                last_right = tx + tw
        p.setPen(QColor("#8a8a8a"))
        p.drawText(QRectF(pad, y_ticks + lh, w - 2 * pad, lh), Qt.AlignmentFlag.AlignLeft,
                   fm.elidedText(self.footer(), Qt.TextElideMode.ElideRight, w - 2 * pad))
        p.end()


class StyleControls(QWidget):
    """Opacity and value range of the overlays (the colormap is the window's own control)."""

    changed = Signal()
    freeze_requested = Signal()

    def __init__(self, style: OverlayStyle, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.opacity = SliderSpin(style.opacity, step=0.05)
        self.opacity.setToolTip("Opacity of the heatmap / CAM over the frame")
        self.range_mode = QComboBox()
        self.range_mode.addItem("per frame", "frame")
        self.range_mode.addItem("fixed", "fixed")
        self.range_mode.setToolTip("Colour range: each map's own min..max, or a fixed range (for comparing "
                                   "frames and models). Gate values are not assumed to lie in [0, 1].")
        self.lo, self.hi = QDoubleSpinBox(), QDoubleSpinBox()
        for box, v, tip in ((self.lo, style.fixed[0], "low end"), (self.hi, style.fixed[1], "high end")):
            box.setRange(-1e5, 1e5)
            box.setDecimals(4)
            box.setMinimumWidth(60)
            box.setSingleStep(0.05)
            box.setKeyboardTracking(False)
            box.setValue(v)
            box.setToolTip(f"Fixed range: {tip}")
        self.freeze = QPushButton("Fix")
        self.freeze.setAutoDefault(False)
        self.freeze.setToolTip("Fix the range at the one of the map shown now")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.range_mode, 1)
        row.addWidget(self.freeze)
        ends = QHBoxLayout()
        ends.setContentsMargins(0, 0, 0, 0)
        ends.addWidget(self.lo, 1)
        ends.addWidget(QLabel("to"))
        ends.addWidget(self.hi, 1)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Opacity", self.opacity)
        form.addRow("Range", row)
        form.addRow("", ends)
        self._sync_enabled()
        self.opacity.valueChanged.connect(self.changed)
        self.range_mode.currentIndexChanged.connect(self._on_mode)
        self.lo.valueChanged.connect(self.changed)
        self.hi.valueChanged.connect(self.changed)
        self.freeze.clicked.connect(self.freeze_requested)

    def _on_mode(self) -> None:
        self._sync_enabled()
        self.changed.emit()

    def _sync_enabled(self) -> None:
        fixed = self.range_mode.currentData() == "fixed"
        self.lo.setEnabled(fixed)
        self.hi.setEnabled(fixed)

    def apply_to(self, style: OverlayStyle) -> Optional[str]:
        """Copy the widgets into ``style``; a one-line problem (fixed low >= high) or None."""
        style.opacity = self.opacity.value()
        lo, hi = self.lo.value(), self.hi.value()
        if self.range_mode.currentData() == "fixed" and lo >= hi:
            style.range_mode = "frame"
            return f"fixed range needs low < high (got {lo:g} .. {hi:g}); using the per-frame range"
        style.range_mode = self.range_mode.currentData()
        style.fixed = (lo, hi)
        return None

    def set_fixed(self, lo: float, hi: float) -> None:
        for box, v in ((self.lo, lo), (self.hi, hi)):
            box.blockSignals(True)
            box.setValue(v)
            box.blockSignals(False)
        self.range_mode.setCurrentIndex(1)   # emits changed (or call it when already fixed)
        self.changed.emit()


class CamControls(QWidget):
    """The CAM layer of each pane: the engine's default (the layers feeding Detect) or one layer."""

    changed = Signal(str)   # side

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.combos: Dict[str, QComboBox] = {}
        for side in SIDES:
            combo = QComboBox()
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
            combo.setToolTip(f"The layer whose activations make {SIDE_TITLES[side]}'s CAM")
            combo.currentIndexChanged.connect(lambda _i, s=side: self.changed.emit(s))
            self.combos[side] = combo
            form.addRow(f"CAM {SIDE_TITLES[side]}", combo)
            self.set_layers(side, [])

    def set_layers(self, side: str, layers: Sequence[object]) -> None:
        """Offer ``layers`` (``inference.cam.CamLayer``) for ``side``; keeps the choice when still offered."""
        combo = self.combos[side]
        keep = combo.currentData()
        combo.blockSignals(True)
        combo.clear()
        heads = [c.index for c in layers if "feeds Detect" in c.reasons]
        default = f"feeds Detect ({', '.join(map(str, heads))})" if heads else "default"
        combo.addItem(default if layers else "(no model)", None)
        combo.setItemData(0, "The layers feeding the detection head, averaged (the engine's default)",
                          Qt.ItemDataRole.ToolTipRole)
        for c in layers:
            combo.addItem(c.name, (c.index,))
            combo.setItemData(combo.count() - 1, c.describe(), Qt.ItemDataRole.ToolTipRole)
        i = combo.findData(keep) if keep is not None else 0
        combo.setCurrentIndex(max(i, 0))
        combo.setEnabled(bool(layers))
        combo.blockSignals(False)

    def layers(self, side: str) -> Optional[Tuple[int, ...]]:
        return self.combos[side].currentData()

    def layer_text(self, side: str) -> str:
        return self.combos[side].currentText()


# ----------------------------------------------------------------------------- picking and marking
def box_at(det, x: float, y: float, hidden: Sequence[str] = ()) -> Optional[int]:
    """The smallest drawn detection containing (x, y), else None."""
    if det is None or len(det) == 0:
        return None
    b = np.asarray(det.boxes, dtype=np.float64).reshape(-1, 4)
    inside = (b[:, 0] <= x) & (x <= b[:, 2]) & (b[:, 1] <= y) & (y <= b[:, 3])
    if hidden:
        names = list(det.names)
        cls = np.asarray(det.classes)
        inside &= np.array([not (0 <= c < len(names) and names[c] in hidden) for c in cls], dtype=bool)
    if not inside.any():
        return None
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    area[~inside] = np.inf
    return int(np.argmin(area))


def rect_marker(colour: str = "#00e5ff", dashed: bool = False) -> QGraphicsRectItem:
    """A rectangle outline in image pixels with a 2 px screen-width pen (add it with ``pane.add_item``)."""
    item = QGraphicsRectItem(QRectF(0, 0, 1, 1))
    pen = QPen(QColor(colour))
    pen.setWidthF(2.0)
    pen.setCosmetic(True)
    if dashed:
        pen.setStyle(Qt.PenStyle.DashLine)
    item.setPen(pen)
    item.hide()
    return item
