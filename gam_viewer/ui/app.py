"""Start the viewer window: ``run_gui(args)`` (called by ``gam-viewer`` / ``python main.py``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

__all__ = ["run_gui", "make_app", "check_paths"]


def check_paths(paths: List[str]) -> Optional[str]:
    """The first command-line path that names nothing (a one-line message), else None.

    Camera indices ("0") and URLs ("rtsp://...") pass; they are checked when opened."""
    for p in paths:
        if p.isdigit() or "://" in p:
            continue
        if not Path(os.path.expanduser(p)).exists():
            return f"{p}: no such file or folder"
    return None


def _check_model(name: Optional[str], flag: str) -> Optional[str]:
    if name is None:
        return None
    p = Path(os.path.expanduser(name))
    looks_like_path = p.suffix or os.sep in name or "/" in name
    if looks_like_path and not p.exists() and p.suffix.lower() not in ("", ".yaml", ".yml"):
        return f"{flag} {name}: no such file"
    return None


def make_app():
    """The QApplication (created once), named so QSettings finds the right file."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    app.setApplicationName("gam-viewer")
    app.setOrganizationName("gam-viewer")
    app.setApplicationDisplayName("gam-viewer")
    return app


def run_gui(args) -> int:
    """Open the window on ``args.paths`` / ``args.model`` / ``args.baseline``; for what is not
    given, the demo pair and media (unless ``args.no_demo``), or with ``args.restore`` the last
    session's models. Returns the exit status when the window closes."""
    paths = [str(p) for p in (getattr(args, "paths", None) or [])]
    for problem in (check_paths(paths), _check_model(getattr(args, "model", None), "--model"),
                    _check_model(getattr(args, "baseline", None), "--baseline")):
        if problem:
            print(f"gam-viewer: error: {problem}", file=sys.stderr)
            return 2
    app = make_app()
    from .main_window import MainWindow
    from .settings import Settings

    window = MainWindow(Settings())
    window.show()
    window.start(paths, model=getattr(args, "model", None), baseline=getattr(args, "baseline", None),
                 demo=not getattr(args, "no_demo", False), restore=bool(getattr(args, "restore", False)))
    return int(app.exec())
