"""The attention views in the window (pytest-qt, offscreen): thumbnails, overlay, chart, range, CAM.

Gate tests use the fake GAM detector of conftest (seeded gates, signed and outside [0, 1],
real letterbox); the CAM tests use real shipped models with random weights at a small size.
"""

import threading

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402

from gam_viewer.render import figures as F  # noqa: E402
from gam_viewer.render.colormaps import colormap_lut  # noqa: E402
from gam_viewer.ui.overlay import box_at, overlay_hw  # noqa: E402

GAM_LAYERS = ((9, "backbone/P5", 32, 24), (19, "head/P3", 8, 16), (23, "head/P4", 16, 20))
CAT = (10, 10, 60, 50, 0.9, 0)
DOG = (20, 5, 70, 40, 0.6, 1)


def write_image(path, hw=(90, 140), value=120):
    img = np.full((hw[0], hw[1], 3), value, np.uint8)
    img[20:50, 30:90] = (0, 0, 255)
    cv2.imwrite(str(path), img)
    return path


def open_with_fakes(qtbot, make_window, fake_detector, tmp_path, hw=(90, 140), square=False, left_gam=True,
                    right=None, imgsz=64):
    from gam_viewer.ui.model_spec import InferenceParams

    win = make_window()
    win.resize(1500, 900)
    win.controls.set_inference_params(InferenceParams(imgsz=imgsz))
    left = fake_detector(boxes=[CAT, DOG], source="gam-fake.pt",
                         gam_layers=GAM_LAYERS if left_gam else (), square=square)
    win.set_detector("gam", left)
    win.set_detector("baseline", right or fake_detector(boxes=[DOG], source="base-fake.pt"))
    qtbot.waitUntil(lambda: not win.pipeline.loading, timeout=5000)
    win.open_paths([str(write_image(tmp_path / "pic.png", hw))])
    wait_idle(qtbot, win)
    return win


def wait_idle(qtbot, win, cams=()):
    def ready():
        r = win.current_result
        return (r is not None and not win.pipeline.busy and not win.pipeline.loading
                and all(p.frame_index == r.frame.index for p in win.panes.values())
                and all(s in r.cams or s in r.cam_errors for s in cams))
    qtbot.waitUntil(ready, timeout=60000)
    return win.current_result


def click_image(qtbot, pane, x, y):
    qtbot.waitUntil(lambda: pane.vb.viewRect().width() > 0, timeout=2000)
    pt = pane.view.mapFromScene(pane.vb.mapViewToScene(QPointF(x, y)))
    qtbot.mouseClick(pane.view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(pt.x(), pt.y()))


def overlay_extent(pane):
    rect = pane.overlay_item.mapRectToParent(pane.overlay_item.boundingRect())
    return rect.x(), rect.y(), rect.width(), rect.height()


# ----------------------------------------------------------------------------- thumbnails and overlay
@pytest.mark.parametrize("hw,square", [((90, 140), False), ((150, 70), True), ((150, 70), False)],
                         ids=["wide-minimal-pad", "tall-square-pad", "tall-minimal-pad"])
