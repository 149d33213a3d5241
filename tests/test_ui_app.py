"""run_gui (the entry point ``gam-viewer`` calls) and the layering rule (no Qt below ui)."""

import argparse
import ast
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from gam_viewer.ui.app import check_paths, run_gui  # noqa: E402

PKG = Path(__file__).resolve().parents[1] / "gam_viewer"


def args(paths=(), model=None, baseline=None, no_demo=True):
    return argparse.Namespace(paths=list(paths), model=model, baseline=baseline, no_demo=no_demo)


def test_missing_command_line_path_is_a_one_line_error(tmp_path, capsys):
    assert run_gui(args([str(tmp_path / "nope.jpg")])) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"gam-viewer: error: {tmp_path / 'nope.jpg'}: no such file or folder"
    assert run_gui(args(model=str(tmp_path / "missing.pt"))) == 2
    assert "--model" in capsys.readouterr().err
    assert check_paths(["0", "rtsp://cam/1"]) is None


def test_run_gui_opens_the_command_line_image_and_returns_on_close(qtbot, qapp, tmp_path, monkeypatch):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from gam_viewer.ui.main_window import MainWindow

    settings = tmp_path / "s.ini"
    monkeypatch.setenv("GAM_VIEWER_SETTINGS", str(settings))
    img = tmp_path / "pic.png"
    cv2.imwrite(str(img), np.zeros((20, 30, 3), np.uint8))
    seen = {}

    def check_and_close():
        wins = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if wins and wins[0].current_result is not None:
            seen["source"] = wins[0].current_result.frame.source
            wins[0].close()
        else:
            QTimer.singleShot(50, check_and_close)

    QTimer.singleShot(50, check_and_close)
    QTimer.singleShot(15000, qapp.quit)  # a safety net, never reached when it works
    assert run_gui(args([str(img)])) == 0
    assert seen.get("source") == "pic.png"
    assert settings.exists()   # the window saved its settings there, not in the user's


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield "." * node.level + node.module


def test_ui_uses_inference_not_the_model_internals():
    """Model maths stays below ui: the window imports inference (and the error type), never nn/models.
    (No Qt below ui, layers, cycles: tests/test_import_contract.py.)"""
    offenders = []
    for path in (PKG / "ui").rglob("*.py"):
        for mod in _imports(path):
            if re.match(r"^(gam_viewer\.|\.\.)(nn|models)(\.|$)", mod) and mod != "..models.errors":
                offenders.append(f"{path.name} imports {mod}")
    assert offenders == []
