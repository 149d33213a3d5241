"""YAML -> model builder, shipped YAMLs, GAM rows in every convention, layer insertion."""

import copy

import pytest
import torch
import yaml

from gam_viewer.models import ModelLoadError, build_model, read_model
from gam_viewer.models import configs
from gam_viewer.models.insert import insert_after, remap_state_dict
from gam_viewer.nn import GAM

# Parameter counts of the shipped YAMLs. The baselines equal the published numbers:
# yolov5n 1,872,157 (official v7.0 checkpoint, ../shared/reference meta), yolov5nu
# 2,654,816 and yolov8n 3,157,200 (Ultralytics' own summaries).
PINNED = {
    "yolov5n": (1872157, []),
    "yolov5n-gam-backbone": (3511837, [9]),
    "yolov5n-gam-head": (4024797, [18, 22, 26]),
    "yolov5n-gam-full": (5664477, [9, 19, 23, 27]),
    "yolov5s": (7235389, []),
    "yolov5s-gam-backbone": (13791549, [9]),
    "yolov5s-gam-head": (15841469, [18, 22, 26]),
    "yolov5s-gam-full": (22397629, [9, 19, 23, 27]),
    "yolov5nu": (2654816, []),
    "yolov5nu-gam-backbone": (4294496, [9]),
    "yolov5nu-gam-head": (4807456, [18, 22, 26]),
    "yolov5nu-gam-full": (6447136, [9, 19, 23, 27]),
    "yolov8n": (3157200, []),
    "yolov8n-gam-backbone": (4796880, [9]),
    "yolov8n-gam-head": (5309840, [16, 20, 24]),
    "yolov8n-gam-full": (6949520, [9, 17, 21, 25]),
    # --- YOLO11 (yolo11n 2,624,080 and yolo11s 9,458,752: Ultralytics' own summaries; the GAM
    # forms equal Ultralytics' DetectionModel built from the same YAML with GAM registered) ---
    "yolo11n": (2624080, []),
    "yolo11n-gam-backbone": (4263760, [10]),
    "yolo11n-gam-head": (4776720, [17, 21, 25]),
    "yolo11n-gam-full": (6416400, [10, 18, 22, 26]),
    "yolo11s": (9458752, []),
    "yolo11s-gam-backbone": (16014912, [10]),
    "yolo11s-gam-head": (18064832, [17, 21, 25]),
    "yolo11s-gam-full": (24620992, [10, 18, 22, 26]),
    # --- end YOLO11 ---
}


def load_cfg(name):
    return yaml.safe_load((configs.HERE / f"{name}.yaml").read_text())


@pytest.mark.parametrize("name", sorted(PINNED))
def test_shipped_yaml_builds_with_pinned_params_and_gam_where_the_yaml_puts_it(name):
    loaded = read_model(name)
    model = loaded.model
    params, gam_idx = PINNED[name]
    assert model.count_params() == params
    rows = model.yaml["backbone"] + model.yaml["head"]
    yaml_gam = [i for i, r in enumerate(rows) if r[2] in ("GAM", "GAM_Attention", "GAMAttention")]
    assert [l.index for l in model.gam_layers()] == yaml_gam == gam_idx
    assert [r.index for r in loaded.gam] == gam_idx
    assert all(isinstance(model.model[i], GAM) for i in gam_idx)
    assert model.stride.tolist() == [8.0, 16.0, 32.0]


def test_every_shipped_yaml_is_pinned():
    stems = {p.stem for p in configs.HERE.glob("*.yaml")}
    pinned_stems = {n.replace("yolov8n", "yolov8").replace("yolov5nu", "yolov5u").replace("yolo11n", "yolo11")
                    for n in PINNED if not n.startswith("yolo11s")}
    assert stems == pinned_stems


def test_gam_positions_are_named_by_section_and_stride():
    model = read_model("yolov5n-gam-full").model
    assert [l.position for l in model.gam_layers()] == ["backbone/P5", "head/P3", "head/P4", "head/P5"]
    assert [l.stride for l in model.gam_layers()] == [32, 8, 16, 32]


def test_gam_sits_exactly_before_sppf_and_feeds_detect():
    cfg = read_model("yolov5n-gam-full").model.yaml
    rows = cfg["backbone"] + cfg["head"]
    assert rows[9][2] == "GAM" and rows[10][2] == "SPPF"
    assert rows[-1][0] == [19, 23, 27] and all(rows[i][2] == "GAM" for i in (19, 23, 27))
    assert all(rows[i - 1][2] == "C3" for i in (19, 23, 27))