def test_thumbnails_per_layer_and_a_click_overlays_that_layers_image_map(qtbot, make_window, fake_detector,
                                                                         tmp_path, hw, square):
    win = open_with_fakes(qtbot, make_window, fake_detector, tmp_path, hw, square)
    panel, r = win.attention, win.current_result
    maps = r.gam.attention
    in_h, in_w = r.gam.letterbox.input_hw
    assert [a.name for a in maps] == [f"{pos} ({in_w // s}x{in_h // s})" for _, pos, s, _ in GAM_LAYERS]
    assert panel.thumbs["gam"].names == [a.name for a in maps]
    assert not panel.thumbs["gam"].buttons[19].icon().isNull()
    assert panel.thumbs["baseline"].names == [] and "no GAM layers" in panel.thumbs["baseline"].note.text()
    pane = win.panes["gam"]
    assert not pane.overlay_item.isVisible()           # nothing overlaid before a click

    qtbot.mouseClick(panel.thumbs["gam"].buttons[23], Qt.MouseButton.LeftButton)
    a = next(m for m in maps if m.index == 23)
    assert panel.mode == "gate" and panel.selected == ("gam", 23)
    assert panel.thumbs["gam"].buttons[23].isChecked()
    assert pane.overlay_item.isVisible() and not win.panes["baseline"].overlay_item.isVisible()
    assert overlay_hw(hw) == hw                          # small frames: the map at the frame's own size
    np.testing.assert_allclose(pane.overlay_item.image, a.image_map("mean", "spatial"), rtol=0, atol=1e-6)
    # the overlay covers exactly the frame, whatever the letterbox padding
    assert overlay_extent(pane) == pytest.approx((0, 0, hw[1], hw[0]))
    img = pane.image_item.mapRectToParent(pane.image_item.boundingRect())
    assert overlay_extent(pane) == pytest.approx((img.x(), img.y(), img.width(), img.height()))


def _thumb_grey(button) -> np.ndarray:
    """A thumbnail button's picture as a float grey image (inferno's brightness grows with the value)."""
    img = button.icon().pixmap(button.iconSize()).toImage().convertToFormat(QImage.Format.Format_RGB888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())[:, : img.width() * 3]
    return cv2.cvtColor(arr.reshape(img.height(), img.width(), 3).copy(), cv2.COLOR_RGB2GRAY).astype(np.float64)


def test_reduction_gate_and_channel_apply_live(qtbot, make_window, fake_detector, tmp_path):
    win = open_with_fakes(qtbot, make_window, fake_detector, tmp_path)
    panel, pane = win.attention, win.panes["gam"]
    panel.select_layer("gam", 19)
    a = win.current_result.gam.attention_at(19)
    panel.reduce_box.setCurrentIndex(panel.reduce_box.findData("max"))
    np.testing.assert_allclose(pane.overlay_item.image, a.image_map("max"), atol=1e-6)
    panel.gate_box.setCurrentText("channel")
    np.testing.assert_allclose(pane.overlay_item.image, a.image_map("max", "channel"), atol=1e-6)
    panel.reduce_box.setCurrentIndex(panel.reduce_box.findData("channel"))
    assert panel.channel_spin.isEnabled() and panel.channel_spin.maximum() == a.channels - 1
    panel.channel_spin.setValue(7)
    np.testing.assert_allclose(pane.overlay_item.image, a.image_map(7, "channel"), atol=1e-6)
    assert "channel 7" in panel.colour_bars["gam"].title + panel.shown["gam"].what
    # the thumbnails follow the same choice: the layer-19 thumbnail now shows channel 7 of the
    # channel gate (its brightness follows that map, not the spatial mean it showed before)
    thumb = _thumb_grey(panel.thumbs["gam"].buttons[19])
    hw = thumb.shape
    chosen = cv2.resize(a.image_map(7, "channel"), hw[::-1], interpolation=cv2.INTER_AREA)
    before = cv2.resize(a.image_map("mean", "spatial"), hw[::-1], interpolation=cv2.INTER_AREA)
    r_chosen = np.corrcoef(thumb.ravel(), chosen.ravel())[0, 1]
    r_before = np.corrcoef(thumb.ravel(), before.ravel())[0, 1]
    assert r_chosen > 0.9 and r_chosen > r_before + 0.2, (r_chosen, r_before)
    panel.set_mode("off")
    assert not pane.overlay_item.isVisible() and not panel.colour_bars["gam"].isVisible()


