"""Live controls: thresholds and input size (new inference), drawing options, class filter, colormap.

``inference_changed`` is debounced (a slider drag runs the models once, when it rests);
``draw_changed`` fires at once because redrawing costs nothing.
"""

from __future__ import annotations

from typing import Iterable, List, Optional

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
    QPushButton, QSlider, QSpinBox, QVBoxLayout, QWidget,
)

from .model_spec import DrawParams, InferenceParams
from .settings import COLORMAPS

__all__ = ["ControlsPanel", "SliderSpin"]


class SliderSpin(QWidget):
    """A 0..1 value as a slider and a spin box that follow each other."""

    valueChanged = Signal(float)

    def __init__(self, value: float, step: float = 0.01, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self._steps = int(round(1 / step))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, self._steps)
        self.spin = QDoubleSpinBox()
        self.spin.setRange(0.0, 1.0)
        self.spin.setSingleStep(step)
        self.spin.setDecimals(2)
        self.spin.setKeyboardTracking(False)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.spin)
        self.setValue(value)
        self.slider.valueChanged.connect(lambda v: self.setValue(v / self._steps))
        self.spin.valueChanged.connect(self.setValue)

    def value(self) -> float:
        return round(self.spin.value(), 4)

    def setValue(self, value: float) -> None:
        value = min(1.0, max(0.0, float(value)))
        changed = abs(value - self.spin.value()) > 1e-9
        for w, v in ((self.spin, value), (self.slider, int(round(value * self._steps)))):
            w.blockSignals(True)
            w.setValue(v)
            w.blockSignals(False)
        if changed:
            self.valueChanged.emit(self.value())


AUTO_IMGSZ_TEXT = "auto (trained size)"


