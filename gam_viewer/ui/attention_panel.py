"""The "Attention" panel: per-layer gate thumbnails, the overlay on the panes, the channel chart, CAM.

A view over each frame's results (``window.frame_result``) and over the panel's choices, kept in
a plain-Python ``render.view_state.AttentionState`` (``panel.state``); what is drawn comes from
that module's pure functions, the maths from ``inference``:

* thumbnails - for each pane whose model has GAM layers, one per layer (``AttentionMap.name``,
  e.g. ``head/P4 (40x30)``): the layer's gate reduced over channels, resampled through the
  letterbox (``AttentionMap.image_map``) and coloured. Clicking one selects that layer and overlays its map on that pane;
* the overlay - "GAM gate": the selected layer's map over its pane; "EigenCAM": both panes,
  each on its CAM layer; "Grad-CAM": for the box clicked in a pane (its class score). CAM
  maps are computed by the pane's worker with the frame (``Pipeline.set_cam``), never here;
* look - reduction (mean, max, one channel), gate (spatial / channel), the window's colormap,
  opacity, per-frame or fixed range, and a colour bar per pane with the real values
  (pyqtgraph's ``ColorBarItem`` in the same colour table as the overlay and the exports);
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
from ..render.captions import model_label, reduction_text
from ..render.colormaps import colormap_lut
from ..render.palette import CELL_RGB, TARGET_BOX_RGB
from ..render.view_state import AttentionState, ChartView, MapView, cam_view, chart_view, gate_view
from .channel_chart import ChannelChart
from .model_spec import SIDE_TITLES, SIDES
from .overlay import CamControls, ColourBar, StyleControls, blocked, box_at, overlay_hw, rect_marker
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
    """Widgets mirroring an :class:`~gam_viewer.render.view_state.AttentionState` (``self.state``).

    One attribute of the state per widget: a widget's signal writes its attribute and refreshes;
    :meth:`sync_widgets` writes the state back into the widgets with their signals blocked.
    What is drawn comes from the state's pure functions (``gate_view``, ``cam_view``,
    ``chart_view``), which the exporter and ``gam-viewer export`` use as well.
    """

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.state = AttentionState(cmap=window.colormap)
        self.result = None
        self.shown: Dict[str, MapView] = {}
        self.chart_view: Optional[ChartView] = None
        self.timings: Dict[str, float] = {}
        self._build()
        self._connect()
        window.add_panel(self, "Attention")

    # ------------------------------------------------------------------ the state, as attributes
    @property
    def style(self) -> AttentionState:
        """The look (colour map, opacity, range): part of the state."""
        return self.state

    @property
    def mode(self) -> str:
        return self.state.mode

    @property
    def selected(self) -> Optional[Tuple[str, int]]:
        return self.state.selected

    @property
    def channels(self) -> Dict[Tuple[str, int], int]:
        return self.state.channels

    @property
    def point(self) -> Optional[Tuple[float, float]]:
        return self.state.point

    @property
    def grad_targets(self) -> Dict[str, Tuple[Tuple[float, ...], int, str]]:
        return self.state.grad_targets

    @property
    def gate(self) -> str:
        return self.state.gate

    @property
    def reduce_kind(self) -> str:
        return self.state.reduce

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
        self.style_controls = StyleControls(self.state)
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

        hexa = "#{:02x}{:02x}{:02x}".format
        self.cell_items = {side: rect_marker(hexa(*CELL_RGB)) for side in SIDES}
        self.box_items = {side: rect_marker(hexa(*TARGET_BOX_RGB), dashed=True) for side in SIDES}
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
        self.gate_box.currentTextChanged.connect(self._on_gate)
        self.reduce_box.currentIndexChanged.connect(self._on_reduce)
        self.channel_spin.valueChanged.connect(self._on_channel_spin)
        self.style_controls.changed.connect(self._on_style)
        self.style_controls.freeze_requested.connect(self._freeze_range)
        self.cam_controls.changed.connect(self._on_cam_layer)
        self.chart.options_changed.connect(self._on_chart_options)
        self.chart.channel_clicked.connect(self.set_channel)
        self.chart.point_cleared.connect(self.clear_point)

    def sync_widgets(self) -> None:
        """Show the state in the widgets (signals blocked: nothing echoes back)."""
        st = self.state
        with blocked(self.mode_box, self.gate_box, self.reduce_box, self.channel_spin):
            self.mode_box.setCurrentIndex(self.mode_box.findData(st.mode))
            self.gate_box.setCurrentText(st.gate)
            self.reduce_box.setCurrentIndex(self.reduce_box.findData(st.reduce))
            a = self.selected_map()
            if a is not None:
                self.channel_spin.setRange(0, a.channels - 1)
                self.channel_spin.setValue(self.state.channels.get(st.selected, 0))
            self.channel_spin.setEnabled(st.reduce == "channel" and a is not None)
        c = self.chart
        with blocked(c.reduce, c.sort, c.top_k):
            c.reduce.setCurrentText(st.chart_reduce)
            c.sort.setChecked(st.chart_sort)
            c.top_k.setValue(st.chart_top_k or 0)
        sc = self.style_controls
        with blocked(sc.opacity, sc.range_mode, sc.lo, sc.hi):
            sc.opacity.setValue(st.opacity)
            sc.range_mode.setCurrentIndex(sc.range_mode.findData(st.range_mode))
            sc.lo.setValue(st.fixed[0])
            sc.hi.setValue(st.fixed[1])
            sc.sync_enabled()
        for side in SIDES:
            combo = self.cam_controls.combos[side]
            with blocked(combo):
                combo.setCurrentIndex(max(combo.findData(st.cam_layers.get(side)), 0))

    # ------------------------------------------------------------------ choices (widget -> state)
    def reduction(self, side: str, a) -> Union[str, int]:
        """The reduction over channels for layer ``a`` of ``side``: "mean", "max" or a channel."""
        return self.state.reduction(side, a)

    def reduction_text(self, side: str, a) -> str:
        return reduction_text(self.state.gate, self.state.reduction(side, a))

    def set_mode(self, mode: str) -> None:
        if mode not in dict(MODES):
            raise ValueError(f"overlay mode must be one of {[k for k, _ in MODES]}, got {mode!r}")
        self.state.mode = mode
        self.sync_widgets()
        if mode == "grad" and not self.state.grad_targets:
            self.window.report("Grad-CAM: click a box in either pane")
        self._sync_cam()
        self.refresh()

    def select_layer(self, side: str, index: int) -> None:
        """Select GAM layer ``index`` of ``side``'s model and overlay its gate on that pane."""
        self.state.selected = (side, index)
        self._check_selected()
        self.sync_widgets()
        self.set_mode("gate")

    def set_channel(self, channel: int) -> None:
        """Make ``channel`` the heatmap's channel (for the selected layer)."""
        if self.state.selected is None:
            return
        self.state.channels[self.state.selected] = int(channel)
        self.state.reduce = "channel"
        self.sync_widgets()
        if self.state.mode == "off":
            self.set_mode("gate")
        else:
            self.refresh()

    def clear_point(self) -> None:
        self.state.point = None
        self._update_chart()

    def _on_gate(self, gate: str) -> None:
        self.state.gate = gate
        self.refresh()

    def _on_reduce(self) -> None:
        self.state.reduce = self.reduce_box.currentData()
        self.sync_widgets()
        self.refresh()

    def _on_channel_spin(self, value: int) -> None:
        if self.state.selected is not None and self.state.reduce == "channel":
            self.state.channels[self.state.selected] = int(value)
            self.refresh()

    def _on_style(self) -> None:
        problem = self.style_controls.apply_to(self.state)
        if problem:
            self.window.report(problem, error=True)
        self.refresh()

    def _on_colormap(self, name: str) -> None:
        self.state.cmap = name
        self.refresh()

    def _on_chart_options(self) -> None:
        self.state.chart_reduce = self.chart.reduction
        self.state.chart_sort = self.chart.sort.isChecked()
        self.state.chart_top_k = self.chart.top_k.value() or None
        self._update_chart()

    def _on_cam_layer(self, side: str) -> None:
        self.state.cam_layers[side] = self.cam_controls.layers(side)
        self._sync_cam()

    def _freeze_range(self) -> None:
        shown = next((s for s in self.shown.values()), None)
        if shown is None:
            self.window.report("nothing is overlaid yet: no range to fix")
            return
        self.style_controls.set_fixed(*shown.vrange)

    # ------------------------------------------------------------------ CAM requests
    def _sync_cam(self) -> None:
        p, st = self.window.pipeline, self.state
        for side in SIDES:
            req = None
            layers = st.cam_layers.get(side)
            if p.model_info(side) is not None:
                if st.mode == "eigen":
                    req = CamRequest("eigen", layers)
                elif st.mode == "grad" and side in st.grad_targets:
                    box, cls, _ = st.grad_targets[side]
                    req = CamRequest("grad", layers, box, cls)
            p.set_cam(side, req)
        self._update_status()

    def _on_model_changed(self, side: str, info) -> None:
        self.state.forget(side)
        self.cam_controls.set_layers(side, self.window.pipeline.cam_layers(side))
        self.state.cam_layers[side] = self.cam_controls.layers(side)
        self._sync_cam()

    # ------------------------------------------------------------------ clicks
    def on_image_clicked(self, side: str, x: float, y: float) -> None:
        if self.state.mode == "grad":
            pane = self.window.panes[side]
            det = pane.detections
            k = box_at(det, x, y, self.window.controls.draw_params().hidden_classes)
            if k is not None:
                box = tuple(float(v) for v in det.boxes[k])
                self.state.grad_targets[side] = (box, int(det.classes[k]), det.label(k))
                self.window.report(f"Grad-CAM of {det.label(k)} ({SIDE_TITLES[side]}) …")
                self._sync_cam()
                return
            self.window.report(f"Grad-CAM: no box of {SIDE_TITLES[side]} at x {x:.0f}, y {y:.0f}; click inside one")
        self.state.point = (float(x), float(y))
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
        if self.state.selected is None:
            return None
        side, index = self.state.selected
        return next((a for a in self.maps(side) if a.index == index), None)

    def model_label(self, side: str) -> str:
        info = self.result.models.get(side) if self.result is not None else None
        return info.label if info is not None else model_label(side)

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
            self.state.selected = next(((s, m[0].index) for s in SIDES for m in [self.maps(s)] if m), None)
            self.sync_widgets()
        self._check_selected()

    def _thumb(self, side: str, a) -> None:
        h0, w0 = a.letterbox.orig_hw
        th = min(THUMB_MAX_H, max(8, int(round(THUMB_W * h0 / w0))))
        tw = min(THUMB_W, max(8, int(round(th * w0 / h0))))
        try:
            view = gate_view(self.state, side, a, "", (th, tw))
        except ValueError as exc:   # an ablated block has no such gate
            self.thumbs[side].buttons[a.index].setToolTip(str(exc))
            return
        m = view.values
        tip = (f"layer {a.index} {a.name}, stride {a.stride}, {a.channels} channels\n"
               f"{view.what}: {float(m.min()):.4g} … {float(m.max()):.4g}\nclick to overlay it")
        self.thumbs[side].set_image(a.index, F.apply_colormap(m, self.state.cmap, view.vrange), tip)

    def _check_selected(self) -> None:
        for side, t in self.thumbs.items():
            for index, b in t.buttons.items():
                on = self.state.selected == (side, index)
                if b.isChecked() != on:
                    if on:
                        b.setChecked(True)
                    else:   # an exclusive group refuses to uncheck its checked button
                        self.group.setExclusive(False)
                        b.setChecked(False)
                        self.group.setExclusive(True)

    def _update_overlays(self) -> None:
        st = self.state
        for side, pane in self.window.panes.items():
            shown = None
            if st.mode == "gate" and st.selected and st.selected[0] == side:
                shown = self._gate_shown(side)
            elif st.mode in ("eigen", "grad"):
                shown = self._cam_shown(side)
            bar, box_item = self.colour_bars[side], self.box_items[side]
            if shown is None:
                self.shown.pop(side, None)
                pane.clear_overlay()
                bar.hide()
                box_item.hide()
                continue
            self.shown[side] = shown
            pane.set_overlay(shown.values, lut=colormap_lut(st.cmap), levels=shown.vrange, opacity=st.opacity)
            bar.set_map(f"{SIDE_TITLES[side]}: {shown.layer}", shown.label, shown.vrange, shown.clipped,
                        shown.values, st.cmap, st.range_mode)
            if shown.boxes is not None:
                x1, y1, x2, y2 = (float(v) for v in shown.boxes[0])
                box_item.setRect(x1, y1, x2 - x1, y2 - y1)
                box_item.show()
            else:
                box_item.hide()

    def _gate_shown(self, side: str) -> Optional[MapView]:
        a = self.selected_map()
        if a is None:
            return None
        try:
            return gate_view(self.state, side, a, self.model_label(side), overlay_hw(a.letterbox.orig_hw))
        except ValueError as exc:
            self.window.report(str(exc), error=True)
            return None

    def _cam_shown(self, side: str) -> Optional[MapView]:
        cam = self.result.cams.get(side)
        if cam is None:
            return None
        return cam_view(self.state, side, cam, self.result.detections.get(side), self.model_label(side),
                        overlay_hw(cam.letterbox.orig_hw))

    def _update_chart(self, *_args) -> None:
        a = self.selected_map()
        view = chart_view(self.state, self.state.selected[0], a, self.model_label(self.state.selected[0])) \
            if a is not None else None
        for side, item in self.cell_items.items():
            if view is not None and view.cell is not None and side == view.side:
                x1, y1, x2, y2 = view.cell
                item.setRect(x1, y1, x2 - x1, y2 - y1)
                item.show()
            else:
                item.hide()
        self.chart_view = view
        if view is None:
            self.chart.clear("no GAM layer to chart" if self.result is not None else "")
            return
        self.chart.set_vector(view.values, view.title, view.ylabel, view.marked, view.where)

    def _update_status(self) -> None:
        lines = []
        st = self.state
        if st.mode in ("eigen", "grad"):
            r = self.result
            for side in SIDES:
                if self.window.pipeline.model_info(side) is None:
                    continue
                name = SIDE_TITLES[side]
                if st.mode == "grad" and side not in st.grad_targets:
                    lines.append(f"{name}: click one of its boxes")
                elif r is not None and side in r.cam_errors:
                    lines.append(f"<span style='color:#d03030'>{name}: {r.cam_errors[side]}</span>")
                elif r is not None and side in r.cams:
                    cam = r.cams[side]
                    lines.append(f"{name}: {cam.title} ({r.cam_ms.get(side, 0.0):.0f} ms, frame {r.frame.index})")
                else:
                    lines.append(f"{name}: computing {'EigenCAM' if st.mode == 'eigen' else 'Grad-CAM'} …")
        self.status.setText("<br>".join(lines))
        self.status.setVisible(bool(lines))