def test_colour_range_per_frame_and_fixed_shows_values_outside_0_1(qtbot, make_window, fake_detector, tmp_path):
    win = open_with_fakes(qtbot, make_window, fake_detector, tmp_path)
    panel, pane = win.attention, win.panes["gam"]
    panel.select_layer("gam", 9)
    panel.set_channel(0)                                 # one channel: the raw gate values
    values = pane.overlay_item.image
    bar = panel.colour_bars["gam"]
    lo, hi = float(values.min()), float(values.max())
    assert lo < 0.0 or hi > 1.0                         # community-like gates: not in [0, 1]
    assert bar.isVisible() and bar.levels == pytest.approx((lo, hi))
    assert tuple(pane.overlay_item.levels) == pytest.approx((lo, hi)) and bar.clipped == (False, False)
    assert all(lo - 1e-9 <= v <= hi + 1e-9 for v, _ in bar.ticks) and len(bar.ticks) >= 2

    sc = panel.style_controls
    sc.lo.setValue(0.0)
    sc.hi.setValue(1.0)
    sc.range_mode.setCurrentIndex(sc.range_mode.findData("fixed"))
    assert panel.style.range_mode == "fixed"
    assert bar.levels == (0.0, 1.0) and tuple(pane.overlay_item.levels) == pytest.approx((0.0, 1.0))
    assert bar.clipped == (lo < 0, hi > 1) and any(bar.clipped)
    assert "drawn in the end colour" in bar.summary() and f"{hi:.6g}" in bar.summary()
    # Fix: the fixed range becomes the current per-frame one
    sc.range_mode.setCurrentIndex(sc.range_mode.findData("frame"))
    sc.freeze.click()
    assert panel.style.range_mode == "fixed" and panel.style.fixed == pytest.approx((lo, hi), abs=1e-4)
    # a bad fixed range is refused with a message, and the per-frame range is used
    sc.lo.setValue(2.0)
    sc.hi.setValue(1.0)
    assert panel.style.range_mode == "frame" and any("low < high" in m for m in win.messages)
    # opacity and colormap apply live (the window's colormap control)
    sc.opacity.setValue(0.8)
    assert pane.overlay_item.opacity() == pytest.approx(0.8)
    win.controls.colormap.setCurrentText("viridis")
    assert np.array_equal(pane.overlay_item.lut, colormap_lut("viridis"))


def test_the_panel_mirrors_its_state_and_exports_follow_the_state(qtbot, make_window, fake_detector, tmp_path):
    win = open_with_fakes(qtbot, make_window, fake_detector, tmp_path)
    panel, st = win.attention, win.attention.state
    st.gate, st.reduce, st.selected = "channel", "max", ("gam", 19)
    st.chart_sort, st.chart_top_k = True, 5
    st.opacity, st.range_mode, st.fixed = 0.3, "fixed", (-1.0, 2.0)
    panel.sync_widgets()
    assert panel.gate_box.currentText() == "channel" and panel.reduce_box.currentData() == "max"
    assert panel.chart.sort.isChecked() and panel.chart.top_k.value() == 5
    sc = panel.style_controls
    assert sc.opacity.value() == pytest.approx(0.3) and sc.range_mode.currentData() == "fixed"
    assert (sc.lo.value(), sc.hi.value()) == (-1.0, 2.0) and sc.lo.isEnabled()
    assert (st.gate, st.reduce, st.range_mode, st.opacity) == ("channel", "max", "fixed", 0.3)   # nothing echoed
    panel.chart.top_k.setValue(3)                        # one widget writes its one attribute
    assert st.chart_top_k == 3 and st.chart_sort
    (name, fig), = win.exporter.heatmap_figures("selected")
    assert name == "pic_gam-L19-heatmap-channel-max.png" and fig.ndim == 3
    names = [n for n, _ in win.exporter.chart_files()]
    assert names == ["pic_gam-L19-chart-mean.png", "pic_gam-L19-chart-mean.csv"]


