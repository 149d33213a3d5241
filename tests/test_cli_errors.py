"""The one-line, status-2 promise, for every sub-command: bad options and unusable locations
end in ``gam-viewer: error: <what is wrong, naming it>`` on one stderr line, exit status 2, no
traceback, and (for locations and options) before any model is loaded or any file written."""

import os
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from gam_viewer.app import main


@pytest.fixture()
def places(tmp_path):
    """Paths the table refers to by name."""
    img = tmp_path / "photo.png"
    cv2.imwrite(str(img), np.full((40, 60, 3), 120, np.uint8))
    empty = tmp_path / "empty"
    empty.mkdir()
    afile = tmp_path / "afile.txt"
    afile.write_text("a file, not a folder")
    pkl = tmp_path / "weights.pkl"
    pkl.write_bytes(pickle.dumps({"model": [1, 2, 3]}, protocol=4))
    existing = tmp_path / "there.safetensors"
    existing.write_bytes(b"keep me")
    return {"img": img, "empty": empty, "file": afile, "pkl": pkl, "existing": existing, "tmp": tmp_path,
            "ro": _read_only_folder(tmp_path)}


def _read_only_folder(tmp_path: Path):
    """A folder nobody may write in: a mode-0555 folder for ordinary users; for root (which
    ignores modes) /sys, which refuses new files even to root. None if neither works here."""
    if os.geteuid() != 0:
        d = tmp_path / "ro"
        d.mkdir()
        d.chmod(0o555)
        return d
    from gam_viewer.fsutil import folder_problem

    return Path("/sys") if folder_problem("/sys") else None


def _no_model_loads(monkeypatch):
    """Make any model load fail loudly: these errors must come before one."""
    import gam_viewer.inference as inference
    import gam_viewer.models as models

    def boom(*a, **k):
        raise AssertionError("a model was loaded before the bad option / location was refused")

    monkeypatch.setattr(inference, "load_model", boom)
    monkeypatch.setattr(models, "read_model", boom)


EXPORT = ["export", "--model", "yolov5n", "--source", "{img}"]

