"""The viewer window (pytest-qt, offscreen): opening, both panes, live controls, errors, video."""

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from gam_viewer.models.errors import ModelLoadError  # noqa: E402
from gam_viewer.ui.model_spec import ModelSpec  # noqa: E402

CAT = (10, 10, 60, 50, 0.9, 0)     # x1, y1, x2, y2, score, class
DOG = (20, 5, 70, 40, 0.6, 1)
BIRD = (5, 30, 30, 45, 0.3, 2)


def write_image(path: Path, value: int = 120, size=(80, 100)) -> Path:
    img = np.full((size[0], size[1], 3), value, np.uint8)
    img[20:40, 30:70] = (0, 0, 255)
    cv2.imwrite(str(path), img)
    return path


def drop(win, paths, on=None):
    """Drop local files on ``win`` (at the centre of the child widget ``on``, if given)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    target = on or win
    pos = target.mapTo(win, target.rect().center()) if on is not None else win.rect().center()
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win, enter)
    assert enter.isAccepted()
    ev = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win, ev)
    return ev


def with_fakes(make_window, fake_detector, left=None, right=None, **kw):
    win = make_window(**kw)
    left = left or fake_detector(boxes=[CAT, DOG, BIRD], source="gam-fake.pt", has_gam=True)
    right = right or fake_detector(boxes=[DOG], source="base-fake.pt")
    win.set_detector("gam", left)
    win.set_detector("baseline", right)
    return win, left, right


def wait_models(qtbot, win):
    qtbot.waitUntil(lambda: not win.pipeline.loading, timeout=5000)


def wait_frame(qtbot, win, index=0, source=None):
    def shown():
        r = win.current_result
        return (r is not None and r.frame.index == index and not win.pipeline.busy
                and (source is None or r.frame.source == source)
                and all(p.frame_index == index for p in win.panes.values()))
    qtbot.waitUntil(shown, timeout=8000)
    return win.current_result


def test_drop_an_image_shows_each_models_boxes(qtbot, make_window, fake_detector, tmp_path):
    win, left, right = with_fakes(make_window, fake_detector)
    wait_models(qtbot, win)
    ev = drop(win, [write_image(tmp_path / "street.png")])
    assert ev.isAccepted()
    r = wait_frame(qtbot, win, 0, "street.png")
    gam, base = win.panes["gam"], win.panes["baseline"]
    assert gam.boxes.labels == ["cat 0.90", "dog 0.60", "bird 0.30"]
    assert base.boxes.labels == ["dog 0.60"]
    assert gam.image_shape == base.image_shape == (80, 100)
    assert "3 boxes" in gam.readout.text() and "1 boxes" in base.readout.text()
    assert r.gam is not None and r.baseline is not None and r.frame.image.shape == (80, 100, 3)
    # both models ran in worker threads, never in the GUI thread
    assert all(name != threading.main_thread().name for _, name in left.calls + right.calls)
    assert left.calls[-1][1] != right.calls[-1][1]


def test_panes_leave_drops_to_the_window_and_a_model_dropped_on_a_pane_goes_there(
        qtbot, make_window, fake_detector, tmp_path):
    loaded = []

    def loader(spec):
        loaded.append(spec.source)
        return fake_detector(source=spec.source)

    win = make_window(loader=loader)
    for pane in win.panes.values():
        assert not pane.view.acceptDrops() and not pane.view.viewport().acceptDrops()
    model = tmp_path / "mine.pt"
    model.write_bytes(b"x")
    drop(win, [model], on=win.panes["baseline"])
    qtbot.waitUntil(lambda: win.pipeline.model_info("baseline") is not None, timeout=5000)
    assert loaded == [str(model)] and win.pipeline.model_info("gam") is None
    assert "mine.pt" in win.panes["baseline"].title_label.text()


def test_command_line_paths_open_like_a_drop(qtbot, make_window, fake_detector, tmp_path):
    win, _, _ = with_fakes(make_window, fake_detector)
    folder = tmp_path / "shots"
    folder.mkdir()
    for i in range(3):
        write_image(folder / f"s{i}.png", value=40 * i)
    win.start([str(folder)], demo=False)
    wait_frame(qtbot, win, 0, "s0.png")
    assert win.source_info.kind == "folder" and win.source_info.count == 3
    qtbot.keyClick(win, Qt.Key.Key_Right)           # next image
    wait_frame(qtbot, win, 1, "s1.png")
    win.transport.step_requested.emit(1)
    wait_frame(qtbot, win, 2, "s2.png")
    qtbot.keyClick(win, Qt.Key.Key_Left)            # previous
    wait_frame(qtbot, win, 1, "s1.png")
    assert win.transport.position.text().startswith("2 / 3")


def test_thresholds_and_filters_change_what_is_drawn(qtbot, make_window, fake_detector, tmp_path):
    win, left, right = with_fakes(make_window, fake_detector)
    wait_models(qtbot, win)
    win.open_paths([str(write_image(tmp_path / "a.png"))])
    wait_frame(qtbot, win)
    gam = win.panes["gam"]
    assert len(gam.boxes) == 3
    runs = len(left.calls)
    win.controls.conf.setValue(0.5)                 # new inference (debounced)
    qtbot.waitUntil(lambda: len(left.calls) > runs and len(gam.boxes) == 2 and not win.pipeline.busy,
                    timeout=5000)
    assert win.current_result.params.conf == 0.5
    assert gam.boxes.labels == ["cat 0.90", "dog 0.60"]
    runs = len(left.calls)
    win.controls.set_class_visible("dog", False)    # drawing only: no inference
    assert gam.boxes.labels == ["cat 0.90"] and len(win.panes["baseline"].boxes) == 0
    assert "1 of 2 boxes" in gam.readout.text()
    win.controls.labels.setChecked(False)
    assert gam.boxes.labels == [] and len(gam.boxes) == 1
    win.controls.line_width.setValue(5)
    assert gam.boxes._width == 5
    assert len(left.calls) == runs


def test_video_plays_dropping_frames_and_both_panes_get_the_same_frame(
        qtbot, make_window, fake_detector, make_video):
    step = 8
    left = fake_detector(delay=0.15, level_step=step, names=[str(i) for i in range(32)])
    right = fake_detector(delay=0.05, level_step=step, names=[str(i) for i in range(32)])
    win, _, _ = with_fakes(make_window, fake_detector, left=left, right=right)
    wait_models(qtbot, win)
    seen = []

    def record(r):
        seen.append((r.frame.index, win.panes["gam"].frame_index, win.panes["baseline"].frame_index,
                     int(r.gam.classes[-1]), int(r.baseline.classes[-1])))

    win.frame_result.connect(record)
    video = make_video(n=30, fps=30.0, step=step)
    win.open_source(str(video))
    with qtbot.waitSignal(win.pipeline.source_ended, timeout=10000):
        pass
    qtbot.waitUntil(lambda: not win.pipeline.busy and seen and seen[-1][0] == 29, timeout=5000)
    stats = win.pipeline.stats()
    # slow models: many frames dropped, never queued (each model ran once per shown frame)
    assert len(seen) < 30 and stats.dropped > 0
    assert len(left.calls) == len(right.calls) == stats.shown == len(seen)
    assert stats.frames == 30 and stats.shown + stats.dropped == 30
    for index, left_index, right_index, left_level, right_level in seen:
        assert index == left_index == right_index       # same frame in both panes
        assert left_level == right_level == index       # and both models saw that frame
    indices = [s[0] for s in seen]
    assert indices == sorted(indices)


def test_seek_and_step_on_a_paused_video(qtbot, make_window, fake_detector, make_video):
    win, _, _ = with_fakes(make_window, fake_detector, left=fake_detector(level_step=8),
                           right=fake_detector(level_step=8))
    wait_models(qtbot, win)
    win.open_source(str(make_video(n=20, fps=5.0)))
    qtbot.waitUntil(lambda: win.pipeline.playing, timeout=5000)
    win.pipeline.pause()
    qtbot.waitUntil(lambda: not win.pipeline.playing, timeout=5000)
    win.pipeline.seek(12)
    r = wait_frame(qtbot, win, 12)
    assert int(r.gam.classes[-1]) == 12
    win.pipeline.step(-2)
    r = wait_frame(qtbot, win, 10)
    assert int(r.baseline.classes[-1]) == 10
    assert not win.pipeline.playing


def test_corrupt_and_truncated_files_give_messages_and_the_window_goes_on(
        qtbot, make_window, fake_detector, make_video, tmp_path):
    win, _, _ = with_fakes(make_window, fake_detector)
    wait_models(qtbot, win)
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg" * 3)
    drop(win, [bad])
    qtbot.waitUntil(lambda: any("corrupt.jpg: cannot decode" in m for m in win.messages), timeout=5000)
    data = make_video(n=20).read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 6 // 10])
    win.open_source(str(cut))
    qtbot.waitUntil(lambda: any("cut.avi: the video stops at frame" in m for m in win.messages), timeout=8000)
    assert not win.pipeline.playing
    win.open_paths([str(write_image(tmp_path / "fine.png"))])
    wait_frame(qtbot, win, 0, "fine.png")
    assert len(win.panes["gam"].boxes) == 3
    missing = tmp_path / "gone.png"
    win.open_source(str(missing))
    qtbot.waitUntil(lambda: any("gone.png: no such file" in m for m in win.messages), timeout=5000)
    assert win.isVisible()


def test_a_model_that_throws_at_inference_shows_why(qtbot, make_window, fake_detector, tmp_path):
    broken = fake_detector(fail=RuntimeError("CUDA error: device-side assert"))
    win, _, _ = with_fakes(make_window, fake_detector, left=broken)
    wait_models(qtbot, win)
    win.open_paths([str(write_image(tmp_path / "a.png"))])
    r = wait_frame(qtbot, win)
    assert r.gam is None and "RuntimeError: CUDA error" in r.errors["gam"]
    gam, base = win.panes["gam"], win.panes["baseline"]
    assert not gam.error_label.isHidden() and "device-side assert" in gam.error_label.text()
    assert len(gam.boxes) == 0 and len(base.boxes) == 1          # the other pane is unaffected
    assert any("GAM-YOLO model failed on this frame" in m for m in win.messages)
    win.set_detector("gam", fake_detector(boxes=[CAT]))            # a working model: the error goes
    qtbot.waitUntil(lambda: win.current_result.gam is not None and not win.pipeline.busy, timeout=5000)
    assert gam.error_label.isHidden() and gam.boxes.labels == ["cat 0.90"]


def test_a_model_that_fails_to_open_keeps_the_previous_one(qtbot, make_window, fake_detector, tmp_path):
    def loader(spec):
        if spec.source.endswith("bad.pt"):
            raise ModelLoadError(f"{spec.source}: not a YOLO checkpoint (no 'model' entry)")
        return fake_detector(source=spec.source, boxes=[CAT])

    win = make_window(loader=loader)
    win.load_model("gam", "good.pt")
    qtbot.waitUntil(lambda: win.pipeline.model_info("gam") is not None, timeout=5000)
    win.load_model("gam", "bad.pt")
    picker = win.pickers["gam"]
    qtbot.waitUntil(lambda: not picker.error.isHidden(), timeout=5000)
    assert "bad.pt: not a YOLO checkpoint" in picker.error.text()
    assert "kept the previous model" in picker.error.text()
    assert win.pipeline.model_info("gam").spec.source == "good.pt"
    assert "good.pt" in win.panes["gam"].title_label.text()
    assert any("bad.pt: not a YOLO checkpoint" in m for m in win.messages)
    win.open_paths([str(write_image(tmp_path / "a.png"))])
    wait_frame(qtbot, win)
    assert win.panes["gam"].boxes.labels == ["cat 0.90"]


def test_settings_round_trip_through_a_temporary_file(qtbot, make_window, fake_detector, settings_file):
    def loader(spec):
        return fake_detector(source=spec.source)

    win = make_window(loader=loader)
    win.controls.conf.setValue(0.55)
    win.controls.iou.setValue(0.6)
    win.controls.imgsz.setValue(320)
    win.controls.flush()
    win.controls.line_width.setValue(4)
    win.controls.labels.setChecked(False)
    win.controls.colormap.setCurrentText("viridis")
    win.load_model("gam", ModelSpec("mine-gam.pt", channel_sigmoid=False, shuffle=True))
    win.load_model("baseline", "mine-base.pt")
    qtbot.waitUntil(lambda: win.pipeline.model_info("baseline") is not None
                    and win.pipeline.model_info("gam") is not None, timeout=5000)
    win.panels_dock.hide()   # the offscreen screen is 800 px wide: the window must fit it to round-trip
    win.layout().activate()
    win.resize(win.minimumSizeHint().width() + 20, 560)
    size = (win.width(), win.height())
    win.close()
    assert settings_file.exists()
    assert "0.55" in settings_file.read_text()

    specs = []
    win2 = make_window(loader=lambda spec: specs.append(spec) or fake_detector(source=spec.source))
    p = win2.controls.inference_params()
    assert (p.conf, p.iou, p.imgsz) == (0.55, 0.6, 320)
    d = win2.controls.draw_params()
    assert (d.line_width, d.show_labels) == (4, False)
    assert win2.colormap == "viridis" and win2.controls.colormap.currentText() == "viridis"
    assert (win2.width(), win2.height()) == size
    assert win2.panels_dock.isHidden()   # the docks' layout comes back too
    win2.start([], restore=True)   # --restore: the saved models come back, with their switches
    qtbot.waitUntil(lambda: len(specs) == 2, timeout=5000)
    assert ModelSpec("mine-gam.pt", channel_sigmoid=False, shuffle=True) in specs
    qtbot.waitUntil(lambda: win2.pipeline.model_info("gam") is not None, timeout=5000)
    assert (win2.pickers["gam"].sigmoid.currentText(), win2.pickers["gam"].shuffle.currentText()) == ("off", "on")
    assert set(win2.settings.recent_models[:2]) == {"mine-base.pt", "mine-gam.pt"}

    win2.reset_settings()
    p = win2.controls.inference_params()
    assert (p.conf, p.iou, p.imgsz) == (0.25, 0.45, 0) and win2.colormap == "inferno"   # 0: auto (trained size)
    assert win2.settings.models() == {"gam": None, "baseline": None}


def test_saved_model_that_vanished_falls_back_to_the_demo(qtbot, make_window, fake_detector, settings_file):
    from gam_viewer.ui.settings import Settings

    Settings(settings_file).set_model("gam", ModelSpec("/nowhere/gone.pt"))

    def loader(spec):
        if spec.source == "/nowhere/gone.pt":
            raise ModelLoadError("/nowhere/gone.pt: no such file")
        return fake_detector(source=spec.source)

    win = make_window(loader=loader)
    win.start([], restore=True)
    qtbot.waitUntil(lambda: (win.pipeline.model_info("gam") or ModelSpec("")).__class__.__name__ == "ModelInfo",
                    timeout=5000)
    assert win.pipeline.model_info("gam").spec.source == "demo-gam"
    assert any("gone.pt: no such file" in m for m in win.messages)


def test_overlay_layer_and_clicks_in_image_pixels(qtbot, make_window, fake_detector, tmp_path):
    win, _, _ = with_fakes(make_window, fake_detector)
    win.resize(1200, 800)
    wait_models(qtbot, win)
    win.open_paths([str(write_image(tmp_path / "a.png", size=(80, 100)))])
    wait_frame(qtbot, win)
    pane = win.panes["baseline"]
    heat = np.linspace(0, 1, 20 * 25, dtype=np.float32).reshape(20, 25)
    pane.set_overlay(heat, opacity=0.4)
    assert pane.overlay_item.isVisible() and pane.overlay_item.opacity() == pytest.approx(0.4)
    rect = pane.overlay_item.mapRectToParent(pane.overlay_item.boundingRect())
    assert (rect.width(), rect.height()) == pytest.approx((100, 80))   # stretched over the frame
    rgba = np.zeros((80, 100, 4), np.uint8)
    pane.set_overlay(rgba)
    with pytest.raises(ValueError, match="overlay must be"):
        pane.set_overlay(np.zeros((3, 4, 5)))
    pane.clear_overlay()
    assert not pane.overlay_item.isVisible()

    clicks = []
    win.image_clicked.connect(lambda side, x, y: clicks.append((side, x, y)))
    qtbot.waitUntil(lambda: pane.vb.viewRect().width() > 0, timeout=2000)
    scene_pt = pane.vb.mapViewToScene(QPointF(70.5, 20.5))
    view_pt = pane.view.mapFromScene(scene_pt)
    qtbot.mouseClick(pane.view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(view_pt.x(), view_pt.y()))
    qtbot.waitUntil(lambda: bool(clicks), timeout=2000)
    side, x, y = clicks[-1]
    assert side == "baseline" and abs(x - 70.5) < 2 and abs(y - 20.5) < 2


def test_linked_zoom_and_pan(qtbot, make_window, fake_detector, tmp_path):
    win, _, _ = with_fakes(make_window, fake_detector)
    wait_models(qtbot, win)
    win.open_paths([str(write_image(tmp_path / "a.png"))])
    wait_frame(qtbot, win)
    left, right = win.panes["gam"].vb, win.panes["baseline"].vb
    left.setRange(xRange=(10, 50), yRange=(10, 40), padding=0)
    qtbot.wait(50)
    lx, rx = left.viewRange()[0], right.viewRange()[0]
    assert rx == pytest.approx(lx, abs=1e-6) and lx[1] - lx[0] < 60


def test_screenshot_is_written_atomically(qtbot, make_window, fake_detector, tmp_path):
    win, _, _ = with_fakes(make_window, fake_detector)
    wait_models(qtbot, win)
    win.open_paths([str(write_image(tmp_path / "a.png"))])
    wait_frame(qtbot, win)
    out = win.save_screenshot(str(tmp_path / "shot"))
    assert out == str(tmp_path / "shot.png")
    img = QImage(out)
    assert not img.isNull() and img.width() > 100 and img.height() > 100
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".gam-viewer-")]   # no temp left


def test_about_lists_versions_and_the_panels_dock_takes_tabs(qtbot, make_window):
    from PySide6.QtWidgets import QLabel

    from gam_viewer.ui.dialogs import about_html

    html = about_html()
    for name in ("gam-viewer", "PySide6", "pyqtgraph", "PyTorch", "OpenCV"):
        assert name in html
    win = make_window()
    assert win.panels_dock.isVisible() and win.panel_tabs.tabText(0) == "Attention"   # the attention views
    assert win.add_panel(QLabel("more"), "More") == 1
    assert win.panels_dock.isVisible() and win.panel_tabs.tabText(1) == "More"


def test_messages_are_handled_in_the_gui_thread(qtbot, make_window, tmp_path):
    win = make_window()
    threads = []
    win.message.connect(lambda m: threads.append(threading.current_thread().name))
    win.open_source(str(tmp_path / "missing.png"))
    qtbot.waitUntil(lambda: len(threads) >= 2, timeout=5000)
    assert set(threads) == {threading.main_thread().name}


@pytest.mark.shared("weights/yolov5n.pt", "reference/images/bus.jpg")
def test_real_yolov5n_on_bus_in_both_panes(qtbot, make_window, shared_root):
    weights = shared_root / "weights" / "yolov5n.pt"
    bus = shared_root / "reference" / "images" / "bus.jpg"
    win = make_window()
    win.controls.set_inference_params(win.controls.inference_params().__class__(imgsz=320))
    win.start([str(bus)], model=str(weights), baseline=str(weights), demo=False)
    qtbot.waitUntil(lambda: win.current_result is not None and all(
        d is not None for d in win.current_result.detections.values()) and not win.pipeline.busy
        and not win.pipeline.loading, timeout=60000)
    for pane in win.panes.values():
        names = {label.split()[0] for label in pane.boxes.labels}
        assert {"bus", "person"} <= names
    assert win.current_result.params.imgsz == 320


def test_demo_opens_with_both_models(qtbot, make_window):
    from gam_viewer.demo import demo_media, demo_models

    if not demo_media():
        pytest.skip("resources/samples is missing")
    win = make_window(demo_models=demo_models())
    win.controls.set_inference_params(win.controls.inference_params().__class__(imgsz=256))
    win.start([], demo=True)
    qtbot.waitUntil(lambda: win.current_result is not None and all(
        d is not None for d in win.current_result.detections.values()) and not win.pipeline.loading
        and not win.pipeline.busy, timeout=90000)
    assert win.pipeline.model_info("gam").has_gam and not win.pipeline.model_info("baseline").has_gam
    assert win.current_result.gam.attention    # the GAM pane's result carries its gates
    details = win.pickers["gam"].details.text()   # what the engine decided for each GAM layer
    assert details.count("layer ") == len(win.pipeline.model_info("gam").gam_lines) >= 1 and "[" in details
    # the hook an attention view uses: a GAM layer's map over the GAM pane, in the colormap
    r = win.current_result
    heat = r.gam.attention[0].image_map("mean", out_hw=(r.frame.shape[0] // 4, r.frame.shape[1] // 4))
    pane = win.panes["gam"]
    pane.set_overlay(heat, opacity=0.5)
    rect = pane.overlay_item.mapRectToParent(pane.overlay_item.boundingRect())
    assert pane.overlay_item.isVisible() and (rect.height(), rect.width()) == pytest.approx(r.frame.shape)
    assert win.source_info.kind == "images" and win.source_info.count >= 1


def test_a_webcam_unplugged_mid_stream_stops_with_a_message(qtbot, make_window, fake_detector, monkeypatch):
    from gam_viewer.media.sources import Frame, FrameSource, SourceError

    class UnpluggedCamera(FrameSource):
        """Delivers five frames, then fails like a camera pulled out of its socket."""

        kind, live = "camera", True

        def read(self):
            if self._pos >= 5:
                raise SourceError("camera 0: stopped delivering frames (unplugged or taken by another program?)")
            self._pos += 1
            return Frame(np.full((24, 32, 3), 10 * self._pos, np.uint8), self._pos - 1, self.name)

        @property
        def fps(self):
            return 30.0

    monkeypatch.setattr("gam_viewer.ui.reader.open_paths", lambda spec: UnpluggedCamera("camera 0"))
    win, _, _ = with_fakes(make_window, fake_detector)
    wait_models(qtbot, win)
    win.open_source(0)
    qtbot.waitUntil(lambda: any("camera 0: stopped delivering frames" in m for m in win.messages), timeout=5000)
    qtbot.waitUntil(lambda: not win.pipeline.playing and not win.pipeline.busy, timeout=5000)
    assert win.source_info.live and win.current_result is not None
    assert not win.transport.slider.isEnabled()      # no seeking a live source
    assert win.isVisible()


def test_space_plays_and_pauses_and_the_readout_counts_drops(qtbot, make_window, fake_detector, make_video):
    win, _, _ = with_fakes(make_window, fake_detector, left=fake_detector(delay=0.1),
                           right=fake_detector(delay=0.1))
    wait_models(qtbot, win)
    win.open_source(str(make_video(n=40, fps=25.0, step=5)))
    qtbot.waitUntil(lambda: win.pipeline.playing, timeout=5000)
    qtbot.keyClick(win, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not win.pipeline.playing, timeout=5000)
    qtbot.keyClick(win, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: win.pipeline.playing, timeout=5000)
    qtbot.waitUntil(lambda: win.pipeline.stats().dropped > 0 and win.pipeline.stats().shown > 1, timeout=5000)
    win._update_stats()
    text = win.stats_label.text()
    assert "fps shown of 25" in text and "latency" in text and "dropped" in text


def test_image_size_follows_the_models_unless_set_by_hand(qtbot, make_window, fake_detector, tmp_path):
    """Auto (the default): each model runs at its trained size, after the demo pair too; the
    size in use shows next to each pane's timing. A size set by hand stays, and is named."""
    from gam_viewer.ui.controls import AUTO_IMGSZ_TEXT

    made = {}

    def loader(spec):
        gam = "gam" in str(spec.source)
        det = fake_detector(source=spec.source, has_gam=gam, gam_layers=[(9, "backbone/P5", 32, 4)] if gam else ())
        det.default_imgsz = 320 if "demo" in str(spec.source) else 640
        made[str(spec.source)] = det
        return det

    demo = {"gam": str(tmp_path / "demo-gam.safetensors"), "baseline": str(tmp_path / "demo-base.safetensors")}
    win = make_window(loader=loader, demo_models=(demo["gam"], demo["baseline"]))
    assert win.controls.imgsz.text() == AUTO_IMGSZ_TEXT and win.controls.inference_params().imgsz == 0
    image = tmp_path / "photo.png"
    cv2.imwrite(str(image), np.full((300, 400, 3), 90, np.uint8))
    win.load_demo_pair()
    wait_models(qtbot, win)
    win.open_source(str(image))
    qtbot.waitUntil(lambda: demo["gam"] in made and bool(made[demo["gam"]].sizes), timeout=5000)
    assert made[demo["gam"]].sizes[-1] == 320                          # the demo at its trained size
    assert win.controls.inference_params().imgsz == 0                  # ... without touching the control
    win.load_model("gam", "my-gam.pt")
    qtbot.waitUntil(lambda: "my-gam.pt" in made and bool(made["my-gam.pt"].sizes), timeout=5000)
    assert made["my-gam.pt"].sizes[-1] == 640                          # the user's model at its own size
    qtbot.waitUntil(lambda: win.panes["gam"].readout.text().endswith("· 640 px"), timeout=5000)  # size in use

    win.controls.imgsz.setValue(256)                                    # by hand: it stays, and is named
    win.controls.flush()
    qtbot.waitUntil(lambda: made["my-gam.pt"].sizes[-1] == 256, timeout=5000)
    win.load_model("baseline", "other-base.pt")
    qtbot.waitUntil(lambda: any("trained at 640 px; Image size is set to 256 px by hand" in m
                                for m in win.messages), timeout=5000)
    assert win.controls.inference_params().imgsz == 256