# ----------------------------------------------------------------------------- channel chart
def test_chart_shows_the_engines_channel_vector_and_a_clicked_pixel(qtbot, make_window, fake_detector, tmp_path):
    win = open_with_fakes(qtbot, make_window, fake_detector, tmp_path)
    panel, chart = win.attention, win.attention.chart
    panel.select_layer("gam", 23)
    a = win.current_result.gam.attention_at(23)
    np.testing.assert_array_equal(chart.values, a.channel_vector("mean"))
    np.testing.assert_array_equal(chart.ids, np.arange(a.channels))
    bars = chart.bars.opts
    np.testing.assert_array_equal(bars["height"], a.channel_vector("mean"))
    item = chart.bars
    chart.reduce.setCurrentText("max")
    assert chart.bars is item                            # updated in place, not re-created
    np.testing.assert_array_equal(chart.values, a.channel_vector("max"))
    chart.sort.setChecked(True)
    chart.top_k.setValue(5)
    ids, vals = F.channel_bars(a.channel_vector("max"), True, 5)
    np.testing.assert_array_equal(chart.ids, ids)
    np.testing.assert_array_equal(chart.values, vals)
    assert chart.readout_for(0) == f"channel {ids[0]}: {vals[0]:.6g} (rank 1 of 5)"
    # hovering a bar reads it out
    scene = chart.vb.mapViewToScene(QPointF(2.0, float(vals[2]) / 2))
    chart._on_move(scene)
    assert chart.readout.text().startswith(f"channel {ids[2]}: ")
    chart.top_k.setValue(0)
    chart.sort.setChecked(False)

    pane = win.panes["gam"]
    click_image(qtbot, pane, 100.5, 30.5)
    qtbot.waitUntil(lambda: panel.point is not None, timeout=2000)
    x, y = panel.point
    assert abs(x - 100.5) < 2 and abs(y - 30.5) < 2
    np.testing.assert_array_equal(chart.values, a.channel_vector(at=(x, y)))
    col, row = a.cell_at(x, y)
    cell = panel.cell_items["gam"]
    assert cell.isVisible()
    rc = cell.rect()
    assert (rc.left(), rc.top(), rc.right(), rc.bottom()) == pytest.approx(a.cell_rect(col, row))
    assert f"cell ({col}, {row})" in chart.where.text()
    chart.clear_point.click()
    assert panel.point is None and not cell.isVisible()
    np.testing.assert_array_equal(chart.values, a.channel_vector("max"))


def test_clicking_a_bar_makes_it_the_heatmaps_channel(qtbot, make_window, fake_detector, tmp_path):
    win = open_with_fakes(qtbot, make_window, fake_detector, tmp_path)
    panel, chart = win.attention, win.attention.chart
    panel.select_layer("gam", 19)
    panel.set_mode("off")
    chart.sort.setChecked(True)
    qtbot.waitUntil(lambda: chart.vb.viewRect().width() > 0, timeout=2000)
    rank = 3
    target = chart.ids[rank]
    pt = chart.plot.mapFromScene(chart.vb.mapViewToScene(QPointF(rank, float(chart.values[rank]) / 2)))
    qtbot.mouseClick(chart.plot.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(pt.x(), pt.y()))
    qtbot.waitUntil(lambda: panel.reduce_kind == "channel", timeout=2000)
    a = win.current_result.gam.attention_at(19)
    assert panel.channels[("gam", 19)] == target and panel.channel_spin.value() == target
    assert panel.mode == "gate"
    np.testing.assert_allclose(win.panes["gam"].overlay_item.image, a.image_map(int(target)), atol=1e-6)
    assert chart.marked == target


def test_the_panel_says_why_it_is_empty_without_gam(qtbot, make_window, fake_detector, tmp_path):
    win = open_with_fakes(qtbot, make_window, fake_detector, tmp_path, left_gam=False)
    panel = win.attention
    assert panel.empty_note.isVisible() and "Neither model has GAM layers" in panel.empty_note.text()
    assert all("no GAM layers" in t.note.text() for t in panel.thumbs.values())
    assert panel.selected is None and len(panel.chart.ids) == 0
    # CAM on a model the engine did not open: a message, the window goes on
    panel.set_mode("eigen")
    r = wait_idle(qtbot, win, cams=("gam", "baseline"))
    assert "CAM needs a model opened by gam-viewer" in r.cam_errors["gam"]
    assert "CAM needs a model opened by gam-viewer" in panel.status.text()
    assert r.gam is not None and len(r.gam) == 2     # the detections are still there


