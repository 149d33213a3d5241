"""``gam-viewer eval`` end to end on a tiny synthetic dataset with the bundled demo pair, and
every bad input: one line, exit status 2, nothing written."""

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("pycocotools", reason="gam-viewer eval needs pycocotools")

from gam_viewer.app import main  # noqa: E402
from gam_viewer.demo import BASE_DEMO, GAM_DEMO  # noqa: E402

pytestmark = pytest.mark.skipif(not (GAM_DEMO.is_file() and BASE_DEMO.is_file()),
                                reason="the bundled demo pair (resources/demo) is missing")

REQUIRED = [("models", "model", "map50_95"), ("models", "model", "map50"), ("models", "baseline", "map50_95"),
            ("models", "baseline", "map50"), ("difference", "map50_95", "value"),
            ("difference", "map50_95", "ci95"), ("dataset", "images"), ("dataset", "objects")]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """4 synthetic val images in YOLO layout (the demo models' six shape classes)."""
    from gam_viewer.data.synth import generate_dataset

    root = tmp_path_factory.mktemp("synth")
    return generate_dataset(root / "ds", n=8, imgsz=256, seed=7, val_fraction=0.5)


def _copy(synth: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "ds"
    shutil.copytree(synth.parent, dst)
    y = dst / "data.yaml"
    y.write_text("\n".join(line for line in y.read_text().splitlines() if not line.startswith("path:")) + "\n")
    return y


def _run(capsys, *args):
    # 128 px keeps the demo pair quick; the models were trained at 320 (accuracy is not the point here)
    rc = main(["eval", "--model", str(GAM_DEMO), "--baseline", str(BASE_DEMO), "--quiet", "--imgsz", "128", *args])
    return rc, capsys.readouterr()


def test_end_to_end_writes_every_report_file(synth, tmp_path, capsys):
    out = tmp_path / "report"
    rc, cap = _run(capsys, "--data", str(synth), "--out", str(out), "--resamples", "1000")
    assert rc == 0, cap.err
    assert sorted(p.name for p in out.iterdir()) == ["per_class.csv", "per_image.csv", "report.html", "report.json"]
    rep = json.loads((out / "report.json").read_text())
    for path in REQUIRED:
        node = rep
        for key in path:
            node = node[key]
        assert node is not None, path
    assert rep["dataset"]["images"] == 4
    assert rep["dataset"]["objects"] == sum(
        1 for p in (synth.parent / "labels" / "val").glob("*.txt") for line in p.read_text().splitlines() if line)
    for role in ("model", "baseline"):
        assert 0 <= rep["models"][role]["map50_95"] <= rep["models"][role]["map50"] <= 1
        assert rep["models"][role]["params"] > 1e6 and rep["models"][role]["gflops"] > 0
    lo, hi = rep["difference"]["map50_95"]["ci95"]
    d = rep["models"]["model"]["map50_95"] - rep["models"]["baseline"]["map50_95"]
    assert rep["difference"]["map50_95"]["value"] == pytest.approx(d)
    assert lo <= hi and rep["difference"]["map50_95"]["resamples"] == 1000
    # GAM attention statistics for every GAM layer of the demo model, none for the baseline
    layers = rep["attention"]["model"]
    assert len(layers) >= 1 and "baseline" not in rep["attention"]
    for a in layers:
        assert a["images"] >= 1 and a["on_objects_ratio_mean"] > 0
        assert 0 <= a["pointing_hit_rate"] <= 1
        assert set(a["class_channel_profile"]) <= {"circle", "square", "triangle", "star", "ring", "cross"}
    rows = list(csv.DictReader((out / "per_image.csv").open()))
    assert len(rows) == 4
    o = rep["outcomes"]
    assert o["both"] + o["only_model"] + o["only_baseline"] + o["neither"] == o["objects"]
    assert sum(int(r["only_model"]) for r in rows) == o["only_model"]
    assert float(rows[0]["disagreement"]) >= float(rows[-1]["disagreement"])       # sorted, worst first
    classes = list(csv.DictReader((out / "per_class.csv").open()))
    assert [r["name"] for r in classes] == ["circle", "square", "triangle", "star", "ring", "cross"]
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "<script" not in html and "http" not in html.split("<body>")[1]

    # never overwritten without --force; with --force it is
    before = (out / "report.json").stat().st_mtime_ns
    rc, cap = _run(capsys, "--data", str(synth), "--out", str(out))
    assert rc == 2 and "--force" in cap.err and cap.err.count("\n") == 1
    assert (out / "report.json").stat().st_mtime_ns == before


@pytest.mark.slow
def test_identical_models_have_zero_difference(synth, tmp_path, capsys):
    out = tmp_path / "same"
    rc = main(["eval", "--model", str(BASE_DEMO), "--baseline", str(BASE_DEMO), "--data", str(synth),
               "--out", str(out), "--quiet", "--resamples", "200", "--imgsz", "128"])
    assert rc == 0, capsys.readouterr().err
    rep = json.loads((out / "report.json").read_text())
    assert rep["difference"]["map50_95"]["value"] == 0 and rep["difference"]["map50_95"]["ci95"] == [0, 0]
    assert rep["outcomes"]["only_model"] == rep["outcomes"]["only_baseline"] == 0


@pytest.mark.slow
def test_unreadable_image_and_missing_label_are_listed(synth, tmp_path, capsys):
    y = _copy(synth, tmp_path)
    imgs = sorted((y.parent / "images" / "val").glob("*.jpg"))
    imgs[0].write_bytes(b"not a jpeg at all")
    next((y.parent / "labels" / "val").glob(imgs[1].stem + ".txt")).unlink()
    out = tmp_path / "r"
    rc, cap = _run(capsys, "--data", str(y), "--out", str(out), "--resamples", "20", "--no-attention")
    assert rc == 0, cap.err
    rep = json.loads((out / "report.json").read_text())
    assert rep["dataset"]["images"] == 3 and rep["dataset"]["unreadable_images"] == 1
    assert imgs[0].name in rep["unreadable"][0]
    assert [Path(p).name for p in rep["missing_labels"]] == [imgs[1].stem + ".txt"]
    assert imgs[0].name in cap.err


def _bad(capsys, tmp_path, *args):
    out = tmp_path / "never"
    rc, cap = _run(capsys, *args, "--out", str(out))
    assert rc == 2
    assert cap.err.startswith("gam-viewer: error: ") and cap.err.count("\n") == 1 and "Traceback" not in cap.err
    assert not out.exists() or not any(out.iterdir())
    return cap.err


def test_class_name_mismatch_refuses_with_both_lists(synth, tmp_path, capsys):
    y = _copy(synth, tmp_path)
    text = y.read_text().replace("0: circle", "0: disc")
    y.write_text(text)
    err = _bad(capsys, tmp_path, "--data", str(y))
    assert "[circle, square, triangle, star, ring, cross]" in err and "[disc, square" in err
    assert "--allow-name-mismatch" in err


def test_label_class_outside_the_model_names_names_both(synth, tmp_path, capsys):
    y = _copy(synth, tmp_path)
    y.write_text(y.read_text() + "  6: hexagon\n")
    lab = sorted((y.parent / "labels" / "val").glob("*.txt"))[0]
    lab.write_text(lab.read_text() + "6 0.5 0.5 0.1 0.1\n")
    n = len(lab.read_text().splitlines())
    y.write_text(y.read_text().replace("nc: 6", "nc: 7"))
    err = _bad(capsys, tmp_path, "--data", str(y), "--allow-name-mismatch")
    assert f"{lab.name} line {n}: class id 6 (hexagon)" in err and "6 names" in err


def test_bad_label_line_zero_images_and_bad_arguments(synth, tmp_path, capsys):
    y = _copy(synth, tmp_path)
    lab = sorted((y.parent / "labels" / "val").glob("*.txt"))[1]
    lab.write_text("0 0.5 0.5 0.1\n")
    err = _bad(capsys, tmp_path, "--data", str(y))
    assert f"{lab.name} line 1" in err
    empty = tmp_path / "empty"
    (empty / "images" / "val").mkdir(parents=True)
    (empty / "data.yaml").write_text("val: images/val\nnames: [circle]\n")
    assert "zero images" in _bad(capsys, tmp_path, "--data", str(empty / "data.yaml"))
    assert "--operating-conf" in _bad(capsys, tmp_path, "--data", str(synth), "--operating-conf", "2")
    assert "--max-det" in _bad(capsys, tmp_path, "--data", str(synth), "--max-det", "0")
    assert "no such file" in _bad(capsys, tmp_path, "--data", str(tmp_path / "missing.yaml"))


@pytest.mark.slow
def test_folder_without_labels_gives_agreement_only(synth, tmp_path, capsys):
    folder = tmp_path / "imgs"
    shutil.copytree(synth.parent / "images" / "val", folder)
    cv2.imwrite(str(folder / "zz_grey.png"), np.full((40, 60, 3), 128, np.uint8))
    out = tmp_path / "r"
    rc, cap = _run(capsys, "--data", str(folder), "--out", str(out))
    assert rc == 0, cap.err
    rep = json.loads((out / "report.json").read_text())
    assert rep["dataset"]["images"] == 5 and rep["models"]["model"]["map50_95"] is None
    o = rep["outcomes"]
    assert o["agreed"] + o["only_model"] == o["model"]


def test_backend_choice_gives_the_same_numbers(synth, tmp_path, capsys):
    """`eval --backend torch` and `--backend onnxruntime` measure the same models: same mAP, same outcomes."""
    pytest.importorskip("onnxruntime", reason="ONNX Runtime is not installed")
    reps = {}
    for backend in ("torch", "onnxruntime"):
        out = tmp_path / backend
        rc, cap = _run(capsys, "--data", str(synth), "--out", str(out), "--resamples", "200", "--no-attention",
                       "--backend", backend)
        assert rc == 0, cap.err
        reps[backend] = json.loads((out / "report.json").read_text())
    a, b = reps["torch"], reps["onnxruntime"]
    for role in ("model", "baseline"):
        assert a["models"][role]["map50_95"] == pytest.approx(b["models"][role]["map50_95"], abs=1e-3)
        assert a["models"][role]["map50"] == pytest.approx(b["models"][role]["map50"], abs=1e-3)
    assert a["outcomes"] == b["outcomes"]
    assert "PyTorch" in a["models"]["model"]["backend"] and "ONNX Runtime" in b["models"]["model"]["backend"]
