"""One model's inference worker: a QObject moved to its own QThread.

The detector lives and runs only in that thread. The worker opens models (``load``), takes an
already built detector (``adopt``, for callers and tests that build their own), and runs
``predict`` on jobs; every outcome comes back as a signal, every exception becomes a one-line
message. A model that fails to open leaves the previous one in place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

from PySide6.QtCore import QObject, Signal, Slot

from ..engine.sources import Frame
from .model_spec import InferenceParams, ModelInfo, ModelSpec

__all__ = ["InferenceWorker", "Job", "default_loader", "one_line"]


@dataclass
class Job:
    seq: int
    frame: Frame
    params: InferenceParams


def default_loader(spec: ModelSpec):
    """Open ``spec`` with the engine (raises ModelLoadError / ValueError with a one-line reason)."""
    from ..engine import load_model

    return load_model(spec.source, device=spec.device, channel_sigmoid=spec.channel_sigmoid,
                      shuffle=spec.shuffle, half=spec.half)


def one_line(exc: BaseException, prefix: str = "") -> str:
    """A one-line message for an exception: the engine's own text, else its type and text."""
    from ..models.errors import ModelLoadError

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if not isinstance(exc, (ModelLoadError, ValueError)) or not text:
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return f"{prefix}{text}"


class InferenceWorker(QObject):
    loaded = Signal(str, object, int)             # side, ModelInfo (None after unload), model serial
    load_failed = Signal(str, str)                # side, one-line reason
    finished = Signal(str, int, object, str, int)  # side, seq, Detections or None, error ('' if none), serial

    def __init__(self, side: str, loader: Optional[Callable[[ModelSpec], object]] = None):
        super().__init__()
        self.side = side
        self.loader = loader or default_loader
        self.detector = None
        self.spec: Optional[ModelSpec] = None
        self.serial = 0   # which model: +1 on every change, so results can be matched to models

    @Slot(object)
    def load(self, spec: ModelSpec) -> None:
        t0 = time.perf_counter()
        try:
            det = self.loader(spec)
            info = ModelInfo.from_detector(det, spec, (time.perf_counter() - t0) * 1e3)
        except Exception as exc:  # noqa: BLE001 - any failure keeps the previous model
            self.load_failed.emit(self.side, one_line(exc, "" if spec.label in str(exc) else f"{spec.label}: "))
            return
        self._use(det, spec, info)

    def _use(self, det, spec, info) -> None:
        self.detector, self.spec = det, spec
        self.serial += 1
        self.loaded.emit(self.side, info, self.serial)

    @Slot(object, object)
    def adopt(self, detector, spec: ModelSpec) -> None:
        try:
            info = ModelInfo.from_detector(detector, spec)
        except Exception as exc:  # noqa: BLE001
            self.load_failed.emit(self.side, one_line(exc, f"{spec.label}: "))
            return
        self._use(detector, spec, info)

    @Slot()
    def unload(self) -> None:
        self._use(None, None, None)

    @Slot(object)
    def run(self, job: Job) -> None:
        det = self.detector
        if det is None:
            self.finished.emit(self.side, job.seq, None, "", self.serial)
            return
        p = job.params
        try:
            result = det.predict(job.frame.image, conf=p.conf, iou=p.iou, imgsz=p.imgsz, attention=p.attention)
        except Exception as exc:  # noqa: BLE001 - a model that throws must not take the app down
            self.finished.emit(self.side, job.seq, None, one_line(exc), self.serial)
            return
        self.finished.emit(self.side, job.seq, result, "", self.serial)
