"""Tests for the synthetic shapes generator (gam_viewer.data.synth)."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from gam_viewer.data import synth
from gam_viewer.data.synth import dataset as synth_dataset
from gam_viewer.data.synth import scene as synth_scene
from gam_viewer.data import (
    CLASS_NAMES,
    add_cli,
    animate_scene,
    generate_dataset,
    render_scene,
    run_cli,
)

LABEL_RE = re.compile(r"^(\d+) (\d\.\d{6}) (\d\.\d{6}) (\d\.\d{6}) (\d\.\d{6})$")


def _tree(root: Path) -> dict[str, bytes]:
    """Relative path -> content for every file under root."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _by_name(root: Path, sub: str) -> dict[str, bytes]:
    """File name -> bytes over both splits of images/ or labels/."""
    return {p.name: p.read_bytes() for p in sorted((root / sub).glob("*/*"))}


# --------------------------------------------------------------------------
# render_scene


def test_class_names():
    assert CLASS_NAMES == ("circle", "square", "triangle", "star", "ring", "cross")
    assert len(set(CLASS_NAMES)) == len(CLASS_NAMES)


@pytest.mark.parametrize("size", [(320, 320), (320, 180), (200, 300), (64, 48)])
def test_render_scene_output(size):
    w, h = size
    img, labels = render_scene(np.random.default_rng(1), w, h)
    assert isinstance(img, np.ndarray)
    assert img.dtype == np.uint8 and img.shape == (h, w, 3)
    assert img.flags["C_CONTIGUOUS"]
    assert isinstance(labels, list)
    for lab in labels:
        cls, x1, y1, x2, y2 = lab
        assert isinstance(cls, int) and 0 <= cls < len(CLASS_NAMES)
        assert all(isinstance(v, float) for v in (x1, y1, x2, y2))
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        assert x2 - x1 >= synth.MIN_BOX_SIDE and y2 - y1 >= synth.MIN_BOX_SIDE


def test_render_scene_deterministic():
    a_img, a_lab = render_scene(np.random.default_rng(42), 256, 192)
    b_img, b_lab = render_scene(np.random.default_rng(42), 256, 192)
    c_img, c_lab = render_scene(np.random.default_rng(43), 256, 192)
    assert np.array_equal(a_img, b_img)
    assert a_lab == b_lab
    assert not np.array_equal(a_img, c_img)


def test_render_scene_object_count_range():
    for seed in range(8):
        _, labels = render_scene(np.random.default_rng(seed), 200, 200, n_objects=(0, 0))
        assert labels == []
    counts = [
        len(render_scene(np.random.default_rng(s), 320, 320, n_objects=(4, 4))[1])
        for s in range(10)
    ]
    assert max(counts) <= 4 and sum(counts) >= 30  # most placed objects stay visible


def test_scene_variety():
    """Over a few scenes every class shows up, with a spread of sizes."""
    seen = set()
    sizes = []
    for seed in range(25):
        _, labels = render_scene(np.random.default_rng(seed), 320, 320)
        for cls, x1, y1, x2, y2 in labels:
            seen.add(cls)
            sizes.append(max(x2 - x1, y2 - y1))
    assert seen == set(range(len(CLASS_NAMES)))
    assert min(sizes) <= 20 and max(sizes) >= 90


def test_boxes_are_tight_around_visible_object_pixels():
    """Every box is exactly the extent of the object's visible pixels, and those
    pixels really show the object (differ from what was there before it was painted)."""
    checked = 0
    for seed in range(12):
        w, h = (320, 240) if seed % 2 else (240, 320)
        d = synth_scene._render(np.random.default_rng(seed), w, h, (2, 8), debug=True)
        img = d.image.astype(np.float32)
        before = d.before_objects
        assert len(d.labels) == len(d.kept)
        for (cls, x1, y1, x2, y2), k in zip(d.labels, d.kept):
            obj = d.placed[k]
            assert cls == obj.shape.cls
            m = d.owner == k
            ys, xs = np.nonzero(m)
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x1, y1, x2, y2)
            assert m.sum() >= synth.MIN_VISIBLE_FRACTION * obj.full
            # object pixels differ clearly from the background under them
            diff = np.abs(img[m] - before[m]).sum(axis=1)
            assert np.median(diff) > 30, (seed, k, np.median(diff))
            # and the box is not a flat patch
            assert img[int(y1):int(y2), int(x1):int(x2)].std() > 5
            checked += 1
    assert checked > 40


