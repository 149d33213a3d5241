"""The menu bar and its keyboard shortcuts, wired to MainWindow methods."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow

__all__ = ["build_menus", "recent_label"]


def recent_label(entry: str) -> str:
    if entry.isdigit():
        return f"camera {entry}"
    if "://" in entry:
        return entry
    p = Path(entry)
    return f"{p.name}/  ({p.parent})" if p.is_dir() else f"{p.name}  ({p.parent})"


def build_menus(win: QMainWindow) -> SimpleNamespace:
    """Create every menu and action of ``win``; returns the actions by name."""
    a = SimpleNamespace()
    bar = win.menuBar()

    def act(menu, text, slot, shortcut=None, tip=None, checkable=False):
        action = QAction(text, win)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    m = bar.addMenu("&File")
    a.open = act(m, "&Open…", win.open_files_dialog, QKeySequence.StandardKey.Open,
                 "Open images, a video, or model files")
    a.open_folder = act(m, "Open &folder…", win.open_folder_dialog, "Ctrl+Shift+O", "Open a folder of images")
    a.open_camera = act(m, "Open &webcam…", win.open_camera_dialog, "Ctrl+Shift+C")
    a.open_stream = act(m, "Open stream &URL…", win.open_stream_dialog, "Ctrl+Shift+U")
    a.recent_menu = m.addMenu("&Recent")
    a.recent_menu.aboutToShow.connect(win.fill_recent_menu)
    a.open_dataset = act(m, "Open &dataset for evaluation…", win.dataset_dock.open_dialog, "Ctrl+D",
                         "Evaluate both models on a data.yaml or COCO JSON (Dataset dock)")
    a.demo_images = act(m, "Demo &images", win.open_demo_images)
    a.demo_video = act(m, "Demo &video", win.open_demo_video)
    m.addSeparator()
    e = m.addMenu("&Export")
    ex = win.exporter
    a.screenshot = act(e, "&Screenshot of both panes…", win.save_screenshot_dialog, QKeySequence.StandardKey.Save,
                       "Save both panes as a PNG")
    a.shot_gam = act(e, "Screenshot of the &GAM-YOLO pane…", lambda: ex.screenshot_dialog("gam"))
    a.shot_base = act(e, "Screenshot of the &baseline pane…", lambda: ex.screenshot_dialog("baseline"))
    a.shot_source = act(e, "Screenshots at the source's &resolution", ex.set_source_resolution,
                        tip="Screenshots with the frame's own pixels instead of the view's", checkable=True)
    e.addSeparator()
    a.export_heatmap = act(e, "&Heatmap of the selected layer…", lambda: ex.export_dialog("heatmap"), "Ctrl+E",
                           "PNG with a colour bar and a caption, at the source's resolution")
    a.export_heatmaps = act(e, "Heatmaps of &every GAM layer…", lambda: ex.export_dialog("heatmaps"),
                            "Ctrl+Shift+E")
    a.export_overlays = act(e, "&Overlays shown (gate or CAM)…", lambda: ex.export_dialog("overlays"),
                            "Ctrl+Shift+H")
    a.export_chart = act(e, "&Channel chart (PNG and CSV)…", lambda: ex.export_dialog("chart"), "Ctrl+Shift+K")
    e.addSeparator()
    a.export_grid = act(e, "&Figure grid…", ex.figure_grid_dialog, tip="The open images as rows, CAM and GAM "
                        "layers as columns, one colour scale per quantity (PDF / SVG / PNG + JSON sidecar)")
    a.export_video = act(e, "&Video…", ex.video_dialog, tip="Both panes side by side with boxes and the overlay, "
                         "as MP4 or AVI (choose again while it runs to cancel)")
    m.addSeparator()
    a.quit = act(m, "&Quit", win.close, QKeySequence.StandardKey.Quit)

    m = bar.addMenu("&Models")
    a.open_gam = act(m, "Open &GAM-YOLO model…", lambda: win.pickers["gam"].choose_file())
    a.open_base = act(m, "Open &baseline model…", lambda: win.pickers["baseline"].choose_file())
    a.demo_pair = act(m, "Load the &demo pair", win.load_demo_pair, "Ctrl+L")
    a.zoo_menu = m.addMenu("Download official &YOLOv5 baseline")
    a.zoo_menu.setStatusTip("The official YOLOv5 v7.0 COCO checkpoints, downloaded on request and cached")
    win.zoo.fill_menu(a.zoo_menu)
    m.addSeparator()
    a.unload_gam = act(m, "Close the GAM-YOLO model", lambda: win.pipeline.unload_model("gam"))
    a.unload_base = act(m, "Close the baseline model", lambda: win.pipeline.unload_model("baseline"))

    m = bar.addMenu("&Playback")
    a.play = act(m, "&Play / pause", win.pipeline.toggle_play, "Space")
    a.next = act(m, "&Next image / frame", lambda: win.pipeline.step(1), "Right")
    a.prev = act(m, "P&revious image / frame", lambda: win.pipeline.step(-1), "Left")
    a.next10 = act(m, "Forward 10", lambda: win.pipeline.step(10), "PgDown")
    a.prev10 = act(m, "Back 10", lambda: win.pipeline.step(-10), "PgUp")
    a.first = act(m, "&First", lambda: win.pipeline.seek(0), "Home")
    a.loop = act(m, "&Loop", win.transport.loop.setChecked, checkable=True)
    win.transport.loop.toggled.connect(a.loop.setChecked)

    m = bar.addMenu("&View")
    a.fit = act(m, "&Fit frame", win.fit_view, "F")
    a.fullscreen = act(m, "F&ull screen", win.toggle_fullscreen, "F11", checkable=True)
    m.addSeparator()
    m.addAction(win.controls_dock.toggleViewAction())
    m.addAction(win.panels_dock.toggleViewAction())
    m.addAction(win.dataset_dock.toggleViewAction())
    m.addSeparator()
    a.reset = act(m, "&Reset settings…", win.reset_settings_dialog,
                  tip="Forget window layout, last models, thresholds, colormap and recent files")

    m = bar.addMenu("&Help")
    a.shortcuts = act(m, "&Keyboard shortcuts", win.show_shortcuts, "F1")
    a.about = act(m, "&About gam-viewer", win.show_about)
    return a
