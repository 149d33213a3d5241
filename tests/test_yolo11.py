"""YOLO11 (Ultralytics >= 8.3): blocks, checkpoints with and without GAM, outputs equal Ultralytics'.

The small checkpoints in tests/data/ were trained and saved by the real Ultralytics code
(scripts/make_yolo11_refs.py), which also recorded what ``YOLO(file).predict`` returned on
the sample pictures (both letterbox modes) in tests/data/yolo11_refs.json. Those tests need
no Ultralytics; the live comparisons at the end skip without it.
"""

import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gam_viewer import load_model
from gam_viewer.models import read_model
from gam_viewer.nn import GAM

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
REFS_FILE = DATA / "yolo11_refs.json"
REFS = json.loads(REFS_FILE.read_text()) if REFS_FILE.is_file() else {}
SAMPLES = ROOT / "resources" / "samples"
# GAM layer indices in each reference model (from its YAML, see the script)
GAM_AT = {"yolo11-tiny": [], "yolo11-tiny-gam-full": [10, 18, 22, 26], "yolo11-tiny-gam-fork": [11, 21, 25]}

needs_refs = pytest.mark.skipif(not REFS, reason="tests/data/yolo11_refs.json is absent (scripts/make_yolo11_refs.py)")


def _iou(a, b):
    lt = np.maximum(a[:2], b[:2])
    rb = np.minimum(a[2:], b[2:])
    inter = np.prod(np.clip(rb - lt, 0, None))
    area = lambda r: np.prod(r[2:] - r[:2])  # noqa: E731
    return inter / (area(a) + area(b) - inter + 1e-12)


