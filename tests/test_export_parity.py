"""The window's File > Export and ``gam-viewer export`` on the same image folder: same file names,
same order, same colours, same captions (both go through ``render.view_state``)."""

import json

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from gam_viewer import load_model  # noqa: E402
from gam_viewer.app import main  # noqa: E402
from gam_viewer.render import figures as F  # noqa: E402

MODEL = "yolov5n-gam-full"     # shipped YAML, random weights: the gates are real tensors all the same
IMGSZ, CONF = 128, 0.3


def _image(h, w, seed):
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 2)
    cv2.circle(img, (w // 3, h // 2), min(h, w) // 5, (30, 200, 240), -1)
    return img


def _record(monkeypatch):
    """Every heatmap and chart figure drawn, with the words and colours it was asked for."""
    calls = []
    heat, chart = F.heatmap_figure, F.channel_chart_figure

    def heatmap_figure(image, values, **kw):
        calls.append(("heatmap", kw["caption"], kw["cmap"], kw["label"], kw["alpha"], kw["range_mode"],
                      tuple(round(v, 4) for v in kw["vrange"])))
        return heat(image, values, **kw)

    def channel_chart_figure(values, **kw):
        calls.append(("chart", kw["caption"], kw["title"], kw["ylabel"], kw["sort"], kw["top_k"], kw["marked"]))
        return chart(values, **kw)

    monkeypatch.setattr(F, "heatmap_figure", heatmap_figure)
    monkeypatch.setattr(F, "channel_chart_figure", channel_chart_figure)
    return calls


def _wait_frame(qtbot, win, index):
    def ready():
        r = win.current_result
        return (r is not None and r.frame.index == index and not win.pipeline.busy and not win.pipeline.loading
                and all(p.frame_index == index for p in win.panes.values() if p.detections is not None))
    qtbot.waitUntil(ready, timeout=60000)


@pytest.mark.slow
def test_window_and_cli_export_a_folder_alike(qtbot, make_window, tmp_path, monkeypatch, capsys):
    from gam_viewer.ui.model_spec import InferenceParams

    folder = tmp_path / "imgs"
    folder.mkdir()
    for name, (h, w), seed in (("img10.png", (90, 150), 0), ("img2.jpg", (120, 96), 1)):
        cv2.imwrite(str(folder / name), _image(h, w, seed))
    det = load_model(MODEL)
    layers = [info.index for info in det.model.gam_layers()]

    # the command line: every GAM layer's heatmap and chart, one folder
    calls = _record(monkeypatch)
    cli_out = tmp_path / "cli"
    assert main(["export", "--model", MODEL, "--source", str(folder), "--out", str(cli_out), "--no-composite",
                 "--imgsz", str(IMGSZ), "--conf", str(CONF), "--cmap", "viridis", "--quiet"]) == 0, \
        capsys.readouterr().err
    cli_calls = list(calls)
    calls.clear()
    cli_files = json.loads((cli_out / "export-summary.json").read_text())["files"]

    # the window: the same model and size, File > Export of every layer's heatmap and chart, frame by frame
    win = make_window()
    win.controls.set_inference_params(InferenceParams(imgsz=IMGSZ, conf=CONF))
    win.controls.colormap.setCurrentText("viridis")
    win.set_detector("gam", det)
    qtbot.waitUntil(lambda: not win.pipeline.loading, timeout=10000)
    win.open_paths([str(folder)])
    win_out = tmp_path / "win"
    win_out.mkdir()
    win_files = []
    for index in range(2):
        if index:
            win.pipeline.step(1)
        _wait_frame(qtbot, win, index)
        for layer in layers:
            win.attention.select_layer("gam", layer)
            win_files += [p.name for p in win.exporter.export("heatmap", win_out)]
            win_files += [p.name for p in win.exporter.export("chart", win_out)]

    # same names in the same order (natural order: img2 before img10), same words and colours asked for
    assert win_files == cli_files
    assert cli_files[0].startswith("img2_gam-L") and cli_files[-1].startswith("img10_gam-L")
    assert len(cli_files) == 2 * 3 * len(layers)
    assert len(cli_calls) == 2 * 2 * len(layers) and calls == cli_calls
    assert all("frame: img2.jpg #0" in c[1] or "frame: img10.png #1" in c[1] for c in calls)
    # and the same pixels (same model, same frame, same figure code)
    for name in (n for n in cli_files if n.endswith(".png")):
        a, b = cv2.imread(str(cli_out / name)), cv2.imread(str(win_out / name))
        assert a.shape == b.shape, name
        assert float(np.abs(a.astype(int) - b.astype(int)).mean()) < 0.5, name
