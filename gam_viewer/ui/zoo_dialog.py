"""Models ▸ Download official YOLOv5 baseline: fetch a checkpoint of the official v7.0 release
(engine.zoo) in a worker thread, with a cancellable progress dialog, then open it in the
baseline pane through the window's usual load path.

Nothing is downloaded before the user picks an entry and confirms. A cached checkpoint is
verified (in the worker: hashing 170 MB takes a moment) and opened without asking. Failures
(offline, HTTP errors, checksum mismatches) become one line in a message box and the status
bar; the window keeps working.
"""

from __future__ import annotations

import threading
from typing import Optional

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import QMenu, QMessageBox, QProgressDialog, QWidget

from .. import hub as zoo

__all__ = ["ZooController", "ZooFetchWorker", "ask_confirmation", "confirmation_text"]


def confirmation_text(name: str) -> str:
    ck = zoo.checkpoint(name)
    check = ("its SHA-256 is checked against the published value" if ck.sha256 else
             "no checksum is published with gam-viewer for it, so its SHA-256 is recorded now and checked "
             "every time it is used after (trust on first use)")
    return (f"Download {ck.filename} (about {zoo.describe_size(ck.size)}) from\n{zoo.url_for(name)}\n\n"
            f"into {zoo.cache_dir()}?\n\nThe official YOLOv5 {zoo.RELEASE} COCO checkpoint (80 classes); "
            f"{check}. It is then opened in the baseline pane, read safely (no code from the file runs).")


def ask_confirmation(parent: QWidget, title: str, text: str) -> bool:
    """Yes / No before a download (tests replace this)."""
    answer = QMessageBox.question(parent, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.Yes)
    return answer == QMessageBox.StandardButton.Yes


