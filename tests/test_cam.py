"""CAM: offered layers, EigenCAM on GAM and baseline models, Grad-CAM for one detection, errors."""


import cv2
import numpy as np
import pytest
import torch

from gam_viewer import load_model
from gam_viewer.inference.cam import CamMap, _first_component, cam_layers, default_cam_layers, eigen_cam, grad_cam

from shared_data import SHARED

YOLOV5N = SHARED / "weights" / "yolov5n.pt"
BUS = SHARED / "reference" / "images" / "bus.jpg"
needs_real = pytest.mark.shared("weights/yolov5n.pt", "reference/images/bus.jpg")


@pytest.fixture(scope="module")
def gam_det():
    return load_model("yolov5n-gam-full")


@pytest.fixture(scope="module")
def base_det():
    return load_model("yolov5n")


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 255, (150, 230, 3), dtype=np.uint8), (0, 0), 3)
    cv2.rectangle(img, (40, 30), (120, 110), (240, 240, 240), -1)
    cv2.circle(img, (180, 70), 25, (20, 40, 200), -1)
    return img


def test_offered_layers_and_why(gam_det, base_det):
    gam = {c.index: c for c in cam_layers(gam_det)}
    assert sorted(gam) == [9, 10, 19, 23, 27]
    assert gam[19].reasons == ("feeds Detect", "GAM") and gam[9].reasons == ("GAM",)
    assert gam[10].type == "SPPF" and gam[10].reasons == ("last backbone layer",)
    assert [gam[i].stride for i in (19, 23, 27)] == [8, 16, 32]
    assert "feeds Detect" in gam[27].describe() and gam[27].position == "head/P5"
    base = {c.index: c for c in cam_layers(base_det)}
    assert sorted(base) == [9, 17, 20, 23]
    assert default_cam_layers(base_det) == [17, 20, 23] and default_cam_layers(gam_det) == [19, 23, 27]


@pytest.mark.parametrize("which", ["gam", "baseline"])
@pytest.mark.parametrize("auto", [True, False], ids=["auto", "square"])
def test_eigen_cam_is_a_finite_map_of_the_image_size(request, image, which, auto):
    det = request.getfixturevalue("gam_det" if which == "gam" else "base_det")
    cam = eigen_cam(det, image, imgsz=160, auto=auto)
    assert isinstance(cam, CamMap) and cam.method == "eigen" and cam.layers == tuple(default_cam_layers(det))
    assert cam.input_map.shape == cam.letterbox.input_hw
    m = cam.image_map()
    assert m.shape == image.shape[:2] and m.dtype == np.float32
    assert np.isfinite(m).all() and m.min() >= 0 and m.max() <= 1 + 1e-6
    assert float(m.std()) > 1e-3
    assert cam.image_map(out_hw=(30, 46)).shape == (30, 46)
    one = eigen_cam(det, image, layers=default_cam_layers(det)[-1], imgsz=160, auto=auto)
    assert one.layers == (default_cam_layers(det)[-1],) and one.image_map().shape == image.shape[:2]


