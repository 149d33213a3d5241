"""Figures: colormaps, value ranges, overlays, heatmap alignment through the letterbox, charts, atomic files."""

import csv
import io
import os

import cv2
import numpy as np
import pytest
import torch

from gam_viewer import load_model
from gam_viewer.render import figures as F
from gam_viewer.render.boxes import draw_boxes
from gam_viewer.render.captions import caption_text
from gam_viewer.render.colormaps import COLORMAPS, colormap_lut
from gam_viewer.inference.attention import AttentionMap
from gam_viewer.inference.letterbox import letterbox
from tiny_models import tiny_gam_yaml

# --------------------------------------------------------------------------- a model whose gate is known
# Layer 0 averages each 16 x 16 patch of the input into every channel (a patchify conv);
# the GAM block's channel gate is ~1 everywhere and its spatial gate is
# sigmoid(60 * silu(patch brightness) - 20): ~1 on white patches, < 0.03 on black or
# grey (padding) ones. So the gate is high exactly on the input cells covered by a white rectangle.
TINY_YAML = tiny_gam_yaml(nc=1)
CELL = 16


@pytest.fixture(scope="module")
def bright_gate_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "bright-gate.yaml"
    path.write_text(TINY_YAML)
    det = load_model(path)  # fused: BatchNorms are folded, convs have biases
    m = det.model.model
    with torch.no_grad():
        conv = m[0].conv
        conv.weight.fill_(1.0 / (3 * CELL * CELL))
        conv.bias.zero_()
        gam = m[1]
        ca, sa = gam.channel_attention, gam.spatial_attention
        ca.fc1.weight.zero_(), ca.fc1.bias.zero_()
        ca.fc2.weight.zero_(), ca.fc2.bias.fill_(10.0)          # channel gate sigmoid(10) ~ 1
        sa.conv1.weight.zero_(), sa.conv1.bias.zero_()
        sa.conv1.weight[:, 0, 3, 3] = 1.0                     # hidden = relu(channel 0), no spatial mixing
        sa.conv2.weight.zero_(), sa.conv2.bias.fill_(-20.0)
        sa.conv2.weight[:, 0, 3, 3] = 60.0
    assert det.stride == CELL and det.model.layers[1].stride == CELL
    return det


