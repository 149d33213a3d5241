"""Exports from the window (File ▸ Export): screenshots, heatmap figures, the channel chart.

* screenshots - both panes or one pane, as PNG, at the view's resolution (what is on screen,
  ``QWidget.grab``) or at the source's (the frame's own pixels with the overlay, the markers
  and the boxes drawn on it; both panes side by side);
* heatmaps - the selected layer or every GAM layer, and the overlays shown (gate or CAM),
  as ``render.figures.heatmap_figure``: the image at its own resolution, a colour bar of the
  real values and a caption (model, layer, reduction, frame, range);
* the channel chart - ``render.figures.channel_chart_figure`` (PNG) and its values (CSV).

What is exported, its caption and its file name come from the panel's state
(``render.view_state``: ``gate_view``, ``cam_view``, ``chart_view``, ``export_map``,
``export_chart``), never from its widgets: ``gam-viewer export`` calls the same functions,
so both name, colour and caption a frame alike (``render.captions``).

Files are written by ``render.figures.write_atomic`` (temp file, then moved into place) and
never replace a file silently: figure exports go to a folder under names that are free
(``bus_gam-L23-heatmap-spatial-mean.png``, then ``...-1.png``), and a screenshot replaces an
existing file only when the user confirmed it in the save dialog.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog

from ..media.sources import list_images
from ..render import captions as C
from ..render import figures as F
from ..render.boxes import draw_boxes, draw_outline, visible_boxes
from ..render.palette import CELL_RGB, TARGET_BOX_RGB
from ..render.view_state import chart_view, export_chart, export_map, gate_view
from .model_spec import SIDE_TITLES, SIDES

__all__ = ["Exporter", "qimage_to_rgb", "TARGETS", "RESOLUTIONS"]

TARGETS = ("both",) + SIDES
RESOLUTIONS = ("view", "source")
GAP_PX = 8
FileData = Union[np.ndarray, str]


def qimage_to_rgb(img: QImage) -> np.ndarray:
    """H x W x 3 uint8 RGB copy of a QImage."""
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    h, w = img.height(), img.width()
    buf = np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * h)
    return buf.reshape(h, img.bytesPerLine())[:, : 3 * w].reshape(h, w, 3).copy()


def _numbered(name: str, k: int) -> str:
    p = Path(name)
    return name if k == 0 else f"{p.stem}-{k}{p.suffix}"


class Exporter:
    def __init__(self, window):
        self.win = window
        self.source_resolution = False    # File ▸ Export ▸ Screenshots at the source's resolution
        self.folder: Optional[str] = None
        self._background = None           # background_exports.BackgroundExports, made on first use

    @property
    def panel(self):
        return self.win.attention

    def _result(self):
        r = self.win.current_result
        if r is None:
            raise ValueError("nothing to export yet: open an image or a video first")
        return r

    def frame_stem(self) -> str:
        """``bus`` for an image, ``clip_f000120`` for frame 120 of a video or a live source
        (``render.captions.frame_stem``; ``a_jpg`` when the folder also holds ``a.png``)."""
        f = self._result().frame
        info = self.win.source_info
        kind = info.kind if info is not None else "image"
        siblings: List[Path] = []
        if f.path and kind == "folder":
            siblings = list_images(Path(f.path).parent)
        elif f.path and kind == "images" and isinstance(getattr(info, "spec", None), (list, tuple)):
            siblings = [Path(str(p)) for p in info.spec]
        return C.frame_stem(f.path or f.source, f.index, kind in C.MOVING_KINDS, siblings)

    def frame_text(self) -> str:
        f = self._result().frame
        return C.frame_caption(f.source, f.index, f.count)

    # ------------------------------------------------------------------ screenshots
    def screenshot(self, target: str = "both", resolution: str = "view") -> np.ndarray:
        """RGB uint8 of ``target`` ("both", "gam", "baseline") at the "view" or "source" resolution."""
        if target not in TARGETS:
            raise ValueError(f"screenshot target must be one of {TARGETS}, got {target!r}")
        if resolution not in RESOLUTIONS:
            raise ValueError(f"screenshot resolution must be one of {RESOLUTIONS}, got {resolution!r}")
        if resolution == "view":
            widget = self.win.pane_area if target == "both" else self.win.panes[target]
            return qimage_to_rgb(widget.grab().toImage())
        r = self._result()
        sides = SIDES if target == "both" else (target,)
        parts = [self._pane_at_source(side, r) for side in sides]
        if len(parts) == 1:
            return parts[0]
        h = parts[0].shape[0]
        gap = np.full((h, GAP_PX, 3), 30, np.uint8)
        return np.ascontiguousarray(np.hstack([parts[0], gap, parts[1]]))

    def _pane_at_source(self, side: str, r) -> np.ndarray:
        """The frame with what the pane shows (the panel's state, not its widgets): the overlay,
        the chart's clicked cell, the Grad-CAM target and the boxes."""
        rgb = np.ascontiguousarray(r.rgb, dtype=np.uint8).copy()
        panel, st = self.panel, self.panel.state
        shown = panel.shown.get(side)
        if shown is not None:
            rgb = F.overlay(rgb, shown.full(), st.cmap, shown.vrange, st.opacity, channel_order="rgb")
        chart = panel.chart_view
        rects = []
        if chart is not None and chart.cell is not None and chart.side == side:
            rects.append((chart.cell, CELL_RGB))
        if shown is not None and shown.boxes is not None:
            rects.append((tuple(shown.boxes[0]), TARGET_BOX_RGB))
        for rect, colour in rects:
            draw_outline(rgb, rect, colour)
        det = r.detections.get(side)
        if det is not None and len(det):
            d = self.win.controls.draw_params()
            keep, labels = visible_boxes(det.names, det.classes, det.scores, d.hidden_classes, d.show_labels,
                                         d.show_scores)
            rgb = draw_boxes(rgb, np.asarray(det.boxes)[keep], labels, np.asarray(det.classes)[keep],
                             line_width=d.line_width, channel_order="rgb")
        return rgb

    def save_screenshot(self, path: Union[str, Path], target: str = "both", resolution: str = "view",
                        overwrite: bool = False) -> Path:
        """Write the screenshot as PNG (``.png`` added); an existing file gets a free numbered
        name unless ``overwrite`` (the user confirmed replacing it)."""
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_name(path.name + ".png")
        rgb = self.screenshot(target, resolution)
        return F.save_png(rgb, path if overwrite else F.free_path(path), overwrite=overwrite)

    # ------------------------------------------------------------------ figures
    def heatmap_figures(self, which: str = "selected") -> List[Tuple[str, np.ndarray]]:
        """(file name, RGB figure) of the selected GAM layer ("selected") or of every one ("all")."""
        r, panel = self._result(), self.panel
        if which == "selected":
            a = panel.selected_map()
            layers = [(panel.state.selected[0], a)] if a is not None else []
        elif which == "all":
            layers = [(side, a) for side in SIDES for a in panel.maps(side)]
        else:
            raise ValueError(f"which must be 'selected' or 'all', got {which!r}")
        if not layers:
            raise ValueError("no GAM layer to export: neither model has GAM layers in this frame")
        stem, frame, st = self.frame_stem(), self.frame_text(), panel.state
        return [export_map(st, gate_view(st, side, a, panel.model_label(side)), r.frame.image, stem, frame)
                for side, a in layers]

    def overlay_figures(self) -> List[Tuple[str, np.ndarray]]:
        """(file name, RGB figure) of what each pane shows now: a gate heatmap or a CAM."""
        r, panel = self._result(), self.panel
        if not panel.shown:
            raise ValueError("no overlay is shown: click a layer thumbnail or choose a CAM under Overlay")
        stem, frame = self.frame_stem(), self.frame_text()
        return [export_map(panel.state, panel.shown[side], r.frame.image, stem, frame)
                for side in SIDES if side in panel.shown]

    def chart_files(self) -> List[Tuple[str, FileData]]:
        """The channel chart as (PNG name, RGB) and its values as (CSV name, text)."""
        self._result()
        panel = self.panel
        a = panel.selected_map()
        if a is None:
            raise ValueError("no channel chart: neither model has GAM layers in this frame")
        side = panel.state.selected[0]
        view = chart_view(panel.state, side, a, panel.model_label(side))
        return export_chart(panel.state, view, self.frame_stem(), self.frame_text())

    def write(self, folder: Union[str, Path], files: Sequence[Tuple[str, FileData]]) -> List[Path]:
        """Write ``files`` into ``folder`` atomically, all under one free number (``-1``, ``-2``, ...)."""
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such folder")
        k = 0
        while any((folder / _numbered(n, k)).exists() for n, _ in files):
            k += 1
        written = []
        for name, data in files:
            path = folder / _numbered(name, k)
            if isinstance(data, str):
                written.append(F.save_text(data, path))
            else:
                written.append(F.save_png(data, path))
        return written

    def export(self, what: str, folder: Union[str, Path]) -> List[Path]:
        """``what``: "heatmap" (selected layer), "heatmaps" (every GAM layer), "overlays", "chart"."""
        makers = {"heatmap": lambda: self.heatmap_figures("selected"), "heatmaps": lambda: self.heatmap_figures("all"),
                  "overlays": self.overlay_figures, "chart": self.chart_files}
        if what not in makers:
            raise ValueError(f"unknown export {what!r}; one of {', '.join(makers)}")
        return self.write(folder, makers[what]())

    # ------------------------------------------------------------------ menu actions
    def set_source_resolution(self, on: bool) -> None:
        self.source_resolution = bool(on)

    def _start_dir(self) -> str:
        return self.folder or self.win.settings.last_dir

    def screenshot_dialog(self, target: str = "both") -> Optional[Path]:
        try:
            stem = self.frame_stem()
        except ValueError as exc:
            self.win.report(str(exc), error=True)
            return None
        res = "source" if self.source_resolution else "view"
        default = F.free_path(Path(self._start_dir()) / f"gam-viewer-{stem}-{target}.png")
        what = "both panes" if target == "both" else f"the {SIDE_TITLES[target]} pane"
        path, _ = QFileDialog.getSaveFileName(self.win, f"Save a screenshot of {what} ({res} resolution)",
                                              str(default), "PNG images (*.png)")
        if not path:
            return None
        # the dialog asked before replacing an existing file: the user confirmed it
        saved = self._report_saved(lambda: [self.save_screenshot(path, target, res, overwrite=Path(path).exists())])
        return saved[0] if saved else None

    def export_dialog(self, what: str) -> List[Path]:
        titles = {"heatmap": "the selected layer's heatmap", "heatmaps": "every GAM layer's heatmap",
                  "overlays": "the overlays shown", "chart": "the channel chart (PNG + CSV)"}
        folder = QFileDialog.getExistingDirectory(self.win, f"Export {titles.get(what, what)} into a folder",
                                                  self._start_dir())
        if not folder:
            return []
        self.folder = folder
        return self._report_saved(lambda: self.export(what, folder)) or []

    def _report_saved(self, job) -> Optional[List[Path]]:
        try:
            paths = job()
        except (ValueError, OSError) as exc:
            self.win.report(f"export: {exc}", error=True)
            return None
        if len(paths) == 1:
            self.win.report(f"saved {paths[0]}")
        else:
            self.win.report(f"saved {len(paths)} files in {paths[0].parent}: {', '.join(p.name for p in paths)}")
        return paths

    # ------------------------------------------------------------------ figure grid and video (a worker thread)
    @property
    def background(self):
        if self._background is None:
            from .background_exports import BackgroundExports

            self._background = BackgroundExports(self.win)
        return self._background

    def figure_grid_dialog(self) -> bool:
        return self.background.figure_grid_dialog()

    def video_dialog(self) -> bool:
        return self.background.video_dialog()