# (argv, text the message must contain); {name} -> a path of the `places` fixture
CASES = [
    # export: output locations
    (EXPORT + ["--out", "/etc/passwd/x"], "--out /etc/passwd/x: /etc/passwd is a file, not a folder"),
    (EXPORT + ["--out", "{file}"], "--out {file}: exists and is a file, not a folder"),
    (EXPORT + ["--out", "{file}/deeper/still"], "{file} is a file, not a folder"),
    (EXPORT + ["--out", "{ro}/figs"], "--out {ro}/figs: cannot write in {ro}"),
    # export: option values
    (EXPORT + ["--out", "{tmp}/o", "--device", "foo"], "--device: device 'foo': not a device name"),
    (EXPORT + ["--out", "{tmp}/o", "--device", "cuda:7"], "--device: device 'cuda:7'"),
    (EXPORT + ["--out", "{tmp}/o", "--every", "0"], "argument --every: expected a positive integer, got 0"),
    (EXPORT + ["--out", "{tmp}/o", "--imgsz", "0"], "argument --imgsz: expected a positive integer, got 0"),
    (EXPORT + ["--out", "{tmp}/o", "--imgsz", "-5"], "argument --imgsz: expected a positive integer"),
    (EXPORT + ["--out", "{tmp}/o", "--vrange", "0", "inf"], "argument --vrange: expected a finite number, got 'inf'"),
    (EXPORT + ["--out", "{tmp}/o", "--alpha", "nan"], "argument --alpha: expected a finite number"),
    (EXPORT + ["--out", "{tmp}/o", "--alpha", "1.5"], "--alpha must be in [0, 1], got 1.5"),
    (EXPORT + ["--out", "{tmp}/o", "--conf", "2"], "--conf and --iou must be in [0, 1]"),
    (EXPORT + ["--out", "{tmp}/o", "--max-edge", "0"], "argument --max-edge"),
    (EXPORT + ["--out", "{tmp}/o", "--max-frames", "x"], "argument --max-frames: expected a positive integer, got 'x'"),
    (EXPORT + ["--out", "{tmp}/o", "--cmap", "rainbow"], "argument --cmap: invalid choice: 'rainbow'"),
    (EXPORT + ["--out", "{tmp}/o", "--bogus"], "export: unrecognized arguments: --bogus"),
    (["export", "--model", "yolov5n", "--out", "{tmp}/o"], "the following arguments are required: --source"),
    # export: sources
    (["export", "--model", "yolov5n", "--source", "{tmp}/nope.jpg", "--out", "{tmp}/o"],
     "--source {tmp}/nope.jpg: no such file or folder"),
    (["export", "--model", "yolov5n", "--source", "{empty}", "--out", "{tmp}/o"], "the folder holds no images"),
    (["export", "--model", "yolov5n", "--source", "{pkl}", "--out", "{tmp}/o"], "cannot open it as an image or a video"),
    (["export", "--model", "yolov5n", "--source", "0", "--out", "{tmp}/o"], "--source 0: a camera never ends"),
    # info
    (["info"], "info: the following arguments are required: model"),
    (["info", "{tmp}/missing.pt"], "{tmp}/missing.pt: no such file"),
    (["info", "{empty}"], "{empty}: is a folder, not a model file"),
    (["info", "yolov5n", "--shuffle", "maybe"], "argument --shuffle: invalid choice: 'maybe'"),
    # convert: OUT is checked before the model is read
    (["convert", "yolov5n", "/etc/passwd/x"], "OUT /etc/passwd/x.safetensors: /etc/passwd is a file, not a folder"),
    (["convert", "yolov5n", "{ro}/m"], "OUT {ro}/m.safetensors: cannot write in {ro}"),
    (["convert", "yolov5n", "{existing}"], "OUT {existing}: already exists"),
    (["convert", "yolov5n"], "convert: the following arguments are required: out"),
    # data synth
    (["data", "synth", "--out", "/etc/passwd/x", "--n", "2"], "--out /etc/passwd/x: /etc/passwd is not a folder"),
    (["data", "synth", "--out", "{ro}/d", "--n", "2"], "--out {ro}/d: cannot write the dataset there"),
    (["data", "synth", "--out", "{tmp}/d", "--n", "-1"], "--n must be >= 1, got -1"),
    (["data", "synth", "--out", "{tmp}/d", "--n", "many"], "argument --n: invalid int value: 'many'"),
    (["data"], "data: the following arguments are required: tool"),
    # train (arguments are checked before anything heavy is imported)
    (["train"], "train: model=... is required"),
    (["train", "model=yolov5nu", "data={tmp}/nope.yaml"], "data={tmp}/nope.yaml: no such file"),
    # fetch (no network: all refused before a download)
    (["fetch"], "name a checkpoint"),
    (["fetch", "yolov9z"], "unknown official checkpoint 'yolov9z'"),
    (["fetch", "yolov5n", "--timeout", "0"], "argument --timeout: expected a positive number, got 0"),
    (["fetch", "yolov5n", "--timeout", "soon"], "argument --timeout: expected a number, got 'soon'"),
    # figure: options and locations (checked before any model is read)
    (["figure", "--model", "yolov5n", "--source", "{img}", "--out", "/etc/passwd/f.pdf"],
     "--out /etc/passwd/f.pdf: /etc/passwd is a file, not a folder"),
    (["figure", "--model", "yolov5n", "--source", "{img}", "--out", "{tmp}/f.pdf", "--dpi", "0"],
     "--dpi must be in 50..2400, got 0"),
    (["figure", "--model", "yolov5n", "--source", "{img}", "--out", "{tmp}/f.pdf", "--columns", "input,L"],
     "--columns"),
    (["figure", "--model", "yolov5n", "--source", "{tmp}/nope.jpg", "--out", "{tmp}/f.pdf"],
     "--source {tmp}/nope.jpg: no such file or folder"),
    (["figure", "--model", "yolov5n", "--source", "{img}", "--out", "{tmp}/f.pdf", "--bogus"],
     "figure: unrecognized arguments: --bogus"),
    # export --video
    (["export", "--model", "yolov5n", "--source", "{img}", "--video", "/etc/passwd/v.mp4"], "/etc/passwd"),
    # eval
    (["eval", "--model", "yolov5n", "--baseline", "yolov5n"], "eval: the following arguments are required: --data"),
    (["eval", "--model", "yolov5n", "--baseline", "yolov5n", "--data", "{tmp}/nope.yaml", "--out", "{tmp}/r"],
     "--data {tmp}/nope.yaml: no such file or folder"),
    (["eval", "--model", "yolov5n", "--baseline", "yolov5n", "--data", "{empty}", "--out", "/etc/passwd/r"],
     "--out /etc/passwd/r: /etc/passwd is a file, not a folder"),
    (["eval", "--model", "yolov5n", "--baseline", "yolov5n", "--data", "{empty}", "--out", "{tmp}/r", "--conf", "2"],
     "argument --conf: expected a number in [0, 1], got 2"),
    # the window's own options
    (["--bogus"], "unrecognized arguments: --bogus"),
]


def _fill(text: str, places) -> str:
    return text.format(**{k: str(v) for k, v in places.items()})


@pytest.mark.parametrize("argv,message", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_bad_option_or_location_is_one_line_status_2(argv, message, places, capsys, monkeypatch):
    if any("{ro}" in a for a in argv) and places["ro"] is None:
        pytest.skip("no read-only folder available here (root, and /sys is writable)")
    if argv[0] == "train":
        pytest.importorskip("ultralytics", reason="gam-viewer train needs the train extra")
    if argv[0] in ("export", "convert", "figure", "eval"):   # info's errors come from reading the model itself
        _no_model_loads(monkeypatch)
    before = sorted(p.name for p in places["tmp"].iterdir())
    rc = main([_fill(a, places) for a in argv])
    out, err = capsys.readouterr()
    assert rc == 2, (out, err)
    assert err.startswith("gam-viewer: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err + out
    assert _fill(message, places) in err, err
    assert sorted(p.name for p in places["tmp"].iterdir()) == before, "a file or folder was written"


@pytest.mark.parametrize("exc,message", [
    (PermissionError(13, "Permission denied", "/data/figs/a.png"), "/data/figs/a.png: permission denied"),
    (OSError(28, "No space left on device", "/data/figs/a.png"), "/data/figs/a.png: no space left on device"),
    (IsADirectoryError(21, "Is a directory", "/data/x"), "/data/x: is a directory"),
    (OSError("disk on fire"), "disk on fire"),
])
def test_every_oserror_of_a_sub_command_is_one_line(exc, message, monkeypatch, capsys):
    """Whatever a sub-command hits in the file system mid-run, the user sees one line, status 2."""
    import gam_viewer.app as app

    def fail(argv):
        raise exc

    for name in list(app.SUBCOMMANDS):
        monkeypatch.setitem(app.SUBCOMMANDS, name, fail)
        rc = main([name])
        _, err = capsys.readouterr()
        assert rc == 2 and err == f"gam-viewer: error: {message}\n", (name, err)
