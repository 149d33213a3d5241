"""The attention view state and the export rules, without Qt: reductions, ranges, captions, file
names, the chart, class colours and box drawing (what the window and ``gam-viewer export`` share)."""

import numpy as np
import pytest
import torch

from gam_viewer.inference.attention import AttentionMap
from gam_viewer.inference.letterbox import Letterbox
from gam_viewer.render import captions as C
from gam_viewer.render.boxes import draw_boxes, visible_boxes
from gam_viewer.render.colormaps import COLORMAPS, DEFAULT_COLORMAP, colormap_lut
from gam_viewer.render.palette import class_bgr, class_rgb, text_rgb
from gam_viewer.render.view_state import AttentionState, cam_view, chart_view, export_chart, export_map, gate_view


def _map(index=23, c=8, h=6, w=10, seed=0):
    rng = np.random.default_rng(seed)
    lb = Letterbox((90, 150), (96, 160), (96, 160), (0, 0), 160 / 150)
    cg = torch.from_numpy(rng.uniform(-2, 3, (c, h, w)).astype(np.float32))
    sg = torch.from_numpy(rng.uniform(0, 1, (c, h, w)).astype(np.float32))
    return AttentionMap(index, "head/P4", 16, cg, sg, lb)


def test_state_checks_its_fields_and_reduces_per_layer():
    with pytest.raises(ValueError, match="gate must be one of"):
        AttentionState(gate="both")
    with pytest.raises(ValueError, match="unknown colormap 'jet'"):
        AttentionState(cmap="jet")
    with pytest.raises(ValueError, match="opacity"):
        AttentionState(opacity=1.5)
    a = _map()
    st = AttentionState()
    assert st.cmap == DEFAULT_COLORMAP and st.reduction("gam", a) == "mean"
    st.reduce = "channel"
    assert st.reduction("gam", a) == 0                       # no channel chosen yet: the first
    st.channels[("gam", 23)] = 99
    assert st.reduction("gam", a) == a.channels - 1          # clamped to the layer
    st.grad_targets["gam"] = ((0, 0, 1, 1), 0, "cat")
    st.forget("gam")
    assert st.channels == {} and st.grad_targets == {}


def test_gate_view_values_range_and_words():
    a = _map()
    st = AttentionState(gate="channel", reduce="max")
    v = gate_view(st, "gam", a, "best.pt", (45, 75))
    np.testing.assert_array_equal(v.values, a.image_map("max", "channel", (45, 75)))
    np.testing.assert_array_equal(v.full(), a.image_map("max", "channel"))
    assert v.vrange == pytest.approx((float(v.values.min()), float(v.values.max())))
    assert v.what == "channel gate, max over channels" and v.label == "channel gate" and v.layer == "23 head/P4 (10x6)"
    assert v.file_name("bus") == "bus_gam-L23-heatmap-channel-max.png"
    st.range_mode, st.fixed = "fixed", (0.0, 1.0)
    v = gate_view(st, "gam", a, "best.pt")
    assert v.vrange == (0.0, 1.0) and v.clipped == (False, True)    # max of a gate reaching 3: above [0, 1]
    st.reduce, st.channels[("gam", 23)] = "channel", 5
    v = gate_view(st, "gam", a, "best.pt")
    assert v.what == "channel gate, channel 5" and v.file_name("bus").endswith("-heatmap-channel-ch5.png")
    with pytest.raises(ValueError, match="no spatial gate"):
        gate_view(AttentionState(), "gam", AttentionMap(9, "x", 16, a.channel_gate, None, a.letterbox), "m")


def test_cam_view_names_its_box():
    class Cam:
        method, box, layer_names = "grad", 1, ["17 C3", "20 C3"]

        def image_map(self, out_hw=None):
            return np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)

    class Det:
        boxes = np.array([[0, 0, 1, 1], [1, 1, 3, 2]], np.float32)
        classes = np.array([0, 5])

        def label(self, i):
            return ["cat", "bus"][i] + " 0.90"

    v = cam_view(AttentionState(), "baseline", Cam(), Det(), "yolov5n.pt")
    assert v.what == "Grad-CAM of bus 0.90" and v.layer == "17 C3, 20 C3" and v.box_classes == [5]
    assert v.file_name("clip_f000012") == "clip_f000012_baseline-gradcam-box1.png"
    Cam.method, Cam.box = "eigen", None
    v = cam_view(AttentionState(), "gam", Cam(), Det(), "m")
    assert v.what == "EigenCAM" and v.boxes is None and v.file_name("a") == "a_gam-eigencam.png"


