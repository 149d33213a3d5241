"""File ▸ Export ▸ Figure grid… and Video…: the long exports, run in a worker thread.

The window only gathers what the user has open - the images loaded (or the video), both
models' files and GAM switches, the thresholds and image size, the overlay chosen - and
hands a plain-Python job to a worker ``QObject`` in its own ``QThread``. The work itself is
the command line's: :func:`gam_viewer.render.grid.write_figure` and
:func:`gam_viewer.render.video.export_video` (the models are opened again in the worker, so
the live panes keep running). Progress and the outcome come back through signals to this
GUI-thread object, which reports in the status bar. One export at a time; a video can be
cancelled (nothing is written then).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, List, Optional, Set

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QInputDialog, QLineEdit

__all__ = ["BackgroundExports", "figure_request", "video_request", "loaded_image_paths", "default_columns_text"]

_RUNNING: Set[QThread] = set()     # threads kept alive (and waited for at exit) until they finish


def _wait_all() -> None:
    for t in list(_RUNNING):
        t.quit()
        t.wait(30000)


# ----------------------------------------------------------------------------- what the window has open
def _model(win, side: str):
    info = win.pipeline.model_info(side)
    return info.spec if info is not None else None


def loaded_image_paths(win) -> List[Path]:
    """The rows picked in the Dataset dock's table (two or more), else the image files the window
    has open (an image, a list, a folder's images), in order."""
    from ..media.sources import list_images

    dock = getattr(win, "dataset_dock", None)
    picked = dock.selected_image_paths() if dock is not None and dock.isVisible() else []
    if len(picked) >= 2:
        return picked
    info = win.source_info
    if info is None or info.kind not in ("image", "images", "folder"):
        raise ValueError("the figure grid uses the images currently open: open images or a folder first"
                         + (" (a video is open: use Export ▸ Video…)" if info is not None and info.kind == "video"
                            else ""))
    specs = info.spec if isinstance(info.spec, (list, tuple)) else [info.spec]
    out: List[Path] = []
    for s in specs:
        p = Path(str(s))
        out += list_images(p) if p.is_dir() else [p]
    if not out:
        raise ValueError("no images are open")
    return out


def default_columns_text(win) -> str:
    """input, the CAMs of both models, then each GAM layer of the left model (from its report)."""
    gam = win.pipeline.model_info("gam")
    base = win.pipeline.model_info("baseline")
    cols = ["input"] + (["baseline-cam"] if base is not None else []) + ["model-cam"]
    for line in (gam.gam_lines if gam is not None else []):
        parts = line.split()
        if len(parts) > 1 and parts[0] == "layer" and parts[1].isdigit():
            cols.append(f"L{parts[1]}")
    return ",".join(cols)


def figure_request(win, columns: str, out: str, overwrite: bool = False) -> dict:
    """Keyword arguments for :func:`gam_viewer.render.grid.write_figure` from the window's state."""
    from ..render.grid import GridOptions, parse_columns

    gam, base = _model(win, "gam"), _model(win, "baseline")
    if gam is None:
        raise ValueError("open a GAM-YOLO model first (Models ▸ Open GAM-YOLO model…)")
    paths = loaded_image_paths(win)
    cols = parse_columns(columns)
    p = win.pipeline.params
    opts = GridOptions(columns=[c.spec for c in cols], conf=float(p.conf), iou=float(p.iou), imgsz=int(p.imgsz),
                       channel_sigmoid=gam.channel_sigmoid, shuffle=gam.shuffle)
    return {"out": out, "model_spec": gam.source, "baseline_spec": base.source if base is not None else None,
            "image_paths": paths, "opts": opts, "columns": cols, "overwrite": overwrite, "device": gam.device}


def video_request(win, out: str, overwrite: bool = False):
    """A :class:`gam_viewer.render.video.VideoJob` for the open video with the overlay now shown."""
    from ..render.colormaps import COLORMAPS, DEFAULT_COLORMAP
    from ..render.video import VideoJob

    gam, base = _model(win, "gam"), _model(win, "baseline")
    if gam is None:
        raise ValueError("open a GAM-YOLO model first (Models ▸ Open GAM-YOLO model…)")
    info = win.source_info
    if info is None or info.kind != "video":
        raise ValueError("Export ▸ Video… needs a video file open (File ▸ Open…)")
    spec = info.spec[0] if isinstance(info.spec, (list, tuple)) else info.spec
    panel = win.attention
    kinds = {s.kind for s in panel.shown.values()}
    overlay, layer, reduce = "none", None, "mean"
    if kinds & {"eigen", "grad"}:
        overlay = "grad" if "grad" in kinds else "eigen"
    elif panel.selected is not None and panel.selected[0] == "gam":
        overlay, layer = "gate", int(panel.selected[1])
        reduce = panel.channels.get(panel.selected, 0) if panel.reduce_kind == "channel" else panel.reduce_kind
    st = panel.state
    p = win.pipeline.params
    return VideoJob(source=str(spec), out=out, model=gam.source, baseline=base.source if base is not None else None,
                    overlay=overlay, layer=layer, gate=panel.gate, reduce=reduce,
                    cmap=st.cmap if st.cmap in COLORMAPS else DEFAULT_COLORMAP, alpha=float(st.opacity),
                    vrange=tuple(st.fixed) if st.range_mode == "fixed" and st.fixed else None,
                    conf=float(p.conf), iou=float(p.iou), imgsz=int(p.imgsz), overwrite=overwrite,
                    device=gam.device, channel_sigmoid=gam.channel_sigmoid, shuffle=gam.shuffle)


# ----------------------------------------------------------------------------- the worker
class _Worker(QObject):
    finished = Signal(object)
    failed = Signal(str)
    progress = Signal(int, int)

    @Slot(object)
    def run(self, job: Callable) -> None:
        try:
            result = job(lambda done, total: self.progress.emit(int(done), int(total or 0)))
        except (ValueError, OSError) as exc:
            self.failed.emit(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        except Exception as exc:   # noqa: BLE001 - a worker must report, never die silently
            self.failed.emit(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        else:
            self.finished.emit(result)


class BackgroundExports(QObject):
    """Runs one export at a time in a worker thread and reports in the window's status bar."""

    finished = Signal(object)      # what the job returned (paths)
    failed = Signal(str)
    _start = Signal(object)

    def __init__(self, window):
        super().__init__(window)
        self.win = window
        self.busy = False
        self.cancel = threading.Event()
        self._thread: Optional[QThread] = None
        self._worker: Optional[_Worker] = None
        self._what = ""
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(_wait_all)

    def start(self, what: str, job: Callable) -> bool:
        """Run ``job(progress)`` in the worker thread; False when another export is still running."""
        if self.busy:
            self.win.report(f"an export is running ({self._what}); wait for it to finish", error=True)
            return False
        self.busy, self._what = True, what
        self.cancel.clear()
        thread = QThread()
        thread.setObjectName("gam-viewer-export")
        worker = _Worker()
        worker.moveToThread(thread)
        self._start.connect(worker.run)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.progress.connect(self._on_progress)
        thread.finished.connect(worker.deleteLater)
        _RUNNING.add(thread)
        self._thread, self._worker = thread, worker
        thread.start()
        self._start.emit(job)
        self.win.report(f"{what}: started in the background")
        return True

    def _done(self) -> None:
        self._start.disconnect()
        t = self._thread
        if t is not None:
            t.quit()
            t.wait(5000)
            _RUNNING.discard(t)
        self._thread = self._worker = None
        self.busy = False

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        of = f" of {total}" if total else ""
        self.win.report(f"{self._what}: {done}{of} done")

    @Slot(object)
    def _on_finished(self, result) -> None:
        self._done()
        paths, note = result if isinstance(result, tuple) else (result, "")
        names = ", ".join(str(p) for p in (paths or []))
        self.win.report(f"{self._what}: saved {names}" + (f" ({note})" if note else ""))
        self.finished.emit(paths)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._done()
        self.win.report(f"{self._what}: {message}", error=True)
        self.failed.emit(message)

    # ------------------------------------------------------------------ the two exports
    def figure_grid(self, out: str, columns: Optional[str] = None, overwrite: bool = False) -> bool:
        from ..render.grid import write_figure

        try:
            kw = figure_request(self.win, columns or default_columns_text(self.win), out, overwrite)
        except ValueError as exc:
            self.win.report(f"figure grid: {exc}", error=True)
            return False

        def job(progress):
            _, written, side = write_figure(**kw, progress=progress)
            return written + [side]

        return self.start("figure grid", job)

    def video(self, out: str, overwrite: bool = False) -> bool:
        from ..render.video import export_video

        try:
            vj = video_request(self.win, out, overwrite)
        except ValueError as exc:
            self.win.report(f"video: {exc}", error=True)
            return False
        def job(progress):
            w = export_video(vj, progress=progress, cancelled=self.cancel.is_set)
            return [w.path], w.message

        return self.start("video", job)

    def figure_grid_dialog(self) -> bool:
        try:
            text = default_columns_text(self.win)
            loaded_image_paths(self.win)
        except ValueError as exc:
            self.win.report(f"figure grid: {exc}", error=True)
            return False
        columns, ok = QInputDialog.getText(
            self.win, "Figure grid: columns",
            "Columns (input, input:baseline, model-cam, baseline-cam, L19, L19:channel, L19:spatial:max, L19:c5):",
            QLineEdit.EchoMode.Normal, text)
        if not ok or not columns.strip():
            return False
        start = str(Path(self.win.settings.last_dir) / "figure-grid.pdf")
        path, _ = QFileDialog.getSaveFileName(self.win, "Save the figure grid (a .json sidecar goes next to it)",
                                              start, "PDF (*.pdf);;SVG (*.svg);;PNG, 300 dpi (*.png)")
        if not path:
            return False
        if Path(path).suffix.lower() not in (".pdf", ".svg", ".png"):
            path += ".pdf"
        # the dialog asked before replacing the figure; the sidecar follows it
        return self.figure_grid(path, columns, overwrite=Path(path).exists())

    def video_dialog(self) -> bool:
        if self.busy and self._what == "video":
            self.cancel.set()
            self.win.report("video: cancelling…")
            return False
        start = str(Path(self.win.settings.last_dir) / "side-by-side.mp4")
        path, _ = QFileDialog.getSaveFileName(self.win, "Save a side-by-side video", start,
                                              "MP4 (*.mp4);;AVI, Motion-JPEG (*.avi)")
        if not path:
            return False
        if Path(path).suffix.lower() not in (".mp4", ".avi", ".mov", ".m4v", ".mkv"):
            path += ".mp4"
        return self.video(path, overwrite=Path(path).exists())
