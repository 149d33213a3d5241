"""One model's inference worker: a QObject moved to its own QThread.

The detector lives and runs only in that thread. The worker opens models (``load``), takes an
already built detector (``adopt``, for callers and tests that build their own), and runs
``predict`` on jobs; every outcome comes back as a signal, every exception becomes a one-line
message. A model that fails to open leaves the previous one in place.

A job may also ask for a class-activation map of the same frame (``Job.cam``, per side): it is
computed right after ``predict``, in this thread, so a CAM always belongs to the frame and the
detections it is shown with (``cam_done`` is emitted just before ``finished``). ``grad-cam`` is
imported on the first CAM only (it takes seconds). On every model change the layers offered for
CAM (``inference.cam.cam_layers``) are sent with ``layers_ready`` just before ``loaded``.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ..inference.decode import box_iou
from ..media.sources import Frame
from .model_spec import InferenceParams, ModelInfo, ModelSpec

#: how much lower than the GUI thread the inference threads run (POSIX nice steps)
WORKER_NICENESS = 5

__all__ = ["InferenceWorker", "Job", "CamRequest", "default_loader", "one_line", "match_box", "runs_on_cpu"]


def runs_on_cpu(detector) -> bool:
    """True for an engine detector whose forward pass uses the CPU (PyTorch on the CPU or
    ONNX Runtime); False for GPU models and for objects that are not engine detectors."""
    if getattr(detector, "backend", None) == "onnxruntime":
        return True
    device = getattr(detector, "device", None)
    return getattr(device, "type", None) == "cpu"


@dataclass(frozen=True)
class CamRequest:
    """A CAM wanted with a side's next results.

    ``method``: "eigen" (EigenCAM) or "grad" (Grad-CAM of one detection). ``layers``: layer
    indices, None for the engine's default (the layers feeding Detect). For Grad-CAM, the
    detection is the one of this frame that best matches ``box`` (xyxy, original pixels) and
    ``box_class``: the box the user clicked, followed from frame to frame while it is detected.
    """

    method: str
    layers: Optional[Tuple[int, ...]] = None
    box: Optional[Tuple[float, float, float, float]] = None
    box_class: Optional[int] = None


@dataclass
class Job:
    seq: int
    frame: Frame
    params: InferenceParams
    cam: Dict[str, CamRequest] = field(default_factory=dict)   # side -> CAM wanted with this frame


MIN_BOX_IOU = 0.3


def match_box(det, box, cls: Optional[int]) -> Optional[int]:
    """Index of the detection of class ``cls`` overlapping ``box`` most (IoU >= 0.3), else None."""
    if det is None or len(det) == 0:
        return None
    iou = box_iou(det.boxes, box)
    if cls is not None:
        iou[np.asarray(det.classes) != int(cls)] = -1.0
    k = int(np.argmax(iou))
    return k if iou[k] >= MIN_BOX_IOU else None


def offered_cam_layers(detector) -> List[object]:
    """``inference.cam.cam_layers`` of a detector; [] for objects that are not engine detectors."""
    if detector is None or not hasattr(detector, "model"):
        return []
    from ..inference.cam import cam_layers

    try:
        return cam_layers(detector)
    except Exception:  # noqa: BLE001 - an odd model offers no CAM layers, it still detects
        return []


def default_loader(spec: ModelSpec):
    """Open ``spec`` with the engine (raises ModelLoadError / ValueError with a one-line reason)."""
    from ..inference import load_model

    return load_model(spec.source, device=spec.device, channel_sigmoid=spec.channel_sigmoid,
                      shuffle=spec.shuffle, half=spec.half, backend=spec.backend)


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
    cam_done = Signal(str, int, object, str, float)  # side, seq, CamMap or None, error ('' if none), ms
    layers_ready = Signal(str, object, int)        # side, CAM layers offered (list of CamLayer), serial

    def __init__(self, side: str, loader: Optional[Callable[[ModelSpec], object]] = None,
                 turn: Optional[threading.Lock] = None):
        super().__init__()
        self.side = side
        # shared by both panes' workers: CPU models take turns (one after the other) instead of
        # running at once, where each one's thread pool preempts the other's (see pipeline.py)
        self.turn = turn
        self.loader = loader or default_loader
        self.detector = None
        self.spec: Optional[ModelSpec] = None
        self.serial = 0   # which model: +1 on every change, so results can be matched to models

    @Slot()
    def lower_priority(self) -> None:
        """Run from the worker's own thread when it starts: make this thread (and the
        math threads it creates, which inherit it) yield to the GUI thread when the cores are
        busy, so drawing never waits behind inference. POSIX: nice +WORKER_NICENESS for this
        thread only; elsewhere Qt's LowPriority."""
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + WORKER_NICENESS)
        except (AttributeError, OSError):  # no per-thread nice here (Windows)
            thread = QThread.currentThread()
            if thread is not None:
                thread.setPriority(QThread.Priority.LowPriority)

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
        self.layers_ready.emit(self.side, offered_cam_layers(det), self.serial)
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
        cam_out = None
        with self.turn if self.turn is not None and runs_on_cpu(det) else nullcontext():
            try:
                result = det.predict(job.frame.image, conf=p.conf, iou=p.iou, imgsz=p.imgsz_for(det.default_imgsz),
                                     attention=p.attention)
            except Exception as exc:  # noqa: BLE001 - a model that throws must not take the app down
                result, error = None, one_line(exc)
            else:
                error = ""
                request = job.cam.get(self.side)
                if request is not None:
                    t0 = time.perf_counter()
                    cam, cam_error = self._cam(det, job, result, request)
                    cam_out = (cam, cam_error, (time.perf_counter() - t0) * 1e3)
        if result is None:
            self.finished.emit(self.side, job.seq, None, error, self.serial)
            return
        if cam_out is not None:
            self.cam_done.emit(self.side, job.seq, *cam_out)
        self.finished.emit(self.side, job.seq, result, "", self.serial)

    def _cam(self, det, job: Job, result, req: CamRequest):
        """(CamMap, '') or (None, one-line reason). Runs in this worker's thread."""
        if not hasattr(det, "model"):
            return None, f"CAM needs a model opened by gam-viewer (this is a {type(det).__name__})"
        from ..inference import cam  # grad-cam itself is imported by the engine on first use

        layers = list(req.layers) if req.layers else None
        try:
            if req.method == "eigen":
                return cam.eigen_cam(det, job.frame.image, layers, imgsz=job.params.imgsz_for(det.default_imgsz), auto=True), ""
            if req.method == "grad":
                k = match_box(result, req.box, req.box_class)
                if k is None:
                    name = result.names[req.box_class] if req.box_class is not None and \
                        0 <= req.box_class < len(result.names) else "the chosen"
                    return None, f"Grad-CAM: the {name} box is not detected in this frame"
                return cam.grad_cam(det, job.frame.image, result, k, layers), ""
            return None, f"unknown CAM method {req.method!r}"
        except Exception as exc:  # noqa: BLE001 - a CAM failure must not lose the detections
            return None, one_line(exc, "CAM: ")
