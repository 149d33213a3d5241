"""Detection boxes drawn over an image: one graphics item paints them all.

Boxes are given in image pixels; outlines and labels are drawn in screen pixels, so lines stay
``line_width`` px wide and labels stay readable at any zoom and on high-DPI screens.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPen

__all__ = ["BoxesItem", "class_color"]

_GOLDEN = 0.6180339887498949


def class_color(index: int) -> QColor:
    """A bright colour per class index, stable between runs; neighbours differ in hue."""
    i = int(index)
    hue = (0.02 + i * _GOLDEN) % 1.0
    sat = 0.80 if (i // 6) % 2 == 0 else 0.60
    val = 1.00 if (i // 3) % 2 == 0 else 0.85
    return QColor.fromHsvF(hue, sat, val)


def _text_color(bg: QColor) -> QColor:
    lum = 0.299 * bg.redF() + 0.587 * bg.greenF() + 0.114 * bg.blueF()
    return QColor(Qt.GlobalColor.black) if lum > 0.55 else QColor(Qt.GlobalColor.white)


class BoxesItem(pg.GraphicsObject):
    """All boxes of one result. ``set_boxes`` replaces them; nothing else is needed."""

    LABEL_MARGIN_PX = 60.0   # room for labels outside the union of the boxes

    def __init__(self):
        super().__init__()
        self._boxes = np.zeros((0, 4), np.float32)
        self._colors: List[QColor] = []
        self._labels: Optional[List[str]] = None
        self._width = 2
        self._rect = QRectF()
        self._margin = 0.0
        self._font = QFont()
        self._font.setPointSizeF(max(8.0, self._font.pointSizeF() * 0.9))

    # ------------------------------------------------------------------ data
    def set_boxes(self, boxes: np.ndarray, colors: Sequence[QColor], labels: Optional[Sequence[str]] = None,
                  line_width: int = 2) -> None:
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        self.prepareGeometryChange()
        self._boxes = boxes
        self._colors = list(colors)
        self._labels = list(labels) if labels is not None else None
        self._width = max(1, int(line_width))
        if len(boxes):
            x1, y1 = float(boxes[:, 0].min()), float(boxes[:, 1].min())
            x2, y2 = float(boxes[:, 2].max()), float(boxes[:, 3].max())
            self._rect = QRectF(x1, y1, max(x2 - x1, 1e-3), max(y2 - y1, 1e-3))
        else:
            self._rect = QRectF()
        self._update_margin()
        self.update()

    def clear(self) -> None:
        self.set_boxes(np.zeros((0, 4), np.float32), [])

    def __len__(self) -> int:
        return int(self._boxes.shape[0])

    @property
    def labels(self) -> List[str]:
        return list(self._labels or [])

    # ------------------------------------------------------------------ geometry
    def _update_margin(self) -> None:
        px = self.pixelLength(pg.Point(1, 0)) if self.scene() is not None else None
        self._margin = (px or 1.0) * self.LABEL_MARGIN_PX

    def viewTransformChanged(self):
        self.prepareGeometryChange()
        self._update_margin()

    def boundingRect(self) -> QRectF:
        if self._rect.isNull():
            return QRectF()
        m = self._margin
        return self._rect.adjusted(-m, -m, m, m)

    # ------------------------------------------------------------------ painting
    def paint(self, p, *args):
        n = len(self._boxes)
        if not n:
            return
        tr = p.transform()
        p.save()
        p.resetTransform()
        p.setRenderHint(p.RenderHint.Antialiasing, False)
        p.setFont(self._font)
        fm = QFontMetricsF(self._font)
        th = fm.height()
        pad = 2.0
        for i in range(n):
            x1, y1, x2, y2 = (float(v) for v in self._boxes[i])
            r = tr.mapRect(QRectF(x1, y1, x2 - x1, y2 - y1))
            color = self._colors[i] if i < len(self._colors) else QColor(255, 255, 0)
            pen = QPen(color, self._width)
            pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
            p.setPen(pen)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(r)
            if self._labels is None or i >= len(self._labels) or not self._labels[i]:
                continue
            text = self._labels[i]
            tw = fm.horizontalAdvance(text) + 2 * pad
            top = r.top() - th - self._width / 2
            if top < 0:  # no room above (top of the view): put the label inside the box
                top = r.top() + self._width / 2
            box = QRectF(r.left() - self._width / 2, top, tw, th)
            p.fillRect(box, color)
            p.setPen(_text_color(color))
            p.drawText(box.adjusted(pad, 0, 0, 0), int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                       text)
        p.restore()
