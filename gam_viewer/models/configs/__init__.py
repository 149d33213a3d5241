"""The model YAMLs shipped with gam-viewer (YOLOv5-repo schema and Ultralytics schema).

YOLOv5-repo schema: ``yolov5n``, ``yolov5s`` and their ``-gam-backbone/-head/-full`` forms.
Ultralytics schema (one file for all sizes, the size letter picks the scale, as Ultralytics
does): ``yolov8{n,s,m,l,x}[-gam-...]``, ``yolov5{n,s,m,l,x}u[-gam-...]`` and
``yolo11{n,s,m,l,x}[-gam-...]``.
"""

import re
from pathlib import Path
from typing import List, Optional, Tuple

HERE = Path(__file__).resolve().parent

__all__ = ["find", "find_with_scale", "names", "HERE"]

_SCALED = re.compile(r"^(yolov8|yolov5|yolo11)([nsmlx])(u?)(-.+)?$")
_SCALED_BASES = ("yolov8", "yolov5u", "yolo11")  # one file for every size


def names() -> List[str]:
    """Every name :func:`find` accepts, sized names included."""
    out = []
    for p in sorted(HERE.glob("*.yaml")):
        stem = p.stem
        if stem.startswith("yolov8"):
            out += [stem.replace("yolov8", f"yolov8{s}", 1) for s in "nsmlx"]
        elif stem.startswith("yolov5u"):
            out += [stem.replace("yolov5u", f"yolov5{s}u", 1) for s in "nsmlx"]
        elif stem.startswith("yolo11"):
            out += [stem.replace("yolo11", f"yolo11{s}", 1) for s in "nsmlx"]
        else:
            out.append(stem)
    return out


def find_with_scale(name: str) -> Tuple[Optional[Path], Optional[str]]:
    """(path, scale letter or None) of a shipped YAML by name, with or without ``.yaml``."""
    stem = name[:-5] if name.endswith((".yaml", ".yml")) else name
    if "/" in stem or "\\" in stem:
        return None, None
    direct = HERE / f"{stem}.yaml"
    if direct.is_file() and not stem.startswith(_SCALED_BASES):
        return direct, None
    m = _SCALED.match(stem)
    if m:
        family, scale, u, rest = m.group(1), m.group(2), m.group(3), m.group(4) or ""
        base = family if family in ("yolov8", "yolo11") else ("yolov5u" if u else None)
        if base:
            p = HERE / f"{base}{rest}.yaml"
            if p.is_file():
                return p, scale
    return None, None


def find(name: str) -> Optional[Path]:
    return find_with_scale(name)[0]


def summary() -> str:
    """The shipped names in one short line."""
    return ("yolov5n, yolov5s, yolov5{n,s}-gam-{backbone,head,full}, "
            "yolov5{n,s,m,l,x}u[-gam-{backbone,head,full}], yolov8{n,s,m,l,x}[-gam-{backbone,head,full}], "
            "yolo11{n,s,m,l,x}[-gam-{backbone,head,full}]")
