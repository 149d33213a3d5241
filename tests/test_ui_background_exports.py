"""File ▸ Export ▸ Figure grid… / Video… in the window: built from what is open, run in a worker thread."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from gam_viewer.ui.model_spec import ModelSpec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GAM_DEMO = ROOT / "resources" / "demo" / "gam-yolov5n.safetensors"
BASE_DEMO = ROOT / "resources" / "demo" / "yolov5n.safetensors"
SAMPLES = ROOT / "resources" / "samples"


def _demo_window(make_window, qtbot):
    from gam_viewer import load_model

    win = make_window()
    for side, path in (("gam", GAM_DEMO), ("baseline", BASE_DEMO)):
        win.set_detector(side, load_model(str(path)), ModelSpec(str(path)))
    qtbot.waitUntil(lambda: not win.pipeline.loading and win.pipeline.model_info("baseline") is not None,
                    timeout=20000)
    return win


def test_menu_has_the_two_exports_and_they_say_what_is_missing(qtbot, make_window, fake_detector, tmp_path):
    win = make_window()
    assert win.actions_.export_grid.text().startswith("&Figure grid")
    assert win.actions_.export_video.text().startswith("&Video")
    bg = win.exporter.background
    assert bg.figure_grid(str(tmp_path / "f.pdf")) is False      # no model, no images
    assert "figure grid:" in win.messages[-1]
    assert bg.video(str(tmp_path / "v.mp4")) is False
    assert "video:" in win.messages[-1]
    assert not bg.busy and not list(tmp_path.iterdir())


@pytest.mark.slow
def test_figure_grid_from_the_open_images_runs_in_the_background(qtbot, make_window, tmp_path):
    win = _demo_window(make_window, qtbot)
    imgs = [SAMPLES / "synth_01.jpg", SAMPLES / "synth_02.jpg"]
    win.open_paths([str(p) for p in imgs])
    qtbot.waitUntil(lambda: win.source_info is not None and win.source_info.count == 2, timeout=10000)
    from gam_viewer.ui.background_exports import default_columns_text

    assert default_columns_text(win) == "input,baseline-cam,model-cam,L9,L19,L23,L27"
    win.pipeline.params = type(win.pipeline.params)(conf=0.3, iou=0.5, imgsz=128)
    out = tmp_path / "grid.png"
    bg = win.exporter.background
    with qtbot.waitSignal(bg.finished, timeout=240000) as sig:
        assert bg.figure_grid(str(out), "input,baseline-cam,L19") is True
        assert bg.busy and bg.figure_grid(str(out)) is False       # one export at a time
    assert [Path(p).name for p in sig.args[0]] == ["grid.png", "grid.json"]
    assert cv2.imread(str(out)) is not None
    side = json.loads((tmp_path / "grid.json").read_text())
    assert [Path(i["path"]).name for i in side["images"]] == ["synth_01.jpg", "synth_02.jpg"]
    assert side["thresholds"] == {"conf": 0.3, "iou": 0.5} and side["image_size"]["imgsz"] == 128
    assert side["options"]["columns"] == ["input", "baseline-cam", "L19"]
    assert not bg.busy and "saved" in win.messages[-1]


@pytest.mark.slow
def test_video_of_the_open_clip_runs_in_the_background(qtbot, make_window, make_video, tmp_path):
    win = _demo_window(make_window, qtbot)
    clip = make_video("clip.avi", n=4, fps=8.0, size=(96, 64))
    win.open_paths([str(clip)])
    qtbot.waitUntil(lambda: win.source_info is not None and win.source_info.kind == "video", timeout=10000)
    win.pipeline.params = type(win.pipeline.params)(imgsz=64)
    out = tmp_path / "talk.avi"
    bg = win.exporter.background
    with qtbot.waitSignal(bg.finished, timeout=240000):
        assert bg.video(str(out)) is True
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 4 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(8.0)
    cap.release()
    assert "talk.avi" in win.messages[-1] and "Motion-JPEG" in win.messages[-1]
