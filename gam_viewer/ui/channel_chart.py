"""The channel weights of one GAM layer as bars (pyqtgraph), updated in place every frame.

The vector comes from the engine (``AttentionMap.channel_vector``: the channel gate reduced
over H x W with mean or max, or its value at one clicked pixel); ``render.figures.channel_bars``
orders it (as is, sorted, top k). One ``BarGraphItem`` lives for the widget's lifetime and only
gets new heights (``setOpts``). Hovering a bar reads out its channel and value; clicking a bar
emits ``channel_clicked`` (the panel makes it the heatmap's channel). Bars start at 0; negative
values (community gates without a sigmoid) are red.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSpinBox, QToolButton, QVBoxLayout, QWidget

from ..render import figures as F

__all__ = ["ChannelChart"]

POSITIVE, NEGATIVE, MARKED = "#4a86d4", "#d05040", "#f0a30a"
MAX_TICK_LABELS = 32


class ChannelChart(QWidget):
    channel_clicked = Signal(int)     # a channel id (not a rank)
    options_changed = Signal()        # reduction / sort / top-k
    point_cleared = Signal()          # back from "at a pixel" to the whole map

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.reduce = QComboBox()
        self.reduce.addItems(["mean", "max"])
        self.reduce.setToolTip("Reduce the channel gate over H x W with the mean or the max")
        self.sort = QCheckBox("sorted")
        self.sort.setToolTip("Order the bars by value, largest first")
        self.top_k = QSpinBox()
        self.top_k.setRange(0, 4096)
        self.top_k.setSpecialValueText("all")
        self.top_k.setPrefix("top ")
        self.top_k.setToolTip("Show only the k largest channels (0: all)")
        self.top_k.setKeyboardTracking(False)
        self.where = QLabel("")
        self.clear_point = QToolButton()
        self.clear_point.setText("whole map")
        self.clear_point.setToolTip("Back to the reduction over the whole map")
        self.clear_point.hide()
        self.title = QLabel("")
        self.title.setWordWrap(True)
        self.readout = QLabel("")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setMinimumHeight(160)
        self.plot.showGrid(y=True, alpha=0.25)
        self.plot.getAxis("left").enableAutoSIPrefix(False)   # real values, not "500 (x0.001)"
        self.vb = self.plot.getPlotItem().getViewBox()
        self.vb.enableAutoRange(axis="y")
        self.bars = pg.BarGraphItem(x=np.zeros(0), height=np.zeros(0), width=0.85, pen=None)
        self.plot.addItem(self.bars)
        self.plot.addItem(pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen("#909090")))
        self.plot.scene().sigMouseMoved.connect(self._on_move)
        self.plot.scene().sigMouseClicked.connect(self._on_click)
        self._brush = {k: QBrush(QColor(c)) for k, c in (("pos", POSITIVE), ("neg", NEGATIVE), ("mark", MARKED))}

        self.ids = np.zeros(0, np.int64)      # channel id of each bar, in display order
        self.values = np.zeros(0, np.float32)  # height of each bar
        self.marked: Optional[int] = None
        self._shape_key: Optional[Tuple] = None
        self._brush_key: Optional[Tuple] = None

        opts = QHBoxLayout()
        opts.setContentsMargins(0, 0, 0, 0)
        opts.addWidget(QLabel("Channels:"))
        opts.addWidget(self.reduce)
        opts.addWidget(self.sort)
        opts.addWidget(self.top_k)
        opts.addStretch(1)
        where = QHBoxLayout()
        where.setContentsMargins(0, 0, 0, 0)
        where.addWidget(self.where, 1)
        where.addWidget(self.clear_point)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(opts)
        lay.addWidget(self.title)
        lay.addLayout(where)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.readout)

        self.reduce.currentTextChanged.connect(self.options_changed)
        self.sort.toggled.connect(self.options_changed)
        self.top_k.valueChanged.connect(self.options_changed)
        self.clear_point.clicked.connect(self.point_cleared)

    # ------------------------------------------------------------------ content
    @property
    def reduction(self) -> str:
        return self.reduce.currentText()

    def set_vector(self, values: np.ndarray, title: str = "", ylabel: str = "", marked: Optional[int] = None,
                   where: str = "") -> None:
        """Show channel vector ``values`` (C,) in the chosen order; ``marked``: a channel to highlight."""
        ids, vals = F.channel_bars(values, self.sort.isChecked(), self.top_k.value() or None)
        self.ids, self.values, self.marked = ids, vals, marked
        n = len(ids)
        ordered = self.sort.isChecked() or bool(self.top_k.value())
        key = (n, ordered, tuple(ids) if ordered and n <= MAX_TICK_LABELS else ordered)
        if key != self._shape_key:
            self._shape_key = key
            self._brush_key = None
            self.bars.setOpts(x=np.arange(n, dtype=np.float64), height=vals, width=1.0 if n > 64 else 0.85,
                              **self._colours(vals, ids, marked))
            self.vb.setXRange(-0.6, max(n, 1) - 0.4, padding=0)
            self._set_ticks(ids, ordered)
        else:
            self.bars.setOpts(height=vals, **self._colours(vals, ids, marked))
        self.title.setText(title)
        self.where.setText(where)
        self.clear_point.setVisible(bool(where))
        self.plot.setLabel("left", ylabel)
        if self.readout.text().startswith("channel"):
            self.readout.setText("")

    def clear(self, message: str = "") -> None:
        self.ids, self.values, self.marked = np.zeros(0, np.int64), np.zeros(0, np.float32), None
        self._shape_key = None
        self._brush_key = None
        self.bars.setOpts(x=np.zeros(0), height=np.zeros(0), brush=self._brush["pos"], brushes=None)
        self.title.setText(message)
        self.where.setText("")
        self.clear_point.hide()
        self.readout.setText("")

    def _colours(self, vals: np.ndarray, ids: np.ndarray, marked: Optional[int]) -> dict:
        """Brush options for ``setOpts``: none when unchanged; one brush (pyqtgraph's fast path)
        when every bar is positive and unmarked; else one per bar."""
        neg = vals < 0
        mark = ids == marked if marked is not None else np.zeros(len(ids), bool)
        key = (neg.tobytes(), mark.tobytes())
        if key == self._brush_key:
            return {}
        self._brush_key = key
        if not neg.any() and not mark.any():
            return {"brush": self._brush["pos"], "brushes": None}
        pos_b, neg_b, mark_b = self._brush["pos"], self._brush["neg"], self._brush["mark"]
        return {"brushes": [mark_b if m else (neg_b if n else pos_b) for n, m in zip(neg, mark)]}

    def _set_ticks(self, ids: np.ndarray, ordered: bool) -> None:
        axis = self.plot.getAxis("bottom")
        if ordered and len(ids) <= MAX_TICK_LABELS:
            axis.setTicks([[(i, str(int(c))) for i, c in enumerate(ids)]])
            self.plot.setLabel("bottom", "channel (in value order)")
        else:
            axis.setTicks(None)
            self.plot.setLabel("bottom", "rank (sorted by value)" if ordered else "channel")

    # ------------------------------------------------------------------ hover and click
    def bar_at(self, x_view: float) -> Optional[int]:
        """Display position (rank) of the bar under view x, or None."""
        i = int(np.floor(x_view + 0.5))
        return i if 0 <= i < len(self.ids) else None

    def readout_for(self, rank: int) -> str:
        c, v = int(self.ids[rank]), float(self.values[rank])
        order = f" (rank {rank + 1} of {len(self.ids)})" if self._shape_key and self._shape_key[1] else ""
        return f"channel {c}: {v:.6g}{order}"

    def _view_x(self, scene_pos) -> Optional[float]:
        if not self.vb.sceneBoundingRect().contains(scene_pos):
            return None
        return float(self.vb.mapSceneToView(scene_pos).x())

    def _on_move(self, scene_pos) -> None:
        x = self._view_x(scene_pos)
        rank = self.bar_at(x) if x is not None else None
        if rank is not None:
            self.readout.setText(self.readout_for(rank))

    def _on_click(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            return
        x = self._view_x(ev.scenePos())
        rank = self.bar_at(x) if x is not None else None
        if rank is not None:
            self.channel_clicked.emit(int(self.ids[rank]))
