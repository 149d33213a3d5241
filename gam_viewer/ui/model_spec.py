"""What the window asks the engine to open, what it got back, and the live inference knobs.

Plain dataclasses (no Qt): they cross thread boundaries inside signals and go to settings.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import FrozenSet, List, Optional

from ..render.captions import SIDE_TITLES, SIDES   # left pane / --model, right pane / --baseline

__all__ = ["SIDES", "SIDE_TITLES", "ModelSpec", "ModelInfo", "InferenceParams", "DrawParams", "MODEL_SUFFIXES"]

MODEL_SUFFIXES = (".pt", ".pth", ".safetensors", ".yaml", ".yml")


def _opt_bool(value) -> Optional[bool]:
    return None if value is None else bool(value)


@dataclass(frozen=True)
class ModelSpec:
    """A model to open: a file or shipped name plus the switches ``load_model`` takes."""

    source: str
    channel_sigmoid: Optional[bool] = None   # community GAM lineage; None = engine default
    shuffle: Optional[bool] = None
    device: str = "cpu"
    half: bool = False
    backend: str = "auto"                    # "auto" | "torch" | "onnxruntime" (inference.backends)

    @property
    def label(self) -> str:
        return Path(self.source).name or self.source

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text) -> Optional["ModelSpec"]:
        """A spec from settings; None for anything malformed (settings are user-editable)."""
        try:
            d = json.loads(text) if isinstance(text, str) else None
            if not isinstance(d, dict) or not isinstance(d.get("source"), str) or not d["source"]:
                return None
            return cls(d["source"], _opt_bool(d.get("channel_sigmoid")), _opt_bool(d.get("shuffle")),
                       str(d.get("device") or "cpu"), bool(d.get("half", False)),
                       d.get("backend") if d.get("backend") in ("auto", "torch", "onnxruntime") else "auto")
        except (ValueError, TypeError):
            return None


@dataclass
class ModelInfo:
    """A snapshot of a loaded model for the GUI thread (the detector itself stays in its worker)."""

    spec: ModelSpec
    label: str
    kind: str                      # "GAM-YOLO" or "YOLO"
    summary: str                   # Detector.describe()
    names: List[str]
    has_gam: bool
    gam_lines: List[str] = field(default_factory=list)   # one line per GAM layer, with who decided its form
    notes: List[str] = field(default_factory=list)
    format: str = ""
    device: str = "cpu"
    half: bool = False
    default_imgsz: int = 640
    load_ms: float = 0.0
    backend: str = ""              # what runs it, e.g. "ONNX Runtime (CPU, 2 threads)"

    @classmethod
    def from_detector(cls, det, spec: ModelSpec, load_ms: float = 0.0) -> "ModelInfo":
        loaded = getattr(det, "loaded", None)
        notes = list(getattr(loaded, "notes", []) or []) + list(getattr(det, "notes", []) or [])
        has_gam = bool(getattr(det, "has_gam", False))
        return cls(
            spec=spec,
            label=Path(str(getattr(det, "source", "") or spec.source)).name or spec.label,
            kind="GAM-YOLO" if has_gam else "YOLO",
            summary=str(det.describe()) if hasattr(det, "describe") else spec.label,
            names=[str(n) for n in getattr(det, "names", [])],
            has_gam=has_gam,
            gam_lines=[r.describe() for r in getattr(det, "gam", []) or []],
            notes=notes,
            format=str(getattr(det, "format", "")),
            device=str(getattr(det, "device", spec.device)),
            half=bool(getattr(det, "half", spec.half)),
            default_imgsz=int(getattr(det, "default_imgsz", 640) or 640),
            load_ms=load_ms,
            backend=str(getattr(det, "backend_label", "") or ""),
        )


@dataclass(frozen=True)
class InferenceParams:
    """Knobs that need a new forward pass when they change."""

    conf: float = 0.25
    iou: float = 0.45
    imgsz: int = 0             # 0: auto, each model at the size it was trained at
    attention: bool = True

    def imgsz_for(self, trained: int) -> int:
        """The network input size for a model trained at ``trained`` px."""
        return int(self.imgsz) if self.imgsz else int(trained)


@dataclass(frozen=True)
class DrawParams:
    """Knobs that only change the drawing (applied at once, no inference)."""

    line_width: int = 2
    show_labels: bool = True
    show_scores: bool = True
    hidden_classes: FrozenSet[str] = frozenset()   # class names not drawn