def _bright_rect_image(hw, imgsz, auto, frac):
    """A black image with a white rectangle whose edges fall on the layer's cell borders.

    ``frac`` = (x0, y0, x1, y1): roughly where the rectangle goes, as fractions of the
    image; it is snapped to whole input cells inside the image content. Returns the image,
    the rectangle (x1, y1, x2, y2) in original pixels (floats) and the letterbox."""
    h, w = hw
    _, lb = letterbox(np.zeros((h, w, 3), np.uint8), imgsz, CELL, auto)

    def cells(f0, f1, axis):
        pad, size = lb.pad[axis], lb.resized_hw[1 - axis]
        first, last = -(-pad // CELL), (pad + size) // CELL          # whole cells inside the content
        c0 = first + int(round(f0 * (last - first)))
        c1 = max(first + int(round(f1 * (last - first))), c0 + 2)
        assert first <= c0 < c1 <= last
        return c0, c1

    c0, c1 = cells(frac[0], frac[2], 0)
    r0, r1 = cells(frac[1], frac[3], 1)
    x1, y1 = lb.input_to_orig(c0 * CELL, r0 * CELL)
    x2, y2 = lb.input_to_orig(c1 * CELL, r1 * CELL)
    img = np.zeros((h, w, 3), np.uint8)
    img[int(round(y1)):int(round(y2)), int(round(x1)):int(round(x2))] = 255
    return img, (x1, y1, x2, y2), lb


ALIGN_CASES = [
    # (orig H, W), imgsz, where the rectangle goes (fractions x0, y0, x1, y1)
    ((100, 160), 320, (0.3, 0.25, 0.65, 0.7)),     # landscape, gain 2
    ((240, 150), 320, (0.2, 0.4, 0.6, 0.9)),       # portrait, gain 4/3
    ((123, 301), 256, (0.55, 0.1, 0.9, 0.5)),      # odd sizes, non-integer gain
]


@pytest.mark.parametrize("auto", [True, False], ids=["auto", "square"])
@pytest.mark.parametrize("hw,imgsz,frac", ALIGN_CASES, ids=["landscape", "portrait", "odd"])
def test_heatmap_hot_region_lands_on_the_bright_rectangle(bright_gate_model, hw, imgsz, frac, auto):
    img, (x1, y1, x2, y2), lb_expected = _bright_rect_image(hw, imgsz, auto, frac)
    res = bright_gate_model.predict(img, imgsz=imgsz, auto=auto, conf=0.99)
    lb = res.letterbox
    assert lb == lb_expected
    assert lb.pad != (0, 0), "the case must exercise the letterbox padding"
    a = res.attention[0]
    values = a.image_map("mean")
    assert values.shape == hw
    lo, hi = F.value_range(values)
    assert hi > 0.99 and lo < 0.03, (lo, hi)   # the gate really is hot on the rectangle and cold elsewhere
    hot = values > (lo + hi) / 2

    yy, xx = np.mgrid[0:hw[0], 0:hw[1]] + 0.5          # pixel centres
    m = 1.5                                             # pixels of tolerance at the edges
    # bilinear resampling between cell centres crosses the midpoint exactly on the cell
    # border, so every edge of the hot region must sit on the rectangle's edge (+-m);
    # the corners are rounded (two ramps multiply), so edges are checked away from them
    rx, ry = CELL / 2 / lb.scale_xy[0] + 1, CELL / 2 / lb.scale_xy[1] + 1   # half a cell + 1 px
    band_x = (xx > x1 + rx) & (xx < x2 - rx)
    band_y = (yy > y1 + ry) & (yy < y2 - ry)
    inside = (xx > x1 + m) & (xx < x2 - m) & (yy > y1 + m) & (yy < y2 - m)
    outside = (xx < x1 - m) | (xx > x2 + m) | (yy < y1 - m) | (yy > y2 + m)
    assert band_x.any() and band_y.any()
    assert hot[inside & band_y].all(), "the left or right edge of the hot region is not on the rectangle"
    assert hot[inside & band_x].all(), "the top or bottom edge of the hot region is not on the rectangle"
    assert not hot[outside].any(), "the hot region spills outside the bright rectangle"

    # the overlay puts the top colour there (away from the half-cell ramps at the edges),
    # and the exported figure shows that overlay 1:1
    ov = F.overlay(img, values, "inferno", (lo, hi), alpha=1.0)
    top = colormap_lut("inferno")[-1][::-1].astype(int)   # BGR
    near_top = np.abs(ov.astype(int) - top).sum(-1) < 60
    core = band_x & band_y
    assert core.sum() > 20 and near_top[core].all() and not near_top[outside].any()
    fig = F.heatmap_figure(img, values, cmap="inferno", vrange=(lo, hi), alpha=1.0, caption="alignment")
    lay = F.heatmap_layout(*hw)
    k = lay["margin"]
    area = fig[k:k + hw[0], k:k + hw[1]]
    assert np.abs(area.astype(int) - ov[:, :, ::-1].astype(int)).max() <= 2


def test_cell_at_and_cell_rect_agree_with_the_gate(bright_gate_model):
    """Clicking a pixel picks the cell whose gate value is shown there."""
    img, (x1, y1, x2, y2), _ = _bright_rect_image((240, 150), 320, False, (0.2, 0.4, 0.6, 0.9))
    a = bright_gate_model.predict(img, imgsz=320, auto=False).attention[0]
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    col, row = a.cell_at(cx, cy)
    rx1, ry1, rx2, ry2 = a.cell_rect(col, row)
    assert rx1 <= cx < rx2 and ry1 <= cy < ry2
    assert a.spatial_map("mean")[row, col] > 0.8
    assert float(a.channel_vector(at=(cx, cy), gate="spatial").mean()) > 0.8
    assert float(a.channel_vector(at=(2, 2), gate="spatial").mean()) < 0.05


# --------------------------------------------------------------------------- colours and ranges
@pytest.mark.parametrize("name", COLORMAPS)
def test_colormap_lut_matches_matplotlib(name):
    from matplotlib import colormaps

    lut = colormap_lut(name)
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    ref = colormaps[name]([0.0, 0.5, 1.0])[:, :3] * 255
    assert np.abs(lut[[0, 128, 255]].astype(float) - ref).max() <= 2
    lutf = colormap_lut(name, np.float32)
    assert lutf.dtype == np.float32 and 0 <= lutf.min() and lutf.max() <= 1
    assert np.abs(lutf * 255 - lut).max() <= 0.5
    assert not lut.flags.writeable


def test_unknown_colormap_is_refused():
    with pytest.raises(ValueError, match="jet"):
        colormap_lut("jet")


def test_value_range_keeps_unbounded_gate_values():
    v = np.array([[-3.5, 0.2], [7.25, 1.0]], np.float32)   # community channel gates are signed
    assert F.value_range(v) == (-3.5, 7.25)
    assert F.value_range(np.array([[np.nan, 2.0], [5.0, np.inf]])) == (2.0, 5.0)
    lo, hi = F.value_range(np.full((4, 4), 0.5))
    assert lo < 0.5 < hi and hi - lo < 0.01
    assert F.value_range(v, "fixed", (0, 1)) == (0.0, 1.0)
    assert F.out_of_range(v, (0.0, 1.0)) == (True, True)
    with pytest.raises(ValueError):
        F.value_range(v, "fixed", (1, 0))
    with pytest.raises(ValueError):
        F.value_range(v, "fixed")
    with pytest.raises(ValueError):
        F.value_range(np.full((2, 2), np.nan))


def test_apply_colormap_and_overlay():
    v = np.array([[0.0, 1.0], [2.0, 4.0]], np.float32)
    lut = colormap_lut("viridis")
    rgb = F.apply_colormap(v, "viridis", (0.0, 4.0))
    assert (rgb[0, 0] == lut[0]).all() and (rgb[1, 1] == lut[255]).all()
    assert (rgb[1, 0] == lut[128]).all()
    bgr = F.apply_colormap(v, "viridis", (0.0, 4.0), channel_order="bgr")
    assert (bgr == rgb[:, :, ::-1]).all()
    # a fixed range colours values outside it with the end colours (and says so elsewhere)
    assert (F.apply_colormap(v, "viridis", (1.0, 2.0))[1, 1] == lut[255]).all()
    img = np.full((2, 2, 3), 100, np.uint8)
    assert (F.overlay(img, v, alpha=0.0) == img).all()
    assert (F.overlay(img, v, "viridis", (0.0, 4.0), alpha=1.0) == bgr).all()
    with pytest.raises(ValueError, match="does not match"):
        F.overlay(np.zeros((3, 2, 3), np.uint8), v)
    with pytest.raises(ValueError, match="opacity"):
        F.overlay(img, v, alpha=1.5)


def test_channel_bars_sort_and_top_k():
    v = np.array([0.3, -1.0, 2.0, 0.5, 1.5], np.float32)
    ids, vals = F.channel_bars(v)
    assert ids.tolist() == [0, 1, 2, 3, 4] and np.array_equal(vals, v)
    ids, vals = F.channel_bars(v, sort=True)
    assert ids.tolist() == [2, 4, 3, 0, 1] and np.array_equal(vals, v[ids])
    ids, _ = F.channel_bars(v, sort=True, top_k=2)
    assert ids.tolist() == [2, 4]
    ids, _ = F.channel_bars(v, sort=False, top_k=3)
    assert ids.tolist() == [2, 3, 4]
    with pytest.raises(ValueError):
        F.channel_bars(v, top_k=0)


# --------------------------------------------------------------------------- rendered figures
def _gate_map(rng, c=16, h=6, w=10, lo=-2.0, hi=3.0):
    from gam_viewer.inference.letterbox import Letterbox

    lb = Letterbox((90, 150), (96, 160), (96, 160), (0, 0), 160 / 150)
    cg = torch.from_numpy(rng.uniform(lo, hi, (c, h, w)).astype(np.float32))
    sg = torch.from_numpy(rng.uniform(0, 1, (c, h, w)).astype(np.float32))
    return AttentionMap(7, "head/P4", 16, cg, sg, lb)


def test_heatmap_figure_has_colour_bar_with_real_values_and_caption():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (90, 150, 3), dtype=np.uint8)
    a = _gate_map(rng)
    values = a.image_map("mean", gate="channel") * 3 - 1     # a signed map, beyond [0, 1]
    lo, hi = F.value_range(values)
    assert lo < 0 < 1 < hi
    fig = F.heatmap_figure(img, values, cmap="magma", caption="model: m | layer: 7")
    lay = F.heatmap_layout(90, 150)
    assert fig.dtype == np.uint8 and fig.shape[1] == lay["width"] and fig.shape[0] > 90 + 2 * lay["margin"]
    # the colour bar: a column right of the image running from the top colour to the bottom one
    bar_x = lay["margin"] + 150 + lay["gap"] + lay["bar"] // 2
    k = lay["margin"]
    column = fig[k + 3:k + 87, bar_x].astype(int)
    lut = colormap_lut("magma").astype(int)
    index = np.abs(column[:, None, :] - lut[None]).sum(-1).argmin(1)    # nearest colormap entry per pixel
    assert index[0] > 235 and index[-1] < 20 and (np.diff(index) <= 0).all()
    # caption and tick labels: dark text pixels below the image and right of the bar
    assert (fig[k + 90 + 4:, :, :].min(-1) < 80).sum() > 100
    assert (fig[k:k + 90, bar_x + lay["bar"]:, :].min(-1) < 80).sum() > 50
    assert float(fig.std()) > 20


