"""The "Attention" panel: per-layer gate thumbnails, the overlay on the panes, the channel chart, CAM.

A view over each frame's results (``window.frame_result``); the maths is the engine's:

* thumbnails - for each pane whose model has GAM layers, one per layer (``AttentionMap.name``,
  e.g. ``head/P4 (40x30)``): the layer's gate reduced over channels, resampled through the
  letterbox (``inference.attention.warp_to_image``, what ``AttentionMap.image_map`` does) and
  coloured. Clicking one selects that layer and overlays its map on that pane;
* the overlay - "GAM gate": the selected layer's map over its pane; "EigenCAM": both panes,
  each on its CAM layer; "Grad-CAM": for the box clicked in a pane (its class score). CAM
  maps are computed by the pane's worker with the frame (``Pipeline.set_cam``), never here;
* look - reduction (mean, max, one channel), gate (spatial / channel), the window's colormap,
  opacity, per-frame or fixed range, and a colour bar per pane with the real values;
* the channel chart - the selected layer's channel gate reduced over H x W, or at the
  clicked pixel (its grid cell is outlined on the pane); clicking a bar makes that channel
  the heatmap's.

``timings`` holds the GUI-thread cost of the last frame's update (ms): thumbnails, overlay,
chart, total.
"""

from __future__ import annotations

import time
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup, QComboBox, QFormLayout, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QScrollArea, QSpinBox,
    QSplitter, QToolButton, QVBoxLayout, QWidget,
)

from ..render import figures as F
from ..inference.attention import warp_to_image
from .channel_chart import ChannelChart
from .model_spec import SIDE_TITLES, SIDES
from .overlay import (
    CamControls, ColourBar, OverlayStyle, Shown, StyleControls, box_at, colour_rgb, overlay_hw, overlay_lut,
    rect_marker,
)
from .worker import CamRequest

__all__ = ["AttentionPanel", "LayerThumbs", "MODES"]

MODES = (("off", "Off"), ("gate", "GAM gate (selected layer)"), ("eigen", "EigenCAM (both panes)"),
         ("grad", "Grad-CAM (click a box)"))
THUMB_W, THUMB_MAX_H = 112, 96
NO_GAM_AT_ALL = ("Neither model has GAM layers, so there are no gates to show. Open a GAM-YOLO checkpoint "
                 "in the GAM-YOLO picker (Models ▸ Open GAM-YOLO model…). EigenCAM and Grad-CAM work on any "
                 "model: choose them under Overlay.")


