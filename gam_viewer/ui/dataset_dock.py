"""The Dataset dock: evaluate the two loaded models on a labelled dataset, in the background,
then browse the images where they disagree.

The work is :func:`gam_viewer.eval.runner.evaluate` (the same code as ``gam-viewer eval``),
run by an :class:`EvalWorker` moved to a ``QThread``; progress, per-image rows, the result and
failures come back through signals, cancel is a thread-safe flag. The dock shows a sortable,
filterable table (one row per image) and a summary (mAP with the bootstrap interval, outcome
counts, attention statistics). Clicking a row opens that image in both panes (both models run
on it as usual) and draws its ground-truth boxes in a distinct style: white dashes on black.

Results are cached per (model files' SHA-256, settings, dataset fingerprint) as JSON in the
user cache folder (``$GAM_VIEWER_EVAL_CACHE``, else ``eval/`` in :func:`gam_viewer.cachedir.cache_root`), so reopening a
dataset with the same models is instant. No model maths here.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Callable, Dict, List, Optional

from PySide6.QtCore import QObject, QSortFilterProxyModel, Qt, QThread, Signal, Slot
from PySide6.QtGui import QColor, QPainterPath, QPen, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox, QDockWidget, QFileDialog, QGraphicsPathItem, QHBoxLayout, QHeaderView, QLabel, QProgressBar,
    QPushButton, QTableView, QTabWidget, QTextBrowser, QVBoxLayout, QWidget,
)

from ..fsutil import sha256_file

__all__ = ["DatasetDock", "EvalWorker", "DATASET_SUFFIXES", "is_dataset_path", "cache_folder"]

DATASET_SUFFIXES = (".yaml", ".yml", ".json")
CACHE_ENV = "GAM_VIEWER_EVAL_CACHE"
CACHE_VERSION = 1
CLASS_SEP = "; "     # per-image rows list their classes joined by this (gam_viewer.eval.runner)

COLUMNS = [("image", "image"), ("objects", "objects"), ("disagreement", "disagreement"),
           ("only_model", "only GAM"), ("only_baseline", "only baseline"), ("fp_model", "FP GAM"),
           ("fp_baseline", "FP baseline"), ("better_localised", "better loc."), ("worse_localised", "worse loc."),
           ("classes", "classes")]
OUTCOME_FILTERS = [("all images", None), ("GAM finds more", "only_model"), ("baseline finds more", "only_baseline"),
                   ("any disagreement", "disagreement"), ("GAM false positives", "fp_model"),
                   ("baseline false positives", "fp_baseline")]


def is_dataset_path(path: str) -> bool:
    """A COCO .json, or a .yaml that describes data (train/val/test), not a model (backbone/head)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".json":
        return True
    if suffix not in (".yaml", ".yml") or not p.is_file():
        return False
    try:
        import yaml

        if p.stat().st_size > 1 << 20:
            return False
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except Exception:
        return False
    return isinstance(data, dict) and "backbone" not in data and any(k in data for k in ("train", "val", "test"))


def cache_folder() -> Path:
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    from ..cachedir import cache_root

    return cache_root() / "eval"                   # beside weights/ and onnx/ in the user cache folder


def _file_hash(spec: str) -> str:
    p = Path(spec)
    if not p.is_file():
        return "name:" + spec
    return sha256_file(p)


