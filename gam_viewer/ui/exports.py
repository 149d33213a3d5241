"""Exports from the window (File ▸ Export): screenshots, heatmap figures, the channel chart.

* screenshots - both panes or one pane, as PNG, at the view's resolution (what is on screen,
  ``QWidget.grab``) or at the source's (the frame's own pixels with the overlay, the markers
  and the boxes drawn on it; both panes side by side);
* heatmaps - the selected layer or every GAM layer, and the overlays shown (gate or CAM),
  as ``render.figures.heatmap_figure``: the image at its own resolution, a colour bar of the
  real values and a caption (model, layer, reduction, frame, range);
* the channel chart - ``render.figures.channel_chart_figure`` (PNG) and its values (CSV).

Files are written by ``render.figures.write_atomic`` (temp file, then moved into place) and
never replace a file silently: figure exports go to a folder under names that are free
(``bus_gam-L23-heatmap-spatial-mean.png``, then ``...-1.png``), and a screenshot replaces an
existing file only when the user confirmed it in the save dialog.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog

from ..render import figures as F
from .boxes import class_color
from .model_spec import SIDE_TITLES, SIDES
from .overlay import colour_rgb, export_cmap

__all__ = ["Exporter", "qimage_to_rgb", "TARGETS", "RESOLUTIONS"]

TARGETS = ("both",) + SIDES
RESOLUTIONS = ("view", "source")
GAP_PX = 8
MAX_LABELS = 100
FileData = Union[np.ndarray, str]


def qimage_to_rgb(img: QImage) -> np.ndarray:
    """H x W x 3 uint8 RGB copy of a QImage."""
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    h, w = img.height(), img.width()
    buf = np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * h)
    return buf.reshape(h, img.bytesPerLine())[:, : 3 * w].reshape(h, w, 3).copy()


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "frame"


def _numbered(name: str, k: int) -> str:
    p = Path(name)
    return name if k == 0 else f"{p.stem}-{k}{p.suffix}"


class Exporter:
    def __init__(self, window):
        self.win = window
        self.source_resolution = False    # File ▸ Export ▸ Screenshots at the source's resolution
        self.folder: Optional[str] = None

    @property
    def panel(self):
        return self.win.attention

    def _result(self):
        r = self.win.current_result
        if r is None:
            raise ValueError("nothing to export yet: open an image or a video first")
        return r

    def frame_stem(self) -> str:
        """``bus`` for an image, ``clip_f000120`` for frame 120 of a video or a live source."""
        r = self._result()
        f = r.frame
        stem = _safe(Path(f.path).stem if f.path else f.source)
        kind = self.win.source_info.kind if self.win.source_info is not None else "image"
        return f"{stem}_f{f.index:06d}" if kind in ("video", "camera", "stream") else stem

    def frame_text(self) -> str:
        f = self._result().frame
        return f"{f.source} #{f.index}"

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
        rgb = np.ascontiguousarray(r.rgb, dtype=np.uint8).copy()
        pane, panel = self.win.panes[side], self.panel
        shown = panel.shown.get(side)
        if shown is not None and pane.overlay_item.isVisible():
            a = float(panel.style.opacity)
            colour = colour_rgb(shown.full(), panel.style.cmap, shown.vrange)
            rgb = cv2.addWeighted(rgb, 1.0 - a, colour, a, 0.0)
        for item in (panel.cell_items[side], panel.box_items[side]):
            if item.isVisible():
                rc, c = item.rect(), item.pen().color()
                cv2.rectangle(rgb, (int(round(rc.left())), int(round(rc.top()))),
                              (int(round(rc.right())), int(round(rc.bottom()))), (c.red(), c.green(), c.blue()), 2)
        self._draw_boxes(rgb, r.detections.get(side))
        return rgb

    def _draw_boxes(self, rgb: np.ndarray, det) -> None:
        """The boxes as the pane draws them (class colours, hidden classes, labels and scores)."""
        if det is None or len(det) == 0:
            return
        d = self.win.controls.draw_params()
        names = list(det.names)
        lw = max(1, int(d.line_width))
        scale = max(0.4, lw / 3)
        for i in range(len(det)):
            c = int(det.classes[i])
            name = names[c] if 0 <= c < len(names) else str(c)
            if name in d.hidden_classes:
                continue
            q = class_color(c)
            col = (q.red(), q.green(), q.blue())
            x1, y1, x2, y2 = (int(round(float(v))) for v in det.boxes[i])
            cv2.rectangle(rgb, (x1, y1), (x2, y2), col, lw, cv2.LINE_AA)
            if d.show_labels and i < MAX_LABELS:
                text = name + (f" {float(det.scores[i]):.2f}" if d.show_scores else "")
                (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
                ty = y1 - th - base - 2 if y1 - th - base - 2 >= 0 else y1
                cv2.rectangle(rgb, (x1, ty), (x1 + tw + 2, ty + th + base + 2), col, -1)
                lum = 0.299 * col[0] + 0.587 * col[1] + 0.114 * col[2]
                cv2.putText(rgb, text, (x1 + 1, ty + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale,
                            (0, 0, 0) if lum > 140 else (255, 255, 255), 1, cv2.LINE_AA)

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
            layers = [(panel.selected[0], a)] if a is not None else []
        elif which == "all":
            layers = [(side, a) for side in SIDES for a in panel.maps(side)]
        else:
            raise ValueError(f"which must be 'selected' or 'all', got {which!r}")
        if not layers:
            raise ValueError("no GAM layer to export: neither model has GAM layers in this frame")
        stem, style, gate = self.frame_stem(), panel.style, panel.gate
        out = []
        for side, a in layers:
            red = panel.reduction(side, a)
            values = a.image_map(red, gate)
            vr = style.vrange(values)
            info = r.models.get(side)
            cap = F.caption_text(info.label if info else side, f"{a.index} {a.name}", panel.reduction_text(side, a),
                                 self.frame_text())
            fig = F.heatmap_figure(r.frame.image, values, cmap=export_cmap(style.cmap), vrange=vr,
                                   range_mode=style.range_mode, alpha=style.opacity, caption=cap, label=f"{gate} gate")
            tag = f"ch{red}" if isinstance(red, int) else red
            out.append((f"{stem}_{side}-L{a.index}-heatmap-{gate}-{tag}.png", fig))
        return out

    def overlay_figures(self) -> List[Tuple[str, np.ndarray]]:
        """(file name, RGB figure) of what each pane shows now: a gate heatmap or a CAM."""
        r, panel = self._result(), self.panel
        if not panel.shown:
            raise ValueError("no overlay is shown: click a layer thumbnail or choose a CAM under Overlay")
        stem, style = self.frame_stem(), panel.style
        out = []
        for side in SIDES:
            s = panel.shown.get(side)
            if s is None:
                continue
            values = s.full()
            vr = style.vrange(values)
            cap = F.caption_text(s.model, s.layer, s.what, self.frame_text())
            fig = F.heatmap_figure(r.frame.image, values, cmap=export_cmap(style.cmap), vrange=vr,
                                   range_mode=style.range_mode, alpha=style.opacity, caption=cap, label=s.label,
                                   boxes=s.boxes, box_labels=s.box_labels or None, box_classes=s.box_classes or None)
            kind = {"gate": "heatmap", "eigen": "eigencam", "grad": "gradcam"}[s.kind]
            out.append((f"{stem}_{side}-{kind}.png", fig))
        return out

    def chart_files(self) -> List[Tuple[str, FileData]]:
        """The channel chart as (PNG name, RGB) and its values as (CSV name, text)."""
        self._result()
        data, chart = self.panel.chart_data, self.panel.chart
        if data is None:
            raise ValueError("no channel chart: neither model has GAM layers in this frame")
        a = data["layer"]
        sort, top_k = chart.sort.isChecked(), chart.top_k.value() or None
        cap = F.caption_text(data["model"], frame=self.frame_text()) + (f" | {data['where']}" if data["where"] else "")
        png = F.channel_chart_figure(data["values"], sort=sort, top_k=top_k, title=data["title"], caption=cap,
                                     ylabel=f"{data['gate']} gate", marked=data["marked"])
        ids, vals = F.channel_bars(data["values"], sort, top_k)
        csv = F.channel_csv(ids, vals, f"{data['gate']}_gate_{data['reduction']}")
        name = f"{self.frame_stem()}_{data['side']}-L{a.index}-chart-{data['reduction']}"
        return [(name + ".png", png), (name + ".csv", csv)]

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
        cmap = self.panel.style.cmap
        if what != "chart" and export_cmap(cmap) != cmap:
            self.win.report(f"the figures use {export_cmap(cmap)}: {cmap} is not available to the figure renderer")
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
