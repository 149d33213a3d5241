"""Persistent settings (QSettings): window geometry, last models, thresholds, colormap, recents.

``Settings()`` uses the user's settings (``~/.config/gam-viewer/gam-viewer.conf`` on Linux) unless
the environment variable ``GAM_VIEWER_SETTINGS`` names an INI file; ``Settings(path)`` always uses
that INI file (tests and scripts pass a temporary one). Every value read back is validated: a
hand-edited or stale file gives defaults, never an exception.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Union

from PySide6.QtCore import QByteArray, QSettings

from ..render.colormaps import COLORMAPS
from .model_spec import SIDES, DrawParams, InferenceParams, ModelSpec

__all__ = ["Settings", "ENV_VAR", "COLORMAPS"]

ENV_VAR = "GAM_VIEWER_SETTINGS"
MAX_RECENT = 10


class Settings:
    def __init__(self, path: Union[str, Path, None] = None):
        path = path or os.environ.get(ENV_VAR) or None
        if path:
            self.qs = QSettings(str(path), QSettings.Format.IniFormat)
        else:
            self.qs = QSettings(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, "gam-viewer", "gam-viewer")
        self.path = self.qs.fileName()

    # ------------------------------------------------------------------ typed access
    def _get(self, key: str, default, kind):
        value = self.qs.value(key, None)
        if value is None:
            return default
        try:
            if kind is bool:
                if isinstance(value, str):
                    return value.strip().lower() in ("1", "true", "yes", "on")
                return bool(value)
            return kind(value)
        except (TypeError, ValueError):
            return default

    def _list(self, key: str) -> List[str]:
        try:
            value = json.loads(self.qs.value(key, "[]") or "[]")
        except (TypeError, ValueError):
            return []
        return [v for v in value if isinstance(v, str) and v] if isinstance(value, list) else []

    def _set_list(self, key: str, items: List[str]) -> None:
        self.qs.setValue(key, json.dumps(list(items)[:MAX_RECENT]))

    # ------------------------------------------------------------------ inference / drawing
    def inference(self) -> InferenceParams:
        d = InferenceParams()
        conf = min(1.0, max(0.0, self._get("infer/conf", d.conf, float)))
        iou = min(1.0, max(0.0, self._get("infer/iou", d.iou, float)))
        # a new key: the old one could hold a size the demo pair once set, which then ran the
        # user's own models at the demo's size; 0 is the auto (trained size) choice
        imgsz = self._get("infer/imgsz_choice", d.imgsz, int)
        imgsz = imgsz if imgsz == 0 or 32 <= imgsz <= 4096 else d.imgsz
        return InferenceParams(conf=conf, iou=iou, imgsz=imgsz)

    def set_inference(self, p: InferenceParams) -> None:
        self.qs.setValue("infer/conf", float(p.conf))
        self.qs.setValue("infer/iou", float(p.iou))
        self.qs.setValue("infer/imgsz_choice", int(p.imgsz))

    def drawing(self) -> DrawParams:
        d = DrawParams()
        lw = self._get("draw/line_width", d.line_width, int)
        return DrawParams(line_width=lw if 1 <= lw <= 16 else d.line_width,
                          show_labels=self._get("draw/labels", d.show_labels, bool),
                          show_scores=self._get("draw/scores", d.show_scores, bool))

    def set_drawing(self, p: DrawParams) -> None:
        self.qs.setValue("draw/line_width", int(p.line_width))
        self.qs.setValue("draw/labels", bool(p.show_labels))
        self.qs.setValue("draw/scores", bool(p.show_scores))

    @property
    def colormap(self) -> str:
        name = self._get("view/colormap", COLORMAPS[0], str)
        return name if name in COLORMAPS else COLORMAPS[0]

    @colormap.setter
    def colormap(self, name: str) -> None:
        if name in COLORMAPS:
            self.qs.setValue("view/colormap", name)

    # ------------------------------------------------------------------ models
    def models(self) -> Dict[str, Optional[ModelSpec]]:
        return {side: ModelSpec.from_json(self.qs.value(f"models/{side}", None)) for side in SIDES}

    def set_model(self, side: str, spec: Optional[ModelSpec]) -> None:
        if spec is None:
            self.qs.remove(f"models/{side}")
        else:
            self.qs.setValue(f"models/{side}", spec.to_json())

    # ------------------------------------------------------------------ recents and folders
    @property
    def recent_files(self) -> List[str]:
        return self._list("recent/files")

    @property
    def recent_models(self) -> List[str]:
        return self._list("recent/models")

    def add_recent_file(self, path: str) -> None:
        self._set_list("recent/files", [path] + [p for p in self.recent_files if p != path])

    def add_recent_model(self, source: str) -> None:
        self._set_list("recent/models", [source] + [p for p in self.recent_models if p != source])

    def clear_recent(self) -> None:
        self.qs.remove("recent")

    @property
    def last_dir(self) -> str:
        d = self._get("recent/last_dir", "", str)
        return d if d and Path(d).is_dir() else str(Path.home())

    @last_dir.setter
    def last_dir(self, folder: str) -> None:
        self.qs.setValue("recent/last_dir", str(folder))

    # ------------------------------------------------------------------ window
    def geometry(self) -> Optional[QByteArray]:
        g = self.qs.value("window/geometry", None)
        return g if isinstance(g, QByteArray) and not g.isEmpty() else None

    def window_state(self) -> Optional[QByteArray]:
        s = self.qs.value("window/state", None)
        return s if isinstance(s, QByteArray) and not s.isEmpty() else None

    def set_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self.qs.setValue("window/geometry", geometry)
        self.qs.setValue("window/state", state)

    # ------------------------------------------------------------------ all of it
    def reset(self) -> None:
        """Forget everything (the window applies the defaults)."""
        self.qs.clear()
        self.qs.sync()

    def sync(self) -> None:
        self.qs.sync()