def default_evaluate(data: str, split: str, specs: Dict[str, object], settings, progress, cancelled,
                     cache: Optional[Path]):
    """Open the dataset, reuse a cached result or load both models and evaluate. Runs in the worker.

    Returns (dataset, report dict with ``per_image``, from_cache)."""
    from ..eval.datasets import open_dataset
    from ..eval.runner import evaluate
    from ..inference import load_model

    dataset = open_dataset(data, split)
    key_src = {"v": CACHE_VERSION, "data": dataset.fingerprint(), "settings": settings.as_dict(),
               "models": {role: [_file_hash(s.source), s.channel_sigmoid, s.shuffle] for role, s in specs.items()}}
    key = hashlib.sha256(json.dumps(key_src, sort_keys=True, default=str).encode()).hexdigest()[:32]
    path = cache / f"{key}.json" if cache is not None else None
    if path is not None and path.is_file():
        try:
            return dataset, json.loads(path.read_text(encoding="utf-8")), True
        except (OSError, ValueError):
            pass
    dets = {role: load_model(s.source, channel_sigmoid=s.channel_sigmoid, shuffle=s.shuffle)
            for role, s in specs.items()}
    result = evaluate(dets["model"], dets["baseline"], dataset, settings, progress=progress, cancelled=cancelled)
    from ..eval.report import report_json

    report = json.loads(report_json(result))
    report["per_image"] = result.per_image
    if path is not None:
        try:
            from ..fsutil import write_atomic

            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, json.dumps(report).encode("utf-8"), overwrite=True)
        except OSError:
            pass   # a cache that cannot be written only costs time
    return dataset, report, False


class EvalWorker(QObject):
    """Runs one evaluation in its thread; talk to it only through signals and :meth:`cancel`."""

    progress = Signal(int, int)
    finished = Signal(object, object, bool)   # dataset, report dict, from cache
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, job: dict, evaluate_fn: Callable = default_evaluate):
        super().__init__()
        self.job = job
        self.evaluate_fn = evaluate_fn
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @Slot()
    def run(self) -> None:
        from ..eval.runner import EvalCancelled

        j = self.job
        try:
            ds, report, cached = self.evaluate_fn(j["data"], j["split"], j["specs"], j["settings"],
                                                  lambda d, t: self.progress.emit(d, t), self._cancel.is_set,
                                                  j.get("cache"))
        except EvalCancelled:
            self.cancelled.emit()
            return
        except Exception as exc:   # one line in the dock; the window goes on
            self.failed.emit(f"{type(exc).__name__}: {exc}" if not isinstance(exc, (ValueError, OSError))
                             else str(exc))
            return
        self.finished.emit(ds, report, cached)


class _Filter(QSortFilterProxyModel):
    def __init__(self):
        super().__init__()
        self.cls: Optional[str] = None
        self.outcome: Optional[str] = None

    def filterAcceptsRow(self, row, parent) -> bool:
        m = self.sourceModel()
        rec = m.item(row, 0).data(Qt.ItemDataRole.UserRole) if m.item(row, 0) else None
        if rec is None:
            return True
        if self.cls and self.cls not in (rec.get("classes") or "").split(CLASS_SEP):
            return False
        if self.outcome and not (rec.get(self.outcome) or 0) > 0:
            return False
        return True


def _number_item(value) -> QStandardItem:
    item = QStandardItem("" if value is None else (f"{value:g}" if isinstance(value, float) else str(value)))
    item.setData(value if value is not None else -1, Qt.ItemDataRole.UserRole + 1)
    item.setEditable(False)
    return item