def test_eigen_projection_is_grad_cams_with_sign_correction():
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection_with_sign_correction

    rng = np.random.default_rng(3)
    acts = rng.normal(size=(2, 24, 9, 13)).astype(np.float32) + rng.uniform(0, 3, (2, 24, 1, 1)).astype(np.float32)
    ours = _first_component(acts)
    ref = get_2d_projection_with_sign_correction(acts)
    assert ours.shape == (2, 9, 13)
    assert np.allclose(ours, ref, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("name", ["yolov5n-gam-full", "yolov5nu-gam-full"], ids=["anchor-head", "dfl-head"])
def test_grad_cam_on_a_random_model(request, name, image):
    model = request.getfixturevalue("gam_det") if name == "yolov5n-gam-full" else load_model(name)
    det = model.predict(image, conf=0.01, imgsz=160)
    assert len(det) > 0
    cam = grad_cam(model, image, det, 0)
    assert cam.method == "grad" and cam.box == 0 and cam.target_class == int(det.classes[0])
    assert cam.target_score == pytest.approx(float(det.scores[0]), rel=1e-4)
    assert cam.grad_abs_mean > 0
    m = cam.image_map()
    assert m.shape == image.shape[:2] and np.isfinite(m).all() and float(m.std()) > 0
    assert "Grad-CAM box 0" in cam.title


@needs_real
@pytest.mark.slow
def test_grad_cam_for_real_detections_points_at_the_box():
    img = cv2.imread(str(BUS))
    fused = load_model(YOLOV5N)
    det = fused.predict(img, imgsz=320)
    assert len(det) >= 3
    maps = []
    for b in range(len(det)):
        cam = grad_cam(fused, img, det, b)
        assert cam.target_score == pytest.approx(float(det.scores[b]), rel=1e-4)   # the very NMS survivor
        assert cam.grad_abs_mean > 0
        m = cam.image_map()
        x1, y1, x2, y2 = det.boxes[b].astype(int)
        inside = m[y1:y2, x1:x2]
        outside_mean = (m.sum() - inside.sum()) / (m.size - inside.size)
        assert inside.mean() > 1.5 * outside_mean, f"box {b}: the CAM is not concentrated on the box"
        maps.append(m)
    # the fused model (frozen weights) gives the same Grad-CAM as the unfused one
    unfused = load_model(YOLOV5N, fuse=False)
    det_u = unfused.predict(img, imgsz=320)
    cam_u = grad_cam(unfused, img, det_u, 0)
    assert np.abs(cam_u.image_map() - maps[0]).max() < 1e-3


def test_cam_leaves_the_detector_as_it_was(gam_det, image):
    before = gam_det.predict(image, conf=0.05, imgsz=160)
    gates = [(m.channel_gate, m.spatial_gate) for m in gam_det.model.gam_modules()]
    grad_cam(gam_det, image, before, 0)
    eigen_cam(gam_det, image, imgsz=160)
    after = [(m.channel_gate, m.spatial_gate) for m in gam_det.model.gam_modules()]
    assert all(a[0] is b[0] and a[1] is b[1] for a, b in zip(gates, after)), "CAM overwrote the stored gates"
    assert all(m.keep_gates for m in gam_det.model.gam_modules())
    assert not any(p.grad is not None for p in gam_det.model.parameters())
    with torch.inference_mode():                            # as a GUI worker might call it
        grad_cam(gam_det, image, before, 0)
    again = gam_det.predict(image, conf=0.05, imgsz=160)   # inference mode works after autograd passes
    assert np.array_equal(again.boxes, before.boxes)
    assert torch.equal(again.attention[0].spatial_gate, before.attention[0].spatial_gate)


def test_bad_layer_and_box_indices_are_refused(gam_det, image):
    n_layers = len(gam_det.model.layers)
    for bad in (n_layers - 1, n_layers + 5, -1):
        with pytest.raises(ValueError, match=f"CAM layer {bad} is out of range"):
            eigen_cam(gam_det, image, layers=bad, imgsz=160)
    with pytest.raises(ValueError, match="integer layer index"):
        eigen_cam(gam_det, image, layers=["19"], imgsz=160)
    with pytest.raises(ValueError, match="at least one layer"):
        eigen_cam(gam_det, image, layers=[], imgsz=160)
    det = gam_det.predict(image, conf=0.05, imgsz=160)
    n = len(det)
    for bad in (n, n + 3, -1):
        with pytest.raises(ValueError, match=f"box {bad} is out of range: there are {n} detections"):
            grad_cam(gam_det, image, det, bad)
    for bad in (1.0, True, "0"):
        with pytest.raises(ValueError, match="integer detection index"):
            grad_cam(gam_det, image, det, bad)
    with pytest.raises(ValueError, match="out of range"):
        grad_cam(gam_det, image, det, 0, layers=[999])
    with pytest.raises(ValueError, match="another image or size"):
        grad_cam(gam_det, image[:, :200], det, 0)
    with pytest.raises(ValueError, match="another image or size"):
        grad_cam(gam_det, cv2.resize(image, (115, 75)), det, 0)
