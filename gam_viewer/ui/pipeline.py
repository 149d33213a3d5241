"""Where a frame goes: reader thread -> both model workers -> one result for both panes.

The :class:`Pipeline` lives in the GUI thread and owns three threads: the source reader and
one inference worker per pane. Scheduling is frame-synchronous: a frame is sent to *both*
workers only when both are idle, and the pair of results is emitted together
(``result_ready``), so the two panes always show the same frame. While the workers are busy,
the newest decoded frame waits in a single place; a newer one replaces it (a dropped frame).
Nothing is ever queued, so the view stays live and memory stays flat, and the displayed rate
follows the slower model.

Models that run on the CPU take turns (a lock shared by the two workers): one runs its whole
frame, then the other, each with all the cores. Run at the same time, their thread pools
preempt each other and the pair took longer than the two one after the other (55-62 % of the
back-to-back rate on 2 cores, docs/BENCHMARKS.md). A GPU model does not wait for the CPU one.

CAM requests (``set_cam``) travel with every job: each worker computes the CAM of the frame it
has just run, so ``FrameResult.cams`` always belongs to that frame (and costs that worker's
time, which lowers the shown rate while a CAM is on).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from ..media.sources import Frame
from .model_spec import SIDES, InferenceParams, ModelInfo, ModelSpec
from .reader import FramePacket, LatestSlot, SourceInfo, SourceReader
from .worker import CamRequest, InferenceWorker, Job

__all__ = ["Pipeline", "FrameResult", "PipelineStats", "RateMeter"]


@dataclass
class FrameResult:
    """One frame and what both models found in it (the per-frame hook of the window)."""

    seq: int
    frame: Frame                              # the decoded frame (BGR) both models saw
    rgb: np.ndarray                           # the same picture as RGB, as displayed
    detections: Dict[str, object]             # side -> Detections, or None (no model / error)
    errors: Dict[str, str]                    # side -> one-line error, for sides that failed
    models: Dict[str, Optional[ModelInfo]]    # side -> what was loaded when this ran
    params: InferenceParams
    t_read: float                             # perf_counter at decode
    t_done: float                             # perf_counter when both results were in
    serials: Dict[str, int] = field(default_factory=dict)   # side -> which model (worker serial)
    cams: Dict[str, object] = field(default_factory=dict)     # side -> CamMap, for sides that asked
    cam_errors: Dict[str, str] = field(default_factory=dict)  # side -> why its CAM is missing
    cam_ms: Dict[str, float] = field(default_factory=dict)    # side -> CAM time in its worker

    @property
    def gam(self):
        return self.detections.get("gam")

    @property
    def baseline(self):
        return self.detections.get("baseline")

    @property
    def latency_ms(self) -> float:
        return (self.t_done - self.t_read) * 1e3


@dataclass
class PipelineStats:
    shown_fps: float = 0.0        # results per second reaching the screen (recent window)
    latency_ms: float = 0.0       # decode -> both results in, last frame
    decoded: int = 0              # frames decoded since the source was opened
    frames: int = 0               # frames the source went through (decoded + skipped undecoded)
    shown: int = 0                # results emitted since the source was opened
    dropped: int = 0              # frames decoded or due but never shown
    source_fps: Optional[float] = None
    infer_ms: Dict[str, float] = field(default_factory=dict)   # side -> last inference time (model's own)


class RateMeter:
    """Events per second over the last ``window`` seconds."""

    def __init__(self, window: float = 3.0):
        self.window = window
        self.times = deque()

    def tick(self, t: Optional[float] = None) -> None:
        t = time.perf_counter() if t is None else t
        self.times.append(t)
        while self.times and t - self.times[0] > self.window:
            self.times.popleft()

    def rate(self, now: Optional[float] = None) -> float:
        """Events per second; 0 once nothing happened for a whole window."""
        now = time.perf_counter() if now is None else now
        if len(self.times) < 2 or now - self.times[-1] > self.window:
            return 0.0
        span = self.times[-1] - self.times[0]
        return (len(self.times) - 1) / span if span > 0 else 0.0

    def reset(self) -> None:
        self.times.clear()


class _Lane(QObject):
    """The GUI-thread end of one worker: signals into its thread, and what it is doing."""

    run = Signal(object)
    load = Signal(object)
    adopt = Signal(object, object)
    unload = Signal()

    def __init__(self, side: str, loader, parent: QObject, turn: Optional[threading.Lock] = None):
        super().__init__(parent)
        self.side = side
        self.thread = QThread()
        self.thread.setObjectName(f"gam-viewer-{side}")
        self.worker = InferenceWorker(side, loader, turn)
        self.worker.moveToThread(self.thread)
        self.run.connect(self.worker.run)
        self.load.connect(self.worker.load)
        self.adopt.connect(self.worker.adopt)
        self.unload.connect(self.worker.unload)
        self.thread.finished.connect(self.worker.deleteLater)
        self.thread.started.connect(self.worker.lower_priority)  # runs in the new thread
        self.info: Optional[ModelInfo] = None
        self.cam_layers: List[object] = []   # engine.cam.CamLayer offered by the loaded model
        self.serial = 0
        self.loading = 0
        self.busy_seq: Optional[int] = None


class Pipeline(QObject):
    result_ready = Signal(object)            # FrameResult
    model_loading = Signal(str, object)      # side, ModelSpec
    model_loaded = Signal(str, object)       # side, ModelInfo (None after unload)
    model_failed = Signal(str, str)          # side, one-line reason
    cam_changed = Signal(str, object)        # side, CamRequest or None
    inference_failed = Signal(str, str)      # side, one-line reason (for one frame)
    source_opened = Signal(object)           # SourceInfo
    source_failed = Signal(str)
    source_warning = Signal(str)
    position_changed = Signal(int, object)
    playing_changed = Signal(bool)
    source_ended = Signal()

    # commands into the reader thread
    _open = Signal(object)
    _close = Signal()
    _play = Signal()
    _pause = Signal()
    _toggle = Signal()
    _step = Signal(int)
    _seek = Signal(int)
    _speed = Signal(float)
    _loop = Signal(bool)
    _stop_reader = Signal()

    def __init__(self, loader: Optional[Callable[[ModelSpec], object]] = None, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.params = InferenceParams()
        self.playing = False
        self.source_info: Optional[SourceInfo] = None
        self._slot = LatestSlot()
        self._reader = SourceReader(self._slot)
        self._reader_thread = QThread()
        self._reader_thread.setObjectName("gam-viewer-reader")
        self._reader.moveToThread(self._reader_thread)
        for sig, slot in ((self._open, self._reader.open), (self._close, self._reader.close),
                          (self._play, self._reader.play), (self._pause, self._reader.pause),
                          (self._toggle, self._reader.toggle), (self._step, self._reader.step),
                          (self._seek, self._reader.seek), (self._speed, self._reader.set_speed),
                          (self._loop, self._reader.set_loop)):
            sig.connect(slot)
        # shutdown runs in the reader thread (its timer lives there), and shutdown() waits for it
        self._stop_reader.connect(self._reader.shutdown, Qt.ConnectionType.BlockingQueuedConnection)
        r = self._reader
        r.frame_available.connect(self._on_frame_available)
        r.opened.connect(self._on_opened)
        r.failed.connect(self.source_failed)
        r.warning.connect(self.source_warning)
        r.position_changed.connect(self.position_changed)
        r.playing_changed.connect(self._on_playing)
        r.ended.connect(self.source_ended)

        self.lanes: Dict[str, _Lane] = {}
        self._turn = threading.Lock()   # CPU models take turns (see the module docstring)
        for side in SIDES:
            lane = _Lane(side, loader, self, self._turn)
            lane.worker.finished.connect(self._on_finished)
            lane.worker.loaded.connect(self._on_loaded)
            lane.worker.load_failed.connect(self._on_load_failed)
            lane.worker.cam_done.connect(self._on_cam_done)
            lane.worker.layers_ready.connect(self._on_layers_ready)
            self.lanes[side] = lane
            lane.thread.start()
        self._reader_thread.start()

        self._seq = 0
        self._current: Optional[FramePacket] = None     # the frame the workers have (or had last)
        self._pending: Optional[FramePacket] = None     # the newest frame waiting for them
        self._partial: Dict[str, tuple] = {}
        self._cams: Dict[str, tuple] = {}
        self.cam_requests: Dict[str, CamRequest] = {}
        self._dropped_pending = 0
        self._shown = 0
        self._meter = RateMeter()
        self.last_result: Optional[FrameResult] = None
        self._closed = False

    # ------------------------------------------------------------------ public API (GUI thread)
    def open(self, spec) -> None:
        """Open a source: a list of paths, a path, a camera index or a URL (errors: source_failed)."""
        self._open.emit(spec)

    def close_source(self) -> None:
        self._close.emit()

    def play(self) -> None:
        self._play.emit()

    def pause(self) -> None:
        self._pause.emit()

    def toggle_play(self) -> None:
        self._toggle.emit()

    def step(self, n: int = 1) -> None:
        self._step.emit(int(n))

    def seek(self, index: int) -> None:
        self._seek.emit(int(index))

    def set_speed(self, speed: float) -> None:
        self._speed.emit(float(speed))

    def set_loop(self, loop: bool) -> None:
        self._loop.emit(bool(loop))

    def load_model(self, side: str, spec: ModelSpec) -> None:
        lane = self.lanes[side]
        lane.loading += 1
        self.model_loading.emit(side, spec)
        lane.load.emit(spec)

    def set_detector(self, side: str, detector, spec: Optional[ModelSpec] = None) -> None:
        """Use an already built Detector-like object in ``side`` (it moves to the worker thread)."""
        lane = self.lanes[side]
        spec = spec or ModelSpec(str(getattr(detector, "source", "") or type(detector).__name__))
        lane.loading += 1
        self.model_loading.emit(side, spec)
        lane.adopt.emit(detector, spec)

    def unload_model(self, side: str) -> None:
        lane = self.lanes[side]
        lane.loading += 1
        lane.unload.emit()

    def set_params(self, params: InferenceParams) -> None:
        """New thresholds / size: the next frame uses them; a still frame is run again."""
        if params == self.params:
            return
        self.params = params
        if not self.playing:
            self.rerun()

    def rerun(self) -> None:
        """Run the models again on the frame on screen (after a model or a threshold changed)."""
        if self._current is not None and self._pending is None:
            self._submit(self._current)

    def model_info(self, side: str) -> Optional[ModelInfo]:
        return self.lanes[side].info

    def cam_layers(self, side: str) -> List[object]:
        """The layers ``side``'s model offers for CAM (``inference.cam.CamLayer``; [] without a model)."""
        return list(self.lanes[side].cam_layers)

    def set_cam(self, side: str, request: Optional[CamRequest]) -> None:
        """Compute ``request`` with ``side``'s results from now on (None: no CAM). A still frame
        is run again so its CAM appears."""
        if self.cam_requests.get(side) == request:
            return
        if request is None:
            self.cam_requests.pop(side, None)
        else:
            self.cam_requests[side] = request
        self.cam_changed.emit(side, request)
        if request is not None and not self.playing:
            self.rerun()

    @property
    def busy(self) -> bool:
        return any(lane.busy_seq is not None for lane in self.lanes.values())

    @property
    def loading(self) -> bool:
        return any(lane.loading for lane in self.lanes.values())

    def stats(self) -> PipelineStats:
        r = self.last_result
        infer = {}
        if r is not None:
            for side, det in r.detections.items():
                if det is not None and getattr(det, "timings", None):
                    infer[side] = float(det.timings.get("total", 0.0))
        return PipelineStats(
            shown_fps=self._meter.rate(), latency_ms=r.latency_ms if r else 0.0,
            decoded=self._reader.decoded, frames=self._reader.decoded + self._reader.skipped, shown=self._shown,
            dropped=self._slot.dropped + self._reader.skipped + self._dropped_pending,
            source_fps=self.source_info.fps if self.source_info else None, infer_ms=infer)

    def shutdown(self) -> None:
        """Stop every thread (waits for a running inference to finish) and release the source."""
        if self._closed:
            return
        self._closed = True
        self._stop_reader.emit()
        self._reader_thread.quit()
        self._reader_thread.wait()
        for lane in self.lanes.values():
            lane.thread.quit()
        for lane in self.lanes.values():
            lane.thread.wait()

    # ------------------------------------------------------------------ scheduling
    def _submit(self, packet: FramePacket) -> None:
        if self.busy:
            if self._pending is not None and self._pending is not packet:
                self._dropped_pending += 1
            self._pending = packet
            return
        self._dispatch(packet)

    def _dispatch(self, packet: FramePacket) -> None:
        self._seq += 1
        self._current = packet
        self._partial = {}
        self._cams = {}
        job = Job(self._seq, packet.frame, self.params, dict(self.cam_requests))
        for lane in self.lanes.values():
            lane.busy_seq = self._seq
            lane.run.emit(job)

    @Slot()
    def _on_frame_available(self) -> None:
        packet = self._slot.take()
        if packet is None or self._closed:
            return
        self._submit(packet)

    @Slot(str, int, object, str, float)
    def _on_cam_done(self, side: str, seq: int, cam, error: str, ms: float) -> None:
        if self.lanes[side].busy_seq == seq:   # emitted just before that job's ``finished``
            self._cams[side] = (cam, error, ms)

    @Slot(str, object, int)
    def _on_layers_ready(self, side: str, layers, serial: int) -> None:
        self.lanes[side].cam_layers = list(layers or [])

    @Slot(str, int, object, str, int)
    def _on_finished(self, side: str, seq: int, detections, error: str, serial: int) -> None:
        lane = self.lanes[side]
        if lane.busy_seq != seq:
            return
        lane.busy_seq = None
        self._partial[side] = (detections, error, serial)
        if error:
            self.inference_failed.emit(side, error)
        if self.busy:
            return
        packet = self._current
        result = FrameResult(
            seq=seq, frame=packet.frame, rgb=packet.rgb,
            detections={s: self._partial[s][0] for s in SIDES},
            errors={s: p[1] for s, p in self._partial.items() if p[1]},
            models={s: self.lanes[s].info for s in SIDES}, params=self.params,
            t_read=packet.t_read, t_done=time.perf_counter(),
            serials={s: p[2] for s, p in self._partial.items()},
            cams={s: c[0] for s, c in self._cams.items() if c[0] is not None},
            cam_errors={s: c[1] for s, c in self._cams.items() if c[1]},
            cam_ms={s: c[2] for s, c in self._cams.items()})
        self._shown += 1
        self._meter.tick(result.t_done)
        self.last_result = result
        self.result_ready.emit(result)
        if self._closed:
            return
        if self._pending is not None:
            nxt, self._pending = self._pending, None
            self._dispatch(nxt)
        elif not self.playing and self._stale(result):
            self.rerun()  # a model changed while this frame was running

    def _stale(self, result: Optional[FrameResult]) -> bool:
        return result is not None and any(result.serials.get(s) != lane.serial for s, lane in self.lanes.items())

    # ------------------------------------------------------------------ reader and model events
    @Slot(object)
    def _on_opened(self, info: SourceInfo) -> None:
        self.source_info = info
        self._pending = None
        self._dropped_pending = 0
        self._shown = 0
        self._meter.reset()
        self.source_opened.emit(info)

    @Slot(bool)
    def _on_playing(self, playing: bool) -> None:
        self.playing = playing
        self.playing_changed.emit(playing)

    @Slot(str, object, int)
    def _on_loaded(self, side: str, info, serial: int) -> None:
        lane = self.lanes[side]
        lane.loading = max(0, lane.loading - 1)
        lane.info = info
        lane.serial = serial
        self.model_loaded.emit(side, info)
        if not self.playing and not self.busy and self._stale(self.last_result):
            self.rerun()

    @Slot(str, str)
    def _on_load_failed(self, side: str, message: str) -> None:
        lane = self.lanes[side]
        lane.loading = max(0, lane.loading - 1)
        self.model_failed.emit(side, message)