def test_ultralytics_scale_from_name():
    n = read_model("yolov8n").model
    s = read_model("yolov8s").model
    assert n.scale == "n" and s.scale == "s"
    assert s.count_params() == 11166560  # Ultralytics' published YOLOv8s summary


@pytest.mark.parametrize("row_args,expect", [
    ([], {"groups": 1, "rate": 4}),
    ([1024], {"groups": 1, "rate": 4}),
    ([1024, 1024], {"groups": 1, "rate": 4}),
    ([512, 512, True, 4], {"groups": 4, "rate": 4}),
    ([512, 512, False, 8], {"groups": 1, "rate": 8}),
    ([64, 64, True, 2], {"groups": 2, "rate": 2}),
])
@pytest.mark.parametrize("name", ["GAM", "GAM_Attention", "GAMAttention"])
def test_gam_row_conventions_take_channels_from_the_graph(row_args, expect, name):
    cfg, _ = insert_after(load_cfg("yolov5n"), [8], row_args=row_args, module=name)
    model = build_model(cfg)
    block = model.model[9]
    assert isinstance(block, GAM)
    assert block.c1 == 256  # 1024 * width 0.25, whatever the literal says
    assert block.groups == expect["groups"] and block.rate == expect["rate"]
    assert block.variant == ("paper" if name == "GAM" else "community")


def test_gam_channels_follow_width_at_two_scales():
    for name, c in (("yolov8n-gam-backbone", 256), ("yolov8s-gam-backbone", 512)):
        assert read_model(name).model.model[9].c1 == c


def test_insert_after_remaps_from_indices_and_weights():
    base = load_cfg("yolov5n")
    cfg, index_map = insert_after(base, [8, 17])
    rows = cfg["backbone"] + cfg["head"]
    assert len(rows) == len(base["backbone"] + base["head"]) + 2
    assert index_map[8] == 8 and index_map[9] == 10 and index_map[17] == 18 and index_map[24] == 26
    # Concat with backbone P4 (6) is unchanged; with head 14 moves to 15; Detect reads the GAM after 17
    assert rows[13][0] == [-1, 6] and rows[21][0] == [-1, 15]
    assert rows[-1][0] == [19, 22, 25]
    sd = {"model.9.cv1.conv.weight": 1, "model.24.m.0.bias": 2, "other": 3}
    assert remap_state_dict(sd, index_map) == {"model.10.cv1.conv.weight": 1, "model.26.m.0.bias": 2, "other": 3}
    with pytest.raises(ValueError, match="cannot insert after layer 24"):
        insert_after(base, [24])


def test_insertion_keeps_baseline_weights_loadable():
    base_model = read_model("yolov5n").model
    cfg, index_map = insert_after(base_model.yaml, [8, 17, 20, 23])
    gam_model = build_model(cfg)
    moved = remap_state_dict(base_model.state_dict(), index_map)
    result = gam_model.load_state_dict(moved, strict=False)
    assert result.unexpected_keys == []
    assert all(".channel_attention." in k or ".spatial_attention." in k for k in result.missing_keys)


def test_unsupported_layer_names_type_and_index():
    cfg = load_cfg("yolov5n")
    cfg["backbone"][8] = [-1, 3, "C3TR", [1024]]
    with pytest.raises(ModelLoadError, match=r"unsupported layer type 'C3TR' at index 8"):
        build_model(cfg)


def test_segmentation_and_pose_heads_are_named():
    cfg = load_cfg("yolov8")
    cfg["head"][-1] = [[15, 18, 21], 1, "Segment", ["nc", 32, 256]]
    with pytest.raises(ModelLoadError, match="segmentation model"):
        build_model(cfg, scale="n")
    cfg["head"][-1] = [[15, 18, 21], 1, "Pose", ["nc", [17, 3]]]
    with pytest.raises(ModelLoadError, match="pose model"):
        build_model(cfg, scale="n")


