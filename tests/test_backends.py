"""Inference backends: ONNX Runtime against PyTorch (detections and every GAM gate), the
fallback to PyTorch when the export fails, and the export cache.

Parity rule (issue 13): the same detections (each box matched by class with IoU >= 0.999,
|confidence difference| <= 1e-4) and every gate within 1e-4 (max absolute difference).
"""

import json
import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gam_viewer import load_model
from gam_viewer.cachedir import cache_root
from gam_viewer.inference import backends
from gam_viewer.inference.backends import onnxrt
from gam_viewer.inference.decode import box_iou

from fork_checkpoints import make_fork_checkpoint

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REF_IMAGES = SHARED / "reference" / "images"
YOLOV5N = SHARED / "weights" / "yolov5n.pt"
DEMO = ROOT / "resources" / "demo"
SAMPLES = ROOT / "resources" / "samples"


@pytest.fixture(scope="module", autouse=True)
def module_cache(tmp_path_factory):
    """One cache folder for this module: each model is exported once here, not per test."""
    folder = tmp_path_factory.mktemp("onnx-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAM_VIEWER_CACHE", str(folder))
        yield folder


def tiny_cfg(nc=3):
    """yolov5n's layout at 1/8 width and one repeat per stage: exports in a fraction of the time."""
    import yaml

    from gam_viewer.models import configs

    cfg = yaml.safe_load((configs.HERE / "yolov5n.yaml").read_text())
    cfg.update(nc=nc, depth_multiple=0.01, width_multiple=0.125)
    return cfg


def tiny_fork(path, seed=0, **kw):
    """A small fork-style GAM checkpoint (one GAM before SPPF unless told otherwise)."""
    kw.setdefault("gam_after", (8,))
    make_fork_checkpoint(path, base_cfg=tiny_cfg(), seed=seed, **kw)
    return path


def _images():
    out = [cv2.imread(str(SAMPLES / "synth_01.jpg"))]
    if REF_IMAGES.is_dir():
        out += [cv2.imread(str(REF_IMAGES / n)) for n in ("bus.jpg", "zidane.jpg")]
    return [im for im in out if im is not None]


def assert_same_detections(a, b):
    assert len(a) == len(b), f"{len(a)} boxes (torch) vs {len(b)} (onnxruntime)"
    for i in range(len(a)):
        iou = box_iou(b.boxes, a.boxes[i])
        iou[b.classes != a.classes[i]] = -1
        k = int(np.argmax(iou))
        assert iou[k] >= 0.999, f"box {i}: best IoU {iou[k]:.5f}"
        assert abs(float(a.scores[i]) - float(b.scores[i if k == i else k])) <= 1e-4


def assert_same_gates(a, b):
    assert [m.index for m in a.attention] == [m.index for m in b.attention]
    for ma, mb in zip(a.attention, b.attention):
        for which in ("channel_gate", "spatial_gate"):
            ga, gb = getattr(ma, which), getattr(mb, which)
            assert (ga is None) == (gb is None)
            if ga is not None:
                assert ga.shape == gb.shape
                d = float((ga - gb).abs().max())
                assert d <= 1e-4, f"layer {ma.index} {which}: max |d| {d:.2e}"


