"""Transport bar: previous / play-pause / next, a seek slider, speed and loop, the position."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSlider, QStyle, QToolButton, QWidget

from .reader import SourceInfo

__all__ = ["TransportBar", "SPEEDS"]

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0)


class TransportBar(QWidget):
    play_toggled = Signal()
    step_requested = Signal(int)
    seek_requested = Signal(int)
    speed_changed = Signal(float)
    loop_changed = Signal(bool)

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        st = self.style()

        def button(icon, tip, slot):
            b = QToolButton()
            b.setIcon(st.standardIcon(icon))
            b.setToolTip(tip)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space and arrows stay window shortcuts
            b.setAutoRaise(True)
            b.clicked.connect(slot)
            return b

        self.prev_btn = button(QStyle.StandardPixmap.SP_MediaSkipBackward, "Previous image / frame (Left)",
                               lambda: self.step_requested.emit(-1))
        self.play_btn = button(QStyle.StandardPixmap.SP_MediaPlay, "Play / pause (Space)", self.play_toggled.emit)
        self.next_btn = button(QStyle.StandardPixmap.SP_MediaSkipForward, "Next image / frame (Right)",
                               lambda: self.step_requested.emit(1))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.setToolTip("Seek")
        self.slider.setTracking(True)
        self.position = QLabel("–")
        self.position.setMinimumWidth(self.position.fontMetrics().horizontalAdvance("00000 / 00000  00:00.0"))
        self.position.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.speed = QComboBox()
        self.speed.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for s in SPEEDS:
            self.speed.addItem(f"{s:g}×", s)
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        self.speed.setToolTip("Playback speed (video frames per second, or images per second for folders)")
        self.loop = QCheckBox("loop")
        self.loop.setFocusPolicy(Qt.FocusPolicy.NoFocus)

        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        for w in (self.prev_btn, self.play_btn, self.next_btn):
            lay.addWidget(w)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.position)
        lay.addWidget(self.speed)
        lay.addWidget(self.loop)

        # seeking while dragging, at most every 60 ms
        self._seek_timer = QTimer(self)
        self._seek_timer.setSingleShot(True)
        self._seek_timer.setInterval(60)
        self._seek_timer.timeout.connect(lambda: self.seek_requested.emit(self.slider.value()))
        self.slider.valueChanged.connect(self._slider_moved)
        self.speed.currentIndexChanged.connect(lambda i: self.speed_changed.emit(float(self.speed.itemData(i))))
        self.loop.toggled.connect(self.loop_changed)
        self._info: Optional[SourceInfo] = None
        self._updating = False
        self.set_source(None)

    def _slider_moved(self, value: int) -> None:
        if not self._updating and not self._seek_timer.isActive():
            self._seek_timer.start()

    def set_source(self, info: Optional[SourceInfo]) -> None:
        self._info = info
        finite = info is not None and not info.live
        for w in (self.prev_btn, self.next_btn, self.slider):
            w.setEnabled(finite)
        self.play_btn.setEnabled(info is not None)
        self.speed.setEnabled(finite)
        self.loop.setEnabled(finite)
        self._updating = True
        self.slider.setRange(0, max(0, (info.count or 1) - 1) if finite else 0)
        self.slider.setValue(0)
        self._updating = False
        self.position.setText("live" if info is not None and info.live else "–")

    def set_position(self, index: int, count: Optional[int]) -> None:
        if count is not None and count - 1 != self.slider.maximum():
            self._updating = True
            self.slider.setMaximum(max(0, count - 1))
            self._updating = False
        if not self.slider.isSliderDown():
            self._updating = True
            self.slider.setValue(index)
            self._updating = False
        info = self._info
        if info is None or info.live:
            self.position.setText(f"live #{index}")
            return
        text = f"{index + 1} / {count}" if count else f"{index + 1}"
        if info.kind == "video" and info.fps:
            t = index / info.fps
            text += f"  {int(t // 60):02d}:{t % 60:04.1f}"
        self.position.setText(text)

    def set_playing(self, playing: bool) -> None:
        icon = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play_btn.setIcon(self.style().standardIcon(icon))
