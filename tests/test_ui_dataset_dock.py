"""The Dataset dock: open (menu / drop), background run with progress and cancel, table with
sorting and filters, a row shown in both panes with its ground truth, summary, and the cache.
The evaluation itself is faked here (it is tested headlessly in test_eval_*)."""

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from gam_viewer.eval.datasets import open_dataset  # noqa: E402
from gam_viewer.eval.runner import EvalCancelled, EvalResult, EvalSettings  # noqa: E402

pytestmark = pytest.mark.gui


def _dataset(tmp_path: Path) -> Path:
    for i, labels in enumerate(["0 0.5 0.5 0.4 0.4\n", "1 0.3 0.3 0.2 0.2\n0 0.7 0.7 0.2 0.2\n", ""]):
        img = tmp_path / "images" / "val" / f"im{i}.png"
        img.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(img), np.full((60, 80, 3), 40 + 60 * i, np.uint8))
        lab = tmp_path / "labels" / "val" / f"im{i}.txt"
        lab.parent.mkdir(parents=True, exist_ok=True)
        lab.write_text(labels)
    y = tmp_path / "data.yaml"
    y.write_text("val: images/val\nnames: [cat, dog]\n")
    return y


def _report(ds):
    rows = []
    for k, s in enumerate(ds.samples):
        rows.append({"image": s.path.name, "image_id": s.image_id, "objects": s.objects,
                     "only_model": [1, 0, 0][k], "only_baseline": [0, 2, 0][k], "fp_model": [0, 0, 3][k],
                     "fp_baseline": 0, "better_localised": 0, "worse_localised": 0,
                     "disagreement": [1.0, 2.0, 3.0][k],
                     "classes": "; ".join(sorted({ds.names[c] for c in s.classes}))})
    return {"dataset": {"images": len(rows), "objects": ds.objects, "names": ds.names},
            "models": {"model": {"map50_95": 0.5, "map50": 0.7}, "baseline": {"map50_95": 0.4, "map50": 0.6}},
            "difference": {"map50_95": {"value": 0.1, "ci95": [-0.05, 0.2], "verdict": "within resampling noise"}},
            "outcomes": {"objects": 3, "both": 1, "only_model": 1, "only_baseline": 1, "neither": 0, "fp_model": 3,
                         "fp_baseline": 0},
            "attention": {"model": [{"layer": 9, "position": "backbone/P5", "on_objects_ratio_mean": 1.7,
                                     "pointing_hit_rate": 0.5}]},
            "per_image": rows}


class FakeEval:
    """Stands in for default_evaluate: progress per image, honours cancel, records its thread."""

    def __init__(self, delay=0.0):
        self.delay, self.threads, self.calls = delay, [], 0

    def __call__(self, data, split, specs, settings, progress, cancelled, cache):
        self.calls += 1
        self.threads.append(threading.current_thread().name)
        ds = open_dataset(data, split)
        for i in range(len(ds)):
            t0 = time.time()
            while time.time() - t0 < self.delay:
                if cancelled():
                    raise EvalCancelled("cancelled")
                time.sleep(0.01)
            progress(i + 1, len(ds))
        return ds, _report(ds), False


def _window(make_window, fake_detector, fake):
    win = make_window()
    win.set_detector("gam", fake_detector(boxes=[(5, 5, 30, 30, 0.9, 0)], source="gam-fake.pt", has_gam=True,
                                          names=("cat", "dog")))
    win.set_detector("baseline", fake_detector(boxes=[], source="base-fake.pt", names=("cat", "dog")))
    win.dataset_dock.evaluate_fn = fake
    win.dataset_dock.cache_dir = None
    return win


def _drop(win, path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    pos = win.rect().center()
    QApplication.sendEvent(win, QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                                Qt.KeyboardModifier.NoModifier))
    QApplication.sendEvent(win, QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                           Qt.KeyboardModifier.NoModifier))


def _dropped_dataset(qtbot, make_window, fake_detector, tmp_path):
    """A window with a FakeEval, a data.yaml dropped on it and its result shown: (fake, win, dock)."""
    fake = FakeEval()
    win = _window(make_window, fake_detector, fake)
    qtbot.waitUntil(lambda: not win.pipeline.loading, timeout=5000)
    dock = win.dataset_dock
    with qtbot.waitSignal(dock.result_ready, timeout=10000):
        _drop(win, _dataset(tmp_path))
    return fake, win, dock