# ----------------------------------------------------------------------------- exports
def test_exports_have_the_right_sizes_content_and_never_overwrite(qtbot, make_window, fake_detector, tmp_path):
    hw = (90, 140)
    win = open_with_fakes(qtbot, make_window, fake_detector, tmp_path, hw)
    panel, ex = win.attention, win.exporter
    panel.select_layer("gam", 23)
    out = tmp_path / "out"
    out.mkdir()

    first = ex.export("heatmap", out)
    assert [p.name for p in first] == ["pic_gam-L23-heatmap-spatial-mean.png"]
    fig = cv2.imread(str(first[0]))
    lay = F.heatmap_layout(*hw)
    assert fig.shape[1] == lay["width"] and fig.shape[0] > hw[0] + 2 * lay["margin"]
    m = lay["margin"]
    area = fig[m:m + hw[0], m:m + hw[1]]
    assert float(area.std()) > 5                         # the overlay, not a blank
    before = first[0].read_bytes()
    again = ex.export("heatmap", out)
    assert again[0].name == "pic_gam-L23-heatmap-spatial-mean-1.png" and first[0].read_bytes() == before

    every = ex.export("heatmaps", out)
    assert len(every) == len(GAM_LAYERS) and all(p.exists() and p.stat().st_size > 1000 for p in every)

    chart = ex.export("chart", out)
    assert [p.suffix for p in chart] == [".png", ".csv"]
    png = cv2.imread(str(chart[0]))
    assert png.shape[:2] == (520, 1200) and float(png.std()) > 5
    rows = chart[1].read_text().strip().splitlines()
    assert rows[0] == "rank,channel,channel_gate_mean" and len(rows) == 1 + len(panel.chart.values)
    assert [float(r.split(",")[2]) for r in rows[1:]] == pytest.approx(panel.chart.values.tolist())
    assert ex.export("chart", out)[0].name.endswith("-chart-mean-1.png")

    overlays = ex.export("overlays", out)      # the gate shown: named like its heatmap, under a free number
    assert [p.name for p in overlays] == ["pic_gam-L23-heatmap-spatial-mean-3.png"]

    # screenshots: the view's resolution, the source's, one pane; a second save keeps the first
    view = ex.screenshot("both", "view")
    grab = win.pane_area.grab().toImage()
    assert view.shape == (grab.height(), grab.width(), 3) and float(view.std()) > 5
    src = ex.screenshot("both", "source")
    assert src.shape == (hw[0], 2 * hw[1] + 8, 3)
    one = ex.screenshot("gam", "source")
    assert one.shape == (hw[0], hw[1], 3)
    frame = win.current_result.rgb
    assert float(np.abs(one.astype(int) - frame.astype(int)).mean()) > 5   # overlay and boxes drawn
    p1 = win.save_screenshot(str(tmp_path / "shot"))
    p2 = win.save_screenshot(str(tmp_path / "shot"), target="gam", resolution="source")
    assert p1 == str(tmp_path / "shot.png") and p2 == str(tmp_path / "shot-1.png")
    assert cv2.imread(p2).shape == (hw[0], hw[1], 3) and cv2.imread(p1).shape[0] > 100
    assert not [p for p in list(tmp_path.iterdir()) + list(out.iterdir()) if p.name.endswith(".part")]


def test_export_menu_entries_and_shortcuts(qtbot, make_window):
    win = make_window()
    a = win.actions_
    assert a.screenshot.shortcut().toString() == "Ctrl+S"
    assert a.export_heatmap.shortcut().toString() == "Ctrl+E"
    assert a.export_heatmaps.shortcut().toString() == "Ctrl+Shift+E"
    assert a.export_chart.shortcut().toString() == "Ctrl+Shift+K"
    export_menu = next(x.menu() for x in win.menuBar().actions()[0].menu().actions()
                       if x.menu() and x.menu().title() == "&Export")
    assert a.screenshot in export_menu.actions() and a.shot_gam in export_menu.actions()
    # nothing to export yet: a message, no exception
    assert win.exporter._report_saved(lambda: win.exporter.export("heatmap", ".")) is None
    assert "nothing to export yet" in win.messages[-1]