def test_chart_view_whole_map_and_one_cell():
    a = _map()
    st = AttentionState(chart_reduce="max", chart_sort=True, chart_top_k=3)
    ch = chart_view(st, "gam", a, "best.pt")
    np.testing.assert_array_equal(ch.values, a.channel_vector("max", gate="channel"))
    assert ch.title == "GAM-YOLO layer 23 head/P4 (10x6): channel gate, max over H x W" and ch.marked is None
    ids, vals = ch.bars(st)
    assert list(ids) == list(np.argsort(-ch.values, kind="stable")[:3])
    (png_name, png), (csv_name, csv) = export_chart(st, ch, "bus", "bus.jpg")
    assert (png_name, csv_name) == ("bus_gam-L23-chart-max.png", "bus_gam-L23-chart-max.csv")
    assert png.shape == (520, 1200, 3) and csv.splitlines()[0] == "rank,channel,channel_gate_max"
    assert len(csv.splitlines()) == 4
    st.point, st.reduce = (100.0, 30.0), "channel"
    st.channels[("gam", 23)] = 2
    ch = chart_view(st, "gam", a, "best.pt")
    col, row = a.cell_at(100.0, 30.0)
    np.testing.assert_array_equal(ch.values, a.channel_vector(at=(100.0, 30.0)))
    assert ch.cell == pytest.approx(a.cell_rect(col, row)) and ch.marked == 2 and f"cell ({col}, {row})" in ch.where
    assert export_chart(st, ch, "bus", "f")[0][0] == "bus_gam-L23-chart-cell.png"


def test_export_map_figure_and_caption(monkeypatch):
    from gam_viewer.render import figures as F

    seen = {}
    monkeypatch.setattr(F, "heatmap_figure", lambda image, values, **kw: seen.update(kw) or np.zeros((2, 2, 3)))
    a = _map()
    st = AttentionState(cmap="cividis", opacity=0.7)
    name, _ = export_map(st, gate_view(st, "gam", a, "best.pt"), np.zeros((90, 150, 3), np.uint8), "bus",
                         C.frame_caption("bus.jpg", 0, 1))
    assert name == "bus_gam-L23-heatmap-spatial-mean.png"
    assert seen["caption"] == "model: best.pt | layer: 23 head/P4 (10x6) | spatial gate, mean over channels | frame: bus.jpg"
    assert seen["cmap"] == "cividis" and seen["alpha"] == 0.7 and seen["label"] == "spatial gate"


def test_frame_stems_and_captions():
    assert C.frame_stem("/x/bus.jpg") == "bus"
    assert C.frame_stem("/x/my clip.mp4", 120, moving=True) == "my_clip_f000120"
    assert C.frame_stem("/x/a.JPG", siblings=["/x/a.JPG", "/x/a.png", "/x/b.png"]) == "a_jpg"
    assert C.frame_stem("/x/b.png", siblings=["/x/a.JPG", "/x/a.png", "/x/b.png"]) == "b"
    assert C.frame_caption("bus.jpg", 0, 1) == "bus.jpg" and C.frame_caption("clip.mp4", 12, 50) == "clip.mp4 #12"
    assert C.model_label("/w/runs/best.pt") == "best.pt" and C.model_label("yolov5n") == "yolov5n"


def test_one_palette_one_box_style():
    assert len({class_rgb(i) for i in range(12)}) == 12 and class_rgb(3) == class_rgb(3)
    assert class_bgr(4) == class_rgb(4)[::-1]
    assert text_rgb((255, 255, 0)) == (0, 0, 0) and text_rgb((20, 20, 120)) == (255, 255, 255)
    keep, labels = visible_boxes(["cat", "dog"], [0, 1, 7], [0.9, 0.5, 0.4], hidden=["dog"])
    assert keep == [0, 2] and labels == ["cat 0.90", "7 0.40"]
    assert visible_boxes(["cat"], [0], [0.9], show_labels=False) == ([0], None)
    img = np.zeros((60, 80, 3), np.uint8)
    rgb = draw_boxes(img, [[10, 20, 50, 40]], classes=[3], line_width=2, channel_order="rgb")
    bgr = draw_boxes(img, [[10, 20, 50, 40]], classes=[3], line_width=2, channel_order="bgr")
    assert tuple(rgb[30, 10]) == class_rgb(3) and tuple(bgr[30, 10]) == class_bgr(3)
    assert (img == 0).all()                                       # drawn on a copy


def test_one_colour_table_for_every_map():
    assert COLORMAPS[0] == DEFAULT_COLORMAP
    for name in COLORMAPS:
        lut = colormap_lut(name)
        assert lut.shape == (256, 3) and lut.dtype == np.uint8 and not lut.flags.writeable