def test_occlusion_drops_hidden_objects():
    """Objects are kept only while enough of them is visible."""
    hidden = 0
    for seed in range(30):
        d = synth_scene._render(np.random.default_rng(seed), 160, 160, (8, 10), debug=True)
        for k, obj in enumerate(d.placed):
            vis = int((d.owner == k).sum())
            if k not in d.kept:
                hidden += 1
                ok_box = True
                if vis:
                    ys, xs = np.nonzero(d.owner == k)
                    ok_box = min(xs.max() - xs.min(), ys.max() - ys.min()) + 1 >= synth.MIN_BOX_SIDE
                assert (vis < synth.MIN_VISIBLE_FRACTION * obj.full
                        or vis < synth.MIN_VISIBLE_PIXELS or not ok_box)
            else:
                assert vis >= synth.MIN_VISIBLE_FRACTION * obj.full
    assert hidden > 0  # crowded small images do produce dropped objects


# --------------------------------------------------------------------------
# animate_scene


def test_animate_scene_moves_smoothly():
    frames = list(animate_scene(np.random.default_rng(5), 160, 96, 12, fps=15.0,
                                return_labels=True))
    assert len(frames) == 12
    for frame, labels in frames:
        assert frame.shape == (96, 160, 3) and frame.dtype == np.uint8
        for cls, x1, y1, x2, y2 in labels:
            assert 0 <= cls < len(CLASS_NAMES) and 0 <= x1 < x2 <= 160 and 0 <= y1 < y2 <= 96
    imgs = [f.astype(np.int16) for f, _ in frames]
    step = np.mean([np.abs(imgs[i + 1] - imgs[i]).mean() for i in range(11)])
    span = np.abs(imgs[-1] - imgs[0]).mean()
    assert step > 0.05  # something moves
    assert span > 2 * step  # ... steadily, not by jumping around
    # same seed -> same frames; plain mode yields bare frames
    again = list(animate_scene(np.random.default_rng(5), 160, 96, 12, fps=15.0))
    assert all(np.array_equal(a, f) for a, (f, _) in zip(again, frames))


def test_animate_scene_validates_eagerly():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n_frames"):
        animate_scene(rng, 64, 64, 0)
    with pytest.raises(ValueError, match="fps"):
        animate_scene(rng, 64, 64, 5, fps=0)
    with pytest.raises(ValueError, match="width"):
        animate_scene(rng, 8, 64, 5)


# --------------------------------------------------------------------------
# generate_dataset


def test_generate_dataset_layout(tmp_path):
    out = tmp_path / "ds"
    calls = []
    result = generate_dataset(out, n=10, imgsz=96, seed=1, val_fraction=0.2,
                              progress=lambda d, t: calls.append((d, t)))
    assert result == out / "data.yaml"
    assert calls == [(i, 10) for i in range(1, 11)]
    train = sorted((out / "images" / "train").glob("*.jpg"))
    val = sorted((out / "images" / "val").glob("*.jpg"))
    assert len(train) == 8 and len(val) == 2
    for split in ("train", "val"):
        imgs = {p.stem for p in (out / "images" / split).glob("*.jpg")}
        labs = {p.stem for p in (out / "labels" / split).glob("*.txt")}
        assert imgs == labs

    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["path"] == str(out.absolute())
    assert Path(data["path"]).is_absolute()
    assert data["train"] == "images/train" and data["val"] == "images/val"
    assert data["nc"] == len(CLASS_NAMES) == 6
    assert data["names"] == dict(enumerate(CLASS_NAMES))

    n_boxes = 0
    for img_path in train + val:
        img = cv2.imread(str(img_path))
        h, w = img.shape[:2]
        assert max(w, h) == 96 and min(w, h) >= 48
        lab = img_path.parent.parent.parent / "labels" / img_path.parent.name / (img_path.stem + ".txt")
        text = lab.read_text()
        assert text == "" or text.endswith("\n")
        for line in text.splitlines():
            m = LABEL_RE.match(line)
            assert m, line
            cls = int(m.group(1))
            cx, cy, bw, bh = (float(m.group(i)) for i in range(2, 6))
            assert 0 <= cls < len(CLASS_NAMES)
            for v in (cx, cy, bw, bh):
                assert 0.0 < v <= 1.0
            assert cx - bw / 2 >= -1e-6 and cx + bw / 2 <= 1 + 1e-6
            assert cy - bh / 2 >= -1e-6 and cy + bh / 2 <= 1 + 1e-6
            # box is non-degenerate in pixels and not a flat patch of the image
            x1, x2 = round((cx - bw / 2) * w), round((cx + bw / 2) * w)
            y1, y2 = round((cy - bh / 2) * h), round((cy + bh / 2) * h)
            assert x2 - x1 >= synth.MIN_BOX_SIDE and y2 - y1 >= synth.MIN_BOX_SIDE
            assert img[y1:y2, x1:x2].std() > 5
            n_boxes += 1
    assert n_boxes >= 10
    assert not [p for p in tmp_path.iterdir() if p.name != "ds"]  # no temp leftovers


