"""The viewer window: a GAM-YOLO pane and a baseline pane on the same frame, and what drives them.

Layout: the two panes (left: GAM-YOLO, right: baseline; linked zoom and pan) above a transport
bar; a left dock with the model pickers and the live controls; a right dock holding a tab
widget for extra panels (hidden while empty); a status bar with messages, the FPS / latency /
dropped-frames readout and the pixel under the mouse.

Where things happen (each in its own module):
  pipeline.Pipeline   reader thread -> both workers -> one FrameResult (frames dropped, never queued)
  reader.SourceReader the one decoder (engine.sources), paced in real time, in its own thread
  worker.InferenceWorker  one per pane, in its own thread: load_model / Detector.predict
  pane.ImagePane      frame + overlay layer + boxes, readouts, clicks in image pixels
  controls / model_picker / transport / settings / menus / dialogs: the rest of the window

Hooks for add-on views (attention panel, channel chart, overlays, exports)
--------------------------------------------------------------------------
``window.frame_result``  Signal(FrameResult), emitted after both panes have drawn a frame:
    ``result.frame`` (engine Frame: BGR image, index, source), ``result.rgb`` (as displayed),
    ``result.gam`` / ``result.baseline`` (engine ``Detections`` or None, with ``.attention``
    maps when the model has GAM layers), ``result.errors``, ``result.models`` (ModelInfo per
    side), ``result.params``, ``result.cams`` (engine CamMap per side that asked for one with
    ``window.pipeline.set_cam(side, CamRequest)``; computed by that side's worker with the frame).
    ``window.current_result`` is the last one (None before any).
``window.panes["gam"]`` / ``window.panes["baseline"]`` (ImagePane):
    ``set_overlay(map_or_rgba, lut=None, levels=None, opacity=0.5)`` / ``clear_overlay()``: an
    extra layer above the frame (float H x W map through the colormap LUT, or RGBA uint8),
    stretched over the frame; ``add_item(graphics_item)`` / ``remove_item`` for items drawn in
    image pixels; ``image_clicked(x, y)`` / ``image_hovered(x, y)`` in original-image pixels;
    ``vb`` is the pyqtgraph ViewBox (the two are linked).
``window.image_clicked``  Signal(side, x, y): a click on either pane, original-image pixels.
``window.add_panel(widget, title)``: a tab in the right-hand dock (shown on first use).
``window.colormap`` / ``window.colormap_changed`` Signal(str): the user's heatmap colormap
    (persisted); ``render.colormaps.colormap_lut(name)`` gives its 256 x 3 LUT (screen and exports).
``window.models_changed``  Signal(side, ModelInfo or None) when a pane's model changes.
``window.report(text, error=False)``: a message in the status bar (and ``window.messages``).
``window.zoo`` (zoo_dialog.ZooController): Models ▸ Download official YOLOv5 baseline.

The attention views use these hooks: ``window.attention`` (attention_panel.AttentionPanel: layer
thumbnails, overlays, CAM, channel chart) and ``window.exporter`` (exports.Exporter: File ▸ Export).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QScrollArea, QSplitter, QTabWidget,
    QVBoxLayout, QWidget,
)

from ..media.sources import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from . import dialogs
from .attention_panel import AttentionPanel
from .controls import ControlsPanel
from .exports import Exporter
from .menus import build_menus, recent_label
from .model_picker import ModelPicker
from .model_spec import MODEL_SUFFIXES, SIDE_TITLES, SIDES, DrawParams, InferenceParams, ModelInfo, ModelSpec
from .notice import NoticeBar
from .pane import ImagePane
from .pipeline import FrameResult, Pipeline
from .reader import SourceInfo
from .settings import Settings
from .transport import TransportBar
from .zoo_dialog import ZooController

__all__ = ["MainWindow"]

MEDIA_FILTER = ("Images and videos (" + " ".join(f"*{e}" for e in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS) + ");;"
                "Models (" + " ".join(f"*{e}" for e in MODEL_SUFFIXES) + ");;All files (*)")


def _is_model_path(path: str) -> bool:
    return Path(path).suffix.lower() in MODEL_SUFFIXES


class MainWindow(QMainWindow):
    frame_result = Signal(object)                 # FrameResult
    image_clicked = Signal(str, float, float)     # side, x, y in original-image pixels
    image_hovered = Signal(str, float, float)
    models_changed = Signal(str, object)          # side, ModelInfo or None
    colormap_changed = Signal(str)
    message = Signal(str)

    def __init__(self, settings: Settings, loader: Optional[Callable[[ModelSpec], object]] = None,
                 demo_models: Optional[Sequence[str]] = None, parent: Optional[QWidget] = None):
        super().__init__(parent)
        from .gc_guard import collect_in_gui_thread

        collect_in_gui_thread()   # worker threads must never run the garbage collector (see gc_guard)
        self.settings = settings
        self.messages: List[str] = []
        self.current_result: Optional[FrameResult] = None
        self.source_info: Optional[SourceInfo] = None
        if demo_models is None:
            from ..demo import demo_models as _demo

            demo_models = _demo()
        self.demo = dict(zip(SIDES, demo_models))
        self._persist_model = {side: True for side in SIDES}
        self._fallback: Dict[str, Optional[str]] = {side: None for side in SIDES}
        self._last_inference_error = ""
        self._demo_explained = False    # the "demo models know six shapes" notice: once per window
        self._source_problem = ""       # the last read error of the open source (kept over "end")

        self.setWindowTitle("gam-viewer")
        self.setAcceptDrops(True)
        self.pipeline = Pipeline(loader, self)

        # ---- panes and transport (central)
        self.panes: Dict[str, ImagePane] = {side: ImagePane(side, SIDE_TITLES[side]) for side in SIDES}
        self.panes["baseline"].link_view(self.panes["gam"])
        self.pane_area = QSplitter(Qt.Orientation.Horizontal)
        self.pane_area.setChildrenCollapsible(False)
        for pane in self.panes.values():
            self.pane_area.addWidget(pane)
        self.pane_area.setSizes([1, 1])
        self.transport = TransportBar()
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(2, 2, 2, 0)
        lay.setSpacing(2)
        self.notice = NoticeBar()
        lay.addWidget(self.notice)
        lay.addWidget(self.pane_area, 1)
        lay.addWidget(self.transport)
        self.setCentralWidget(central)

        # ---- left dock: models and controls
        self.pickers: Dict[str, ModelPicker] = {side: ModelPicker(side, self.demo.get(side)) for side in SIDES}
        self.controls = ControlsPanel(settings.inference(), settings.drawing(), settings.colormap)
        side_widget = QWidget()
        side_lay = QVBoxLayout(side_widget)
        for picker in self.pickers.values():
            side_lay.addWidget(picker)
        side_lay.addWidget(self.controls)
        side_lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(side_widget)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(side_widget.sizeHint().width() + 24)
        self.controls_dock = QDockWidget("Models and controls", self)
        self.controls_dock.setObjectName("controls-dock")
        self.controls_dock.setWidget(scroll)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.controls_dock)

        # ---- right dock: panels added by other views
        self.panel_tabs = QTabWidget()
        self.panels_dock = QDockWidget("Panels", self)
        self.panels_dock.setObjectName("panels-dock")
        self.panels_dock.setWidget(self.panel_tabs)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.panels_dock)
        self.panels_dock.hide()

        # ---- status bar
        self.stats_label = QLabel("")
        self.pixel_label = QLabel("")
        self.statusBar().addPermanentWidget(self.pixel_label)
        self.statusBar().addPermanentWidget(self.stats_label)
        self._stats_timer = QTimer(self)
        self._stats_timer.setInterval(500)
        self._stats_timer.timeout.connect(self._update_stats)
        self._stats_timer.start()

        self.attention = AttentionPanel(self)
        self.exporter = Exporter(self)
        self.zoo = ZooController(self)
        from .dataset_dock import DatasetDock   # the Dataset dock (gam-viewer eval in the window)

        self.dataset_dock = DatasetDock(self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dataset_dock)
        self.dataset_dock.hide()
        self.actions_ = build_menus(self)
        self._connect()
        self.pipeline.params = self.controls.inference_params()
        self._apply_colormap(settings.colormap)
        self._restore_window()
        for picker in self.pickers.values():
            picker.set_recent(settings.recent_models)
            picker.last_dir = settings.last_dir

    # ------------------------------------------------------------------ wiring
    def _connect(self) -> None:
        p = self.pipeline
        p.result_ready.connect(self._on_result)
        p.model_loading.connect(self._on_model_loading)
        p.model_loaded.connect(self._on_model_loaded)
        p.model_failed.connect(self._on_model_failed)
        p.inference_failed.connect(self._on_inference_failed)
        p.source_opened.connect(self._on_source_opened)
        p.source_failed.connect(self._on_source_failed)
        p.source_warning.connect(lambda msg: self.report(msg, error=True))
        p.position_changed.connect(self.transport.set_position)
        p.position_changed.connect(self._on_frame_read)
        p.playing_changed.connect(self.transport.set_playing)
        p.source_ended.connect(self._on_source_ended)
        t = self.transport
        t.play_toggled.connect(p.toggle_play)
        t.step_requested.connect(p.step)
        t.seek_requested.connect(p.seek)
        t.speed_changed.connect(p.set_speed)
        t.loop_changed.connect(p.set_loop)
        for picker in self.pickers.values():
            picker.load_requested.connect(self.load_model)
        self.controls.inference_changed.connect(self._on_inference_params)
        self.controls.draw_changed.connect(self._on_draw_params)
        self.controls.colormap_changed.connect(self._apply_colormap)
        for side, pane in self.panes.items():
            pane.image_clicked.connect(lambda x, y, s=side: self.image_clicked.emit(s, x, y))
            pane.image_hovered.connect(lambda x, y, s=side: self._on_hover(s, x, y))

    # ------------------------------------------------------------------ start-up
    def start(self, paths: Iterable[str] = (), model: Optional[str] = None, baseline: Optional[str] = None,
              demo: bool = True, restore: bool = False) -> None:
        """Open what the command line asked for; otherwise the demo pair (``demo``) or, with
        ``restore``, the models of the last session (the demo for a side that had none), and
        the demo media when no media path is given."""
        paths = [str(p) for p in paths]
        model_paths = [p for p in paths if _is_model_path(p)]
        media = [p for p in paths if not _is_model_path(p)]
        wanted: Dict[str, Optional[str]] = {"gam": model, "baseline": baseline}
        for side in SIDES:
            if wanted[side] is None and model_paths:
                wanted[side] = model_paths.pop(0)
        saved = self.settings.models() if restore else {side: None for side in SIDES}
        for side in SIDES:
            if wanted[side] is not None:
                self.load_model(side, self.pickers[side].spec_for(wanted[side]))
            elif (demo or restore) and saved[side] is not None:
                self._fallback[side] = self.demo.get(side)
                self.load_model(side, saved[side])
            elif demo and self.demo.get(side):
                self.load_model(side, ModelSpec(self.demo[side]))
        if model_paths:
            self.report(f"ignored {len(model_paths)} extra model file(s): {', '.join(model_paths)}")
        if media:
            self.open_paths(media)
        elif demo:
            self.open_demo_images()

    # ------------------------------------------------------------------ opening sources
    def open_paths(self, paths: Sequence[str], side: Optional[str] = None) -> None:
        """Open dropped / chosen paths: model files go to the panes, the rest is the source."""
        paths = self.dataset_dock.take_datasets([str(p) for p in paths])   # data.yaml / COCO JSON
        models = [p for p in paths if _is_model_path(p)]
        media = [p for p in paths if not _is_model_path(p)]
        targets = [side] if side else list(SIDES)
        for target, path in zip(targets, models):
            self.load_model(target, self.pickers[target].spec_for(path))
        if len(models) > len(targets):
            self.report(f"ignored {len(models) - len(targets)} extra model file(s)")
        if media:
            self.open_source(media if len(media) > 1 else media[0])

    def open_source(self, spec) -> None:
        """A path, a list of paths, a camera index or a stream URL."""
        self.report(f"opening {spec if not isinstance(spec, list) else f'{len(spec)} paths'} …")
        self.pipeline.open(spec)

    def open_files_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open images, a video or models", self.settings.last_dir,
                                                MEDIA_FILTER)
        if paths:
            self.settings.last_dir = str(Path(paths[0]).parent)
            self.open_paths(paths)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images", self.settings.last_dir)
        if folder:
            self.settings.last_dir = folder
            self.open_source(folder)

    def open_camera_dialog(self) -> None:
        index = dialogs.choose_camera(self)
        if index is not None:
            self.open_source(index)

    def open_stream_dialog(self) -> None:
        last = next((r for r in self.settings.recent_files if "://" in r), "")
        url = dialogs.ask_stream_url(self, last)
        if url:
            self.open_source(url)

    def open_demo_images(self) -> None:
        from ..demo import demo_media

        images = [str(p) for p in demo_media() if p.suffix.lower() in IMAGE_EXTENSIONS]
        if images:
            self.open_source(images)
        else:
            self.report("no demo images found (resources/samples is missing)", error=True)

    def open_demo_video(self) -> None:
        from ..demo import demo_media

        videos = [str(p) for p in demo_media() if p.suffix.lower() in VIDEO_EXTENSIONS]
        if videos:
            self.open_source(videos[0])
        else:
            self.report("no demo video found (resources/samples is missing)", error=True)

    def fill_recent_menu(self) -> None:
        menu = self.actions_.recent_menu
        menu.clear()
        recent = self.settings.recent_files
        for entry in recent:
            act = menu.addAction(recent_label(entry))
            act.setToolTip(entry)
            act.triggered.connect(lambda checked=False, e=entry: self.open_source(int(e) if e.isdigit() else e))
        if not recent:
            menu.addAction("(none)").setEnabled(False)
        else:
            menu.addSeparator()
            menu.addAction("Clear the list", self._clear_recent)

    def _clear_recent(self) -> None:
        self.settings.clear_recent()
        for picker in self.pickers.values():
            picker.set_recent([])

    # ------------------------------------------------------------------ models
    def load_model(self, side: str, spec) -> None:
        """Open a model for ``side`` ("gam" = left, "baseline" = right) in the background."""
        if isinstance(spec, str):
            spec = self.pickers[side].spec_for(spec)
        self._persist_model[side] = True
        self.pipeline.load_model(side, spec)

    def set_detector(self, side: str, detector, spec: Optional[ModelSpec] = None) -> None:
        """Use a Detector-like object built elsewhere (not remembered in the settings)."""
        self._persist_model[side] = False
        self.pipeline.set_detector(side, detector, spec)

    def load_demo_pair(self) -> None:
        for side in SIDES:
            if self.demo.get(side):
                self.load_model(side, ModelSpec(self.demo[side]))

    def _on_model_loading(self, side: str, spec: ModelSpec) -> None:
        self.pickers[side].set_loading(spec)
        self.panes[side].set_model(self.pipeline.model_info(side), loading=spec.label)

    def _on_model_loaded(self, side: str, info: Optional[ModelInfo]) -> None:
        self._fallback[side] = None
        self.pickers[side].set_info(info)
        self.panes[side].set_model(info)
        if info is not None and self._persist_model[side]:
            self.settings.set_model(side, info.spec)
            self.settings.add_recent_model(info.spec.source)
            for picker in self.pickers.values():
                picker.set_recent(self.settings.recent_models)
        elif info is None:
            self.settings.set_model(side, None)
        if info is not None:
            msg = f"{SIDE_TITLES[side]}: {info.summary}"
            if info.load_ms:
                msg += f" (opened in {info.load_ms / 1000:.1f} s)"
            self.report(msg)
            self._adopt_trained_size(info)
            self._explain_demo_on_own_media()
        names: List[str] = []
        for s in SIDES:
            other = self.pipeline.model_info(s)
            if other is not None:
                names += other.names
        self.controls.set_class_names(names)
        self.models_changed.emit(side, info)

    def _adopt_trained_size(self, info: ModelInfo) -> None:
        """With Image size on auto (the default) each model runs at the size it was trained
        at, and the control is never changed for the user. A size set by hand in this window
        stays; when it differs from what the model learnt, the status bar says so (each pane
        shows the size in use next to its timing)."""
        current = self.pipeline.params.imgsz if self.pipeline.params is not None else 0
        if current and current != info.default_imgsz:
            self.report(f"{info.label} was trained at {info.default_imgsz} px; Image size is set to {current} px "
                        "by hand (choose 'auto (trained size)' to follow the models)")

    def _on_model_failed(self, side: str, message: str) -> None:
        self.pickers[side].set_error(message)
        self.panes[side].set_model(self.pipeline.model_info(side))
        self.report(f"{SIDE_TITLES[side]} model: {message}", error=True)
        fallback, self._fallback[side] = self._fallback[side], None
        if fallback:  # the model saved last time is gone: the demo instead
            self.load_model(side, ModelSpec(fallback))

    def _on_inference_failed(self, side: str, message: str) -> None:
        text = f"{SIDE_TITLES[side]} model failed on this frame: {message}"
        if text != self._last_inference_error:
            self._last_inference_error = text
            self.report(text, error=True)

    # ------------------------------------------------------------------ results and readouts
    def _on_result(self, result: FrameResult) -> None:
        self.current_result = result
        draw = self.controls.draw_params()
        for side, pane in self.panes.items():
            pane.show_frame(result.rgb, result.frame.index)
            pane.show_detections(result.detections.get(side), result.errors.get(side, ""), draw)
        if not result.errors:
            self._last_inference_error = ""
        self.frame_result.emit(result)

    def _update_stats(self) -> None:
        if self.source_info is None:
            self.stats_label.setText("")
            return
        s = self.pipeline.stats()
        moving = self.source_info.kind in ("video", "camera", "stream") or self.pipeline.playing
        parts = []
        if moving:
            fps = f"{s.shown_fps:.1f} fps shown"
            if s.source_fps and self.source_info.kind != "images":
                fps += f" of {s.source_fps:.0f}"
            parts.append(fps)
        if s.shown:
            parts.append(f"latency {s.latency_ms:.0f} ms")
        if moving:
            parts.append(f"dropped {s.dropped} of {s.frames}")
        self.stats_label.setText(" · ".join(parts))

    def _on_hover(self, side: str, x: float, y: float) -> None:
        self.pixel_label.setText(f"x {int(x)}, y {int(y)}")
        self.image_hovered.emit(side, x, y)

    def _on_source_failed(self, message: str) -> None:
        """A source that cannot be opened leaves the one shown (and the title naming it) as it
        was; a video that stops early keeps its warning on screen (no "end" replaces it)."""
        self._source_problem = message
        self.report(message, error=True)

    def _on_frame_read(self, index: int, count) -> None:
        self._source_problem = ""   # a later frame was read: an earlier problem is not why it ends

    def _on_source_ended(self) -> None:
        problem = getattr(self, "_source_problem", "")
        if problem:
            self.report(problem, error=True)   # "stops at frame 6 of 10" stays, it is why it ended
            return
        self.report("end of the video" if self.source_info and self.source_info.kind == "video" else "end")

    def _on_source_opened(self, info: SourceInfo) -> None:
        self._source_problem = ""
        self.source_info = info
        self.transport.set_source(info)
        self.setWindowTitle(f"gam-viewer — {info.name}")
        spec = info.spec
        entry = spec[0] if isinstance(spec, (list, tuple)) and len(spec) == 1 else spec
        if isinstance(entry, (str, int)):
            self.settings.add_recent_file(str(entry))
        count = f", {info.count} {'frames' if info.kind == 'video' else 'images'}" if info.count else ""
        fps = f" at {info.fps:g} fps" if info.fps and info.kind == "video" else ""
        self.report(f"opened {info.name} ({info.kind}{count}{fps})")
        for note in info.notes:
            self.report(note)
        self._explain_demo_on_own_media()

    def _explain_demo_on_own_media(self) -> None:
        """The demo pair on the user's own pictures labels people "star" or "ring": say once,
        in a bar that stays until closed, what the demo models know and how to open others."""
        if self._demo_explained or self.source_info is None:
            return
        demo = {str(v) for v in self.demo.values() if v}
        infos = [m for m in (self.pipeline.model_info(s) for s in SIDES) if m is not None]
        if not demo or not infos or not all(str(m.spec.source) in demo for m in infos):
            return
        from ..demo import SAMPLES_DIR

        spec = self.source_info.spec
        entries = spec if isinstance(spec, (list, tuple)) else [spec]
        samples = SAMPLES_DIR.resolve()
        if all(isinstance(e, (str, Path)) and Path(e).resolve().parent == samples for e in entries):
            return   # the bundled sample media: what the demo pair was made for
        names = list(dict.fromkeys(n for m in infos for n in m.names))   # in the models' class order
        self._demo_explained = True
        self.notice.show_text(
            f"The demo models only know {len(names)} synthetic shapes ({', '.join(names)}): on your own "
            "pictures their boxes and attention mean little. Open your own models with Models ▸ Open GAM-YOLO "
            "model / Open baseline model (or drop a .pt onto the window), or get the official COCO baseline "
            "with Models ▸ Download official YOLOv5 baseline (or: gam-viewer fetch yolov5s).")

    # ------------------------------------------------------------------ controls
    def _on_inference_params(self, params: InferenceParams) -> None:
        self.settings.set_inference(params)
        self.pipeline.set_params(params)

    def _on_draw_params(self, draw: DrawParams) -> None:
        self.settings.set_drawing(draw)
        for pane in self.panes.values():
            pane.redraw(draw)

    @property
    def colormap(self) -> str:
        return self.settings.colormap

    def _apply_colormap(self, name: str) -> None:
        self.settings.colormap = name
        for pane in self.panes.values():
            pane.set_colormap(name)
        self.colormap_changed.emit(name)

    def fit_view(self) -> None:
        self.panes["gam"].fit()

    def toggle_fullscreen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    # ------------------------------------------------------------------ panels (hook)
    def add_panel(self, widget: QWidget, title: str) -> int:
        """Add ``widget`` as a tab of the right-hand dock; returns its tab index."""
        index = self.panel_tabs.addTab(widget, title)
        self.panels_dock.show()
        return index

    # ------------------------------------------------------------------ messages
    def report(self, text: str, error: bool = False) -> None:
        self.messages.append(text)
        self.statusBar().showMessage(text, 15000 if error else 6000)
        self.message.emit(text)

    def show_about(self) -> None:
        dialogs.show_about(self)

    def show_shortcuts(self) -> None:
        dialogs.show_shortcuts(self)

    # ------------------------------------------------------------------ screenshot (exports.Exporter)
    def save_screenshot(self, path: str, target: str = "both", resolution: str = "view") -> Optional[str]:
        """Save both panes (or ``target`` "gam" / "baseline") as a PNG at ``path``, atomically;
        an existing file is kept and the shot gets the next free name (``shot-1.png``)."""
        try:
            out = self.exporter.save_screenshot(path, target, resolution)
        except (OSError, ValueError) as exc:
            self.report(f"{path}: cannot save the screenshot ({exc})", error=True)
            return None
        self.report(f"saved {out}")
        return str(out)

    def save_screenshot_dialog(self) -> None:
        self.exporter.screenshot_dialog("both")

    # ------------------------------------------------------------------ settings
    def _restore_window(self) -> None:
        geometry, state = self.settings.geometry(), self.settings.window_state()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1440, 860)
        if state is not None:
            self.restoreState(state)
        self.panels_dock.setVisible(self.panel_tabs.count() > 0 and not self.panels_dock.isHidden())

    def save_settings(self) -> None:
        self.settings.set_window(self.saveGeometry(), self.saveState())
        self.settings.set_inference(self.controls.inference_params())
        self.settings.set_drawing(self.controls.draw_params())
        self.settings.sync()

    def reset_settings(self) -> None:
        """Forget the saved settings and put the window's controls back to their defaults."""
        self.settings.reset()
        self.controls.set_inference_params(InferenceParams())
        self.controls.set_draw_params(DrawParams())
        self.controls.colormap.setCurrentIndex(0)
        self._apply_colormap(self.controls.colormap.currentText())
        for picker in self.pickers.values():
            picker.set_recent([])
        self.restoreState(QByteArray())
        self.controls_dock.show()
        self.report("settings reset to the defaults")

    def reset_settings_dialog(self) -> None:
        answer = QMessageBox.question(self, "Reset settings",
                                      "Forget the window layout, last models, thresholds, colormap and recent "
                                      "files?")
        if answer == QMessageBox.StandardButton.Yes:
            self.reset_settings()

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        paths = [u.toLocalFile() for u in urls if u.isLocalFile()]
        remote = [u.toString() for u in urls if not u.isLocalFile() and u.scheme()]
        if not paths and not remote:
            event.ignore()
            return
        event.acceptProposedAction()
        side = self._pane_at(event.position().toPoint())
        if paths:
            self.open_paths(paths, side=side)
        elif remote:
            self.open_source(remote[0])

    def _pane_at(self, pos) -> Optional[str]:
        w = self.childAt(pos)
        while w is not None:
            for side, pane in self.panes.items():
                if w is pane:
                    return side
            w = w.parentWidget()
        return None

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_settings()
        self._stats_timer.stop()
        self.zoo.shutdown()
        self.dataset_dock.shutdown()
        self.pipeline.shutdown()
        super().closeEvent(event)