def assert_same_detections(ours, boxes, scores, classes, where):
    """Same count; each recorded box has one of ours with IoU >= 0.99, the same class, |dconf| <= 1e-3."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    assert len(ours) == len(boxes), f"{where}: {len(ours)} detections, Ultralytics {len(boxes)}"
    free = set(range(len(ours)))
    for j in range(len(boxes)):
        best = max(free, key=lambda i: _iou(ours.boxes[i].astype(np.float64), boxes[j]), default=None)
        assert best is not None
        iou = _iou(ours.boxes[best].astype(np.float64), boxes[j])
        assert iou >= 0.99, f"{where}: box {j} best IoU {iou:.4f}"
        assert int(ours.classes[best]) == int(classes[j]), f"{where}: box {j} class"
        assert abs(float(ours.scores[best]) - scores[j]) <= 1e-3, f"{where}: box {j} score"
        free.remove(best)


@pytest.fixture(scope="module")
def detectors():
    cache = {}

    def get(name, fuse=True):
        key = (name, fuse)
        if key not in cache:
            path = DATA / f"{name}.pt"
            if not path.is_file():
                pytest.skip(f"{path} is absent (scripts/make_yolo11_refs.py makes it)")
            cache[key] = load_model(path, fuse=fuse)
        return cache[key]

    return get


# ----------------------------------------------------------------------------- recorded refs
@needs_refs
@pytest.mark.parametrize("name", sorted(GAM_AT))
def test_reference_checkpoint_opens_with_its_gam_layers(detectors, name):
    det = detectors(name)
    assert det.loaded.format == "ultralytics"
    assert det.model.head.kind == "dfl" and det.model.head.legacy is False  # YOLO11's depthwise class branch
    types = {info.type for info in det.model.layers}
    assert {"C3k2", "C2PSA", "SPPF"} <= types
    assert [r.index for r in det.loaded.gam] == GAM_AT[name]
    assert det.names[:3] == ["circle", "square", "triangle"]
    size = (DATA / f"{name}.pt").stat().st_size
    assert size < 2_000_000 and size == REFS[name]["bytes"]


def test_fork_gam_gets_the_first_port_defaults(detectors):
    if "yolo11-tiny-gam-fork" not in REFS:
        pytest.skip("no fork-style reference checkpoint recorded")
    det = detectors("yolo11-tiny-gam-fork")
    for r in det.loaded.gam:
        assert (r.variant, r.groups, r.channel_sigmoid, r.shuffle) == ("community", 1, False, False)
        assert r.channels == 48


@needs_refs
@pytest.mark.parametrize("mode", ["auto", "square"])
@pytest.mark.parametrize("name", sorted(GAM_AT))
def test_detections_equal_ultralytics_predict(detectors, name, mode):
    if name not in REFS:
        pytest.skip(f"{name} not recorded")
    det = detectors(name)
    ref = REFS[name]
    args = ref["args"]
    total = 0
    for picture, per_mode in ref["predict"].items():
        img = cv2.imread(str(SAMPLES / picture))
        assert img is not None, picture
        r = per_mode[mode]
        ours = det.predict(img, conf=args["conf"], iou=args["iou"], imgsz=args["imgsz"], auto=mode == "auto",
                           attention=False)
        assert_same_detections(ours, r["boxes"], r["scores"], r["classes"], f"{name} {picture} {mode}")
        total += len(ours)
    assert total >= 3 * len(ref["predict"])  # the references are not empty


@needs_refs
@pytest.mark.parametrize("name", sorted(GAM_AT))
def test_decoded_output_on_a_seeded_input_equals_ultralytics(detectors, name):
    if name not in REFS:
        pytest.skip(f"{name} not recorded")
    det = detectors(name, fuse=False)
    ref = REFS[name]
    g = torch.Generator().manual_seed(ref["random_input"]["seed"])
    x = torch.rand(*ref["random_input"]["shape"], generator=g)
    with torch.no_grad():
        y = det.decode(det.forward(x))  # (1, anchors, 4 + nc)
    theirs = torch.tensor(ref["random_output_every7"])
    assert list(y.transpose(1, 2).shape) == ref["random_output_shape"]
    if "fork" in name:
        # the fork's channel map has no sigmoid (unbounded): on a random input this model is
        # ill-conditioned in float32 (Ultralytics' own float32 and float64 outputs differ by
        # 0.3 px, ours and theirs in float64 by 2e-4 px), so only a looser bound is meaningful
        torch.testing.assert_close(y[0, ::7].T, theirs, atol=0.1, rtol=5e-3)
    else:
        torch.testing.assert_close(y[0, ::7].T, theirs, atol=2e-3, rtol=1e-3)


@needs_refs
def test_fuse_keeps_outputs(detectors):
    name = "yolo11-tiny-gam-full" if "yolo11-tiny-gam-full" in REFS else next(iter(REFS))
    plain, fused = detectors(name, fuse=False), detectors(name, fuse=True)
    assert fused.fused and not plain.fused
    x = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = plain.forward(x, keep_gates=False), fused.forward(x, keep_gates=False)
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v, atol=1e-3, rtol=1e-3)
    # every Conv of the fused model (PSA attention's included) lost its BatchNorm
    from gam_viewer.nn.blocks import Conv

    convs = [m for m in fused.model.modules() if isinstance(m, Conv)]
    assert convs and all(isinstance(m.bn, torch.nn.Identity) for m in convs)


@needs_refs
@pytest.mark.parametrize("name", ["yolo11-tiny-gam-full", "yolo11-tiny-gam-fork"])
def test_every_gam_layer_is_tapped(detectors, name):
    if name not in REFS:
        pytest.skip(f"{name} not recorded")
    det = detectors(name)
    img = cv2.imread(str(SAMPLES / "synth_01.jpg"))
    out = det.predict(img, conf=0.25, imgsz=256)
    assert [m.index for m in out.attention] == GAM_AT[name]
    for m in out.attention:
        assert m.spatial_gate is not None and torch.isfinite(m.spatial_gate).all()
        assert m.spatial_gate.shape[1:] == m.channel_gate.shape[1:]
        assert m.stride in (8, 16, 32) and 256 // m.stride >= m.spatial_gate.shape[-1]


@needs_refs
def test_eigen_cam_runs_on_yolo11(detectors):
    from gam_viewer.inference.cam import default_cam_layers, eigen_cam

    det = detectors("yolo11-tiny-gam-full" if "yolo11-tiny-gam-full" in REFS else next(iter(REFS)))
    img = cv2.imread(str(SAMPLES / "synth_02.jpg"))
    cam = eigen_cam(det, img, imgsz=160)
    m = cam.image_map()
    assert cam.layers == tuple(default_cam_layers(det)) and len(cam.layers) == 3
    assert m.shape == img.shape[:2] and np.isfinite(m).all() and float(m.std()) > 1e-3


@pytest.mark.slow
@needs_refs
def test_convert_round_trip_and_grad_cam(detectors, tmp_path):
    """gam-viewer's own format keeps a YOLO11 GAM model's outputs; Grad-CAM runs on a detection."""
    from gam_viewer.inference.cam import grad_cam
    from gam_viewer.models.native import save_native

    name = "yolo11-tiny-gam-full" if "yolo11-tiny-gam-full" in REFS else next(iter(REFS))
    loaded = read_model(DATA / f"{name}.pt")
    out = save_native(loaded, tmp_path / "m.safetensors", half=False)
    back = read_model(out)
    settings = lambda r: (r.index, r.variant, r.groups, r.rate, r.channel_sigmoid, r.shuffle)  # noqa: E731
    assert [settings(r) for r in back.gam] == [settings(r) for r in loaded.gam] and len(back.gam) == len(GAM_AT[name])
    x = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        for u, v in zip(loaded.model.eval()(x), back.model.eval()(x)):
            torch.testing.assert_close(u, v)
    det = detectors(name)
    img = cv2.imread(str(SAMPLES / "synth_01.jpg"))
    found = det.predict(img, conf=REFS[name]["args"]["conf"], imgsz=160)
    assert len(found)
    cam = grad_cam(det, img, found, 0)
    m = cam.image_map()
    assert m.shape == img.shape[:2] and np.isfinite(m).all()


@needs_refs
def test_c2psa_attention_matrix_is_exposed(detectors):
    from gam_viewer.inference.psa import psa_attention, psa_layers

    det = detectors("yolo11-tiny")
    img = cv2.imread(str(SAMPLES / "synth_04.jpg"))  # portrait 480x640
    assert psa_layers(det) == [10]
    maps = psa_attention(det, img, imgsz=320, auto=True)
    assert [(m.index, m.block) for m in maps] == [(10, 0)]  # one PSABlock at this depth
    m = maps[0]
    h, w = m.grid_hw
    assert (h, w) == (320 // 32, 256 // 32) and m.stride == 32 and m.position == "backbone/P5"
    assert m.weights.shape == (1, h * w, h * w) and m.heads == 1
    np.testing.assert_allclose(m.weights.sum(-1), 1.0, atol=1e-4)
    look = m.from_pixel(240, 320)
    assert look.shape == (h, w) and abs(float(look.sum()) - 1) < 1e-4
    assert float(m.received().sum()) == pytest.approx(1.0, abs=1e-4)
    assert m.image_map(look).shape == img.shape[:2]
    with pytest.raises(ValueError, match="head 3"):
        m.from_cell(0, 0, head=3)
    # the matrices are only kept for this call
    from gam_viewer.nn.yolo11 import PSAAttention

    assert all(not a.keep_attention and a.last_attention is None
               for a in det.model.modules() if isinstance(a, PSAAttention))


# ----------------------------------------------------------------------------- shipped YAMLs
def _tiny(name, scale):
    """A shipped YOLO11 YAML at width 1/16 under the scale letter ``scale`` (fast to build)."""
    import yaml

    from gam_viewer.models import build_model, configs

    cfg = yaml.safe_load((configs.HERE / f"{name}.yaml").read_text())
    cfg["scales"] = {scale: [0.5, 0.0625, 512]}
    return build_model(cfg, scale=scale)


def test_c3k_is_forced_at_scales_m_l_x_like_ultralytics():
    from gam_viewer.nn.yolo11 import C3k

    def c3k_layers(model):
        return sorted(i for i, m in enumerate(model.model) if any(isinstance(b, C3k) for b in m.modules()))

    assert c3k_layers(_tiny("yolo11", "n")) == [6, 8, 22]  # where the YAML says True
    assert c3k_layers(_tiny("yolo11", "s")) == [6, 8, 22]
    for scale in "mlx":
        model = _tiny("yolo11-gam-head", scale)
        assert c3k_layers(model) == [i.index for i in model.layers if i.type == "C3k2"]


def test_shipped_yolo11_gam_positions():
    rows = lambda name: _tiny(name, "n").layers  # noqa: E731
    back = rows("yolo11-gam-backbone")
    assert back[9].type == "SPPF" and back[10].type == "GAM" and back[11].type == "C2PSA"
    head = rows("yolo11-gam-head")
    assert [head[i - 1].type for i in (17, 21, 25)] == ["C3k2"] * 3
    assert head[-1].source == [17, 21, 25]
    assert [head[i].position for i in (17, 21, 25)] == ["head/P3", "head/P4", "head/P5"]


@pytest.mark.parametrize("head, word", [("Segment, [nc, 32, 256]", "segmentation"), ("Pose, [nc, [17, 3]]", "pose"),
                                        ("OBB, [nc, 1]", "oriented-box"), ("end2end", "end-to-end")])
def test_other_yolo11_tasks_are_refused_with_a_reason(tmp_path, head, word):
    from gam_viewer.models import ModelLoadError, configs

    text = (configs.HERE / "yolo11.yaml").read_text()
    if head == "end2end":
        text = "end2end: True\n" + text
    else:
        text = text.replace("Detect, [nc]", head)
    path = tmp_path / "yolo11n-task.yaml"
    path.write_text(text)
    with pytest.raises(ModelLoadError, match=word) as err:
        read_model(path)
    assert "\n" not in str(err.value)


# ----------------------------------------------------------------------------- live Ultralytics
def _randomise(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0, 0.2, generator=g)
                m.running_mean.normal_(0, 0.2, generator=g)
                m.running_var.uniform_(0.5, 1.5, generator=g)


def test_blocks_equal_ultralytics_modules(ul):
    from ultralytics.nn.modules import block as ub

    from gam_viewer.nn import yolo11 as ours

    torch.manual_seed(0)
    pairs = [
        (ub.C3k2(16, 32, 2, False, 0.25), ours.C3k2(16, 32, 2, False, 0.25)),
        (ub.C3k2(16, 32, 1, True), ours.C3k2(16, 32, 1, True)),
        (ub.C3k2(128, 128, 1, False, 0.5, True), ours.C3k2(128, 128, 1, False, 0.5, True)),  # attn form
        (ub.C2PSA(256, 256, 1), ours.C2PSA(256, 256, 1)),  # two heads
        (ub.C3k(16, 16, 2), ours.C3k(16, 16, 2)),
    ]
    for theirs, mine in pairs:
        _randomise(theirs)
        assert list(theirs.state_dict()) == list(mine.state_dict())
        mine.load_state_dict(theirs.state_dict())
        x = torch.randn(1, theirs.cv1.conv.in_channels, 10, 12)
        with torch.no_grad():
            torch.testing.assert_close(mine.eval()(x), theirs.eval()(x), atol=1e-5, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name, scale", [("yolo11", "n"), ("yolo11-gam-full", "n"), ("yolo11-gam-head", "l")])
def test_ultralytics_build_of_a_shipped_yaml_loads_and_decodes_the_same(ul, tmp_path, name, scale):
    """Ultralytics builds the shipped YAML (at width 1/16; GAM registered), saves it as its
    checkpoint; we read the file and decode like it does."""
    import yaml
    from ultralytics.nn.tasks import DetectionModel

    from gam_viewer.models import configs

    d = yaml.safe_load((configs.HERE / f"{name}.yaml").read_text())
    d["scales"], d["scale"] = {scale: [0.5 if scale == "n" else 1.0, 0.0625, 512]}, scale
    torch.manual_seed(0)
    theirs = DetectionModel(d, nc=5, verbose=False)
    _randomise(theirs)
    theirs.names = {i: f"c{i}" for i in range(5)}
    ckpt = tmp_path / f"{name}.pt"
    torch.save({"model": theirs.half(), "date": "test"}, ckpt)  # the layout Ultralytics' save uses
    det = load_model(ckpt, fuse=False)
    assert det.names == [f"c{i}" for i in range(5)] and det.model.count_params() == sum(
        p.numel() for p in theirs.parameters())
    x = torch.rand(1, 3, 128, 160)
    with torch.no_grad():
        ref = theirs.float().eval()(x)[0]
        y = det.decode(det.forward(x))
    torch.testing.assert_close(y.transpose(1, 2), ref, atol=5e-3, rtol=1e-3)


@pytest.mark.slow
@needs_refs
def test_live_ultralytics_predict_on_the_reference_file(ul):
    """The committed file through the installed Ultralytics now (not only the recorded JSON)."""
    from ultralytics import YOLO

    name = "yolo11-tiny-gam-full" if "yolo11-tiny-gam-full" in REFS else next(iter(REFS))
    det = load_model(DATA / f"{name}.pt")
    yolo = YOLO(str(DATA / f"{name}.pt"))
    args = REFS[name]["args"]
    img = cv2.imread(str(SAMPLES / "synth_03.jpg"))
    for rect in (True, False):
        r = yolo.predict(img, rect=rect, verbose=False, **args)[0]
        ours = det.predict(img, conf=args["conf"], iou=args["iou"], imgsz=args["imgsz"], auto=rect)
        assert_same_detections(ours, r.boxes.xyxy.numpy(), r.boxes.conf.numpy(), r.boxes.cls.numpy(),
                               f"live {name} rect={rect}")


@pytest.mark.slow
def test_train_yolo11n_gam_head_one_epoch_round_trip(ul, tmp_path):
    """``gam-viewer train model=yolo11n-gam-head`` (a real Ultralytics run: 1 epoch, 8 images)
    from a YOLO11n baseline checkpoint; both the Ultralytics best.pt and the .safetensors open."""
    import subprocess

    from ultralytics.nn.tasks import DetectionModel

    from gam_viewer.data.synth import generate_dataset
    from gam_viewer.models import configs

    data = generate_dataset(tmp_path / "synth", n=8, imgsz=96, seed=3, val_fraction=0.25)
    path, scale = configs.find_with_scale("yolo11n")
    torch.manual_seed(0)
    base = DetectionModel(ul.load_model_yaml(str(path), scale), nc=6, verbose=False).half()
    base.names = {i: f"c{i}" for i in range(6)}
    ckpt = tmp_path / "base.pt"
    torch.save({"model": base, "train_args": {"imgsz": 320}}, ckpt)
    out = tmp_path / "gam.safetensors"
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "false", "OMP_NUM_THREADS": "2"}
    env.pop("YOLO_CONFIG_DIR", None)
    cmd = [sys.executable, "-m", "gam_viewer", "train", "model=yolo11n-gam-head", f"data={data}", "epochs=1",
           "imgsz=64", "batch=4", "device=cpu", "plots=False", f"weights={ckpt}", f"project={tmp_path / 'runs'}",
           "name=rt", f"out={out}"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, cwd=tmp_path,
                         check=False)
    assert res.returncode == 0, res.stderr[-3000:] + res.stdout[-2000:]
    n_base = len(base.state_dict())
    assert f"transferred {n_base} of" in res.stdout + res.stderr  # every baseline tensor found its place
    for f in (out, tmp_path / "runs" / "rt" / "weights" / "best.pt"):
        det = load_model(str(f))
        assert [g.index for g in det.gam] == [17, 21, 25]
        assert det.names == ["circle", "square", "triangle", "star", "ring", "cross"]
        r = det.predict(str(SAMPLES / "synth_01.jpg"), conf=0.0001, imgsz=64)
        assert len(r.attention) == 3 and r.boxes.shape[1] == 4
