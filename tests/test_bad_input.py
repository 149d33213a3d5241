"""Bad input, class by class (issue 11): odd images are skipped and listed, damaged videos are
accounted for, huge images are drawn at a bounded size, output names never collide, the Python
API scales or refuses every dtype and argument. Each case uses inputs made here."""

import json

import cv2
import numpy as np
import pytest

from gam_viewer.app import main
from tiny_models import tiny_gam_yaml

# a tiny GAM-YOLO (one stride-16 conv, one GAM, Detect), random weights: plumbing, not accuracy
TINY_YAML = tiny_gam_yaml(nc=2)
FAST = ["--imgsz", "32", "--quiet", "--no-charts", "--no-composite"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny-gam.yaml"
    path.write_text(TINY_YAML)
    return str(path)


def _picture(h, w, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    return cv2.GaussianBlur(img, (0, 0), 1.5) if min(h, w) > 4 else img


def _export(capsys, *args):
    rc = main(["export", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


def _summary(out):
    return json.loads((out / "export-summary.json").read_text())


# ----------------------------------------------------------------------------- odd images, names, order
@pytest.fixture()
def odd_folder(tmp_path):
    d = tmp_path / "odd"
    d.mkdir()
    cv2.imwrite(str(d / "img10.png"), _picture(40, 60, 1))
    cv2.imwrite(str(d / "img2.png"), _picture(40, 60, 2))
    cv2.imwrite(str(d / "tiny.png"), _picture(1, 1, 3))             # a valid 1 x 1 picture: runs
    cv2.imwrite(str(d / "strip.png"), _picture(3, 400, 4))          # 1:133: no readable figure, skipped
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg at all" * 4)   # unreadable
    ok, jpg = cv2.imencode(".jpg", _picture(48, 64, 5))
    (d / "cut.jpg").write_bytes(jpg.tobytes()[: len(jpg) * 2 // 3])  # truncated: exported, listed
    # three sources that a stem-or-stem_ext rule maps onto two names, one differing only in case
    cv2.imwrite(str(d / "a.jpg"), _picture(30, 30, 6))
    cv2.imwrite(str(d / "a.png"), _picture(30, 30, 7))
    cv2.imwrite(str(d / "a_jpg.png"), _picture(30, 30, 8))
    cv2.imwrite(str(d / "A_png.png"), _picture(30, 30, 9))   # 'A_png' vs 'a_png': one name where case is ignored
    return d


def test_a_folder_with_odd_images_exports_the_rest_and_lists_them(odd_folder, tmp_path, capsys, tiny):
    out = tmp_path / "figs"
    rc, _, err = _export(capsys, "--model", tiny, "--source", odd_folder, "--out", out, *FAST)
    assert rc == 0, err
    s = _summary(out)
    assert [u["source"] for u in s["unreadable"]] == ["broken.jpg"]
    assert [u["source"] for u in s["skipped"]] == ["strip.png"] and "1:20" in s["skipped"][0]["reason"]
    assert [u["source"] for u in s["damaged"]] == ["cut.jpg"] and "truncated" in s["damaged"][0]["reason"]
    for name in ("broken.jpg", "strip.png", "cut.jpg"):   # each named on stderr, one line each
        assert sum(name in line for line in err.splitlines() if line.startswith("gam-viewer: warning:")) == 1
    order = [f["source"].split(" #")[0] for f in s["per_frame"]]      # captions: "img2.png #1"
    assert order.index("img2.png") < order.index("img10.png")          # natural order, like the window
    assert "tiny.png" in order and "cut.jpg" in order
    # four sources, four distinct prefixes (also on a case-insensitive file system), no file counted twice
    prefixes = {f["source"]: f["frame"] for f in s["per_frame"] if f["source"].lower().startswith("a")}
    assert set(prefixes.values()) == {"a_jpg", "a_png", "a_jpg_2", "A_png_2"}
    assert len(prefixes) == 4 and len({p.casefold() for p in prefixes.values()}) == 4
    assert len(s["files"]) == len(set(s["files"])) == len(list(out.glob("*-heatmap-*.png"))) == 8
    assert s["frames"] == 8
    # a rerun refuses up front, naming a file; --force redoes it; --strict reports the problems
    rc, _, err = _export(capsys, "--model", tiny, "--source", odd_folder, "--out", out, *FAST)
    assert rc == 2 and err.count("\n") == 1 and "already exists" in err
    rc, _, err = _export(capsys, "--model", tiny, "--source", odd_folder, "--out", out, "--force", "--strict", *FAST)
    assert rc == 1 and err.strip().splitlines()[-1].startswith("gam-viewer: error: --strict: 3 problem(s)")


def test_every_nth_image_skips_without_reading(tmp_path, capsys, tiny):
    d = tmp_path / "seq"
    d.mkdir()
    for i in range(1, 6):
        cv2.imwrite(str(d / f"f{i}.png"), _picture(32, 32, i))
    (d / "f2.png").write_bytes(b"broken")          # skipped over by --every 2, so never reported
    out = tmp_path / "o"
    rc, _, err = _export(capsys, "--model", tiny, "--source", d, "--out", out, "--every", "2", *FAST)
    assert rc == 0, err
    s = _summary(out)
    assert [f["source"] for f in s["per_frame"]] == ["f1.png #0", "f3.png #2", "f5.png #4"] and not s["unreadable"]


# ----------------------------------------------------------------------------- damaged video
def _video(path, n=10, size=(64, 48)):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, size)
    for i in range(n):
        w.write(_picture(size[1], size[0], 20 + i))
    w.release()
    return path


def test_a_truncated_video_reports_frames_expected_and_read(tmp_path, capsys, tiny):
    data = _video(tmp_path / "full.avi").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 55 // 100])
    out = tmp_path / "v"
    rc, _, err = _export(capsys, "--model", tiny, "--source", cut, "--out", out, "--every", "2", *FAST)
    assert rc == 0, err   # what could be read is exported ...
    v = _summary(out)["video"]
    assert v["frames_in_file"] == 10 and v["frames_expected"] == 5 and 0 < v["frames_read"] < 5
    assert "stops at frame" in v["problem"]
    warning = [line for line in err.splitlines() if line.startswith("gam-viewer: warning: cut.avi")]
    assert len(warning) == 1 and f"exported {v['frames_read']} of 5 expected frames" in warning[0]
    rc, _, err = _export(capsys, "--model", tiny, "--source", cut, "--out", tmp_path / "v2", "--strict", *FAST)
    assert rc == 1 and "--strict" in err.splitlines()[-1]   # ... and --strict makes it a failure


# ----------------------------------------------------------------------------- large images
def test_large_images_are_drawn_at_a_bounded_size(tmp_path, capsys, tiny):
    from gam_viewer.render.figures import heatmap_layout

    big = tmp_path / "big.png"
    cv2.imwrite(str(big), _picture(900, 1500, 1))
    out = tmp_path / "o"
    rc, out_text, err = _export(capsys, "--model", tiny, "--source", big, "--out", out, "--max-edge", "300",
                                "--imgsz", "32", "--no-charts", "--no-composite")
    assert rc == 0, err
    fig = cv2.imread(str(out / "big_gam-L1-heatmap-spatial-mean.png"))
    assert fig.shape[1] == heatmap_layout(180, 300)["width"]      # drawn at 300 x 180, not 1500 x 900
    s = _summary(out)
    assert s["drawn_at_most"] == 300 and s["drawn_smaller"] == ["big.png"]
    assert "drawn with their long side at 300 px" in out_text


def test_full_res_is_refused_up_front_when_memory_would_not_fit(tmp_path, capsys, monkeypatch, tiny):
    import gam_viewer.cli.export as export
    import gam_viewer.inference as inference

    big = tmp_path / "big.png"
    cv2.imwrite(str(big), _picture(600, 800, 1))
    monkeypatch.setattr(export, "_available_memory", lambda: 1 << 20)   # a machine with 1 MiB free
    monkeypatch.setattr(inference, "load_model", lambda *a, **k: pytest.fail("model loaded before the check"))
    rc, _, err = _export(capsys, "--model", tiny, "--source", big, "--out", tmp_path / "o", "--full-res")
    assert rc == 2 and err.count("\n") == 1
    assert "--full-res: drawing a 800 x 600 image needs about" in err and "leave out --full-res" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_a_108_megapixel_photo_exports_in_bounded_memory(tmp_path, tiny):
    """A 12000 x 9000 JPEG in a fresh interpreter: peak RSS stays far below the 12 GB it once took."""
    import resource
    import subprocess
    import sys

    img = np.zeros((9000, 12000, 3), np.uint8)
    img[::50] = 255
    img[:, ::70, 1] = 200
    cv2.imwrite(str(tmp_path / "huge.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    del img
    code = ("import sys; from gam_viewer.app import main; sys.exit(main(['export', '--model', %r, '--source', %r, "
            "'--out', %r, '--imgsz', '320', '--quiet']))" % (tiny, str(tmp_path / "huge.jpg"), str(tmp_path / "o")))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert peak_kib > before or before < 3 << 20
    assert peak_kib < 3 << 20, f"peak RSS {peak_kib / 2**20:.1f} GiB"   # the image alone is 0.3 GB


# ----------------------------------------------------------------------------- Grad-CAM without boxes
def test_gradcam_without_boxes_says_so(tmp_path, capsys, tiny):
    img = tmp_path / "plain.png"
    cv2.imwrite(str(img), np.full((48, 64, 3), 128, np.uint8))
    out = tmp_path / "o"
    rc, _, err = _export(capsys, "--model", tiny, "--source", img, "--out", out, "--cam", "grad", "--conf", "1",
                         *FAST)
    assert rc == 0, err
    assert "--cam grad: plain.png (gam): no boxes above --conf 1, so no Grad-CAM" in err
    assert _summary(out)["no_gradcam_boxes"] == ["plain.png (gam)"]
    assert not list(out.glob("*gradcam*"))


# ----------------------------------------------------------------------------- the Python API
@pytest.fixture(scope="module")
def det(tiny):
    from gam_viewer import load_model

    return load_model(tiny)


@pytest.mark.parametrize("image,message", [
    (np.zeros((20, 20, 3), bool), "image is boolean"),
    (np.full((20, 20, 3), np.nan, np.float32), "NaN or infinite"),
    (np.full((20, 20, 3), 300.0), "float image values must lie in [0, 1] or [0, 255], got 300..300"),
    (np.full((20, 20, 3), -1, np.int16), "int16 image values must lie in 0..255"),
    (np.zeros((20, 20, 3), np.complex64), "dtype complex64 is not supported"),
    (np.zeros((20, 20, 2), np.uint8), "got shape (20, 20, 2)"),
    (np.zeros((0, 20, 3), np.uint8), "got shape (0, 20, 3)"),
    ("no-such-image.png", "no-such-image.png: no such file"),
    ([[1, 2], [3, 4]], "got list"),
])
def test_predict_refuses_what_it_cannot_read_correctly(det, image, message):
    with pytest.raises(ValueError) as info:
        det.predict(image, imgsz=32)
    assert message in str(info.value)


def test_predict_scales_each_accepted_dtype(det):
    base = _picture(40, 56, 3)
    ref = det.predict(base, imgsz=32, conf=0.01)
    same = {
        "uint16": base.astype(np.uint16) * 257,
        "float 0..1": base.astype(np.float32) / 255,
        "float 0..255": base.astype(np.float64),
        "int64 0..255": base.astype(np.int64),
        "BGRA": np.dstack([base, np.full(base.shape[:2], 7, np.uint8)]),
    }
    for name, img in same.items():
        r = det.predict(img, imgsz=32, conf=0.01)
        assert len(r) == len(ref) and np.allclose(r.boxes, ref.boxes, atol=1e-3), name
        a, b = r.attention[0].spatial_map(), ref.attention[0].spatial_map()
        assert np.allclose(a, b, atol=1e-5), name


@pytest.mark.parametrize("kwargs,message", [
    ({"max_det": -1}, "max_det must be a positive integer, got -1"),
    ({"max_det": 0}, "max_det must be a positive integer"),
    ({"conf": float("nan")}, "conf must be in [0, 1], got nan"),
    ({"iou": 1.5}, "iou must be in [0, 1], got 1.5"),
    ({"conf": "0.3"}, "conf must be a number"),
    ({"imgsz": 0}, "imgsz=0 is smaller than the model stride"),
    ({"imgsz": -5}, "imgsz=-5 is smaller than the model stride"),
    ({"imgsz": 64.0}, "imgsz must be an integer"),
    ({"classes": [0.5]}, "classes must be integer class ids"),
])
def test_predict_validates_every_numeric_argument(det, kwargs, message):
    kwargs = {"imgsz": 64, **kwargs}
    with pytest.raises(ValueError) as info:
        det.predict(_picture(32, 32), **kwargs)
    assert message in str(info.value)


def test_tiny_and_extreme_aspect_images_run(det):
    for h, w in ((1, 1), (2, 900), (900, 2), (1, 5)):
        r = det.predict(_picture(h, w), imgsz=32, conf=0.01)
        assert r.image_hw == (h, w) and r.attention[0].image_map().shape == (h, w)
        assert np.all(r.boxes[:, [0, 2]] <= w + 1e-3) and np.all(r.boxes[:, [1, 3]] <= h + 1e-3)


@pytest.mark.parametrize("source,message", [
    (None, "model source must be a file path or a shipped model name, got None"),
    (3, "got int"),
    ("", "empty string"),
])
def test_load_model_names_a_wrong_source(source, message):
    from gam_viewer import load_model
    from gam_viewer.models.errors import ModelLoadError

    with pytest.raises(ModelLoadError) as info:
        load_model(source)
    assert message in str(info.value)


def test_device_names_are_checked(det):
    from gam_viewer.inference.detector import check_device

    assert str(check_device("cpu")) == "cpu"
    for bad in ("foo", "gpu0", "tpu"):
        with pytest.raises(ValueError, match=f"device '{bad}'"):
            check_device(bad)


def test_plain_pickle_and_legacy_torch_save_are_told_apart(tmp_path):
    import pickle

    import torch

    from gam_viewer.models import read_model
    from gam_viewer.models.errors import ModelLoadError

    pickle.dump({"model": None}, open(tmp_path / "plain.pt", "wb"), protocol=2)
    torch.save({"model": None}, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(ModelLoadError, match="plain.pt: a plain Python pickle, not a PyTorch checkpoint"):
        read_model(tmp_path / "plain.pt")
    with pytest.raises(ModelLoadError, match=r"old.pt: a legacy \(pre-1.6\) torch.save file"):
        read_model(tmp_path / "old.pt")


# ----------------------------------------------------------------------------- convert targets
def test_convert_into_a_folder_writes_inside_it_and_never_replaces(tmp_path, capsys, tiny):
    folder = tmp_path / "models"
    folder.mkdir()
    assert main(["convert", tiny, str(folder)]) == 0
    out = folder / "tiny-gam.safetensors"
    assert out.is_file() and not list(tmp_path.glob("*.safetensors"))
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]     # no temporary file left
    stamp = out.read_bytes()
    capsys.readouterr()
    assert main(["convert", tiny, str(folder) + "/"]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == stamp


# ----------------------------------------------------------------------------- figures of wide images
def test_colour_bars_of_very_wide_images_keep_room_for_their_labels():
    from gam_viewer.render import figures as F

    bg = _picture(40, 2000)
    values = np.linspace(0, 1, 40 * 2000, dtype=np.float32).reshape(40, 2000)
    fig = F.composite_figure([], [F.HeatPanel("wide", values, None, "gate")], bg, panel_width=480)
    assert fig.shape[0] >= 160      # a 480 x 10 px panel would leave a 10 px colour bar