def _qimage(rgb: np.ndarray) -> QImage:
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class LayerThumbs(QGroupBox):
    """One pane's GAM layers as clickable thumbnails (or a note saying why there are none)."""

    COLUMNS = 2

    def __init__(self, side: str, group: QButtonGroup, parent: Optional[QWidget] = None):
        super().__init__(SIDE_TITLES[side], parent)
        self.side = side
        self.group = group
        self.buttons: Dict[int, QToolButton] = {}
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #8a8a8a;")
        self.grid = QGridLayout()
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(4)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.addWidget(self.note)
        lay.addLayout(self.grid)

    @property
    def names(self) -> List[str]:
        return [b.text() for b in self.buttons.values()]

    def set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def set_layers(self, layers: List[Tuple[int, str]]) -> None:
        """(layer index, name) of each thumbnail; rebuilt only when the list changes."""
        if [(i, b.text()) for i, b in self.buttons.items()] == list(layers):
            return
        for b in self.buttons.values():
            self.group.removeButton(b)
            b.deleteLater()
        self.buttons = {}
        for k, (index, name) in enumerate(layers):
            b = QToolButton()
            b.setText(name)
            b.setCheckable(True)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            b.setAutoRaise(True)
            b.setProperty("side", self.side)
            b.setProperty("layer", index)
            self.group.addButton(b)
            self.grid.addWidget(b, k // self.COLUMNS, k % self.COLUMNS)
            self.buttons[index] = b

    def set_image(self, index: int, rgb: np.ndarray, tooltip: str) -> None:
        b = self.buttons.get(index)
        if b is None:
            return
        h, w = rgb.shape[:2]
        if b.iconSize() != QSize(w, h):
            b.setIconSize(QSize(w, h))
        b.setIcon(QIcon(QPixmap.fromImage(_qimage(rgb))))
        b.setToolTip(tooltip)


class AttentionPanel(QWidget):
    def __init__(self, window):
        super().__init__()
        self.window = window
        self.style = OverlayStyle(cmap=window.colormap)
        self.result = None
        self.mode = "off"
        self.selected: Optional[Tuple[str, int]] = None       # (side, layer index)
        self.channels: Dict[Tuple[str, int], int] = {}         # chosen channel per layer
        self.point: Optional[Tuple[float, float]] = None       # clicked pixel (original image)
        self.grad_targets: Dict[str, Tuple[Tuple[float, ...], int, str]] = {}  # side -> (box, class, label)
        self.shown: Dict[str, Shown] = {}
        self.timings: Dict[str, float] = {}
        self.chart_data: Optional[dict] = None
        self._build()
        self._connect()
        window.add_panel(self, "Attention")

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.empty_note = QLabel(NO_GAM_AT_ALL)
        self.empty_note.setWordWrap(True)
        self.empty_note.hide()
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.thumbs = {side: LayerThumbs(side, self.group) for side in SIDES}
        for t in self.thumbs.values():
            t.set_note("no model")

        self.mode_box = QComboBox()
        for key, text in MODES:
            self.mode_box.addItem(text, key)
        self.mode_box.setToolTip("What is drawn over the panes")
        self.gate_box = QComboBox()
        self.gate_box.addItems(["spatial", "channel"])
        self.gate_box.setToolTip("Which GAM multiplier: the spatial gate or the channel gate (both C x H x W)")
        self.reduce_box = QComboBox()
        self.reduce_box.addItem("mean", "mean")
        self.reduce_box.addItem("max", "max")
        self.reduce_box.addItem("one channel", "channel")
        self.reduce_box.setToolTip("How the C x H x W gate becomes one map: the mean or the max over its "
                                   "channels, or one channel (or click a bar of the chart)")
        self.channel_spin = QSpinBox()
        self.channel_spin.setPrefix("ch ")
        self.channel_spin.setKeyboardTracking(False)
        self.channel_spin.setEnabled(False)
        self.style_controls = StyleControls(self.style)
        self.cam_controls = CamControls()
        self.colour_bars = {side: ColourBar() for side in SIDES}
        for bar in self.colour_bars.values():
            bar.hide()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.chart = ChannelChart()

        reduce_row = QHBoxLayout()
        reduce_row.setContentsMargins(0, 0, 0, 0)
        reduce_row.addWidget(self.reduce_box, 1)
        reduce_row.addWidget(self.channel_spin)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Overlay", self.mode_box)
        form.addRow("Gate", self.gate_box)
        form.addRow("Channels", reduce_row)

        top = QWidget()
        lay = QVBoxLayout(top)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(4)
        lay.addWidget(self.empty_note)
        for t in self.thumbs.values():
            lay.addWidget(t)
        for bar in self.colour_bars.values():
            lay.addWidget(bar)
        lay.addWidget(self.status)
        lay.addLayout(form)
        lay.addWidget(self.style_controls)
        lay.addWidget(self.cam_controls)
        lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(top)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(scroll)
        split.addWidget(self.chart)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([560, 300])
        split.setChildrenCollapsible(False)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(split)
        self.setMinimumWidth(240)

        self.cell_items = {side: rect_marker("#00e5ff") for side in SIDES}
        self.box_items = {side: rect_marker("#ffffff", dashed=True) for side in SIDES}
        for side, pane in self.window.panes.items():
            pane.add_item(self.cell_items[side], z=16)
            pane.add_item(self.box_items[side], z=17)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override: a dock of sensible width, not the chart's 600 px
        return QSize(330, 820)

    def _connect(self) -> None:
        w = self.window
        w.frame_result.connect(self.on_result)
        w.image_clicked.connect(self.on_image_clicked)
        w.colormap_changed.connect(self._on_colormap)
        w.models_changed.connect(self._on_model_changed)
        self.group.buttonClicked.connect(lambda b: self.select_layer(b.property("side"), int(b.property("layer"))))
        self.mode_box.currentIndexChanged.connect(lambda _i: self.set_mode(self.mode_box.currentData()))
        self.gate_box.currentTextChanged.connect(self.refresh)
        self.reduce_box.currentIndexChanged.connect(self._on_reduce)
        self.channel_spin.valueChanged.connect(self._on_channel_spin)
        self.style_controls.changed.connect(self._on_style)
        self.style_controls.freeze_requested.connect(self._freeze_range)
        self.cam_controls.changed.connect(lambda _side: self._sync_cam())
        self.chart.options_changed.connect(self._update_chart)
        self.chart.channel_clicked.connect(self.set_channel)
        self.chart.point_cleared.connect(self.clear_point)

    # ------------------------------------------------------------------ choices
    @property
    def gate(self) -> str:
        return self.gate_box.currentText()

    @property
    def reduce_kind(self) -> str:
        return self.reduce_box.currentData()

    def reduction(self, side: str, a) -> Union[str, int]:
        """The reduction over channels for layer ``a`` of ``side``: "mean", "max" or a channel."""
        if self.reduce_kind != "channel":
            return self.reduce_kind
        return min(self.channels.get((side, a.index), 0), a.channels - 1)

    def reduction_text(self, side: str, a) -> str:
        r = self.reduction(side, a)
        return f"{self.gate} gate, channel {r}" if isinstance(r, int) else f"{self.gate} gate, {r} over channels"

    def set_mode(self, mode: str) -> None:
        if mode not in dict(MODES):
            raise ValueError(f"overlay mode must be one of {[k for k, _ in MODES]}, got {mode!r}")
        self.mode = mode
        i = self.mode_box.findData(mode)
        if self.mode_box.currentIndex() != i:
            self.mode_box.blockSignals(True)
            self.mode_box.setCurrentIndex(i)
            self.mode_box.blockSignals(False)
        if mode == "grad" and not self.grad_targets:
            self.window.report("Grad-CAM: click a box in either pane")
        self._sync_cam()
        self.refresh()

    def select_layer(self, side: str, index: int) -> None:
        """Select GAM layer ``index`` of ``side``'s model and overlay its gate on that pane."""
        self.selected = (side, index)
        self._check_selected()
        self._sync_channel_spin()
        self.set_mode("gate")

    def set_channel(self, channel: int) -> None:
        """Make ``channel`` the heatmap's channel (for the selected layer)."""
        if self.selected is None:
            return
        self.channels[self.selected] = int(channel)
        self.reduce_box.blockSignals(True)
        self.reduce_box.setCurrentIndex(self.reduce_box.findData("channel"))
        self.reduce_box.blockSignals(False)
        self._sync_channel_spin()
        if self.mode == "off":
            self.set_mode("gate")
        else:
            self.refresh()

    def clear_point(self) -> None:
        self.point = None
        self._update_chart()

    def _on_reduce(self) -> None:
        self._sync_channel_spin()
        self.refresh()

    def _on_channel_spin(self, value: int) -> None:
        if self.selected is not None and self.reduce_kind == "channel":
            self.channels[self.selected] = int(value)
            self.refresh()

    def _sync_channel_spin(self) -> None:
        a = self.selected_map()
        on = self.reduce_kind == "channel" and a is not None
        self.channel_spin.blockSignals(True)
        if a is not None:
            self.channel_spin.setRange(0, a.channels - 1)
            self.channel_spin.setValue(self.channels.get(self.selected, 0))
        self.channel_spin.setEnabled(on)
        self.channel_spin.blockSignals(False)

    def _on_style(self) -> None:
        problem = self.style_controls.apply_to(self.style)
        if problem:
            self.window.report(problem, error=True)
        self.refresh()

    def _on_colormap(self, name: str) -> None:
        self.style.cmap = name
        self.refresh()

    def _freeze_range(self) -> None:
        shown = next((s for s in self.shown.values()), None)
        if shown is None:
            self.window.report("nothing is overlaid yet: no range to fix")
            return
        self.style_controls.set_fixed(*shown.vrange)

    # ------------------------------------------------------------------ CAM requests
    def _sync_cam(self) -> None:
        p = self.window.pipeline
        for side in SIDES:
            req = None
            layers = self.cam_controls.layers(side)
            if p.model_info(side) is not None:
                if self.mode == "eigen":
                    req = CamRequest("eigen", layers)
                elif self.mode == "grad" and side in self.grad_targets:
                    box, cls, _ = self.grad_targets[side]
                    req = CamRequest("grad", layers, box, cls)
            p.set_cam(side, req)
        self._update_status()

    def _on_model_changed(self, side: str, info) -> None:
        self.grad_targets.pop(side, None)
        self.cam_controls.set_layers(side, self.window.pipeline.cam_layers(side))
        for key in [k for k in self.channels if k[0] == side]:
            del self.channels[key]
        self._sync_cam()

    # ------------------------------------------------------------------ clicks
    def on_image_clicked(self, side: str, x: float, y: float) -> None:
        if self.mode == "grad":
            pane = self.window.panes[side]
            det = pane.detections
            k = box_at(det, x, y, self.window.controls.draw_params().hidden_classes)
            if k is not None:
                box = tuple(float(v) for v in det.boxes[k])
                self.grad_targets[side] = (box, int(det.classes[k]), det.label(k))
                self.window.report(f"Grad-CAM of {det.label(k)} ({SIDE_TITLES[side]}) …")
                self._sync_cam()
                return
            self.window.report(f"Grad-CAM: no box of {SIDE_TITLES[side]} at x {x:.0f}, y {y:.0f}; click inside one")
        self.point = (float(x), float(y))
        self._update_chart()

    # ------------------------------------------------------------------ per frame
    def refresh(self, *_args) -> None:
        if self.result is not None:
            self.on_result(self.result)
        else:
            self._update_status()

    def on_result(self, result) -> None:
        self.result = result
        t0 = time.perf_counter()
        self._update_thumbs()
        t1 = time.perf_counter()
        self._update_overlays()
        t2 = time.perf_counter()
        self._update_chart()
        t3 = time.perf_counter()
        self._update_status()
        self.timings = {"thumbnails": (t1 - t0) * 1e3, "overlay": (t2 - t1) * 1e3, "chart": (t3 - t2) * 1e3,
                        "total": (time.perf_counter() - t0) * 1e3}

    def maps(self, side: str) -> list:
        """The attention maps of ``side`` in the current result ([] when none)."""
        det = self.result.detections.get(side) if self.result is not None else None
        return list(getattr(det, "attention", None) or [])

    def selected_map(self):
        """The AttentionMap of the selected layer in the current result, or None."""
        if self.selected is None:
            return None
        side, index = self.selected
        return next((a for a in self.maps(side) if a.index == index), None)

    def _update_thumbs(self) -> None:
        r = self.result
        any_gam = False
        for side in SIDES:
            box, info, maps = self.thumbs[side], r.models.get(side), self.maps(side)
            box.setTitle(f"{SIDE_TITLES[side]}: {info.label}" if info is not None else SIDE_TITLES[side])
            any_gam |= bool(maps) or bool(info is not None and info.has_gam)
            box.set_layers([(a.index, a.name) for a in maps])
            if info is None:
                box.set_note("no model")
            elif not info.has_gam:
                box.set_note(f"{info.label} has no GAM layers: no gates to show (EigenCAM and Grad-CAM work)")
            elif not maps:
                box.set_note("no gates in this result" + (f" ({r.errors[side]})" if r.errors.get(side) else ""))
            else:
                box.set_note("")
            for a in maps:
                self._thumb(side, a)
        self.empty_note.setVisible(not any_gam)
        if self.selected_map() is None:     # first frame, or the layer is gone: the first GAM layer
            first = next(((s, m[0].index) for s in SIDES for m in [self.maps(s)] if m), None)
            self.selected = first
            self._sync_channel_spin()
        self._check_selected()

    def _thumb(self, side: str, a) -> None:
        h0, w0 = a.letterbox.orig_hw
        th = min(THUMB_MAX_H, max(8, int(round(THUMB_W * h0 / w0))))
        tw = min(THUMB_W, max(8, int(round(th * w0 / h0))))
        try:
            m = warp_to_image(a.spatial_map(self.reduction(side, a), self.gate), a.letterbox, a.stride, (th, tw))
        except ValueError as exc:   # an ablated block has no such gate
            self.thumbs[side].buttons[a.index].setToolTip(str(exc))
            return
        vr = self.style.vrange(m)
        tip = (f"layer {a.index} {a.name}, stride {a.stride}, {a.channels} channels\n"
               f"{self.reduction_text(side, a)}: {float(m.min()):.4g} … {float(m.max()):.4g}\nclick to overlay it")
        self.thumbs[side].set_image(a.index, colour_rgb(m, self.style.cmap, vr), tip)

    def _check_selected(self) -> None:
        for side, t in self.thumbs.items():
            for index, b in t.buttons.items():
                on = self.selected == (side, index)
                if b.isChecked() != on:
                    if on:
                        b.setChecked(True)
                    else:   # an exclusive group refuses to uncheck its checked button
                        self.group.setExclusive(False)
                        b.setChecked(False)
                        self.group.setExclusive(True)

    def _update_overlays(self) -> None:
        for side, pane in self.window.panes.items():
            shown = None
            if self.mode == "gate" and self.selected and self.selected[0] == side:
                shown = self._gate_shown(side)
            elif self.mode in ("eigen", "grad"):
                shown = self._cam_shown(side)
            bar, box_item = self.colour_bars[side], self.box_items[side]
            if shown is None:
                self.shown.pop(side, None)
                pane.clear_overlay()
                bar.hide()
                box_item.hide()
                continue
            self.shown[side] = shown
            pane.set_overlay(shown.values, lut=overlay_lut(self.style.cmap), levels=shown.vrange,
                             opacity=self.style.opacity)
            bar.set_map(f"{SIDE_TITLES[side]}: {shown.layer}", shown.label, shown.vrange, shown.clipped,
                        shown.values, overlay_lut(self.style.cmap), self.style.range_mode)
            if shown.boxes is not None:
                x1, y1, x2, y2 = (float(v) for v in shown.boxes[0])
                box_item.setRect(x1, y1, x2 - x1, y2 - y1)
                box_item.show()
            else:
                box_item.hide()

    def _finish(self, shown: Shown) -> Shown:
        shown.vrange = self.style.vrange(shown.values)
        shown.clipped = F.out_of_range(shown.values, shown.vrange)
        return shown

    def _gate_shown(self, side: str) -> Optional[Shown]:
        a = self.selected_map()
        if a is None:
            return None
        red, gate = self.reduction(side, a), self.gate
        try:
            values = warp_to_image(a.spatial_map(red, gate), a.letterbox, a.stride, overlay_hw(a.letterbox.orig_hw))
        except ValueError as exc:
            self.window.report(str(exc), error=True)
            return None
        info = self.result.models.get(side)
        return self._finish(Shown(
            side, "gate", info.label if info else side, f"{a.index} {a.name}", self.reduction_text(side, a),
            f"{gate} gate", values, (0.0, 1.0), (False, False), lambda: a.image_map(red, gate),
            self.result.frame.index))

    def _cam_shown(self, side: str) -> Optional[Shown]:
        cam = self.result.cams.get(side)
        if cam is None:
            return None
        info = self.result.models.get(side)
        det = self.result.detections.get(side)
        shown = Shown(side, cam.method, info.label if info else side, ", ".join(cam.layer_names),
                      "EigenCAM" if cam.method == "eigen" else f"Grad-CAM of {det.label(cam.box)}",
                      "CAM (relative)", cam.image_map(overlay_hw(cam.letterbox.orig_hw)), (0.0, 1.0),
                      (False, False), cam.image_map, self.result.frame.index)
        if cam.box is not None and det is not None:
            shown.boxes = np.asarray(det.boxes[cam.box:cam.box + 1], dtype=np.float32)
            shown.box_labels = [det.label(cam.box)]
            shown.box_classes = [int(det.classes[cam.box])]
        return self._finish(shown)

    def _update_chart(self, *_args) -> None:
        a = self.selected_map()
        for side, item in self.cell_items.items():
            if a is None or self.point is None or side != self.selected[0]:
                item.hide()
        if a is None:
            self.chart_data = None
            self.chart.clear("no GAM layer to chart" if self.result is not None else "")
            return
        side = self.selected[0]
        gate = "channel" if a.channel_gate is not None else "spatial"
        reduction = self.chart.reduction
        where = ""
        if self.point is not None:
            x, y = self.point
            col, row = a.cell_at(x, y)
            vec = a.channel_vector(at=(x, y), gate=gate)
            h, w = a.grid_hw
            where = f"at x {x:.0f}, y {y:.0f}: cell ({col}, {row}) of {w}x{h}"
            x1, y1, x2, y2 = a.cell_rect(col, row)
            item = self.cell_items[side]
            item.setRect(x1, y1, x2 - x1, y2 - y1)
            item.show()
            what = f"{gate} gate at one cell"
        else:
            vec = a.channel_vector(reduction, gate=gate)
            what = f"{gate} gate, {reduction} over H x W"
        marked = self.reduction(side, a) if self.reduce_kind == "channel" else None
        title = f"{SIDE_TITLES[side]} layer {a.index} {a.name}: {what}"
        self.chart.set_vector(vec, title, f"{gate} gate", marked, where)
        info = self.result.models.get(side)
        self.chart_data = {"side": side, "layer": a, "values": vec, "title": title, "where": where,
                           "gate": gate, "reduction": "cell" if self.point is not None else reduction,
                           "model": info.label if info else side, "marked": marked}

    def _update_status(self) -> None:
        lines = []
        if self.mode in ("eigen", "grad"):
            r = self.result
            for side in SIDES:
                if self.window.pipeline.model_info(side) is None:
                    continue
                name = SIDE_TITLES[side]
                if self.mode == "grad" and side not in self.grad_targets:
                    lines.append(f"{name}: click one of its boxes")
                elif r is not None and side in r.cam_errors:
                    lines.append(f"<span style='color:#d03030'>{name}: {r.cam_errors[side]}</span>")
                elif r is not None and side in r.cams:
                    cam = r.cams[side]
                    lines.append(f"{name}: {cam.title} ({r.cam_ms.get(side, 0.0):.0f} ms, frame {r.frame.index})")
                else:
                    lines.append(f"{name}: computing {'EigenCAM' if self.mode == 'eigen' else 'Grad-CAM'} …")
        self.status.setText("<br>".join(lines))
        self.status.setVisible(bool(lines))