@pytest.mark.parametrize("mutate,needle", [
    (lambda c: c.pop("backbone"), "no 'backbone'"),
    (lambda c: c.__setitem__("nc", 0), "'nc' must be a positive integer"),
    (lambda c: c["head"].__setitem__(2, [[-1, 40], 1, "Concat", [1]]), "layer 12 \\(Concat\\): invalid 'from' index"),
    (lambda c: c["backbone"].__setitem__(0, [-1, 1, "Conv"]), "layer 0: a row must be"),
    (lambda c: c["backbone"].__setitem__(1, [-1, 1, "Conv", ["wide"]]), "layer 1 \\(Conv\\): first argument"),
])
def test_bad_configs_name_the_problem(mutate, needle):
    cfg = copy.deepcopy(load_cfg("yolov5n"))
    mutate(cfg)
    with pytest.raises(ModelLoadError, match=needle):
        build_model(cfg)


def test_yaml_strings_are_never_evaluated(tmp_path):
    cfg = load_cfg("yolov5n")
    marker = tmp_path / "pwned"
    cfg["head"][1] = [-1, 1, "nn.Upsample", [f"__import__('pathlib').Path('{marker}').touch()", 2, "nearest"]]
    with pytest.raises(ModelLoadError):
        build_model(cfg)
    assert not marker.exists()


def test_batchnorm_defaults_follow_yolo_initialisation():
    model = read_model("yolov5n-gam-backbone").model
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(m.eps == 1e-3 and m.momentum == 0.03 for m in bns)


def test_forward_shapes_and_fuse_equivalence():
    model = read_model("yolov5nu-gam-full").model.eval()
    x = torch.rand(1, 3, 160, 224)
    with torch.no_grad():
        raw = model(x)
        assert [tuple(r.shape[2:]) for r in raw] == [(20, 28), (10, 14), (5, 7)]
        model.fuse()
        fused = model(x)
    for a, b in zip(raw, fused):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)


def test_conv_inference_activation_in_place_matches_and_training_still_differentiates():
    """Conv overwrites its output in place only when no gradient is wanted: same values as
    the ordinary path, and backward still works (Grad-CAM and training need it)."""
    from gam_viewer.nn.blocks import Conv

    torch.manual_seed(0)
    conv = Conv(3, 8, 3, 1).eval()
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    y = conv(x)
    with torch.inference_mode():
        y_inf = conv(x.detach())
    with torch.no_grad():
        y_nograd = conv(x.detach())
    torch.testing.assert_close(y_inf, y.detach())
    torch.testing.assert_close(y_nograd, y.detach())
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


# --------------------------------------------------------------------------- checkpoint builds
def _reference_build(loaded):
    """The same architecture built the plain way (initialised, probed for real) with the
    loaded tensors copied in: what a checkpoint read gave before meta builds."""
    m = loaded.model
    ref = build_model(m.yaml, ch=3, scale=m.scale, family=m.family)
    for a, b in zip(ref.modules(), m.modules()):   # activations / BN settings as loaded
        if isinstance(b, torch.nn.BatchNorm2d):
            a.eps, a.momentum = b.eps, b.momentum
        if hasattr(b, "act") and hasattr(a, "act"):
            a.act = copy.deepcopy(b.act)
    ref.load_state_dict(m.state_dict())
    return ref.eval()


@pytest.mark.parametrize("make", ["native-yolov5-gam", "ultralytics-yolo11"])
def test_checkpoint_reads_build_shape_only_then_take_the_tensors(make, tmp_path):
    """A checkpoint's model is built on the meta device (nothing initialised), takes the
    checkpoint's tensors and is probed for strides on them: nothing stays on meta, the strides
    are the real ones and the outputs equal a plainly built model with the same tensors."""
    from pathlib import Path

    from gam_viewer.models.native import save_native

    if make == "native-yolov5-gam":
        src = read_model("yolov5n-gam-full")
        path = tmp_path / "m.safetensors"
        save_native(src, path)
    else:
        path = Path(__file__).parent / "data" / "yolo11-tiny-gam-full.pt"
    loaded = read_model(path)
    model = loaded.model
    assert not any(t.is_meta for t in list(model.parameters()) + list(model.buffers()))
    assert not model.is_meta
    strides = model.stride.tolist()
    assert strides == sorted(strides) and strides[0] >= 8 and model.head.stride.tolist() == strides
    assert [info.stride for info in model.layers[:2]] == [2, 4]
    ref = _reference_build(loaded)
    assert ref.stride.tolist() == strides
    assert [i.stride for i in ref.layers] == [i.stride for i in model.layers]
    x = torch.rand(1, 3, 160, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for a, b in zip(model.eval()(x), ref(x)):
            torch.testing.assert_close(a, b)