def test_demo_pair_on_own_media_says_once_what_it_knows(qtbot, make_window, fake_detector, tmp_path):
    """The demo pair on the bundled samples: no notice. On the user's own photo: one notice,
    visible until closed, naming the demo classes and how to open other models; not twice."""
    from gam_viewer.demo import demo_media

    def loader(spec):
        return fake_detector(source=spec.source, names=("square", "ring", "star"), boxes=[CAT],
                             has_gam="gam" in str(spec.source))

    demo = (str(tmp_path / "demo-gam.safetensors"), str(tmp_path / "demo-base.safetensors"))
    win = make_window(loader=loader, demo_models=demo)
    win.load_demo_pair()
    wait_models(qtbot, win)
    samples = [p for p in demo_media() if p.suffix == ".jpg"]
    if samples:
        win.open_source([str(p) for p in samples])
        wait_frame(qtbot, win, 0, samples[0].name)
        assert win.notice.isHidden()
    win.open_source(str(write_image(tmp_path / "holiday.png")))
    qtbot.waitUntil(lambda: win.notice.isVisible(), timeout=5000)
    text = win.notice.text
    assert "square, ring, star" in text and "Open GAM-YOLO model" in text and "gam-viewer fetch yolov5s" in text
    win.notice.close_button.click()
    assert win.notice.isHidden()
    win.open_source(str(write_image(tmp_path / "another.png")))
    wait_frame(qtbot, win, 0, "another.png")
    assert win.notice.isHidden()                                   # once is enough