class ControlsPanel(QWidget):
    inference_changed = Signal(object)   # InferenceParams
    draw_changed = Signal(object)        # DrawParams
    colormap_changed = Signal(str)

    DEBOUNCE_MS = 250

    def __init__(self, inference: InferenceParams, draw: DrawParams, colormap: str,
                 parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.conf = SliderSpin(inference.conf)
        self.conf.setToolTip("Confidence threshold: boxes scoring below it are discarded (new inference).")
        self.iou = SliderSpin(inference.iou)
        self.iou.setToolTip("IoU threshold of non-maximum suppression (new inference).")
        self.imgsz = QSpinBox()
        self.imgsz.setRange(0, 4096)      # 0 = auto: below 64 the spin box shows the auto choice
        self.imgsz.setSingleStep(32)
        self.imgsz.setSpecialValueText(AUTO_IMGSZ_TEXT)
        self.imgsz.setSuffix(" px")
        self.imgsz.setKeyboardTracking(False)
        self.imgsz.setValue(inference.imgsz)
        self.imgsz.setToolTip("Network input size (long side), rounded up to the model stride. "
                              f"'{AUTO_IMGSZ_TEXT}': each model runs at the size it was trained at "
                              "(shown next to each pane's timing).")
        self.line_width = QSpinBox()
        self.line_width.setRange(1, 16)
        self.line_width.setValue(draw.line_width)
        self.labels = QCheckBox("labels")
        self.labels.setChecked(draw.show_labels)
        self.scores = QCheckBox("scores")
        self.scores.setChecked(draw.show_scores)
        self.colormap = QComboBox()
        self.colormap.addItems(COLORMAPS)
        self.colormap.setCurrentText(colormap)
        self.colormap.setToolTip("Colormap of attention heatmaps")

        self.classes = QListWidget()
        self.classes.setToolTip("Classes to draw (untick to hide; applies to both panes)")
        self.classes.setMaximumHeight(150)
        all_btn, none_btn = QPushButton("All"), QPushButton("None")
        for b in (all_btn, none_btn):
            b.setAutoDefault(False)
        all_btn.clicked.connect(lambda: self._check_all(True))
        none_btn.clicked.connect(lambda: self._check_all(False))
        self.class_summary = QLabel("")

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Confidence", self.conf)
        form.addRow("IoU (NMS)", self.iou)
        form.addRow("Image size", self.imgsz)
        box_row = QHBoxLayout()
        box_row.addWidget(self.line_width)
        box_row.addWidget(self.labels)
        box_row.addWidget(self.scores)
        box_row.addStretch(1)
        form.addRow("Box width", box_row)
        form.addRow("Colormap", self.colormap)
        cls_head = QHBoxLayout()
        cls_head.addWidget(self.class_summary, 1)
        cls_head.addWidget(all_btn)
        cls_head.addWidget(none_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(form)
        lay.addWidget(QLabel("Classes"))
        lay.addLayout(cls_head)
        lay.addWidget(self.classes)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(self.DEBOUNCE_MS)
        self._debounce.timeout.connect(lambda: self.inference_changed.emit(self.inference_params()))
        self.conf.valueChanged.connect(self._debounce.start)
        self.iou.valueChanged.connect(self._debounce.start)
        self.imgsz.valueChanged.connect(self._debounce.start)
        for sig in (self.line_width.valueChanged, self.labels.toggled, self.scores.toggled):
            sig.connect(self._emit_draw)
        self.labels.toggled.connect(self.scores.setEnabled)
        self.classes.itemChanged.connect(self._emit_draw)
        self.colormap.currentTextChanged.connect(self.colormap_changed)
        self._update_summary()

    # ------------------------------------------------------------------ values
    def inference_params(self) -> InferenceParams:
        v = int(self.imgsz.value())
        return InferenceParams(conf=self.conf.value(), iou=self.iou.value(), imgsz=v if v >= 32 else 0)

    def draw_params(self) -> DrawParams:
        return DrawParams(line_width=int(self.line_width.value()), show_labels=self.labels.isChecked(),
                          show_scores=self.scores.isChecked(), hidden_classes=frozenset(self.hidden_classes()))

    def set_inference_params(self, p: InferenceParams, emit: bool = True) -> None:
        self.conf.setValue(p.conf)
        self.iou.setValue(p.iou)
        self.imgsz.setValue(p.imgsz)
        if emit:
            self.flush()

    def set_draw_params(self, p: DrawParams) -> None:
        self.line_width.setValue(p.line_width)
        self.labels.setChecked(p.show_labels)
        self.scores.setChecked(p.show_scores)

    def flush(self) -> None:
        """Emit a pending debounced change now."""
        self._debounce.stop()
        self.inference_changed.emit(self.inference_params())

    # ------------------------------------------------------------------ class filter
    def set_class_names(self, names: Iterable[str]) -> None:
        """Offer ``names`` (both models' classes, in order, no repeats); hidden ones stay hidden."""
        hidden = set(self.hidden_classes())
        self.classes.blockSignals(True)
        self.classes.clear()
        for name in dict.fromkeys(names):
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked if name in hidden else Qt.CheckState.Checked)
            self.classes.addItem(item)
        self.classes.blockSignals(False)
        self._update_summary()

    def hidden_classes(self) -> List[str]:
        return [self.classes.item(i).text() for i in range(self.classes.count())
                if self.classes.item(i).checkState() != Qt.CheckState.Checked]

    def set_class_visible(self, name: str, visible: bool) -> None:
        for i in range(self.classes.count()):
            item = self.classes.item(i)
            if item.text() == name:
                item.setCheckState(Qt.CheckState.Checked if visible else Qt.CheckState.Unchecked)

    def _check_all(self, on: bool) -> None:
        self.classes.blockSignals(True)
        for i in range(self.classes.count()):
            self.classes.item(i).setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        self.classes.blockSignals(False)
        self._emit_draw()

    def _update_summary(self) -> None:
        n, hidden = self.classes.count(), len(self.hidden_classes())
        self.class_summary.setText(f"{n - hidden} of {n} shown" if n else "no model loaded")

    def _emit_draw(self, *args) -> None:
        self._update_summary()
        self.draw_changed.emit(self.draw_params())
