"""Insert layers (GAM blocks) into a model YAML, and remap layer indices and weight names.

Inserting a row shifts every later layer's index, so every absolute ``from`` index above the
insertion point and every ``model.<i>.`` weight prefix of a later layer must move with it.
A GAM inserted after layer ``j`` takes ``j``'s place in the stream: every consumer of ``j``
(the next row's ``-1`` as well as absolute references such as Detect's inputs) now reads
the GAM's output.
"""

import copy
import re
from typing import Any, Dict, Iterable, List, Mapping, Tuple

__all__ = ["insert_after", "remap_state_dict", "BACKBONE_END", "HEAD_OUTPUTS"]

# 0-based indices (in the baseline YAMLs) of the layers GAM is published after:
# backbone: the last C3/C2f before SPPF (YOLO11: SPPF itself, so GAM sits between SPPF and
# C2PSA); head: every C3/C2f/C3k2 that feeds Detect.
BACKBONE_END = {"yolov5": 8, "yolov5u": 8, "yolov8": 8, "yolo11": 9}
HEAD_OUTPUTS = {"yolov5": (17, 20, 23), "yolov5u": (17, 20, 23), "yolov8": (15, 18, 21), "yolo11": (16, 19, 22)}


def insert_after(cfg: Mapping[str, Any], after: Iterable[int], row_args: List[Any] = None,
                 module: str = "GAM") -> Tuple[Dict[str, Any], Dict[int, int]]:
    """Return a new YAML dict with a ``module`` row after each layer in ``after``, and the
    map old index -> new index of every original layer."""
    cfg = copy.deepcopy(dict(cfg))
    nb = len(cfg["backbone"])
    rows = list(cfg["backbone"]) + list(cfg["head"])
    after = sorted(set(int(a) for a in after))
    for a in after:
        if not 0 <= a < len(rows) - 1:
            raise ValueError(f"cannot insert after layer {a}: the model has layers 0..{len(rows) - 2} before Detect")
    index_map: Dict[int, int] = {}
    shift = 0
    for i in range(len(rows)):
        index_map[i] = i + shift
        if i in after:
            shift += 1
    # where consumers of layer i now read from: the GAM after it, if any
    source_map = {i: index_map[i] + (1 if i in after else 0) for i in range(len(rows))}

    def remap(src, i):
        def one(s):
            if s == -1:
                return -1
            old = s if s >= 0 else i + s
            return source_map[old]
        return one(src) if isinstance(src, int) else [one(s) for s in src]

    new_rows: List[list] = []
    new_backbone_len = nb
    for i, (src, n, mod, args) in enumerate(rows):
        new_rows.append([remap(src, i), n, mod, copy.deepcopy(args)])
        if i in after:
            new_rows.append([-1, 1, module, list(row_args or [])])
            if i < nb:
                new_backbone_len += 1
    cfg["backbone"] = new_rows[:new_backbone_len]
    cfg["head"] = new_rows[new_backbone_len:]
    return cfg, index_map


_PREFIX = re.compile(r"^model\.(\d+)\.")


def remap_state_dict(sd: Mapping[str, Any], index_map: Mapping[int, int]) -> Dict[str, Any]:
    """Rename ``model.<old>.`` to ``model.<new>.`` in every key (other keys unchanged)."""
    out = {}
    for k, v in sd.items():
        m = _PREFIX.match(k)
        if m and int(m.group(1)) in index_map:
            k = f"model.{index_map[int(m.group(1))]}." + k[m.end():]
        out[k] = v
    return out