def test_window_small_ones_tiny_image_failed_open_and_early_video_end(
        qtbot, make_window, fake_detector, make_video, tmp_path):
    win, _, _ = with_fakes(make_window, fake_detector)
    wait_models(qtbot, win)
    one = tmp_path / "one.png"
    cv2.imwrite(str(one), np.full((1, 1, 3), 200, np.uint8))       # a valid 1 x 1 PNG is an image
    win.open_source(str(one))
    wait_frame(qtbot, win, 0, "one.png")
    assert not any("not an image" in m or "cannot decode" in m for m in win.messages)
    win.open_source(str(write_image(tmp_path / "good.png")))
    wait_frame(qtbot, win, 0, "good.png")
    title = win.windowTitle()
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n but then nothing")
    win.open_source(str(bad))
    qtbot.waitUntil(lambda: any("bad.png: cannot decode" in m for m in win.messages), timeout=5000)
    assert win.windowTitle() == title and "good.png" in title        # the old picture and its title stay
    assert win.current_result.frame.source == "good.png"
    data = make_video(n=20).read_bytes()
    cut = tmp_path / "short.avi"
    cut.write_bytes(data[: len(data) * 6 // 10])
    win.open_source(str(cut))
    qtbot.waitUntil(lambda: not win.pipeline.playing and any("short.avi: the video stops at frame" in m
                                                              for m in win.messages), timeout=8000)
    qtbot.wait(200)
    assert "stops at frame" in win.messages[-1] and "end of the video" not in win.messages[-1]
    assert "stops at frame" in win.statusBar().currentMessage()
