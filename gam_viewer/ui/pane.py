"""One image pane: a frame, an optional overlay layer, a model's boxes and a one-line readout.

Layers, bottom to top, all in original-image pixel coordinates (x right, y down):
  ``image_item``    the frame (RGB uint8)
  ``overlay_item``  an extra image stretched over the frame: RGBA uint8, or a float map shown
                    through a 256-entry LUT (the colormap) with fixed levels, at some opacity
  extra items       anything added with ``add_item`` (grid cells, markers, ...)
  ``boxes``         the detections (outlines and labels in screen pixels)
Clicks and hovers are reported in original-image pixels (``image_clicked``/``image_hovered``).
Two panes link their zoom and pan with ``link_view``.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QStackedLayout, QVBoxLayout, QWidget

from ..render.boxes import visible_boxes
from ..render.colormaps import DEFAULT_COLORMAP, colormap_lut
from .boxes import BoxesItem, class_color
from .model_spec import DrawParams, ModelInfo

__all__ = ["ImagePane"]

HINT = ("Drop images, a folder or a video anywhere on the window\n"
        "or use File ▸ Open (Ctrl+O).")


class ImagePane(QFrame):
    image_clicked = Signal(float, float)    # original-image pixels
    image_hovered = Signal(float, float)

    def __init__(self, side: str, title: str, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.side = side
        self.title = title
        self.setObjectName(f"pane-{side}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.frame_index: Optional[int] = None
        self.detections = None
        self.shown_count = 0
        self._shape: Optional[Tuple[int, int]] = None
        self._draw = DrawParams()
        self._lut = colormap_lut(DEFAULT_COLORMAP)

        self.title_label = QLabel(f"<b>{title}</b>: no model")
        self.title_label.setTextFormat(Qt.TextFormat.RichText)
        self.title_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.readout = QLabel("")
        self.readout.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d03030;")
        self.error_label.hide()
        header = QHBoxLayout()
        header.setContentsMargins(6, 2, 6, 2)
        header.addWidget(self.title_label, 1)
        header.addSpacing(12)   # a clipped title must not run into the readout ("4" + "1 boxes")
        header.addWidget(self.readout)

        self.view = pg.GraphicsView()
        self.view.setBackground("#1e1e1e")
        self.vb = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.vb.setDefaultPadding(0.0)
        self.view.setCentralItem(self.vb)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.overlay_item = pg.ImageItem(axisOrder="row-major")
        self.overlay_item.setZValue(10)
        self.overlay_item.hide()
        self.boxes = BoxesItem()
        self.boxes.setZValue(20)
        self.vb.addItem(self.image_item)
        self.vb.addItem(self.overlay_item, ignoreBounds=True)
        self.vb.addItem(self.boxes, ignoreBounds=True)
        for w in (self.view, self.view.viewport()):
            w.setAcceptDrops(False)   # drops go to the main window
        self.view.scene().sigMouseClicked.connect(self._on_click)
        self.view.scene().sigMouseMoved.connect(self._on_move)

        self.hint = QLabel(HINT)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #9a9a9a; background: #1e1e1e;")
        self._stack = QStackedLayout()
        self._stack.addWidget(self.hint)
        self._stack.addWidget(self.view)

        body = QWidget()
        body.setLayout(self._stack)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(header)
        layout.addWidget(self.error_label)
        layout.addWidget(body, 1)

    # ------------------------------------------------------------------ view
    def link_view(self, other: "ImagePane") -> None:
        """Share zoom and pan with ``other`` (both axes)."""
        self.vb.setXLink(other.vb)
        self.vb.setYLink(other.vb)

    def fit(self) -> None:
        """Zoom to show the whole frame."""
        if self._shape is not None:
            self.vb.autoRange(items=[self.image_item], padding=0.0)

    @property
    def image_shape(self) -> Optional[Tuple[int, int]]:
        return self._shape

    # ------------------------------------------------------------------ content
    def show_frame(self, rgb: np.ndarray, index: Optional[int] = None) -> None:
        h, w = rgb.shape[:2]
        new_shape = self._shape != (h, w)
        self.image_item.setImage(rgb, autoLevels=False, levels=None)
        self.frame_index = index
        self._shape = (h, w)
        if self._stack.currentWidget() is not self.view:
            self._stack.setCurrentWidget(self.view)
        if new_shape:
            self.fit()

    def clear(self) -> None:
        self.image_item.clear()
        self.boxes.clear()
        self.clear_overlay()
        self.frame_index = None
        self.detections = None
        self._shape = None
        self._stack.setCurrentWidget(self.hint)
        self.readout.setText("")

    def show_detections(self, det, error: str = "", draw: Optional[DrawParams] = None) -> int:
        """Draw ``det`` (a Detections or None) with ``draw``; returns how many boxes are drawn."""
        self.detections = det
        if draw is not None:
            self._draw = draw
        self.set_error(error)
        return self.redraw()

    def redraw(self, draw: Optional[DrawParams] = None) -> int:
        if draw is not None:
            self._draw = draw
        det, d = self.detections, self._draw
        if det is None or len(det) == 0:
            self.boxes.clear()
            self.shown_count = 0
        else:
            cls = np.asarray(det.classes, dtype=np.int64)
            keep, labels = visible_boxes(det.names, cls, det.scores, d.hidden_classes, d.show_labels, d.show_scores)
            self.boxes.set_boxes(np.asarray(det.boxes)[keep], [class_color(cls[i]) for i in keep], labels,
                                 d.line_width)
            self.shown_count = len(keep)
        self._update_readout()
        return self.shown_count

    def _update_readout(self) -> None:
        det = self.detections
        if det is None:
            self.readout.setText("")
            return
        total = len(det)
        count = f"{total} boxes" if self.shown_count == total else f"{self.shown_count} of {total} boxes"
        ms = float(getattr(det, "timings", {}).get("total", 0.0))
        lb = getattr(det, "letterbox", None)
        size = f" · {max(lb.input_hw)} px" if lb is not None else ""   # the input size this model ran at
        self.readout.setText(f"{count} · {ms:.0f} ms{size}")

    def set_model(self, info: Optional[ModelInfo], loading: str = "") -> None:
        if loading:
            self.title_label.setText(f"<b>{self.title}</b>: loading {loading} …")
        elif info is None:
            self.title_label.setText(f"<b>{self.title}</b>: no model")
        else:
            gam = f", {len(info.gam_lines)} GAM layers" if info.has_gam else ", no GAM layers"
            self.title_label.setText(f"<b>{self.title}</b>: {info.label} ({info.kind}{gam})")
        self.title_label.setToolTip(info.summary if info is not None else "")

    def set_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))

    # ------------------------------------------------------------------ overlay layer and extra items
    def set_colormap(self, name: str) -> None:
        self._lut = colormap_lut(name)
        if self.overlay_item.isVisible() and self.overlay_item.image is not None \
                and self.overlay_item.image.ndim == 2:
            self.overlay_item.setLookupTable(self._lut)

    def set_overlay(self, data: np.ndarray, *, lut: Optional[np.ndarray] = None,
                    levels: Optional[Tuple[float, float]] = None, opacity: float = 0.5) -> None:
        """Show ``data`` over the frame, stretched to cover it.

        ``data``: H x W x 4 uint8 (RGBA, used as is) or an H x W float map (coloured through
        ``lut``, default the current colormap, between ``levels``, default its min and max).
        """
        data = np.asarray(data)
        if data.ndim == 3 and data.shape[2] == 4:
            img = np.ascontiguousarray(data, dtype=np.uint8)
            self.overlay_item.setImage(img, autoLevels=False, levels=None, lut=None)
        elif data.ndim == 2:
            img = np.ascontiguousarray(data, dtype=np.float32)
            if levels is None:
                lo, hi = float(np.nanmin(img)), float(np.nanmax(img))
                levels = (lo, hi if hi > lo else lo + 1e-6)
            self.overlay_item.setImage(img, autoLevels=False, levels=levels,
                                       lut=self._lut if lut is None else lut)
        else:
            raise ValueError(f"overlay must be H x W (float map) or H x W x 4 (RGBA), got shape {data.shape}")
        h, w = self._shape if self._shape is not None else data.shape[:2]
        self.overlay_item.setRect(QRectF(0, 0, w, h))
        self.overlay_item.setOpacity(float(np.clip(opacity, 0.0, 1.0)))
        self.overlay_item.show()

    def clear_overlay(self) -> None:
        self.overlay_item.hide()
        self.overlay_item.clear()

    def add_item(self, item, z: float = 15) -> None:
        """Add a graphics item drawn in image pixel coordinates, between the overlay and the boxes."""
        item.setZValue(z)
        self.vb.addItem(item, ignoreBounds=True)

    def remove_item(self, item) -> None:
        self.vb.removeItem(item)

    # ------------------------------------------------------------------ mouse
    def _to_image(self, scene_pos) -> Optional[Tuple[float, float]]:
        if self._shape is None or not self.vb.sceneBoundingRect().contains(scene_pos):
            return None
        pt = self.vb.mapSceneToView(scene_pos)
        x, y = float(pt.x()), float(pt.y())
        h, w = self._shape
        if 0 <= x < w and 0 <= y < h:
            return x, y
        return None

    def _on_click(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or ev.double():
            return
        xy = self._to_image(ev.scenePos())
        if xy is not None:
            self.image_clicked.emit(*xy)

    def _on_move(self, scene_pos) -> None:
        xy = self._to_image(scene_pos)
        if xy is not None:
            self.image_hovered.emit(*xy)
