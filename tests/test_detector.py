"""Detector: official v7.0 reference detections, attention taps from the same forward, reductions."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gam_viewer import load_model
from gam_viewer.inference.attention import AttentionMap, warp_to_image
from gam_viewer.inference.letterbox import letterbox

from shared_data import SHARED

REF = SHARED / "reference" / "yolov5n_v7.0_detections.json"
YOLOV5N = SHARED / "weights" / "yolov5n.pt"
needs_ref = pytest.mark.shared("reference/yolov5n_v7.0_detections.json", "weights/yolov5n.pt",
                               "reference/images/bus.jpg", "reference/images/zidane.jpg")


@pytest.fixture(scope="module")
def yolov5n():
    return load_model(YOLOV5N)


@pytest.fixture(scope="module")
def gam_model():
    return load_model("yolov5n-gam-full")


# --------------------------------------------------------------------------- reference oracle
@needs_ref
@pytest.mark.parametrize("mode", ["letterbox_auto_true", "letterbox_auto_false"])
def test_matches_official_yolov5_v7_detections(yolov5n, mode):
    """Same boxes and classes as the official v7.0 code. Tolerances: coordinates 0.5 px and
    scores 1e-3 absolute. Both runs are float32 on the CPU with the same weights and the same
    resize; what remains is summation order inside convolutions (we fuse BN the same way but
    our kernels may accumulate differently), observed here at < 1e-3 px and < 1e-6 in score.
    Half a pixel is far below any visible difference and below JPEG decode variation."""
    ref = json.loads(REF.read_text())
    for entry in ref[mode]:
        img = cv2.imread(str(REF.parent / "images" / entry["image"]))
        res = yolov5n.predict(img, auto=mode.endswith("true"))
        assert [1, 3, *res.letterbox.input_hw] == entry["input_shape"]
        assert len(res) == entry["n"]
        for want, got in zip(entry["detections"], res.as_records()):
            assert got["cls"] == want["cls"] and got["name"] == want["name"]
            assert abs(got["conf"] - want["conf"]) < 1e-3
            assert np.abs(np.array(got["xyxy"]) - np.array(want["xyxy"])).max() < 0.5


@needs_ref
def test_fused_and_unfused_give_the_same_detections():
    img = cv2.imread(str(REF.parent / "images" / "zidane.jpg"))
    a = load_model(YOLOV5N, fuse=True).predict(img)
    b = load_model(YOLOV5N, fuse=False).predict(img)
    assert len(a) == len(b)
    np.testing.assert_allclose(a.boxes, b.boxes, atol=0.05)


def test_channels_last_changes_nothing_but_the_layout():
    """The default NHWC run gives the NCHW run's boxes and gates (float rounding only), and
    the gates handed out are contiguous C x h x w tensors either way."""
    root = Path(__file__).resolve().parents[1] / "resources"
    model, picture = root / "demo" / "gam-yolov5n.safetensors", root / "samples" / "synth_01.jpg"
    if not model.is_file() or not picture.is_file():
        pytest.skip("the bundled demo GAM model or sample picture is absent")
    img = cv2.imread(str(picture))
    nhwc = load_model(model)
    nchw = load_model(model, channels_last=False)
    assert nhwc.channels_last and not nchw.channels_last
    a = nhwc.predict(img, conf=0.05, imgsz=320)
    b = nchw.predict(img, conf=0.05, imgsz=320)
    assert len(a) == len(b) > 0
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-2)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
    assert len(a.attention) == len(b.attention) == 4
    for x, y in zip(a.attention, b.attention):
        assert x.spatial_gate.is_contiguous() and x.channel_gate.is_contiguous()
        torch.testing.assert_close(x.spatial_gate, y.spatial_gate, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(x.channel_gate, y.channel_gate, atol=1e-5, rtol=1e-5)


@needs_ref
def test_class_filter_and_thresholds(yolov5n):
    img = cv2.imread(str(REF.parent / "images" / "bus.jpg"))
    all_det = yolov5n.predict(img)
    persons = yolov5n.predict(img, classes=[0])
    assert set(persons.classes.tolist()) == {0} and len(persons) < len(all_det)
    strict = yolov5n.predict(img, conf=0.8)
    assert len(strict) < len(all_det) and (strict.scores >= 0.8).all()
    with pytest.raises(ValueError, match="conf must be in"):
        yolov5n.predict(img, conf=1.5)
    with pytest.raises(ValueError, match=r"classes \[99\] out of range"):
        yolov5n.predict(img, classes=[99])
    with pytest.raises(ValueError, match="imgsz"):
        yolov5n.predict(img, imgsz=7)


def test_bad_images_give_clear_errors(gam_model, tmp_path):
    with pytest.raises(ValueError, match="missing.jpg: no such file"):
        gam_model.predict(tmp_path / "missing.jpg")
    with pytest.raises(ValueError, match="H x W x 3"):
        gam_model.predict(np.zeros((10, 10, 5), np.uint8))


# --------------------------------------------------------------------------- attention taps
def test_taps_exist_for_every_gam_layer_with_the_right_grid(gam_model):
    img = np.random.default_rng(0).integers(0, 255, (300, 500, 3), dtype=np.uint8)
    res = gam_model.predict(img, imgsz=320)
    h, w = res.letterbox.input_hw
    assert [a.index for a in res.attention] == [9, 19, 23, 27]
    assert [a.position for a in res.attention] == ["backbone/P5", "head/P3", "head/P4", "head/P5"]
    for a in res.attention:
        assert a.grid_hw == (h // a.stride, w // a.stride)
        assert a.channel_gate.shape == a.spatial_gate.shape == (a.channels, *a.grid_hw)
        assert a.channel_gate.dtype == torch.float32 and a.channel_gate.device.type == "cpu"
    assert res.attention[0].name == f"backbone/P5 ({w // 32}x{h // 32})"


def test_gates_come_from_the_same_forward_and_reproduce_the_block_output(gam_model):
    block = gam_model.model.model[19]
    seen = {}

    def hook(mod, inp, out):
        seen.setdefault("calls", 0)
        seen["calls"] += 1
        seen["x"], seen["y"] = inp[0].detach().clone(), out.detach().clone()

    handle = block.register_forward_hook(hook)
    try:
        res = gam_model.predict(np.full((256, 256, 3), 80, np.uint8), imgsz=256)
    finally:
        handle.remove()
    assert seen["calls"] == 1  # one forward, no second pass for the gates
    a = res.attention_at(19)
    torch.testing.assert_close(seen["x"][0] * a.channel_gate * a.spatial_gate, seen["y"][0])


def test_attention_can_be_switched_off(gam_model):
    res = gam_model.predict(np.zeros((128, 128, 3), np.uint8), imgsz=128, attention=False)
    assert res.attention == []
    assert all(m.channel_gate is None or not m.keep_gates for m in gam_model.model.gam_modules())


def test_baseline_and_gam_model_on_the_same_frame(gam_model):
    base = load_model("yolov5n")
    img = np.random.default_rng(1).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    a, b = gam_model.predict(img, imgsz=320), base.predict(img, imgsz=320)
    assert a.letterbox == b.letterbox
    assert len(a.attention) == 4 and b.attention == []


def test_cuda_graph_falls_back_to_eager_on_cpu():
    det = load_model("yolov5n-gam-backbone", cuda_graph=True)
    assert det.cuda_graph is False and any("CUDA" in n for n in det.notes)
    res = det.predict(np.zeros((64, 64, 3), np.uint8), imgsz=64)
    assert len(res.attention) == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_graph_matches_eager_on_gpu():  # pragma: no cover - no GPU in CI
    img = np.random.default_rng(2).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    eager = load_model("yolov5n-gam-full", device="cuda")
    graph = load_model("yolov5n-gam-full", device="cuda", cuda_graph=True)
    for _ in range(2):
        a, b = eager.predict(img), graph.predict(img)
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-2)
    torch.testing.assert_close(a.attention[0].spatial_gate, b.attention[0].spatial_gate, atol=1e-4, rtol=1e-4)


# --------------------------------------------------------------------------- reductions
def make_map(orig_hw=(300, 500), imgsz=320, auto=True, stride=8, channels=3, seed=0):
    img = np.zeros((*orig_hw, 3), np.uint8)
    _, lb = letterbox(img, imgsz, 32, auto=auto)
    gh, gw = lb.input_hw[0] // stride, lb.input_hw[1] // stride
    g = torch.Generator().manual_seed(seed)
    cg = torch.rand(channels, gh, gw, generator=g) * 4 - 2   # signed, unbounded like community gates
    sg = torch.rand(channels, gh, gw, generator=g)
    return AttentionMap(5, "head/P3", stride, cg, sg, lb)


def test_channel_vector_reductions_and_pixel_pick():
    a = make_map()
    np.testing.assert_allclose(a.channel_vector("mean"), a.channel_gate.double().mean((1, 2)).numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(a.channel_vector("max"), a.channel_gate.amax((1, 2)).numpy())
    assert a.channel_vector("mean").min() < 0  # never clipped to [0, 1]
    # the pixel at the centre of cell (col 7, row 4) picks that cell's vector
    x1, y1, x2, y2 = a.cell_rect(7, 4)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    assert a.cell_at(cx, cy) == (7, 4)
    np.testing.assert_array_equal(a.channel_vector(at=(cx, cy)), a.channel_gate[:, 4, 7].numpy())
    with pytest.raises(ValueError, match="reduce must be one of"):
        a.channel_vector("median")


def test_spatial_map_reductions():
    a = make_map()
    np.testing.assert_allclose(a.spatial_map("mean"), a.spatial_gate.double().mean(0).numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(a.spatial_map("max"), a.spatial_gate.amax(0).numpy())
    np.testing.assert_array_equal(a.spatial_map(2), a.spatial_gate[2].numpy())
    with pytest.raises(ValueError, match="channel 3 out of range"):
        a.spatial_map(3)


@pytest.mark.parametrize("auto", [True, False])
@pytest.mark.parametrize("orig_hw", [(300, 500), (500, 300), (333, 333)])
def test_image_map_puts_a_hot_cell_on_the_right_pixels(auto, orig_hw):
    """A single hot grid cell lands on exactly the original pixels it covers."""
    a = make_map(orig_hw=orig_hw, auto=auto)
    col, row = a.cell_at(orig_hw[1] * 0.6, orig_hw[0] * 0.4)  # a cell inside the content, not the padding
    grid = np.zeros(a.grid_hw, np.float32)
    grid[row, col] = 1.0
    out = warp_to_image(grid, a.letterbox, a.stride, interpolation=cv2.INTER_NEAREST)
    assert out.shape == orig_hw
    x1, y1, x2, y2 = a.cell_rect(col, row)
    ys, xs = np.nonzero(out > 0.5)
    assert ys.size > 0
    assert abs(xs.min() - x1) <= 1 and abs(xs.max() + 1 - x2) <= 1
    assert abs(ys.min() - y1) <= 1 and abs(ys.max() + 1 - y2) <= 1


# --------------------------------------------------------------------------- candidate decode
@pytest.mark.parametrize("yaml", ["yolov5n-gam-full", "yolov5nu-gam-full"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_candidate_decode_equals_the_full_decode_filtered(yaml, channels_last):
    """decode_candidates gives exactly the rows of decode_head that can pass conf (objectness
    for anchor heads, best class for anchor-free ones), in the same order, for every image of
    a batch, and NMS on them gives the same detections; nothing at conf 1."""
    from gam_viewer.inference.decode import decode_candidates, decode_head, has_objectness, nms

    det = load_model(yaml, backend="torch")
    head = det.model.head
    g = torch.Generator().manual_seed(0)
    strides = [int(s) for s in head.stride]
    no = head.no * (head.na if has_objectness(head) else 1)
    raw = [torch.randn(2, no, 480 // s, 640 // s, generator=g) * 3 for s in strides]
    if channels_last:
        raw = [r.contiguous(memory_format=torch.channels_last) for r in raw]
    full = decode_head(head, raw)
    obj = has_objectness(head)
    for conf in (0.0, 0.001, 0.3, 0.9, 1.0):
        cand = decode_candidates(head, raw, conf)
        assert len(cand) == 2
        for k in range(2):
            keep = full[k][:, 4] > conf if obj else full[k][:, 4:].max(1).values > conf
            want = full[k][keep]
            assert cand[k].shape == want.shape, (conf, k)
            torch.testing.assert_close(cand[k], want, rtol=1e-6, atol=1e-3)  # atol: pixels, DFL sums
        a, b = nms(full, conf, 0.45, objectness=obj), nms(cand, conf, 0.45, objectness=obj)
        for x, y in zip(a, b):
            assert x.shape == y.shape
            torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-3)
    assert all(c.shape[0] == 0 for c in decode_candidates(head, raw, 1.0))
    with pytest.raises(ValueError, match="conf"):
        decode_candidates(head, raw, 1.5)