def assert_same_predictions(ref, ort, img, imgsz, auto):
    """Decoded predictions before NMS (every candidate box and score) agree: the check for
    random-weight models, whose many near-equal candidates make NMS picks a matter of ties."""
    with torch.inference_mode():
        x, _ = ref.preprocess(img, imgsz, auto)
        pa = ref.decode(ref.forward(x, keep_gates=False))
        pb = ort.decode(ort.forward(x, keep_gates=False))
    assert pa.shape == pb.shape
    # every candidate box: IoU with its counterpart >= 0.999 (the detection rule, before NMS)
    a, b = pa[0, :, :4].double(), pb[0, :, :4].double()
    lo = torch.maximum(a[:, :2] - a[:, 2:] / 2, b[:, :2] - b[:, 2:] / 2)
    hi = torch.minimum(a[:, :2] + a[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2)
    inter = (hi - lo).clamp(min=0).prod(1)
    iou = inter / (a[:, 2:].prod(1) + b[:, 2:].prod(1) - inter).clamp(min=1e-9)
    big = (a[:, 2:] > 1).all(1)                                             # boxes of at least a pixel
    assert float(iou[big].min()) >= 0.999
    assert float((pa[..., 4:] - pb[..., 4:]).abs().max()) <= 1e-4          # probabilities


def check_parity(source, images, conf=0.25, imgsz=640, trained=True, **kw):
    ref = load_model(source, backend="torch", **kw)
    ort = load_model(source, backend="onnxruntime", **kw)
    assert ref.backend == "torch" and ort.backend == "onnxruntime", ort.notes
    for img in images:
        for auto in (True, False):   # minimal padding and square: two graph input shapes
            a = ref.predict(img, conf=conf, imgsz=imgsz, auto=auto)
            b = ort.predict(img, conf=conf, imgsz=imgsz, auto=auto)
            assert a.letterbox == b.letterbox
            if trained:
                assert_same_detections(a, b)
            else:
                assert_same_predictions(ref, ort, img, imgsz, auto)
            assert_same_gates(a, b)
    return ref, ort


# ----------------------------------------------------------------------------- choosing
def test_backend_names_and_auto(monkeypatch):
    assert backends.check_backend(None) == "auto"
    assert backends.check_backend("ONNX") == "onnxruntime"
    with pytest.raises(ValueError, match="backend must be one of"):
        backends.check_backend("tensorrt")
    monkeypatch.delenv(backends.ENV_BACKEND, raising=False)
    assert backends.choose_backend("auto", "cpu") == "onnxruntime"
    assert backends.choose_backend("auto", "cuda") == "torch"
    assert backends.choose_backend("auto", "cpu", cuda_graph=True) == "torch"
    monkeypatch.setenv(backends.ENV_BACKEND, "torch")
    assert backends.choose_backend("auto", "cpu") == "torch"
    assert backends.choose_backend("onnxruntime", "cpu") == "onnxruntime"
    with pytest.raises(ValueError, match="backend must be one of"):
        load_model("yolov5n", backend="tflite")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (asks ONNX Runtime for a GPU model)")
def test_onnxruntime_refuses_cuda_up_front():  # pragma: no cover - no GPU in CI
    from gam_viewer.inference.detector import Detector
    from gam_viewer.models import read_model

    with pytest.raises(ValueError, match="runs float32 on the CPU"):
        Detector(read_model("yolov5n"), device="cuda", backend="onnxruntime")
    assert Detector(read_model("yolov5n"), device="cuda", backend="auto").backend == "torch"


def test_cache_root_env_and_platform_default(monkeypatch, tmp_path):
    monkeypatch.setenv("GAM_VIEWER_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv("GAM_VIEWER_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    root = cache_root()
    assert root.name == "gam-viewer" and root.is_absolute()


# ----------------------------------------------------------------------------- parity
@pytest.mark.slow
def test_bundled_demo_pair_parity():
    pair = sorted(DEMO.glob("*.safetensors"))
    assert len(pair) == 2, "the bundled demo pair is missing"
    gam = []
    for path in pair:
        ref, ort = check_parity(path, _images())
        assert "ONNX Runtime" in ort.describe() and "PyTorch" in ref.describe()
        gam.append(ort.has_gam)
    assert sorted(gam) == [False, True]       # the GAM model's gates were compared


@pytest.mark.slow
@pytest.mark.skipif(not (YOLOV5N.is_file() and REF_IMAGES.is_dir()),
                    reason="../shared/weights/yolov5n.pt or the reference images are not present")
def test_official_yolov5n_parity_on_the_reference_images():
    ref_json = json.loads((SHARED / "reference" / "yolov5n_v7.0_detections.json").read_text())
    ref, ort = check_parity(YOLOV5N, _images()[1:])
    # and against the official code's own numbers (the oracle test_detector uses)
    for entry in ref_json["letterbox_auto_true"]:
        res = ort.predict(cv2.imread(str(REF_IMAGES / entry["image"])))
        assert len(res) == entry["n"]
        for want, got in zip(entry["detections"], res.as_records()):
            assert got["cls"] == want["cls"] and abs(got["conf"] - want["conf"]) < 1e-3
            assert np.abs(np.array(got["xyxy"]) - np.array(want["xyxy"])).max() < 0.5


@pytest.mark.parametrize("kind", ["ungrouped", "grouped-2-layers"])
def test_fork_checkpoint_parity_small(tmp_path, kind):
    """Small fork-style checkpoints (ungrouped: the first port; grouped: the 2022 rewrite with
    its final-map shuffle, at two places), at 320 so the test stays quick."""
    path = tiny_fork(tmp_path / f"fork-{kind}.pt", grouped=kind != "ungrouped",
                     gam_after=(8,) if kind == "ungrouped" else (8, 17))
    ref, ort = check_parity(path, _images()[:1], imgsz=320, trained=False)
    assert ort.has_gam and len(ort.predict(_images()[0], imgsz=320).attention) == len(ort.gam)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ungrouped", "grouped", "ultralytics"])
def test_fork_checkpoint_parity(tmp_path, kind):
    """Full-size yolov5n / yolov5nu fork checkpoints as tests/fork_checkpoints.py builds them."""
    path = tmp_path / f"fork-{kind}.pt"
    make_fork_checkpoint(path, grouped=kind == "grouped", ultralytics=kind == "ultralytics",
                         gam_after=(8,) if kind != "grouped" else (8, 17))
    ref, ort = check_parity(path, _images()[:1], trained=False)
    assert ort.has_gam and len(ort.predict(_images()[0]).attention) == len(ort.gam)


def test_semantic_switches_parity_and_attention_off(tmp_path):
    """A user's lineage choice (channel sigmoid on, shuffle on) is exported, not the default;
    attention=False returns no maps and the same boxes."""
    path = tiny_fork(tmp_path / "fork.pt")
    img = _images()[0]
    ref, ort = check_parity(path, [img], imgsz=320, trained=False, channel_sigmoid=True, shuffle=True)
    a, b = ort.predict(img, imgsz=320), ort.predict(img, imgsz=320, attention=False)
    assert a.attention and not b.attention
    np.testing.assert_array_equal(a.boxes, b.boxes)
    cg = a.attention[0].channel_gate
    assert float(cg.min()) >= 0 and float(cg.max()) <= 1     # the sigmoid is in the graph


# ----------------------------------------------------------------------------- fallback
def test_export_failure_falls_back_to_pytorch_in_one_line(monkeypatch, tmp_path):
    def broken(*a, **k):
        raise onnxrt.ExportError("ONNX export failed (RuntimeError: an operator ONNX cannot express)")

    monkeypatch.setenv("GAM_VIEWER_CACHE", str(tmp_path))
    monkeypatch.delenv(backends.ENV_BACKEND, raising=False)   # "auto" means ONNX Runtime here
    monkeypatch.setattr(onnxrt, "export_bytes", broken)
    with pytest.warns(RuntimeWarning, match="running PyTorch, not ONNX Runtime") as rec:
        det = load_model(tiny_fork(tmp_path / "f.pt"), backend="auto")
    assert det.backend == "torch"
    assert len(rec) == 1 and "\n" not in str(rec[0].message)
    assert any("an operator ONNX cannot express" in n for n in det.notes)
    assert "PyTorch" in det.describe()
    res = det.predict(_images()[0], imgsz=320)          # still works, on PyTorch
    assert res.attention and len(res.attention) == 1


def test_unexpected_exporter_error_is_one_line_too(monkeypatch, tmp_path):
    monkeypatch.setenv("GAM_VIEWER_CACHE", str(tmp_path))

    def boom(*a, **k):
        raise RuntimeError("Exporting the operator 'aten::weird' to ONNX opset version 17 is not supported.\nmore")

    monkeypatch.setattr(torch.onnx, "export", boom)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        det = load_model(tiny_fork(tmp_path / "f.pt"), backend="onnxruntime")
    assert det.backend == "torch"
    msgs = [str(w.message) for w in rec if issubclass(w.category, RuntimeWarning)]
    assert len(msgs) == 1 and "aten::weird" in msgs[0] and "\n" not in msgs[0]


# ----------------------------------------------------------------------------- cache
def _count_exports(monkeypatch):
    calls = []
    real = onnxrt.export_bytes

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(onnxrt, "export_bytes", counting)
    return calls


def test_cache_second_load_does_not_export_changed_file_or_choice_does(monkeypatch, tmp_path):
    monkeypatch.setenv("GAM_VIEWER_CACHE", str(tmp_path / "cache"))
    calls = _count_exports(monkeypatch)
    path = tmp_path / "fork.pt"
    tiny_fork(path, seed=1)
    first = load_model(path, backend="onnxruntime")
    assert first.onnx_report.exported and len(calls) == 1
    assert first.onnx_report.path.parent == tmp_path / "cache" / "onnx"
    second = load_model(path, backend="onnxruntime")
    assert not second.onnx_report.exported and len(calls) == 1        # from the cache
    img = _images()[0]
    assert_same_gates(first.predict(img, imgsz=320), second.predict(img, imgsz=320))
    load_model(path, backend="onnxruntime", channel_sigmoid=True)       # another semantic choice
    assert len(calls) == 2
    tiny_fork(path, seed=2)                                              # the file changed
    changed = load_model(path, backend="onnxruntime")
    assert changed.onnx_report.exported and len(calls) == 3
    assert_same_gates(load_model(path, backend="torch").predict(img, imgsz=320), changed.predict(img, imgsz=320))
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 3
    assert not list((tmp_path / "cache" / "onnx").glob("*.part"))        # atomic writes leave no temp files


def test_corrupt_cache_entry_is_rebuilt_not_trusted(monkeypatch, tmp_path):
    """Truncated, bit-flipped (still parses: the recorded SHA-256 catches it) or with a broken
    record: each time the entry is exported again, and the rebuilt entry is then used."""
    monkeypatch.setenv("GAM_VIEWER_CACHE", str(tmp_path))
    calls = _count_exports(monkeypatch)
    det = load_model(tiny_fork(tmp_path / "f.pt"), backend="onnxruntime")
    entry = det.onnx_report.path
    img = _images()[0]
    for n, damage in enumerate(("truncate", "flip", "meta"), start=2):
        data = entry.read_bytes()
        if damage == "truncate":
            entry.write_bytes(data[: len(data) // 2])
        elif damage == "flip":
            entry.write_bytes(data[:-64] + bytes(b ^ 0x01 for b in data[-64:]))
        else:
            entry.with_suffix(".json").write_text("{not json")
        again = _reopen(det)
        assert again.backend == "onnxruntime" and again.onnx_report.exported and len(calls) == n, damage
        assert any("damaged or stale" in note for note in again.notes)
        assert_same_gates(det.predict(img, imgsz=320), again.predict(img, imgsz=320))
    third = _reopen(det)                     # the rebuilt entry is good: used, not exported
    assert not third.onnx_report.exported and len(calls) == 4


def _reopen(det):
    from gam_viewer.inference.detector import Detector

    return Detector(det.loaded, backend="onnxruntime")


def test_yaml_models_key_on_their_weights(monkeypatch, tmp_path):
    """A YAML has no weights of its own (random each open): its exports key on the weights."""
    monkeypatch.setenv("GAM_VIEWER_CACHE", str(tmp_path))
    from gam_viewer.models import build_model
    from gam_viewer.models.checkpoint import LoadedModel

    cfg = tiny_cfg()
    keys = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        m = build_model(cfg).eval()
        keys.append(onnxrt.cache_key(LoadedModel(m, ["a", "b", "c"], "tiny.yaml", "yaml"), m, True)["weights"])
    assert keys[0] == keys[1] != keys[2] and keys[0].startswith("weights:")


def test_cache_entry_for_an_other_version_is_not_used(monkeypatch, tmp_path):
    monkeypatch.setenv("GAM_VIEWER_CACHE", str(tmp_path))
    det = load_model(tiny_fork(tmp_path / "f.pt"), backend="onnxruntime")
    key = onnxrt.cache_key(det.loaded, det.model, True)
    assert set(key) >= {"weights", "gam", "opset", "torch", "onnxruntime", "exporter"}
    monkeypatch.setattr(onnxrt, "EXPORT_VERSION", onnxrt.EXPORT_VERSION + 1)
    again = _reopen(det)
    assert again.onnx_report.exported


def test_eigencam_on_onnxruntime_equals_the_pytorch_one(tmp_path):
    """EigenCAM on ONNX Runtime uses the exported CAM layer outputs (no PyTorch pass) and gives
    the PyTorch map; a layer that is not exported falls back to the PyTorch model."""
    from gam_viewer.inference.cam import cam_layers, eigen_cam

    path = tiny_fork(tmp_path / "f.pt")
    ref, ort = load_model(path, backend="torch"), load_model(path, backend="onnxruntime")
    img = _images()[0]
    offered = [c.index for c in cam_layers(ort)]
    with torch.inference_mode():
        x, _ = ort.preprocess(img, 320, True)
    assert ort.layer_outputs(x, offered) is not None and ref.layer_outputs(x, offered) is None
    for layers in (None, offered[:1]):
        a, b = eigen_cam(ref, img, layers, imgsz=320), eigen_cam(ort, img, layers, imgsz=320)
        assert a.layers == b.layers and a.input_map.shape == b.input_map.shape
        assert float(np.abs(a.input_map - b.input_map).max()) <= 1e-3
    other = next(i for i in range(len(ort.model.layers) - 1) if i not in offered and ort.model.layers[i].stride)
    assert ort.layer_outputs(x, [other]) is None
    a, b = eigen_cam(ref, img, [other], imgsz=320), eigen_cam(ort, img, [other], imgsz=320)
    assert float(np.abs(a.input_map - b.input_map).max()) <= 1e-3


def test_window_spec_and_picker_carry_the_backend(qtbot, fake_detector, monkeypatch):
    """A pane's backend choice travels in its ModelSpec (and settings), reaches load_model,
    and the picker shows the backend the detector reports."""
    pytest.importorskip("PySide6")
    from gam_viewer.ui import worker
    from gam_viewer.ui.model_picker import ModelPicker
    from gam_viewer.ui.model_spec import ModelInfo, ModelSpec

    spec = ModelSpec("m.pt", backend="onnxruntime")
    assert ModelSpec.from_json(spec.to_json()) == spec
    assert ModelSpec.from_json('{"source": "m.pt", "backend": "tensorrt"}').backend == "auto"
    assert ModelSpec.from_json('{"source": "m.pt"}').backend == "auto"       # settings from before

    seen = {}
    import gam_viewer.inference as inference

    def fake_load(source, **kw):
        seen.update(kw)
        return "det"

    monkeypatch.setattr(inference, "load_model", fake_load)
    assert worker.default_loader(spec) == "det" and seen["backend"] == "onnxruntime"

    picker = ModelPicker("gam")
    qtbot.addWidget(picker)
    picker.backend.setCurrentIndex(picker.backend.findData("torch"))
    assert picker.spec_for("x.pt").backend == "torch"
    det = fake_detector(source="x.pt")
    det.backend_label = "ONNX Runtime (CPU, 2 threads)"
    picker.set_info(ModelInfo.from_detector(det, ModelSpec("x.pt", backend="onnxruntime")))
    assert "ONNX Runtime (CPU, 2 threads)" in picker.current.text()
    assert picker.backend.currentData() == "onnxruntime"


@pytest.mark.parametrize("name", ["yolov7-tiny-gam.pt", pytest.param("yolov7-e6-gam.pt", marks=pytest.mark.slow),
                                  pytest.param("yolo11-tiny-gam-fork.pt", marks=pytest.mark.slow)])
def test_other_families_parity(name):
    """YOLOv7 (IDetect/IAuxDetect, ReOrg, ...) and YOLO11 fork checkpoints from tests/data export
    too, with the same predictions and gates."""
    path = ROOT / "tests" / "data" / name
    if not path.is_file():
        pytest.skip(f"tests/data/{name} is not present")
    check_parity(path, _images()[:1], imgsz=320, trained=False)
