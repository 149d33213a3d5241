"""Detection boxes drawn over an image: one graphics item paints them all.

Boxes are given in image pixels; outlines and labels are drawn in screen pixels, so lines stay
``line_width`` px wide and labels stay readable at any zoom and on high-DPI screens.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPen

from ..render.boxes import MAX_LABELS
from ..render.palette import class_rgb, text_rgb

__all__ = ["BoxesItem", "class_color"]

def class_color(index: int) -> QColor:
    """The class's colour (``render.palette.class_rgb``) as a QColor."""
    return QColor(*class_rgb(index))


def _text_color(bg: QColor) -> QColor:
    return QColor(*text_rgb((bg.red(), bg.green(), bg.blue())))


class BoxesItem(pg.GraphicsObject):
    """All boxes of one result. ``set_boxes`` replaces them; nothing else is needed.

    Everything that does not depend on the zoom (pens, label texts and their widths) is
    prepared once in ``set_boxes``; ``paint`` maps all boxes to the screen in one numpy step
    and draws them with one ``drawRects`` per colour. At most ``MAX_LABELS`` labels are drawn
    (the highest-scoring boxes come first from NMS); more would only cover the picture.
    """

    LABEL_MARGIN_PX = 60.0   # room for labels outside the union of the boxes
    MAX_LABELS = MAX_LABELS

    def __init__(self):
        super().__init__()
        self._boxes = np.zeros((0, 4), np.float64)
        self._colors: List[QColor] = []
        self._labels: Optional[List[str]] = None
        self._groups: List[tuple] = []       # (pen, indices) per colour
        self._texts: List[tuple] = []        # (text, width, fill colour, text pen) per label
        self._width = 2
        self._rect = QRectF()
        self._margin = 0.0
        self._font = QFont()
        self._font.setPointSizeF(max(8.0, self._font.pointSizeF() * 0.9))
        fm = QFontMetricsF(self._font)
        self._th, self._ascent = fm.height(), fm.ascent()

    # ------------------------------------------------------------------ data
    def set_boxes(self, boxes: np.ndarray, colors: Sequence[QColor], labels: Optional[Sequence[str]] = None,
                  line_width: int = 2) -> None:
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        self.prepareGeometryChange()
        self._boxes = boxes
        self._colors = list(colors) + [QColor(255, 255, 0)] * max(0, len(boxes) - len(colors))
        self._labels = list(labels) if labels is not None else None
        self._width = max(1, int(line_width))
        groups = {}
        for i, c in enumerate(self._colors[: len(boxes)]):
            groups.setdefault(c.rgba(), (c, []))[1].append(i)
        self._groups = []
        for c, idx in groups.values():
            pen = QPen(c, self._width)
            pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
            self._groups.append((pen, np.asarray(idx)))
        self._texts = []
        if self._labels:
            fm = QFontMetricsF(self._font)
            pens = {}
            for i, text in enumerate(self._labels[: min(len(boxes), self.MAX_LABELS)]):
                c = self._colors[i]
                pen = pens.get(c.rgba()) or pens.setdefault(c.rgba(), QPen(_text_color(c)))
                self._texts.append((text, fm.horizontalAdvance(text) + 4.0, c, pen))
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

    @property
    def line_width(self) -> int:
        return self._width

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
    def _device_boxes(self, tr) -> np.ndarray:
        """Boxes in device pixels (x1, y1, x2, y2), for the scale + translate views pyqtgraph uses."""
        b = self._boxes
        if tr.m12() == 0 and tr.m21() == 0:
            sx, sy, dx, dy = tr.m11(), tr.m22(), tr.dx(), tr.dy()
            d = b * np.array([sx, sy, sx, sy]) + np.array([dx, dy, dx, dy])
        else:  # rotated or sheared (not used by the panes, but stay correct)
            rects = [tr.mapRect(QRectF(x1, y1, x2 - x1, y2 - y1)) for x1, y1, x2, y2 in b]
            d = np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects]).reshape(-1, 4)
        x1, x2 = np.minimum(d[:, 0], d[:, 2]), np.maximum(d[:, 0], d[:, 2])
        y1, y2 = np.minimum(d[:, 1], d[:, 3]), np.maximum(d[:, 1], d[:, 3])
        return np.stack([x1, y1, x2, y2], axis=1)

    def paint(self, p, *args):
        if not len(self._boxes):
            return
        dev = self._device_boxes(p.transform())
        p.save()
        p.resetTransform()
        p.setRenderHint(p.RenderHint.Antialiasing, False)
        p.setBrush(Qt.BrushStyle.NoBrush)
        for pen, idx in self._groups:
            p.setPen(pen)
            p.drawRects([QRectF(x1, y1, x2 - x1, y2 - y1) for x1, y1, x2, y2 in dev[idx].tolist()])
        if self._texts:
            p.setFont(self._font)
            th, asc, half = self._th, self._ascent, self._width / 2
            for (text, tw, fill, text_pen), (x1, y1, _, _) in zip(self._texts, dev.tolist()):
                top = y1 - th - half
                if top < 0:  # no room above (top of the view): put the label inside the box
                    top = y1 + half
                left = x1 - half
                p.fillRect(QRectF(left, top, tw, th), fill)
                p.setPen(text_pen)
                p.drawText(QPointF(left + 2.0, top + asc), text)
        p.restore()
