"""A model picker for one pane: open a file, recent models, the demo model, lineage switches,
device and precision, and what the engine decided for each GAM layer.

The picker only *asks* (``load_requested``); the pipeline's worker opens the model, and
``set_info`` / ``set_error`` show the outcome. A failed open keeps the previous model shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFileDialog, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QMenu, QPushButton,
    QToolButton, QVBoxLayout, QWidget,
)

from .model_spec import SIDE_TITLES, ModelInfo, ModelSpec

__all__ = ["ModelPicker", "available_devices", "MODEL_FILTER"]

MODEL_FILTER = "Models (*.pt *.pth *.safetensors *.yaml *.yml);;All files (*)"
_SWITCH = {"auto": None, "on": True, "off": False}
#: inference backends offered (load_model's ``backend``), with their labels
BACKEND_CHOICES = (("auto", "auto"), ("torch", "PyTorch"), ("onnxruntime", "ONNX Runtime (CPU)"))


def available_devices() -> List[tuple]:
    """(device string, label): the CPU, and each CUDA GPU torch can see."""
    devices = [("cpu", "CPU")]
    try:
        import torch

        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                devices.append((f"cuda:{i}", f"CUDA {i}: {torch.cuda.get_device_name(i)}"))
    except Exception:  # noqa: BLE001 - a broken CUDA setup just means CPU only
        pass
    return devices


def _switch_text(value: Optional[bool]) -> str:
    return {None: "auto", True: "on", False: "off"}[value]


class ModelPicker(QGroupBox):
    load_requested = Signal(str, object)    # side, ModelSpec

    def __init__(self, side: str, demo_source: Optional[str] = None, parent: Optional[QWidget] = None):
        super().__init__(f"{SIDE_TITLES[side]} ({'left' if side == 'gam' else 'right'} pane)", parent)
        self.side = side
        self.demo_source = demo_source
        self.last_dir = str(Path.home())
        self.info: Optional[ModelInfo] = None

        self.current = QLabel("no model")
        self.current.setWordWrap(True)
        self.open_btn = QPushButton("Open…")
        self.open_btn.setToolTip("Open a YOLO / GAM-YOLO checkpoint (.pt), a gam-viewer .safetensors or a model YAML")
        self.open_btn.clicked.connect(self.choose_file)
        self.recent_btn = QToolButton()
        self.recent_btn.setText("Recent")
        self.recent_btn.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recent_menu = QMenu(self)
        self.recent_btn.setMenu(self.recent_menu)
        self.demo_btn = QPushButton("Demo")
        self.demo_btn.setToolTip("The bundled demo model for this pane")
        self.demo_btn.clicked.connect(self._load_demo)
        self.demo_btn.setEnabled(bool(demo_source))

        self.sigmoid = QComboBox()
        self.sigmoid.addItems(list(_SWITCH))
        self.sigmoid.setToolTip("Community GAM: sigmoid on the channel map (auto: what the engine infers)")
        self.shuffle = QComboBox()
        self.shuffle.addItems(list(_SWITCH))
        self.shuffle.setToolTip("Community GAM: channel shuffle of the final spatial map (auto: engine default)")
        self.device = QComboBox()
        for dev, label in available_devices():
            self.device.addItem(label, dev)
        self.half = QCheckBox("half")
        self.half.setToolTip("float16 weights and activations (CUDA only)")
        self.backend = QComboBox()
        for key, label in BACKEND_CHOICES:
            self.backend.addItem(label, key)
        self.backend.setToolTip("What runs the model: auto = ONNX Runtime on the CPU (exported once, cached), "
                                "PyTorch on a GPU")
        self.device.currentIndexChanged.connect(self._device_changed)
        self._device_changed()
        self.apply_btn = QPushButton("Reload")
        self.apply_btn.setToolTip("Open the current model again with these switches")
        self.apply_btn.clicked.connect(self._reload)
        self.apply_btn.setEnabled(False)

        self.details = QLabel("")
        self.details.setWordWrap(True)
        self.details.setStyleSheet("color: palette(window-text);")
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #d03030;")
        self.error.hide()

        buttons = QHBoxLayout()
        for w in (self.open_btn, self.recent_btn, self.demo_btn):
            buttons.addWidget(w)
        buttons.addStretch(1)
        grid = QGridLayout()
        grid.addWidget(QLabel("Channel sigmoid"), 0, 0)
        grid.addWidget(self.sigmoid, 0, 1)
        grid.addWidget(QLabel("Shuffle"), 0, 2)
        grid.addWidget(self.shuffle, 0, 3)
        grid.addWidget(QLabel("Device"), 1, 0)
        grid.addWidget(self.device, 1, 1)
        grid.addWidget(self.half, 1, 2)
        grid.addWidget(self.apply_btn, 1, 3)
        grid.addWidget(QLabel("Backend"), 2, 0)
        grid.addWidget(self.backend, 2, 1, 1, 3)
        lay = QVBoxLayout(self)
        lay.addWidget(self.current)
        lay.addLayout(buttons)
        lay.addLayout(grid)
        lay.addWidget(self.details)
        lay.addWidget(self.error)
        self.set_recent([])

    # ------------------------------------------------------------------ asking
    def spec_for(self, source: str) -> ModelSpec:
        """A spec for ``source`` with the switches, device and precision set here."""
        dev = self.device.currentData() or "cpu"
        return ModelSpec(source, _SWITCH[self.sigmoid.currentText()], _SWITCH[self.shuffle.currentText()],
                         dev, self.half.isChecked() and dev.startswith("cuda"), self.backend.currentData() or "auto")

    def request(self, source: str) -> None:
        self.load_requested.emit(self.side, self.spec_for(source))

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, f"Open a model for the {SIDE_TITLES[self.side]} pane",
                                              self.last_dir, MODEL_FILTER)
        if path:
            self.last_dir = str(Path(path).parent)
            self.request(path)

    def _load_demo(self) -> None:
        if self.demo_source:
            self.load_requested.emit(self.side, ModelSpec(self.demo_source))

    def _reload(self) -> None:
        if self.info is not None:
            self.request(self.info.spec.source)

    def _device_changed(self, *args) -> None:
        cuda = str(self.device.currentData() or "").startswith("cuda")
        self.half.setEnabled(cuda)
        if not cuda:
            self.half.setChecked(False)

    def set_recent(self, sources: List[str]) -> None:
        self.recent_menu.clear()
        for src in sources:
            act = self.recent_menu.addAction(src)
            act.triggered.connect(lambda checked=False, s=src: self.request(s))
        self.recent_btn.setEnabled(bool(sources))

    def set_spec(self, spec: ModelSpec) -> None:
        """Show ``spec``'s switches, device and precision in the controls."""
        self.sigmoid.setCurrentText(_switch_text(spec.channel_sigmoid))
        self.shuffle.setCurrentText(_switch_text(spec.shuffle))
        i = self.device.findData(spec.device)
        self.device.setCurrentIndex(i if i >= 0 else 0)
        self.half.setChecked(spec.half and self.half.isEnabled())
        j = self.backend.findData(spec.backend)
        self.backend.setCurrentIndex(j if j >= 0 else 0)

    # ------------------------------------------------------------------ showing
    def set_loading(self, spec: ModelSpec) -> None:
        self.current.setText(f"loading <b>{spec.label}</b> …")
        self.error.hide()

    def set_info(self, info: Optional[ModelInfo]) -> None:
        self.info = info
        self.apply_btn.setEnabled(info is not None)
        if info is None:
            self.current.setText("no model")
            self.details.setText("")
            return
        self.set_spec(info.spec)
        dev = info.device + (", half" if info.half else "")
        self.current.setText(f"<b>{info.label}</b>: {info.kind}, {info.format or 'model'}, "
                             f"{len(info.names)} classes, {info.backend or dev}")
        self.current.setToolTip(info.spec.source)
        lines = list(info.gam_lines) if info.has_gam else ["no GAM layers"]
        lines += [f"note: {n}" for n in info.notes]
        self.details.setText("\n".join(lines))
        self.error.hide()

    def set_error(self, message: str) -> None:
        """Show why a model did not open; the previous model (if any) stays."""
        if self.info is not None:
            self.set_info(self.info)
        else:
            self.current.setText("no model")
        self.error.setText(message + ("  (kept the previous model)" if self.info is not None else ""))
        self.error.show()