def test_fixed_range_marks_clipped_values():
    img = np.zeros((60, 80, 3), np.uint8)
    values = np.linspace(-1, 2, 60 * 80, dtype=np.float32).reshape(60, 80)
    assert "values below and above it" in caption_text(vrange=(0, 1), range_mode="fixed",
                                                          clipped=F.out_of_range(values, (0, 1)))
    a = F.heatmap_figure(img, values, vrange=(0.0, 1.0), range_mode="fixed")
    b = F.heatmap_figure(img, np.clip(values, 0, 1), vrange=(0.0, 1.0), range_mode="fixed")
    assert a.shape[1] == b.shape[1] and not np.array_equal(a[: min(len(a), len(b))], b[: min(len(a), len(b))])


def test_channel_chart_and_csv_match_the_engine_reduction():
    rng = np.random.default_rng(1)
    a = _gate_map(rng, c=24)
    for reduce in ("mean", "max"):
        vec = a.channel_vector(reduce)
        expect = a.channel_gate.mean((1, 2)) if reduce == "mean" else a.channel_gate.amax((1, 2))
        assert np.allclose(vec, expect.numpy())
        ids, vals = F.channel_bars(vec, sort=True, top_k=10)
        rows = list(csv.DictReader(io.StringIO(F.channel_csv(ids, vals, reduce))))
        assert [int(r["channel"]) for r in rows] == ids.tolist()
        assert np.allclose([float(r[reduce]) for r in rows], vec[ids], rtol=0, atol=0)
        assert [int(r["rank"]) for r in rows] == list(range(10))
        chart = F.channel_chart_figure(vec, sort=True, top_k=10, title=f"{reduce}", caption="c", size=(800, 400))
        assert chart.shape == (400, 800, 3) and float(chart.std()) > 10
        # bars are drawn in the bar colour
        assert (np.abs(chart.astype(int) - [0x34, 0x65, 0xa4]).sum(-1) < 20).sum() > 2000


