"""What the gate heatmaps and the CAM maps share on screen: colour bar, look controls, CAM choices.

The choices themselves live in ``render.view_state.AttentionState`` (plain Python); these
widgets show and edit them:

* :class:`ColourBar` - pyqtgraph's ``ColorBarItem`` in the window's colour table
  (``render.colormaps``) against the real values, with the map's own min / max and a note when
  values fall outside a fixed range (drawn in the end colours, never hidden);
* :class:`StyleControls` - opacity and range widgets; :class:`CamControls` - the CAM layer of
  each pane (``inference.cam.cam_layers``, sent by the workers);
* :func:`box_at`, :func:`rect_marker` - picking a detection by clicking it, marking a rectangle;
* :func:`blocked` - a context manager that silences widgets while the panel mirrors the state.

On screen the map is resampled to at most :data:`MAX_OVERLAY_SIDE` pixels on its long side
(exports use the source's resolution); either way it is stretched over exactly the frame.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QPen
from PySide6.QtWidgets import (
    QComboBox, QDoubleSpinBox, QFormLayout, QGraphicsRectItem, QHBoxLayout, QLabel, QPushButton, QSizePolicy,
    QVBoxLayout, QWidget,
)

from ..render.colormaps import DEFAULT_COLORMAP, colormap_lut
from .controls import SliderSpin
from .model_spec import SIDE_TITLES, SIDES

__all__ = ["overlay_hw", "ColourBar", "StyleControls", "CamControls", "box_at", "rect_marker", "blocked",
           "MAX_OVERLAY_SIDE"]

MAX_OVERLAY_SIDE = 1024
Range = Tuple[float, float]


@contextmanager
def blocked(*objects: QObject) -> Iterator[None]:
    """Block the signals of ``objects`` inside the block (a widget set from the state must not echo)."""
    before = [o.blockSignals(True) for o in objects]
    try:
        yield
    finally:
        for o, b in zip(objects, before):
            o.blockSignals(b)


def overlay_hw(image_hw: Tuple[int, int], limit: int = MAX_OVERLAY_SIDE) -> Tuple[int, int]:
    """Size of the on-screen map for an H x W frame: the frame's, or scaled to ``limit``."""
    h, w = int(image_hw[0]), int(image_hw[1])
    s = min(1.0, limit / max(h, w))
    return max(1, int(round(h * s))), max(1, int(round(w * s)))


def pg_colormap(name: str) -> pg.ColorMap:
    """A pyqtgraph ColorMap of the render table ``name`` (the colours the panes and exports use)."""
    lut = colormap_lut(name)
    return pg.ColorMap(np.linspace(0.0, 1.0, len(lut)), lut, name=name)