class DatasetDock(QDockWidget):
    """The dock; ``win`` is the MainWindow (panes, pipeline, report, frame_result)."""

    status = Signal(str)
    result_ready = Signal()

    def __init__(self, win, evaluate_fn: Callable = default_evaluate):
        super().__init__("Dataset", win)
        self.setObjectName("dataset-dock")
        self.win = win
        self.evaluate_fn = evaluate_fn
        self.cache_dir: Optional[Path] = cache_folder()
        self.data_path: Optional[str] = None
        self.dataset = None
        self.report: Optional[dict] = None
        self.from_cache = False
        self._thread: Optional[QThread] = None
        self._worker: Optional[EvalWorker] = None
        self._pending_gt: Optional[tuple] = None
        self._gt_items: List[tuple] = []

        body = QWidget()
        lay = QVBoxLayout(body)
        top = QHBoxLayout()
        self.path_label = QLabel("no dataset: open a data.yaml or a COCO JSON (or drop one on the window)")
        self.path_label.setWordWrap(True)
        self.open_button = QPushButton("Open…")
        self.open_button.clicked.connect(self.open_dialog)
        self.split = QComboBox()
        self.split.addItems(["val", "test", "train"])
        self.run_button = QPushButton("Run")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        for w in (self.open_button, self.split, self.run_button, self.cancel_button):
            top.addWidget(w)
        lay.addWidget(self.path_label)
        lay.addLayout(top)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        lay.addWidget(self.progress)

        self.tabs = QTabWidget()
        table_page = QWidget()
        tl = QVBoxLayout(table_page)
        filt = QHBoxLayout()
        self.class_filter = QComboBox()
        self.class_filter.addItem("all classes")
        self.class_filter.currentIndexChanged.connect(self._apply_filter)
        self.outcome_filter = QComboBox()
        for label, _ in OUTCOME_FILTERS:
            self.outcome_filter.addItem(label)
        self.outcome_filter.currentIndexChanged.connect(self._apply_filter)
        filt.addWidget(self.class_filter)
        filt.addWidget(self.outcome_filter)
        tl.addLayout(filt)
        self.model = QStandardItemModel(0, len(COLUMNS))
        self.model.setHorizontalHeaderLabels([title for _, title in COLUMNS])
        self.proxy = _Filter()
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole + 1)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableView.SelectionMode.ExtendedSelection)   # rows for a figure grid
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.clicked.connect(self._on_row_clicked)
        tl.addWidget(self.table)
        self.summary = QTextBrowser()
        self.tabs.addTab(table_page, "Images")
        self.tabs.addTab(self.summary, "Summary")
        lay.addWidget(self.tabs, 1)
        self.setWidget(body)
        win.frame_result.connect(self._on_frame)
        self.status.connect(lambda text: win.report(text))

    # ------------------------------------------------------------------ opening and running
    def take_datasets(self, paths: List[str]) -> List[str]:
        """Open the first dataset file among dropped / given ``paths``; return the other paths."""
        found = [p for p in paths if is_dataset_path(p)]
        if found:
            self.open_dataset(found[0])
        return [p for p in paths if p not in found]

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a dataset", "",
                                              "Datasets (*.yaml *.yml *.json);;All files (*)")
        if path:
            self.open_dataset(path)

    def open_dataset(self, path: str, run: bool = True) -> None:
        self.data_path = str(path)
        self.path_label.setText(self.data_path)
        self.show()
        self.raise_()
        if run:
            self.run()

    def _specs(self) -> Optional[Dict[str, object]]:
        specs = {}
        for role, side in (("model", "gam"), ("baseline", "baseline")):
            info = self.win.pipeline.model_info(side)
            if info is None:
                return None
            specs[role] = info.spec
        return specs

    def settings(self):
        from ..eval.runner import EvalSettings

        p = getattr(self.win.pipeline, "params", None)
        imgsz = getattr(p, "imgsz", None)
        return EvalSettings(imgsz=imgsz if isinstance(imgsz, int) and imgsz > 0 else None,
                            operating_conf=float(getattr(p, "conf", 0.25) or 0.25))

    @property
    def running(self) -> bool:
        return self._thread is not None

    def run(self) -> None:
        if self.running or not self.data_path:
            return
        specs = self._specs()
        if specs is None:
            self.status.emit("Dataset: load both models first")
            return
        job = {"data": self.data_path, "split": self.split.currentText(), "specs": specs,
               "settings": self.settings(), "cache": self.cache_dir}
        self._worker = EvalWorker(job, self.evaluate_fn)
        self._thread = QThread(self)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progress.connect(self._on_progress)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self._worker.cancelled.connect(self._on_cancelled)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.status.emit(f"Dataset: evaluating {Path(self.data_path).name} …")
        self._thread.start()

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    def _stop_thread(self) -> None:
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
            self._thread.deleteLater()
        if self._worker is not None:
            self._worker.deleteLater()
        self._thread = self._worker = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def shutdown(self) -> None:
        self.cancel()
        self._stop_thread()

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    @Slot(object, object, bool)
    def _on_finished(self, dataset, report, cached: bool) -> None:
        self._stop_thread()
        self.show_report(dataset, report, cached)

    def show_report(self, dataset, report: dict, cached: bool = False) -> None:
        """Show an evaluation (a report dict with ``per_image`` rows) of ``dataset``."""
        self.dataset, self.report, self.from_cache = dataset, report, cached
        if self.data_path is None:
            self.data_path = str(dataset.source)
            self.path_label.setText(self.data_path)
        n = len(report.get("per_image", []))
        self.progress.setRange(0, max(n, 1))
        self.progress.setValue(n)
        self._fill_table()
        self._fill_summary()
        self.status.emit(f"Dataset: {n} images evaluated" + (" (cached result)" if cached else ""))
        self.result_ready.emit()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._stop_thread()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.win.report(f"Dataset: {message}", error=True)

    @Slot()
    def _on_cancelled(self) -> None:
        self._stop_thread()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status.emit("Dataset: evaluation cancelled")

    # ------------------------------------------------------------------ views
    def _fill_table(self) -> None:
        self.table.setSortingEnabled(False)
        self.model.removeRows(0, self.model.rowCount())
        names = set()
        for rec in self.report.get("per_image", []):
            items = []
            for key, _ in COLUMNS:
                v = rec.get(key)
                if key in ("image", "classes"):
                    it = QStandardItem("" if v is None else str(v))
                    it.setData(str(v or ""), Qt.ItemDataRole.UserRole + 1)
                    it.setEditable(False)
                else:
                    it = _number_item(v)
                items.append(it)
            items[0].setData(rec, Qt.ItemDataRole.UserRole)
            self.model.appendRow(items)
            names.update((rec.get("classes") or "").split(CLASS_SEP) if rec.get("classes") else [])
        self.class_filter.blockSignals(True)
        self.class_filter.clear()
        self.class_filter.addItem("all classes")
        order = self.report.get("dataset", {}).get("names") or sorted(names)
        for n in order:
            if n in names:
                self.class_filter.addItem(n)
        self.class_filter.blockSignals(False)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(2, Qt.SortOrder.DescendingOrder)

    def _apply_filter(self) -> None:
        i = self.class_filter.currentIndex()
        self.proxy.cls = self.class_filter.currentText() if i > 0 else None
        self.proxy.outcome = OUTCOME_FILTERS[max(0, self.outcome_filter.currentIndex())][1]
        self.proxy.invalidate()

    def summary_html(self) -> str:
        r = self.report or {}
        m, b = r.get("models", {}).get("model", {}), r.get("models", {}).get("baseline", {})

        def pct(v):
            return "-" if v is None else f"{v * 100:.1f}"

        rows = []
        for key, label in (("map50_95", "mAP50-95"), ("map50", "mAP50"), ("map75", "mAP75"), ("ar100", "AR@100")):
            d = r.get("difference", {}).get(key, {})
            ci = d.get("ci95") or [None, None]
            ci_txt = "" if ci[0] is None else f"[{ci[0] * 100:+.1f}, {ci[1] * 100:+.1f}]"
            dv = d.get("value")
            rows.append(f"<tr><td>{label}</td><td>{pct(m.get(key))}</td><td>{pct(b.get(key))}</td>"
                        f"<td>{'' if dv is None else f'{dv * 100:+.1f}'}</td><td>{ci_txt}</td></tr>")
        parts = [f"<p>{r.get('dataset', {}).get('images', 0)} images, {r.get('dataset', {}).get('objects', 0)} "
                 f"objects{' (cached result)' if self.from_cache else ''}</p>",
                 "<table border='1' cellspacing='0' cellpadding='3'><tr><th></th><th>GAM</th><th>baseline</th>"
                 "<th>diff</th><th>95 % CI</th></tr>" + "".join(rows) + "</table>"]
        for key in ("map50_95", "map50"):
            v = r.get("difference", {}).get(key, {}).get("verdict")
            if v:
                parts.append(f"<p>{v}</p>")
        o = r.get("outcomes", {})
        if "both" in o:
            parts.append(f"<p>objects {o['objects']}: both {o['both']}, only GAM {o['only_model']}, only baseline "
                         f"{o['only_baseline']}, neither {o['neither']}; FP GAM {o['fp_model']}, baseline "
                         f"{o['fp_baseline']}</p>")
        for role, layers in (r.get("attention") or {}).items():
            for a in layers:
                ratio, hit = a.get("on_objects_ratio_mean"), a.get("pointing_hit_rate")
                parts.append(f"<p>{role} GAM layer {a['layer']} ({a['position']}): attention-on-objects "
                             f"{'-' if ratio is None else f'{ratio:.2f}'}, pointing game "
                             f"{'-' if hit is None else f'{hit * 100:.0f} %'}</p>")
        return "".join(parts)

    def _fill_summary(self) -> None:
        self.summary.setHtml(self.summary_html())

    # ------------------------------------------------------------------ one image in both panes
    def _sample_for(self, rec: dict):
        if self.dataset is None:
            return None
        for s in self.dataset.samples:
            if s.image_id == rec.get("image_id"):
                return s
        return None

    def selected_image_paths(self) -> List[Path]:
        """The images of the rows picked in the table (Ctrl/Shift-click), in the table's order."""
        sel = self.table.selectionModel()
        if sel is None or self.dataset is None:
            return []
        rows = sorted({i.row() for i in sel.selectedRows()})
        out = []
        for r in rows:
            src = self.proxy.mapToSource(self.proxy.index(r, 0))
            rec = self.model.item(src.row(), 0).data(Qt.ItemDataRole.UserRole)
            s = self._sample_for(rec) if rec else None
            if s is not None:
                out.append(Path(s.path))
        return out

    def show_record(self, rec: dict) -> None:
        s = self._sample_for(rec)
        if s is None:
            return
        self._pending_gt = (str(s.path), s)
        self.win.open_source(str(s.path))

    @Slot(object)
    def _on_row_clicked(self, index) -> None:
        src = self.proxy.mapToSource(index)
        rec = self.model.item(src.row(), 0).data(Qt.ItemDataRole.UserRole)
        if rec:
            self.show_record(rec)

    def _clear_gt(self) -> None:
        for pane, item in self._gt_items:
            pane.remove_item(item)
        self._gt_items = []

    @Slot(object)
    def _on_frame(self, result) -> None:
        self._clear_gt()
        if self._pending_gt is None or result.frame.path is None:
            return
        path, sample = self._pending_gt
        if Path(result.frame.path).resolve() != Path(path).resolve():
            return
        h, w = result.frame.image.shape[:2]
        rects = _rects_path(sample.gt_xyxy(h, w)[~sample.crowd_mask()])   # one path, shared by every item
        pens = _gt_pens()
        for pane in self.win.panes.values():
            for pen in pens:
                item = QGraphicsPathItem(rects)
                item.setPen(pen)
                pane.add_item(item, z=18)
                self._gt_items.append((pane, item))

    @property
    def gt_boxes_shown(self) -> int:
        return len(self._gt_items)


def _gt_pens():
    under = QPen(QColor(0, 0, 0), 3)
    over = QPen(QColor(255, 255, 255), 1.5, Qt.PenStyle.DashLine)
    for p in (under, over):
        p.setCosmetic(True)        # constant on-screen width at any zoom
    return under, over


def _rects_path(boxes) -> QPainterPath:
    path = QPainterPath()
    for x1, y1, x2, y2 in boxes.tolist():
        path.addRect(x1, y1, x2 - x1, y2 - y1)
    return path
