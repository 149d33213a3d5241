"""``gam-viewer eval``'s cost column: GFLOPs are counted on the PyTorch module whatever runs the
forward pass. Counting through the ONNX Runtime session (the CPU default) read 0.0 GFLOPs for
every model, seen on coco128 with yolov5n.pt. Also the summary's verdict wording ("worse by
-34.7 points" was printed there)."""

from pathlib import Path

import pytest

from gam_viewer import load_model
from gam_viewer.demo import GAM_DEMO
from gam_viewer.eval.cost import model_cost

ROOT = Path(__file__).resolve().parents[1]
YOLOV5N = ROOT.parent / "shared" / "weights" / "yolov5n.pt"

pytestmark = pytest.mark.skipif(not GAM_DEMO.is_file(), reason="the bundled demo model (resources/demo) is missing")


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """ONNX exports go to a temporary cache, not the user's."""
    monkeypatch.setenv("GAM_VIEWER_CACHE", str(tmp_path / "cache"))


def test_gflops_same_on_onnxruntime_as_on_torch():
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    ref = load_model(GAM_DEMO, backend="torch")
    ort = load_model(GAM_DEMO, backend="onnxruntime")
    assert ort.backend == "onnxruntime", ort.notes
    a, b = model_cost(ref, 128), model_cost(ort, 128)
    assert a["gflops"] is not None and a["gflops"] > 0, a
    assert b["gflops"] == pytest.approx(a["gflops"]), b
    assert a["params"] == b["params"] > 0
    # counting leaves the GAM blocks as they were (no gates kept by the counting pass)
    for m in ref.model.gam_modules():
        assert m.keep_gates is False


def test_gflops_scale_with_input_area():
    det = load_model(GAM_DEMO, backend="torch")
    small, large = model_cost(det, 128)["gflops"], model_cost(det, 256)["gflops"]
    assert large == pytest.approx(4 * small, rel=0.02)


@pytest.mark.skipif(not YOLOV5N.is_file(), reason="../shared/weights/yolov5n.pt is not there")
def test_yolov5n_reads_about_4_5_gflops_at_640():
    """YOLOv5's own summary gives yolov5n 4.5 GFLOPs at 640 (fused)."""
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    det = load_model(YOLOV5N, backend="onnxruntime")
    assert det.backend == "onnxruntime", det.notes
    assert model_cost(det, 640)["gflops"] == pytest.approx(4.5, abs=0.1)


def test_verdict_says_the_size_of_a_difference_without_a_sign_clash():
    from gam_viewer.eval.runner import verdict

    worse = verdict(-0.347, -0.409, -0.321, 128, "map50_95")
    assert "worse by 34.7 points" in worse and "[-40.9, -32.1]" in worse and "excludes 0" in worse
    better = verdict(0.021, 0.005, 0.04, 128, "map50")
    assert better.startswith("mAP50: the model is better by 2.1 points") and "[+0.5, +4.0]" in better
    noise = verdict(0.01, -0.02, 0.03, 128, "map50_95")
    assert "+1.0 points" in noise and "contains 0" in noise
    # a tiny negative difference is +0.0, not -0.0 (seen on coco128: GAM vs the same recipe without GAM)
    tiny = verdict(-0.0004, -0.012, 0.012, 128, "map50_95")
    assert "+0.0 points" in tiny and "-0.0" not in tiny


def test_signed_never_prints_minus_zero():
    from gam_viewer.eval.runner import signed

    assert signed(-0.04) == "+0.0" and signed(-0.004, 2) == "+0.00" and signed(0.0) == "+0.0"
    assert signed(-0.05001) == "-0.1" and signed(1.26, 2) == "+1.26" and signed(-31.94) == "-31.9"