class ZooFetchWorker(QObject):
    """Runs ``zoo.fetch`` in its thread; every outcome is a signal."""

    progress = Signal(int, int)      # kB done, kB total (0: unknown)
    done = Signal(str, str)          # name, path
    failed = Signal(str, str)        # name, one-line reason
    cancelled = Signal(str)          # name

    def __init__(self, cancel_event: threading.Event):
        super().__init__()
        self._cancel = cancel_event
        self._shown = -1

    @Slot(str)
    def fetch(self, name: str) -> None:
        self._shown = -1
        try:
            path = zoo.fetch(name, progress=self._progress, cancel=self._cancel.is_set)
        except zoo.FetchCancelled:
            self.cancelled.emit(name)
        except zoo.ZooError as exc:
            self.failed.emit(name, str(exc))
        except Exception as exc:  # noqa: BLE001 - whatever breaks, the window must hear of it
            self.failed.emit(name, f"cannot download {name}.pt: {type(exc).__name__}: {exc}")
        else:
            self.done.emit(name, str(path))

    def _progress(self, done: int, total: int) -> None:
        step = max(total // 200, 256 * 1024)      # at most ~200 updates per download
        if done == 0 or done == total or self._shown < 0 or done - self._shown >= step:
            self._shown = done
            self.progress.emit(done // 1024, total // 1024)


class ZooController(QObject):
    """The window's end of the downloads: the submenu, the dialogs, one download at a time."""

    _start = Signal(str)
    finished = Signal(str, str)      # name, path ('' when it failed or was cancelled)

    def __init__(self, window):
        super().__init__(window)
        self.win = window
        self.busy: Optional[str] = None
        self.progress_dialog: Optional[QProgressDialog] = None
        self.error_box: Optional[QMessageBox] = None
        self.menu: Optional[QMenu] = None
        self._cancel = threading.Event()
        self.thread = QThread()
        self.thread.setObjectName("gam-viewer-zoo")
        self.worker = ZooFetchWorker(self._cancel)
        self.worker.moveToThread(self.thread)
        self._start.connect(self.worker.fetch)
        self.worker.progress.connect(self._on_progress)
        self.worker.done.connect(self._on_done)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)
        self.thread.finished.connect(self.worker.deleteLater)
        self.thread.start()

    # ------------------------------------------------------------------ menu
    def fill_menu(self, menu: QMenu) -> None:
        """One entry per official checkpoint; labels say which are cached (refreshed on show)."""
        self.menu = menu
        menu.setToolTipsVisible(True)
        for name in zoo.OFFICIAL:
            act = menu.addAction(name)
            act.setData(name)
            act.triggered.connect(lambda checked=False, n=name: self.request(n))
        menu.aboutToShow.connect(self.refresh_menu)
        self.refresh_menu()

    @Slot()
    def refresh_menu(self) -> None:
        if self.menu is None:
            return
        try:
            cache = zoo.cache_dir()
        except Exception:  # noqa: BLE001 - no home folder: every entry just says "download"
            cache = None
        for act in self.menu.actions():
            name = act.data()
            if not name:
                continue
            ck = zoo.checkpoint(name)
            cached = cache is not None and zoo.cached_path(name, cache) is not None
            act.setText(f"{name}  (cached)" if cached else f"{name}  (download, about {zoo.describe_size(ck.size)})")
            act.setToolTip(str(cache / ck.filename) if cached else zoo.url_for(name))
            act.setEnabled(self.busy is None)

    # ------------------------------------------------------------------ asking
    def request(self, name: str) -> None:
        """Open official checkpoint ``name`` in the baseline pane, downloading it after asking."""
        if self.busy is not None:
            self.win.report(f"already downloading {self.busy}.pt", error=True)
            return
        try:
            ck = zoo.checkpoint(name)
            cached = zoo.cached_path(name) is not None
        except (zoo.ZooError, OSError, RuntimeError) as exc:
            self._show_error(str(exc))
            return
        if not cached and not ask_confirmation(self.win, "Download an official YOLOv5 baseline",
                                               confirmation_text(name)):
            return
        self.busy = name
        self._cancel.clear()
        self.refresh_menu()   # the entries stay disabled until this one ends
        if not cached:
            dlg = QProgressDialog(f"Downloading {ck.filename} …", "Cancel", 0, 0, self.win)
            dlg.setWindowTitle("Download an official YOLOv5 baseline")
            # not modal: a modal QProgressDialog's setValue() processes events itself, and the
            # download's end (which closes and deletes the dialog) could then run inside it
            # (seen as a crash); the menu's entries are disabled while a download runs, and a
            # second request is refused by name
            dlg.setWindowModality(Qt.WindowModality.NonModal)
            dlg.setMinimumDuration(0)
            dlg.setAutoClose(False)
            dlg.setAutoReset(False)
            dlg.canceled.connect(self.cancel)
            dlg.show()
            self.progress_dialog = dlg
        self.win.report(f"verifying the cached {ck.filename} …" if cached else f"downloading {zoo.url_for(name)} …")
        self._start.emit(name)

    @Slot()
    def cancel(self) -> None:
        self._cancel.set()

    # ------------------------------------------------------------------ outcomes (GUI thread)
    @Slot(int, int)
    def _on_progress(self, done_kb: int, total_kb: int) -> None:
        dlg = self.progress_dialog
        if dlg is None:
            return
        if total_kb > 0:
            dlg.setLabelText(f"Downloading {self.busy}.pt: {done_kb / 1024:.1f} of {total_kb / 1024:.1f} MB")
            if dlg.maximum() != total_kb:
                dlg.setRange(0, total_kb)
            dlg.setValue(min(done_kb, total_kb))
        else:
            dlg.setLabelText(f"Downloading {self.busy}.pt: {done_kb / 1024:.1f} MB")

    @Slot(str, str)
    def _on_done(self, name: str, path: str) -> None:
        self._finish()
        self.win.report(f"{name}.pt ready in {path}; opening it as the baseline")
        self.win.load_model("baseline", path)
        self.finished.emit(name, path)

    @Slot(str, str)
    def _on_failed(self, name: str, message: str) -> None:
        self._finish()
        self._show_error(message)
        self.finished.emit(name, "")

    @Slot(str)
    def _on_cancelled(self, name: str) -> None:
        self._finish()
        self.win.report(f"download of {name}.pt cancelled; nothing was kept")
        self.finished.emit(name, "")

    def _finish(self) -> None:
        self.busy = None
        if self.progress_dialog is not None:
            self.progress_dialog.canceled.disconnect(self.cancel)
            self.progress_dialog.close()
            self.progress_dialog.deleteLater()
            self.progress_dialog = None
        self.refresh_menu()

    def _show_error(self, message: str) -> None:
        """The reason in the status bar and in a (non-blocking) message box."""
        self.win.report(message, error=True)
        if self.error_box is not None:
            self.error_box.close()
        box = QMessageBox(QMessageBox.Icon.Warning, "Official YOLOv5 baseline", message,
                          QMessageBox.StandardButton.Ok, self.win)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda *_, b=box: self._box_closed(b))
        self.error_box = box
        box.open()

    def _box_closed(self, box: QMessageBox) -> None:
        if self.error_box is box:
            self.error_box = None

    # ------------------------------------------------------------------ closing
    def shutdown(self, wait_ms: int = 3000) -> None:
        """Cancel a running download and stop the thread (waits at most ``wait_ms``: a stuck
        connection is left to its timeout rather than hanging the window's close)."""
        self._cancel.set()
        self.thread.quit()
        if not self.thread.wait(wait_ms):
            # still inside a blocking network call: keep the thread object alive until it ends
            _STRAYS.append((self.thread, self.worker))


_STRAYS: list = []   # (thread, worker) of downloads still blocked in the network when their window closed
