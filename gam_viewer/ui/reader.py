"""The one decoder: a QObject living in its own thread that reads a FrameSource in real time.

It never queues frames. Each decoded frame goes into a one-place mailbox (:class:`LatestSlot`)
that the consumer empties; a frame still there when the next one arrives is replaced and
counted as dropped. When decoding itself falls behind the clock, whole frames are skipped
without decoding them. Playback is paced against the wall clock (``fps x speed``), so a slow
consumer never slows the video down; it just sees fewer of its frames.

All slots run in the reader thread; call them through queued signals (see ``Pipeline``).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import List, Optional

import cv2
import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from ..media.sources import Frame, FrameSource, SourceError, open_paths

__all__ = ["LatestSlot", "FramePacket", "SourceInfo", "SourceReader", "SLIDESHOW_FPS"]

SLIDESHOW_FPS = 1.0   # "play" on a folder of images: one image per second at speed 1


class LatestSlot:
    """A thread-safe mailbox holding at most one item: ``put`` replaces, ``take`` empties."""

    def __init__(self):
        self._lock = threading.Lock()
        self._item = None
        self.dropped = 0

    def put(self, item) -> bool:
        """Store ``item``; True when the slot was empty (the consumer needs a nudge)."""
        with self._lock:
            was_empty = self._item is None
            if not was_empty:
                self.dropped += 1
            self._item = item
            return was_empty

    def take(self):
        with self._lock:
            item, self._item = self._item, None
            return item

    def clear(self) -> None:
        with self._lock:
            self._item = None


@dataclass
class FramePacket:
    """A decoded frame on its way to the models and the screen."""

    frame: Frame
    rgb: np.ndarray          # the same picture as RGB for display (converted in the reader thread)
    t_read: float            # time.perf_counter() when it was decoded
    generation: int          # which opened source it came from


@dataclass
class SourceInfo:
    kind: str
    name: str
    count: Optional[int]
    fps: Optional[float]
    live: bool
    seekable: bool
    spec: object              # what was opened (paths list, camera index or URL)
    notes: List[str] = field(default_factory=list)


class SourceReader(QObject):
    opened = Signal(object)            # SourceInfo
    failed = Signal(str)               # one line: cannot open / cannot read a frame
    warning = Signal(str)              # a frame decoded with a problem (truncated JPEG)
    frame_available = Signal()         # the mailbox went from empty to full
    position_changed = Signal(int, object)   # index of the frame just decoded, count (or None)
    playing_changed = Signal(bool)
    ended = Signal()

    def __init__(self, slot: LatestSlot):
        super().__init__()
        self.slot = slot
        self.source: Optional[FrameSource] = None
        self.generation = 0
        self.decoded = 0
        self.skipped = 0
        self._playing = False
        self._speed = 1.0
        self._loop = False
        self._t0 = 0.0
        self._k0 = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)

    # ------------------------------------------------------------------ opening
    @Slot(object)
    def open(self, spec) -> None:
        """Open ``spec`` (a list of paths, a path, a camera index or a URL), show its first frame."""
        self._set_playing(False)
        try:
            src = open_paths(spec if isinstance(spec, (list, tuple)) else [spec])
        except SourceError as exc:
            self.failed.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - OpenCV errors must not escape the thread
            self.failed.emit(f"{spec}: cannot open ({type(exc).__name__}: {exc})")
            return
        first = None
        if not src.live:
            # decode the first frame before giving up what is shown: a single image or a video
            # that cannot be read is a failed open (the old picture and title stay)
            try:
                first = src.read()
            except SourceError as exc:
                if src.kind in ("image", "video"):
                    src.close()
                    self.failed.emit(str(exc))
                    return
                self.failed.emit(str(exc))   # a folder: the unreadable image is named, the others show
            except Exception as exc:  # noqa: BLE001
                src.close()
                self.failed.emit(f"{spec}: cannot read ({type(exc).__name__}: {exc})")
                return
        self._close_source()
        self.source = src
        self.generation += 1
        self.slot.clear()
        self.slot.dropped = self.decoded = self.skipped = 0
        info = SourceInfo(src.kind, src.name, src.count, src.fps, src.live, src.seekable, spec,
                          list(getattr(src, "notes", [])))
        self.opened.emit(info)
        if first is not None:
            self._deliver(first)
        else:
            self._read_one()
        if src.kind in ("video", "camera", "stream"):
            self._set_playing(True)

    @Slot()
    def close(self) -> None:
        self._set_playing(False)
        self._close_source()

    def _close_source(self) -> None:
        if self.source is not None:
            try:
                self.source.close()
            except Exception:  # noqa: BLE001
                pass
            self.source = None

    # ------------------------------------------------------------------ transport
    @Slot()
    def play(self) -> None:
        if self.source is None:
            return
        if not self.source.live and self.source.count is not None and self.source.position >= self.source.count:
            self._seek(0)  # play again from the start
        self._set_playing(True)

    @Slot()
    def pause(self) -> None:
        self._set_playing(False)

    @Slot()
    def toggle(self) -> None:
        self.pause() if self._playing else self.play()

    @Slot(int)
    def step(self, n: int) -> None:
        """Pause and show the frame ``n`` after (before) the current one."""
        if self.source is None:
            return
        self._set_playing(False)
        if self.source.live:
            self._read_one()
            return
        target = max(0, self.source.last_index + n)
        if self.source.count is not None:
            target = min(target, self.source.count - 1)
        if target == self.source.last_index:
            return
        self._seek(target)
        self._read_one()

    @Slot(int)
    def seek(self, index: int) -> None:
        if self.source is None or not self.source.seekable:
            return
        self._seek(index)
        self._read_one()
        if self._playing:
            self._restart_clock()

    @Slot()
    def reread(self) -> None:
        """Decode the current frame again (e.g. after a failed read)."""
        if self.source is not None and self.source.seekable and self.source.last_index >= 0:
            self._seek(self.source.last_index)
            self._read_one()

    @Slot(float)
    def set_speed(self, speed: float) -> None:
        self._speed = min(16.0, max(1 / 16, float(speed)))
        if self._playing:
            self._restart_clock()

    @Slot(bool)
    def set_loop(self, loop: bool) -> None:
        self._loop = bool(loop)

    # ------------------------------------------------------------------ internals
    def _seek(self, index: int) -> None:
        try:
            self.source.seek(index)
        except SourceError as exc:
            self.failed.emit(str(exc))

    def _set_playing(self, playing: bool) -> None:
        playing = bool(playing) and self.source is not None
        if playing == self._playing:
            return
        self._playing = playing
        if playing:
            self._restart_clock()
            self._timer.start(0)
        else:
            self._timer.stop()
        self.playing_changed.emit(playing)

    def _rate(self) -> float:
        fps = self.source.fps if self.source is not None else None
        return (fps or SLIDESHOW_FPS) * self._speed

    def _restart_clock(self) -> None:
        """From now on, frame ``k`` is due at ``t0 + (k - k0) / rate`` (k0: the frame on screen)."""
        self._t0 = time.perf_counter()
        self._k0 = (self.source.position if self.source is not None else 0) - 1

    def _read_one(self) -> bool:
        """Decode the next frame into the mailbox; False at the end or on an error."""
        src = self.source
        try:
            frame = src.read()
        except SourceError as exc:
            self.failed.emit(str(exc))
            return False
        except Exception as exc:  # noqa: BLE001
            self.failed.emit(f"{src.name}: cannot read a frame ({type(exc).__name__}: {exc})")
            return False
        if frame is None:
            return False
        self._deliver(frame)
        return True

    def _deliver(self, frame: Frame) -> None:
        src = self.source
        self.decoded += 1
        if frame.warning:
            self.warning.emit(frame.warning)
        rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
        if self.slot.put(FramePacket(frame, rgb, time.perf_counter(), self.generation)):
            self.frame_available.emit()
        self.position_changed.emit(frame.index, src.count)

    @Slot()
    def _tick(self) -> None:
        src = self.source
        if not self._playing or src is None:
            return
        if src.live:
            ok = self._read_one()
            if not ok:
                self._set_playing(False)
                return
            self._timer.start(0)  # blocking reads pace themselves; let queued commands in between
            return
        rate = self._rate()
        now = time.perf_counter()
        wait = self._t0 + (src.position - self._k0) / rate - now
        if wait > 0.002:  # woken early (or play just pressed): the next frame is not due yet
            self._timer.start(int(math.ceil(wait * 1000)))
            return
        due = self._k0 + int(math.floor((now - self._t0) * rate))
        behind = due - src.position
        if behind > 0:
            try:
                self.skipped += src.skip(behind)
            except SourceError as exc:
                self.failed.emit(str(exc))
                self._set_playing(False)
                return
        ok = self._read_one()
        if not ok:
            at_end = src.count is not None and src.position >= src.count
            if at_end and self._loop and src.count:
                self._seek(0)
                self._restart_clock()
                self._timer.start(0)
                return
            if not at_end and src.kind in ("folder", "images"):  # an unreadable image: the slideshow goes on
                self._timer.start(int(1000 / rate))
                return
            self._set_playing(False)
            if at_end:
                self.ended.emit()
            return
        next_due = self._t0 + (src.position - self._k0) / rate
        self._timer.start(max(0, int(round((next_due - time.perf_counter()) * 1000))))

    @Slot()
    def shutdown(self) -> None:
        """Stop and release the source (runs in the reader thread: its timer lives there)."""
        self._timer.stop()
        self._playing = False
        self._close_source()
