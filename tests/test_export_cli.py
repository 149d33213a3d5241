"""``gam-viewer export``: headless figures for a folder and a video, no overwrites, one-line errors."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from gam_viewer import load_model
from gam_viewer.app import main
from gam_viewer.render import figures as F

MODEL = "yolov5n-gam-full"        # shipped YAML, random weights: enough for shapes and plumbing
COMMON = ["--imgsz", "128", "--conf", "0.3", "--quiet"]


def _image(h, w, seed):
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 2)
    cv2.circle(img, (w // 3, h // 2), min(h, w) // 5, (30, 200, 240), -1)
    return img


@pytest.fixture()
def folder(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    cv2.imwrite(str(d / "wide.png"), _image(90, 150, 0))
    cv2.imwrite(str(d / "tall.jpg"), _image(140, 100, 1))
    (d / "notes.txt").write_text("not an image")
    return d


def _export(capsys, *args):
    rc = main(["export", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


def _png_size(path):
    img = cv2.imread(str(path))
    assert img is not None, f"{path} is not a readable PNG"
    return img


@pytest.mark.slow
def test_folder_export_writes_every_figure_with_the_right_sizes(folder, tmp_path, capsys):
    out = tmp_path / "out"
    rc, stdout, err = _export(capsys, "--model", MODEL, "--source", folder, "--out", out, "--layers", "19", "27",
                              "--top-k", "12", "--sort", "--cmap", "turbo", *COMMON)
    assert rc == 0, err
    names = sorted(p.name for p in out.iterdir())
    expected = {"export-summary.json"}
    for frame in ("tall", "wide"):
        expected.add(f"{frame}_composite.png")
        for layer in (19, 27):
            expected |= {f"{frame}_gam-L{layer}-heatmap-spatial-mean.png", f"{frame}_gam-L{layer}-chart-mean.png",
                         f"{frame}_gam-L{layer}-chart-mean.csv"}
    assert set(names) == expected
    assert not [n for n in names if n.startswith(".")], "a temporary file was left behind"

    # heatmaps: the image at its own resolution plus colour bar and caption
    for frame, (h, w) in (("wide", (90, 150)), ("tall", (140, 100))):
        fig = _png_size(out / f"{frame}_gam-L19-heatmap-spatial-mean.png")
        lay = F.heatmap_layout(h, w)
        assert fig.shape[1] == lay["width"] and fig.shape[0] > h + 2 * lay["margin"]
        assert float(fig.std()) > 20
        bar = fig[lay["margin"] + 2:lay["margin"] + h - 2, lay["margin"] + w + lay["gap"] + lay["bar"] // 2]
        assert float(bar.astype(float).std(0).mean()) > 20, "no colour bar next to the image"
    chart = _png_size(out / "wide_gam-L27-chart-mean.png")
    assert chart.shape == (520, 1200, 3) and float(chart.std()) > 10
    comp = _png_size(out / "wide_composite.png")
    assert comp.shape[1] > 1000 and float(comp.std()) > 20

    # the CSV holds the engine's own reduction for that frame (same model, same settings)
    det = load_model(MODEL)
    res = det.predict(cv2.imread(str(folder / "wide.png")), conf=0.3, imgsz=128)
    vec = res.attention_at(27).channel_vector("mean")
    with open(out / "wide_gam-L27-chart-mean.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12
    ids = [int(r["channel"]) for r in rows]
    assert ids == np.argsort(-vec, kind="stable")[:12].tolist()
    assert np.allclose([float(r["channel_gate_mean"]) for r in rows], vec[ids], atol=1e-6)

    summary = json.loads((out / "export-summary.json").read_text())
    assert summary["frames"] == 2 and summary["layers"] == [19, 27]
    assert sorted(summary["files"]) == sorted(expected - {"export-summary.json"})
    stats = {r["layer"]: r for r in summary["layer_stats"]}
    assert stats[19]["frames"] == 2 and stats[19]["spatial"]["min"] <= stats[19]["spatial"]["max"]


@pytest.mark.slow
def test_export_refuses_to_overwrite_without_force(folder, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--model", MODEL, "--source", folder / "wide.png", "--out", out, "--layers", "27",
            "--no-composite", *COMMON]
    rc, _, err = _export(capsys, *args)
    assert rc == 0, err
    target = out / "wide_gam-L27-heatmap-spatial-mean.png"
    stamp = target.stat().st_mtime_ns
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    rc, stdout, err = _export(capsys, *args)
    assert rc == 2
    assert err.count("\n") == 1 and "already exists" in err and "--force" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    rc, _, err = _export(capsys, *args, "--force")
    assert rc == 0, err
    assert target.stat().st_mtime_ns >= stamp and sorted(p.name for p in out.iterdir()) == sorted(before)


@pytest.mark.slow
def test_video_export_every_nth_frame_with_eigencam(tmp_path, capsys):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 96))
    assert writer.isOpened()
    for i in range(5):
        writer.write(_image(96, 160, 10 + i))
    writer.release()
    out = tmp_path / "vid"
    rc, stdout, err = _export(capsys, "--model", MODEL, "--baseline", "yolov5n", "--source", video, "--out", out,
                              "--every", "2", "--layers", "23", "--cam", "eigen", "--no-charts", "--no-composite",
                              "--imgsz", "128", "--conf", "0.3")
    assert rc == 0, err
    names = sorted(p.name for p in out.iterdir())
    for i in (0, 2, 4):
        f = f"clip_f{i:06d}"
        assert {f"{f}_gam-L23-heatmap-spatial-mean.png", f"{f}_gam-eigencam.png", f"{f}_baseline-eigencam.png"} <= set(names)
    assert len(names) == 3 * 3 + 1 and not any("f000001" in n or "f000003" in n for n in names)
    cam = _png_size(out / "clip_f000002_baseline-eigencam.png")
    assert cam.shape[1] == F.heatmap_layout(96, 160)["width"] and float(cam.std()) > 10
    assert "exported 3 frames" in stdout and "head/P4" in stdout   # the summary and its per-layer table
    assert "export" in err                                       # the progress bar went to stderr


@pytest.mark.parametrize("args,message", [
    (["--layers", "5"], "--layers: 5 is not a GAM layer of yolov5n-gam-full (its GAM layers: 9, 19, 23, 27)"),
    (["--layers", "19,99"], "--layers: 99 is not a GAM layer"),
    (["--reduce", "channel"], "--reduce channel needs --channel K"),
    (["--reduce", "channel", "--channel", "64", "--layers", "19"], "--channel 64: GAM layer 19 has 64 channels"),
    (["--cam", "eigen", "--cam-layers", "28"], "--cam-layers: CAM layer 28 is out of range"),
    (["--alpha", "2"], "--alpha must be in [0, 1]"),
    (["--vrange", "1", "0"], "--vrange needs LOW < HIGH"),
    (["--imgsz", "7"], "--imgsz: imgsz=7 is smaller than the model stride"),
])
def test_bad_options_give_one_line_and_status_2(folder, tmp_path, capsys, args, message):
    out = tmp_path / "never"
    rc, stdout, err = _export(capsys, "--model", MODEL, "--source", folder, "--out", out, *args)
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("gam-viewer: error: ") and message in err, err
    assert not out.exists() or not any(out.iterdir())


def test_missing_or_unreadable_source(tmp_path, capsys):
    rc, _, err = _export(capsys, "--model", MODEL, "--source", tmp_path / "nope.jpg", "--out", tmp_path / "o")
    assert rc == 2 and err.count("\n") == 1 and "nope.jpg: no such file or folder" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, _, err = _export(capsys, "--model", MODEL, "--source", empty, "--out", tmp_path / "o")
    assert rc == 2 and err.count("\n") == 1 and "holds no images" in err
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 100)
    rc, _, err = _export(capsys, "--model", MODEL, "--source", junk, "--out", tmp_path / "o")
    assert rc == 2 and err.count("\n") == 1 and "cannot open it as an image or a video" in err
    image = tmp_path / "x.png"
    cv2.imwrite(str(image), _image(40, 60, 3))
    rc, _, err = _export(capsys, "--model", "missing-model.pt", "--source", image, "--out", tmp_path / "o")
    assert rc == 2 and err.count("\n") == 1 and "missing-model.pt" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_runs_without_qt_and_without_a_display(folder, tmp_path):
    """A fresh interpreter: no DISPLAY, offscreen Qt platform, and Qt must not even be imported."""
    out = tmp_path / "headless"
    code = ("import sys; from gam_viewer.app import main; "
            f"rc = main(['export', '--model', {MODEL!r}, '--source', {str(folder / 'wide.png')!r}, "
            f"'--out', {str(out)!r}, '--layers', '27', '--cam', 'grad', '--imgsz', '128', '--conf', '0.01']); "
            "qt = [m for m in sys.modules if m.startswith(('PySide6', 'PyQt', 'pyqtgraph'))]; "
            "print('QT', qt); sys.exit(rc)")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "QT []" in proc.stdout
    assert (out / "wide_gam-gradcam-box0.png").is_file()
    assert (out / "wide_composite.png").is_file()
