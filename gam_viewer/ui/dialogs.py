"""Small dialogs: About (versions), camera choice, stream URL, keyboard shortcuts."""

from __future__ import annotations

import platform
from typing import List, Optional, Tuple

from PySide6.QtWidgets import QInputDialog, QMessageBox, QWidget

from ..media.sources import camera_devices

__all__ = ["versions", "about_html", "show_about", "list_cameras", "choose_camera", "ask_stream_url",
           "SHORTCUTS", "show_shortcuts"]

SHORTCUTS = [
    ("Ctrl+O", "Open images, a video or a folder's files"),
    ("Ctrl+Shift+O", "Open a folder of images"),
    ("Ctrl+Shift+C", "Open a webcam"),
    ("Ctrl+Shift+U", "Open a stream URL"),
    ("Ctrl+S", "Save a screenshot of both panes (PNG)"),
    ("Ctrl+E", "Export the selected layer's heatmap (PNG with colour bar and caption)"),
    ("Ctrl+Shift+E", "Export every GAM layer's heatmap"),
    ("Ctrl+Shift+H", "Export the overlay shown (gate or CAM)"),
    ("Ctrl+Shift+K", "Export the channel chart (PNG and CSV)"),
    ("Space", "Play / pause"),
    ("Right / Left", "Next / previous image or frame"),
    ("Page Down / Page Up", "Jump 10 images or frames"),
    ("Home", "First image or frame"),
    ("F", "Fit the frame to the panes"),
    ("Ctrl+L", "Load the demo model pair"),
    ("F11", "Full screen"),
    ("Ctrl+Q", "Quit"),
]


def versions() -> List[Tuple[str, str]]:
    from PySide6 import QtCore

    import PySide6

    from .. import __version__

    out = [("gam-viewer", __version__), ("Python", platform.python_version()),
           ("PySide6 / Qt", f"{PySide6.__version__} / {QtCore.qVersion()}")]
    for mod, label in (("pyqtgraph", "pyqtgraph"), ("torch", "PyTorch"), ("cv2", "OpenCV"), ("numpy", "NumPy")):
        try:
            out.append((label, str(__import__(mod).__version__)))
        except Exception:  # noqa: BLE001
            out.append((label, "not installed"))
    try:
        import torch

        out.append(("CUDA", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not available"))
    except Exception:  # noqa: BLE001
        pass
    return out


def about_html() -> str:
    rows = "".join(f"<tr><td>{k}</td><td>&nbsp;{v}</td></tr>" for k, v in versions())
    return ("<h3>gam-viewer</h3><p>What GAM attention does inside a YOLO detector: a GAM-YOLO and a "
            "baseline YOLOv5 side by side, on the same frame.</p>"
            f"<table>{rows}</table><p>GAM: Liu, Shao, Hoffmann, <i>Global Attention Mechanism</i>, "
            "arXiv:2112.05561 (2021).</p>")


def show_about(parent: QWidget) -> None:
    QMessageBox.about(parent, "About gam-viewer", about_html())


def show_shortcuts(parent: QWidget) -> None:
    rows = "".join(f"<tr><td><b>{k}</b></td><td>&nbsp;&nbsp;{v}</td></tr>" for k, v in SHORTCUTS)
    QMessageBox.information(parent, "Keyboard shortcuts", f"<table>{rows}</table>")


def list_cameras() -> List[Tuple[int, str]]:
    """(OpenCV index, name) of the cameras: names from the system (Linux), else from Qt
    Multimedia when it can be imported (order taken as the index), else bare indices."""
    devs = camera_devices()
    if devs:
        return devs
    try:
        from PySide6.QtMultimedia import QMediaDevices  # needs libpulse; optional

        names = [d.description() for d in QMediaDevices.videoInputs()]
        if names:
            return list(enumerate(names))
    except Exception:  # noqa: BLE001 - ImportError, missing libpulse.so.0, no backend
        pass
    return []


def choose_camera(parent: QWidget) -> Optional[int]:
    cams = list_cameras()
    items = [f"{i}: {name}" for i, name in cams] or [f"{i}: camera {i} (not detected)" for i in range(4)]
    text, ok = QInputDialog.getItem(parent, "Open a webcam",
                                    "Camera (found none; you can still try an index):" if not cams else "Camera:",
                                    items, 0, True)
    if not ok or not text.strip():
        return None
    head = text.split(":", 1)[0].strip()
    if not head.isdigit():
        QMessageBox.warning(parent, "Open a webcam", f"{text!r} is not a camera index (0, 1, ...)")
        return None
    return int(head)


def ask_stream_url(parent: QWidget, last: str = "") -> Optional[str]:
    url, ok = QInputDialog.getText(parent, "Open a stream",
                                   "Stream URL (rtsp://, http(s)://, udp://, ...):", text=last or "rtsp://")
    url = url.strip()
    return url if ok and url and url != "rtsp://" else None