class ColourBar(QWidget):
    """A horizontal colour bar: title, pyqtgraph's ColorBarItem with ticks of the real values, and
    a line with the map's own min / max and how the range is chosen."""

    BAR_H = 12

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.title = ""
        self.label = ""
        self.levels: Optional[Range] = None
        self.clipped: Tuple[bool, bool] = (False, False)
        self.data_range: Optional[Range] = None
        self.range_mode = "frame"
        self.cmap = DEFAULT_COLORMAP
        self.heading = QLabel("")
        self.heading.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.note = QLabel("")
        self.note.setStyleSheet("color: #8a8a8a;")
        self.note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground(None)
        self.view.ci.setContentsMargins(4, 0, 8, 0)
        self.item = pg.ColorBarItem(values=(0.0, 1.0), width=self.BAR_H, colorMap=pg_colormap(self.cmap),
                                    interactive=False, orientation="horizontal", colorMapMenu=False)
        axis = self.item.getAxis("bottom")
        axis.enableAutoSIPrefix(False)   # real values, not "500 (x0.001)"
        axis.setTextPen(self.palette().windowText().color())
        self.view.addItem(self.item)
        self.view.setFixedHeight(self.BAR_H + QFontMetrics(self.font()).height() + 4)
        self.view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.heading)
        lay.addWidget(self.view)
        lay.addWidget(self.note)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    @property
    def ticks(self) -> List[Tuple[float, str]]:
        """(value, text) of the bar's major and minor ticks (pyqtgraph's choice)."""
        if self.levels is None:
            return []
        axis = self.item.getAxis("bottom")
        lo, hi = self.levels
        width = max(axis.width() if axis.width() > 0 else self.width(), 100)
        out = []
        for spacing, values in axis.tickValues(lo, hi, width)[:2]:
            out += [(float(v), t) for v, t in zip(values, axis.tickStrings(values, 1.0, spacing))]
        return sorted(out)

    def set_map(self, title: str, label: str, levels: Range, clipped: Tuple[bool, bool], values: np.ndarray,
                cmap: str, range_mode: str) -> None:
        self.title, self.label, self.range_mode = title, label, range_mode
        self.levels = (float(levels[0]), float(levels[1]))
        self.clipped = (bool(clipped[0]), bool(clipped[1]))
        ok = np.isfinite(values)
        finite = values if ok.all() else values[ok]   # no masked copy of the whole map when all finite
        self.data_range = (float(finite.min()), float(finite.max())) if finite.size else None
        if cmap != self.cmap:
            self.cmap = cmap
            self.item.setColorMap(pg_colormap(cmap))
        self.item.setLevels(self.levels)
        self.heading.setText(f"{title} — {label}")
        self.note.setText(self.footer())
        self.setToolTip(f"{title} — {label}\n{self.summary()}")
        self.show()

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
        """The line under the bar: the map's own min / max and how the range is chosen."""
        dr = self.data_range
        text = f"values {dr[0]:.4g} … {dr[1]:.4g}" if dr else ""
        if self.range_mode == "fixed":
            text += " · fixed range"
            if any(self.clipped):
                side = " and ".join(s for s, c in zip(("below", "above"), self.clipped) if c)
                text += f", {side} it: end colours"
        else:
            text += " · per-frame range"
        return text


class StyleControls(QWidget):
    """Opacity and value range of the overlays (the colormap is the window's own control)."""

    changed = Signal()
    freeze_requested = Signal()

    def __init__(self, style, parent: Optional[QWidget] = None):
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
        self.sync_enabled()
        self.opacity.valueChanged.connect(self.changed)
        self.range_mode.currentIndexChanged.connect(self._on_mode)
        self.lo.valueChanged.connect(self.changed)
        self.hi.valueChanged.connect(self.changed)
        self.freeze.clicked.connect(self.freeze_requested)

    def _on_mode(self) -> None:
        self.sync_enabled()
        self.changed.emit()

    def sync_enabled(self) -> None:
        fixed = self.range_mode.currentData() == "fixed"
        self.lo.setEnabled(fixed)
        self.hi.setEnabled(fixed)

    def apply_to(self, style) -> Optional[str]:
        """Copy the widgets into ``style`` (an ``AttentionState``); a one-line problem (fixed low >= high) or None."""
        style.opacity = self.opacity.value()
        lo, hi = self.lo.value(), self.hi.value()
        if self.range_mode.currentData() == "fixed" and lo >= hi:
            style.range_mode = "frame"
            return f"fixed range needs low < high (got {lo:g} .. {hi:g}); using the per-frame range"
        style.range_mode = self.range_mode.currentData()
        style.fixed = (lo, hi)
        return None

    def set_fixed(self, lo: float, hi: float) -> None:
        with blocked(self.lo, self.hi):
            self.lo.setValue(lo)
            self.hi.setValue(hi)
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
        with blocked(combo):
            self._fill(combo, layers, keep)

    @staticmethod
    def _fill(combo: QComboBox, layers: Sequence[object], keep) -> None:
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

    def layers(self, side: str) -> Optional[Tuple[int, ...]]:
        return self.combos[side].currentData()


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