def test_drop_a_data_yaml_runs_in_the_background_and_fills_table_and_summary(
        qtbot, make_window, fake_detector, tmp_path):
    fake, win, dock = _dropped_dataset(qtbot, make_window, fake_detector, tmp_path)
    assert dock.isVisible() and fake.threads and fake.threads[0] != threading.main_thread().name
    assert dock.progress.value() == 3 and dock.proxy.rowCount() == 3
    # sorted by disagreement, worst first
    assert dock.proxy.index(0, 0).data() == "im2.png"
    # sortable by a numeric column
    dock.table.sortByColumn(4, Qt.SortOrder.DescendingOrder)          # only baseline
    assert dock.proxy.index(0, 0).data() == "im1.png"
    # filter by outcome and by class
    dock.outcome_filter.setCurrentIndex(1)                              # GAM finds more
    assert dock.proxy.rowCount() == 1 and dock.proxy.index(0, 0).data() == "im0.png"
    dock.outcome_filter.setCurrentIndex(0)
    dock.class_filter.setCurrentIndex(dock.class_filter.findText("dog"))
    assert dock.proxy.rowCount() == 1 and dock.proxy.index(0, 0).data() == "im1.png"
    html = dock.summary.toPlainText()
    assert "mAP50-95" in html and "+10.0" in html and "[-5.0, +20.0]" in html and "pointing game 50 %" in html

    # clicking the row shows that image in both panes, with its two ground-truth boxes
    with qtbot.waitSignal(win.frame_result, timeout=8000):
        dock._on_row_clicked(dock.proxy.index(0, 0))
    qtbot.waitUntil(lambda: win.current_result is not None and win.current_result.frame.source == "im1.png"
                    and dock.gt_boxes_shown > 0, timeout=8000)
    assert dock.gt_boxes_shown == 2 * len(win.panes)                    # two pens per pane
    item = dock._gt_items[0][1]
    r = item.path().boundingRect()
    assert (round(r.left()), round(r.top()), round(r.right()), round(r.bottom())) == (16, 12, 64, 48)
    assert win.panes["gam"].image_shape == win.panes["baseline"].image_shape == (60, 80)


def test_cancel_stops_the_worker_and_a_rerun_works(qtbot, make_window, fake_detector, tmp_path):
    fake = FakeEval(delay=0.5)
    win = _window(make_window, fake_detector, fake)
    qtbot.waitUntil(lambda: not win.pipeline.loading, timeout=5000)
    dock = win.dataset_dock
    dock.open_dataset(str(_dataset(tmp_path)))
    assert dock.running and dock.cancel_button.isEnabled()
    with qtbot.waitSignal(dock.status, timeout=10000, check_params_cb=lambda t: "cancelled" in t):
        dock.cancel()
    assert not dock.running and dock.run_button.isEnabled() and dock.report is None
    fake.delay = 0.0
    with qtbot.waitSignal(dock.result_ready, timeout=10000):
        dock.run()
    assert dock.proxy.rowCount() == 3


def test_results_are_cached_per_models_settings_and_dataset(tmp_path, monkeypatch):
    from gam_viewer.ui import dataset_dock as dd
    from gam_viewer.ui.model_spec import ModelSpec

    calls = []

    def fake_evaluate(model, baseline, dataset, settings, progress=None, cancelled=None):
        calls.append(1)
        return EvalResult(settings={}, dataset={"images": len(dataset)}, models={}, difference={}, per_class=[],
                          per_image=[{"image": s.path.name, "image_id": s.image_id} for s in dataset.samples],
                          outcomes={}, attention={}, unreadable=[], missing_labels=[], notes=[], timing={})

    monkeypatch.setattr("gam_viewer.eval.runner.evaluate", fake_evaluate)
    monkeypatch.setattr("gam_viewer.inference.load_model", lambda *a, **k: object())
    y = _dataset(tmp_path / "ds")
    weights = tmp_path / "m.pt"
    weights.write_bytes(b"weights v1")
    specs = {"model": ModelSpec(str(weights)), "baseline": ModelSpec("yolov5n")}
    cache = tmp_path / "cache"
    args = (str(y), "val", specs, EvalSettings(), lambda d, t: None, lambda: False, cache)
    ds, rep, cached = dd.default_evaluate(*args)
    assert not cached and len(calls) == 1 and len(rep["per_image"]) == 3 and len(list(cache.iterdir())) == 1
    ds, rep2, cached = dd.default_evaluate(*args)
    assert cached and len(calls) == 1 and rep2["per_image"] == rep["per_image"]
    # other settings, or other model bytes: computed again
    dd.default_evaluate(str(y), "val", specs, EvalSettings(operating_conf=0.5), lambda d, t: None, lambda: False,
                        cache)
    weights.write_bytes(b"weights v2")
    dd.default_evaluate(*args)
    assert len(calls) == 3


def test_dataset_paths_are_told_from_model_yamls(tmp_path):
    from gam_viewer.ui.dataset_dock import is_dataset_path

    d = tmp_path / "data.yaml"
    d.write_text("val: images/val\nnames: [a]\n")
    m = tmp_path / "model.yaml"
    m.write_text("nc: 80\nbackbone: []\nhead: []\n")
    assert is_dataset_path(str(d)) and not is_dataset_path(str(m))
    assert is_dataset_path(str(tmp_path / "instances_val.json")) and not is_dataset_path(str(tmp_path / "a.png"))


def test_picked_rows_are_the_figure_grids_images(qtbot, make_window, fake_detector, tmp_path):
    """Export ▸ Figure grid… takes the rows picked in the dataset table (two or more), in table order."""
    from PySide6.QtCore import QItemSelectionModel

    from gam_viewer.ui.background_exports import loaded_image_paths

    fake, win, dock = _dropped_dataset(qtbot, make_window, fake_detector, tmp_path)
    sel = dock.table.selectionModel()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for row in (0, 2):                                                   # im2 (worst), im0
        sel.select(dock.proxy.index(row, 0), flags)
    picked = dock.selected_image_paths()
    assert [p.name for p in picked] == ["im2.png", "im0.png"]
    assert [p.name for p in loaded_image_paths(win)] == ["im2.png", "im0.png"]
    sel.clearSelection()                                                # nothing picked: the open images
    with pytest.raises(ValueError, match="open images"):
        loaded_image_paths(win)