# ----------------------------------------------------------------------------- start-up
def test_no_arguments_opens_the_demo_and_restore_the_last_models(qtbot, make_window, fake_detector,
                                                                 settings_file):
    from gam_viewer.demo import demo_media
    from gam_viewer.ui.model_spec import ModelSpec
    from gam_viewer.ui.settings import Settings

    Settings(settings_file).set_model("gam", ModelSpec("last-gam.pt"))
    Settings(settings_file).set_model("baseline", ModelSpec("last-base.pt"))
    specs = []
    win = make_window(loader=lambda spec: specs.append(spec.source) or fake_detector(source=spec.source))
    win.start([])
    qtbot.waitUntil(lambda: len(specs) == 2 and not win.pipeline.loading, timeout=5000)
    assert sorted(specs) == ["demo-base", "demo-gam"]
    if demo_media():
        qtbot.waitUntil(lambda: win.source_info is not None, timeout=5000)
        assert win.source_info.kind == "images"
    win.close()

    Settings(settings_file).set_model("gam", ModelSpec("last-gam.pt"))
    specs2 = []
    win2 = make_window(loader=lambda spec: specs2.append(spec.source) or fake_detector(source=spec.source))
    win2.start([], restore=True)
    qtbot.waitUntil(lambda: len(specs2) == 2 and not win2.pipeline.loading, timeout=5000)
    assert "last-gam.pt" in specs2


def test_restore_flag_reaches_the_window(monkeypatch):
    import gam_viewer.ui.app as ui_app
    from gam_viewer.app import main

    seen = {}
    monkeypatch.setattr(ui_app, "run_gui", lambda args: seen.setdefault("args", args) and 0)
    assert main(["--restore"]) == 0 and seen["args"].restore is True
    seen.clear()
    assert main([]) == 0 and seen["args"].restore is False and seen["args"].paths == []


# ----------------------------------------------------------------------------- CAM (real models)
@pytest.fixture(scope="module")
def real_pair():
    pytest.importorskip("pytorch_grad_cam")   # imported once per session (seconds); test_cam pays it too
    from gam_viewer import load_model

    return load_model("yolov5n-gam-full"), load_model("yolov5n")


def cam_window(qtbot, make_window, real_pair, tmp_path):
    from gam_viewer.ui.model_spec import InferenceParams

    win = make_window()
    win.resize(1500, 900)
    win.controls.set_inference_params(InferenceParams(imgsz=96, conf=0.25))
    gam, base = real_pair
    win.set_detector("gam", gam)
    win.set_detector("baseline", base)
    qtbot.waitUntil(lambda: not win.pipeline.loading and bool(win.pipeline.cam_layers("baseline")), timeout=10000)
    win.open_paths([str(write_image(tmp_path / "cam.png", (72, 120)))])
    wait_idle(qtbot, win)
    return win


