"""The record every checkpoint reader returns: the rebuilt model, its names, and what was decided."""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .builder import YoloModel

__all__ = ["LoadedModel", "GamLayerReport"]


@dataclass
class GamLayerReport:
    """What gam-viewer decided for one GAM layer, and why."""

    index: int
    position: str
    stride: Optional[int]
    channels: int
    variant: str
    groups: int
    rate: int
    channel_sigmoid: bool
    shuffle: bool
    decided_by: str  # e.g. "checkpoint", "default for a grouped layer (2022 rewrite)", "user"

    def describe(self) -> str:
        if self.variant == "paper":
            sem = "paper form (sigmoid gates" + (f", {self.groups} groups with mid-shuffle)" if self.groups > 1 else ")")
        else:
            sem = (f"community form, {'grouped x' + str(self.groups) if self.groups > 1 else 'ungrouped'}, "
                   f"channel sigmoid {'on' if self.channel_sigmoid else 'off'}, "
                   f"final-map shuffle {'on' if self.shuffle else 'off'}")
        return f"layer {self.index} {self.position} ({self.channels} ch): {sem} [{self.decided_by}]"


@dataclass
class LoadedModel:
    """A model rebuilt from a file, float32 and in eval mode, with what the file said about it."""

    model: YoloModel
    names: List[str]
    source: str
    format: str          # yolov5-repo | yolov5-pypi | ultralytics | gam-viewer | yaml | ...
    imgsz: int = 640
    gam: List[GamLayerReport] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    meta: Dict[str, Any] = field(default_factory=dict)

    @property
    def has_gam(self) -> bool:
        return bool(self.gam)

    def gam_summary(self) -> str:
        if not self.gam:
            return "no GAM layers"
        return "; ".join(r.describe() for r in self.gam)