def test_dataset_labels_match_scene_and_cover_object_pixels(tmp_path):
    """The label files are the scene's boxes; each covers pixels where the object
    is drawn (different from the background before objects were added)."""
    out = tmp_path / "ds"
    generate_dataset(out, n=4, imgsz=128, seed=9)
    for i in range(4):
        rng = synth_dataset._image_rng(9, i)
        w, h = synth_dataset._image_size(rng, 128)
        d = synth_scene._render(rng, w, h, (2, 8), debug=True)
        lab = next((out / "labels").glob(f"*/{i:06d}.txt")).read_text()
        assert lab == synth_dataset._label_lines(d.labels, w, h)
        img = cv2.imread(str(next((out / "images").glob(f"*/{i:06d}.jpg"))))
        assert img.shape == (h, w, 3)
        for (cls, x1, y1, x2, y2), k in zip(d.labels, d.kept):
            m = d.owner == k
            box = np.zeros_like(m)
            box[int(y1):int(y2), int(x1):int(x2)] = True
            assert m[~box].sum() == 0  # all visible object pixels inside the box
            diff = np.abs(img[m].astype(np.float32) - d.before_objects[m]).sum(axis=1)
            assert np.median(diff) > 30


def test_dataset_deterministic_and_seed_dependent(tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    c = tmp_path / "c"
    generate_dataset(a, n=6, imgsz=96, seed=3)
    generate_dataset(b, n=6, imgsz=96, seed=3)
    generate_dataset(c, n=6, imgsz=96, seed=4)
    ta, tb = _tree(a), _tree(b)
    ta.pop("data.yaml"), tb.pop("data.yaml")  # contains the absolute path
    assert ta == tb  # byte-identical images, labels and marker
    for name in _by_name(a, "images"):
        ia = cv2.imread(str(next(a.glob(f"images/*/{name}"))))
        ib = cv2.imread(str(next(b.glob(f"images/*/{name}"))))
        assert np.array_equal(ia, ib)
    la, lc = _by_name(a, "labels"), _by_name(c, "labels")
    assert la != lc
    ia, ic = _by_name(a, "images"), _by_name(c, "images")
    assert all(ia[k] != ic[k] for k in ia)


def test_image_i_does_not_depend_on_n(tmp_path):
    small = tmp_path / "small"
    big = tmp_path / "big"
    generate_dataset(small, n=4, imgsz=96, seed=11)
    generate_dataset(big, n=9, imgsz=96, seed=11)
    si, bi = _by_name(small, "images"), _by_name(big, "images")
    sl, bl = _by_name(small, "labels"), _by_name(big, "labels")
    assert len(si) == 4 and len(bi) == 9
    for name in si:
        assert si[name] == bi[name]
    for name in sl:
        assert sl[name] == bl[name]


def test_val_split(tmp_path):
    generate_dataset(tmp_path / "none", n=5, imgsz=64, val_fraction=0.0)
    assert len(list((tmp_path / "none" / "images" / "val").glob("*.jpg"))) == 0
    assert len(list((tmp_path / "none" / "images" / "train").glob("*.jpg"))) == 5
    generate_dataset(tmp_path / "half", n=6, imgsz=64, val_fraction=0.5)
    assert len(list((tmp_path / "half" / "images" / "val").glob("*.jpg"))) == 3
    # a tiny dataset still gets one validation image
    generate_dataset(tmp_path / "tiny", n=2, imgsz=64, val_fraction=0.1)
    assert len(list((tmp_path / "tiny" / "images" / "val").glob("*.jpg"))) == 1


def test_refuses_non_empty_foreign_dir(tmp_path):
    target = tmp_path / "mine"
    (target / "sub").mkdir(parents=True)
    (target / "notes.txt").write_text("precious")
    (target / "sub" / "data.bin").write_bytes(b"\x00\x01")
    before = _tree(target)
    with pytest.raises(FileExistsError, match=re.escape(str(target))):
        generate_dataset(target, n=2, imgsz=64)
    assert _tree(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temp leftovers


def test_refuses_file_target(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(FileExistsError, match="file.txt"):
        generate_dataset(target, n=1, imgsz=64)
    assert target.read_text() == "x"


def test_replaces_previous_output_but_not_if_user_added_files(tmp_path):
    out = tmp_path / "ds"
    generate_dataset(out, n=3, imgsz=64, seed=0)
    generate_dataset(out, n=5, imgsz=64, seed=1)  # a previous synth output: replaced
    assert len(_by_name(out, "images")) == 5
    assert "seed=1" in (out / "data.yaml").read_text()
    (out / "my_notes.txt").write_text("keep me")
    before = _tree(out)
    with pytest.raises(FileExistsError, match="my_notes.txt"):
        generate_dataset(out, n=2, imgsz=64)
    assert _tree(out) == before
    # a yolo label cache inside labels/ is fine
    (out / "my_notes.txt").unlink()
    (out / "labels" / "train.cache").write_bytes(b"cache")
    generate_dataset(out, n=2, imgsz=64)
    assert len(_by_name(out, "images")) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_empty_existing_dir_is_used(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    generate_dataset(out, n=2, imgsz=64)
    assert (out / "data.yaml").is_file()


def test_crash_leaves_nothing_behind(tmp_path):
    out = tmp_path / "nested" / "ds"

    def boom(done, total):
        if done == 2:
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        generate_dataset(out, n=4, imgsz=64, progress=boom)
    assert not out.exists()
    assert list((tmp_path / "nested").iterdir()) == []


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n": 0}, "n"),
        ({"n": 2.5}, "n"),
        ({"n": True}, "n"),
        ({"imgsz": 63}, "imgsz"),
        ({"imgsz": "320"}, "imgsz"),
        ({"seed": -1}, "seed"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"val_fraction": -0.1}, "val_fraction"),
        ({"val_fraction": float("nan")}, "val_fraction"),
        ({"progress": 3}, "progress"),
    ],
)
def test_generate_dataset_validates_arguments(tmp_path, kwargs, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        generate_dataset(tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "args, name",
    [
        ((10, 64), "width"),
        ((64, 31), "height"),
        ((64.0, 64), "width"),
    ],
)
def test_render_scene_validates_size(args, name):
    with pytest.raises(ValueError, match=name):
        render_scene(np.random.default_rng(0), *args)


@pytest.mark.parametrize("n_objects", [(3, 2), (-1, 2), (1,), "ab", (1, 100)])
def test_render_scene_validates_n_objects(n_objects):
    with pytest.raises(ValueError, match="n_objects"):
        render_scene(np.random.default_rng(0), 64, 64, n_objects=n_objects)


def test_render_scene_requires_generator():
    with pytest.raises(ValueError, match="rng"):
        render_scene(0, 64, 64)


# --------------------------------------------------------------------------
# CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gam-viewer data")
    sub = parser.add_subparsers(dest="cmd", required=True)
    add_cli(sub)
    return parser


def test_cli_success(tmp_path, capsys):
    out = tmp_path / "cli"
    args = _parser().parse_args(["synth", "--out", str(out), "--n", "5", "--imgsz", "64",
                                 "--seed", "2", "--val-fraction", "0.4"])
    assert args.cmd == "synth"
    assert args.func is run_cli
    assert run_cli(args) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1
    assert str(out / "data.yaml") in lines[0]
    assert "train 3 images" in lines[0] and "val 2 images" in lines[0]
    assert captured.err == ""
    assert len(_by_name(out, "images")) == 5


def test_cli_defaults():
    args = _parser().parse_args(["synth", "--out", "x"])
    assert (args.n, args.imgsz, args.seed, args.val_fraction) == (200, 320, 0, 0.2)
    with pytest.raises(SystemExit):
        _parser().parse_args(["synth"])  # --out is required


def test_cli_errors_return_2(tmp_path, capsys):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("keep")
    args = _parser().parse_args(["synth", "--out", str(foreign), "--n", "2", "--imgsz", "64"])
    assert run_cli(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("gam-viewer: error: ") and str(foreign) in err
    assert "Traceback" not in err
    assert (foreign / "keep.txt").read_text() == "keep"

    args = _parser().parse_args(["synth", "--out", str(tmp_path / "new"), "--n", "0"])
    assert run_cli(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("gam-viewer: error: --n must be")
    assert not (tmp_path / "new").exists()

    args = _parser().parse_args(["synth", "--out", str(tmp_path / "new"), "--val-fraction", "1"])
    assert run_cli(args) == 2
    assert capsys.readouterr().err.startswith("gam-viewer: error: --val-fraction must be")


@pytest.mark.parametrize("case, expect", [
    ("foreign", "is not empty and is not a previous synth dataset"),
    ("file", "exists and is not a directory"),
    ("under_file", "is not a folder"),
    ("n", "--n must be >= 1, got -3"),
    ("imgsz", "--imgsz must be >= 64, got 10"),
    ("seed", "--seed must be >= 0, got -1"),
    ("val", "--val-fraction must be a number"),
    ("empty_out", "--out must be a non-empty path"),
])
def test_cli_user_errors_one_line_status_2(tmp_path, capsys, case, expect):
    """Through the real entry point: one line with the same prefix as every other
    sub-command, status 2, the option or folder named, nothing written or touched."""
    from gam_viewer.app import main

    a_file = tmp_path / "a_file.txt"
    a_file.write_text("mine")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("keep")
    new = tmp_path / "new"
    out, extra = {
        "foreign": (foreign, []),
        "file": (a_file, []),
        "under_file": (a_file / "ds", []),
        "n": (new, ["--n", "-3"]),
        "imgsz": (new, ["--imgsz", "10"]),
        "seed": (new, ["--seed", "-1"]),
        "val": (new, ["--val-fraction", "nan"]),
        "empty_out": ("", []),
    }[case]
    capsys.readouterr()
    rc = main(["data", "synth", "--out", str(out), "--n", "2", "--imgsz", "64"] + extra)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert rc == 2
    assert len(lines) == 1 and lines[0].startswith("gam-viewer: error: "), captured.err
    assert expect in lines[0]
    if case in ("foreign", "file", "under_file"):
        assert str(out) in lines[0]
    assert captured.out == ""
    assert a_file.read_text() == "mine" and (foreign / "keep.txt").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file.txt", "foreign"]  # no temp leftovers


# --------------------------------------------------------------------------
# module hygiene


def test_no_qt_or_torch_import():
    """gam_viewer.data.synth (every module of it) pulls in neither Qt nor torch.

    The root package is replaced by an empty stand-in in the child process, so the
    check does not depend on what ``gam_viewer/__init__.py`` imports and the baseline
    is taken before anything heavy is loaded."""
    root = Path(__file__).resolve().parents[1]
    code = (
        "import sys, types; "
        "pkg = types.ModuleType('gam_viewer'); pkg.__path__ = [sys.argv[1]]; "
        "sys.modules['gam_viewer'] = pkg; "
        "import gam_viewer.data, gam_viewer.data.synth; "
        "import gam_viewer.data.synth.cli, gam_viewer.data.synth.animation, gam_viewer.data.synth.dataset; "
        "assert gam_viewer.data.synth.__file__.startswith(sys.argv[1]), gam_viewer.data.synth.__file__; "
        "bad = [m for m in ('torch', 'PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph', 'matplotlib') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    res = subprocess.run([sys.executable, "-c", code, str(root / "gam_viewer")], capture_output=True, text=True,
                         cwd=root, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == ""


def test_cli_help_imports_no_torch_or_qt():
    """``python -X importtime -m gam_viewer data synth --help`` (the real entry point, root
    package included) answers without importing torch or Qt."""
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "gam_viewer", "data", "synth", "--help"],
                         capture_output=True, text=True, env=env, cwd=root, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "--val-fraction" in res.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in res.stderr.splitlines()
                if line.startswith("import time:")}
    assert "gam_viewer.data.synth.cli" in imported  # the report really lists this run's imports
    heavy = ("torch", "PySide6", "PyQt5", "PyQt6", "pyqtgraph", "matplotlib")
    assert not sorted(m for m in imported if m.split(".")[0] in heavy)