def test_eigencam_on_both_panes_in_the_workers(qtbot, make_window, real_pair, tmp_path, monkeypatch):
    from gam_viewer.inference import cam as cam_mod

    threads = []
    real_eigen = cam_mod.eigen_cam
    monkeypatch.setattr(cam_mod, "eigen_cam", lambda *a, **k: threads.append(threading.current_thread().name)
                        or real_eigen(*a, **k))
    win = cam_window(qtbot, make_window, real_pair, tmp_path)
    panel = win.attention
    # the layers offered come from engine.cam.cam_layers
    combo = panel.cam_controls.combos["gam"]
    assert [combo.itemData(i) for i in range(1, combo.count())] == [(c.index,) for c in
                                                                    cam_mod.cam_layers(real_pair[0])]
    panel.set_mode("eigen")
    r = wait_idle(qtbot, win, cams=("gam", "baseline"))
    assert r.cam_errors == {}
    assert threads and threading.main_thread().name not in threads      # computed in the workers
    for side in ("gam", "baseline"):
        pane, cam = win.panes[side], r.cams[side]
        assert cam.method == "eigen" and pane.overlay_item.isVisible()
        np.testing.assert_allclose(pane.overlay_item.image, cam.image_map(overlay_hw((72, 120))), atol=1e-6)
        assert overlay_extent(pane) == pytest.approx((0, 0, 120, 72))
        assert panel.colour_bars[side].isVisible() and "CAM" in panel.colour_bars[side].label
    assert "EigenCAM" in panel.status.text()
    # one layer for the baseline: its combo, then a new CAM of that layer
    bcombo = panel.cam_controls.combos["baseline"]
    bcombo.setCurrentIndex(bcombo.count() - 1)
    want = bcombo.currentData()
    qtbot.waitUntil(lambda: win.current_result.cams.get("baseline") is not None
                    and win.current_result.cams["baseline"].layers == want and not win.pipeline.busy, timeout=30000)


def test_grad_cam_of_a_clicked_box(qtbot, make_window, real_pair, tmp_path):
    win = cam_window(qtbot, make_window, real_pair, tmp_path)
    panel = win.attention
    panel.set_mode("grad")
    assert "click one of its boxes" in panel.status.text()
    det = win.panes["gam"].detections
    assert len(det) > 0, "random weights at conf 0.25 give boxes"
    bx = det.boxes[0]
    x, y = float(bx[0] + bx[2]) / 2, float(bx[1] + bx[3]) / 2
    clicks = []
    win.image_clicked.connect(lambda side, cx, cy: clicks.append((cx, cy)))
    click_image(qtbot, win.panes["gam"], x, y)
    qtbot.waitUntil(lambda: "gam" in panel.grad_targets, timeout=3000)
    clicked = box_at(det, *clicks[-1])
    r = wait_idle(qtbot, win, cams=("gam",))
    cam = r.cams["gam"]
    # the target is the smallest box under the click, and the CAM is of that very detection
    np.testing.assert_allclose(panel.grad_targets["gam"][0], det.boxes[clicked], atol=1e-4)
    assert cam.method == "grad" and cam.target_class == int(det.classes[clicked])
    np.testing.assert_allclose(r.gam.boxes[cam.box], det.boxes[clicked], atol=1e-3)
    assert win.panes["gam"].overlay_item.isVisible() and panel.box_items["gam"].isVisible()
    rc = panel.box_items["gam"].rect()
    assert (rc.left(), rc.top(), rc.right(), rc.bottom()) == pytest.approx(tuple(det.boxes[clicked]), abs=1e-3)
    assert "baseline" not in r.cams                       # no box clicked there
    assert "Grad-CAM of" in panel.shown["gam"].what
    assert [n for n, _ in win.exporter.overlay_figures()] == [f"cam_gam-gradcam-box{cam.box}.png"]


def test_grad_cam_follows_the_clicked_box_by_class_and_overlap():
    from gam_viewer.ui.worker import match_box

    boxes = np.array([[0, 0, 10, 10], [50, 50, 90, 90], [52, 48, 92, 88]], np.float32)
    det = type("D", (), {"boxes": boxes, "classes": np.array([0, 1, 2]), "__len__": lambda self: 3})()
    assert match_box(det, (51, 49, 91, 89), 2) == 2          # same class, best overlap
    assert match_box(det, (51, 49, 91, 89), 1) == 1
    assert match_box(det, (51, 49, 91, 89), None) in (1, 2)
    assert match_box(det, (200, 200, 220, 220), 1) is None   # gone from this frame
    assert match_box(det, (0, 0, 10, 10), 1) is None         # wrong class