def test_composite_figure_has_every_panel():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 255, (90, 150, 3), dtype=np.uint8)
    a = _gate_map(rng)
    panels = [F.HeatPanel("layer 7", a.image_map("mean")), F.HeatPanel("ch", a.image_map(3), (0.0, 1.0))]
    boxes = draw_boxes(img, np.array([[10, 10, 60, 50]]), ["cat 0.9"], [3])
    assert (boxes != img).any() and (boxes[30, 30] == img[30, 30]).all()
    one = F.composite_figure([F.ImagePanel("boxes", boxes)], panels[:1], img, panel_width=200)
    two = F.composite_figure([F.ImagePanel("boxes", boxes)], panels, img, panel_width=200, caption="x")
    assert two.shape[1] > one.shape[1] and float(two.std()) > 20
    with pytest.raises(ValueError):
        F.composite_figure([], [], img)


# --------------------------------------------------------------------------- files
def test_atomic_writes_never_overwrite_silently(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[1, 2] = (255, 0, 0)
    p = F.save_png(rgb, tmp_path / "a.png")
    back = cv2.imread(str(p))
    assert back.shape == (4, 5, 3) and tuple(back[1, 2]) == (0, 0, 255)   # RGB in, BGR on disk
    before = p.read_bytes()
    with pytest.raises(FileExistsError, match="a.png"):
        F.save_png(np.ones((4, 5, 3), np.uint8), p)
    assert p.read_bytes() == before
    F.save_png(np.ones((4, 5, 3), np.uint8), p, overwrite=True)
    assert p.read_bytes() != before
    assert F.free_path(p).name == "a-1.png"
    F.save_text("x", tmp_path / "a-1.png")
    assert F.free_path(p).name == "a-2.png"
    assert F.free_path(tmp_path / "new.png").name == "new.png"
    assert sorted(os.listdir(tmp_path)) == ["a-1.png", "a.png"]   # no temp files left behind
    with pytest.raises(FileNotFoundError):
        F.save_text("x", tmp_path / "missing" / "b.txt")


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        F.save_text("data", tmp_path / "c.csv")
    assert os.listdir(tmp_path) == []
