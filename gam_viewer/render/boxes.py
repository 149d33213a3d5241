"""Detection boxes on image arrays, in the one style the window and the exports share.

* :func:`visible_boxes` - which detections are drawn and their label texts (hidden classes,
  labels and scores on or off): the pane, the window's screenshots and the CLI use it;
* :func:`draw_boxes` - outlines in the class colour (:func:`render.palette.class_rgb`) and
  filled label tags with black or white text, on a copy of an RGB or BGR uint8 image.
"""

from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .palette import class_rgb, text_rgb

__all__ = ["visible_boxes", "draw_boxes", "draw_outline", "box_line_width", "MAX_LABELS", "MAX_DRAWN_BOXES"]

MAX_LABELS = 100   # more labels only cover the picture (NMS sorts boxes by score: the best get one)
#: boxes drawn in a figure, composite or video frame: more are unreadable (random weights give 1000)
MAX_DRAWN_BOXES = 100


def visible_boxes(names: Sequence[str], classes: Sequence[int], scores: Sequence[float],
                  hidden: Sequence[str] = (), show_labels: bool = True,
                  show_scores: bool = True) -> Tuple[List[int], Optional[List[str]]]:
    """(indices of the boxes to draw, their labels or None): classes in ``hidden`` are left out;
    a label is the class name, with the score when ``show_scores``."""
    names = list(names)
    cname = [names[c] if 0 <= c < len(names) else str(c) for c in (int(c) for c in classes)]
    hidden = set(hidden)
    keep = [i for i, n in enumerate(cname) if n not in hidden]
    if not show_labels:
        return keep, None
    return keep, [cname[i] + (f" {float(scores[i]):.2f}" if show_scores else "") for i in keep]


def box_line_width(image_hw: Tuple[int, int]) -> int:
    """A line width that reads at the image's size: 1 px per 400 px of its long side, at least 1."""
    return max(1, int(round(max(image_hw) / 400)))


def draw_boxes(image: np.ndarray, boxes: np.ndarray, labels: Optional[Sequence[str]] = None,
               classes: Optional[Sequence[int]] = None, line_width: Optional[int] = None,
               channel_order: str = "bgr") -> np.ndarray:
    """A copy of ``image`` (H x W x 3 uint8 in ``channel_order``) with xyxy ``boxes`` (image pixels)
    outlined in their class colours and, when given, labelled (at most :data:`MAX_LABELS`)."""
    if channel_order not in ("rgb", "bgr"):
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
    out = np.ascontiguousarray(image).copy()
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    lw = max(1, int(line_width)) if line_width else box_line_width(out.shape[:2])
    scale = max(0.4, lw / 3)
    for i, b in enumerate(boxes):
        rgb = class_rgb(int(classes[i]) if classes is not None else 0)
        colour = rgb if channel_order == "rgb" else rgb[::-1]
        x1, y1, x2, y2 = (int(round(float(v))) for v in b)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, lw, cv2.LINE_AA)
        if labels is None or i >= min(len(labels), MAX_LABELS) or not labels[i]:
            continue
        text = str(labels[i])
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = y1 - th - base - 2 if y1 - th - base - 2 >= 0 else y1   # no room above: inside the box
        cv2.rectangle(out, (x1, ty), (x1 + tw + 2, ty + th + base + 2), colour, -1)
        ink = text_rgb(rgb)
        cv2.putText(out, text, (x1 + 1, ty + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    ink if channel_order == "rgb" else ink[::-1], 1, cv2.LINE_AA)
    return out


def draw_outline(image: np.ndarray, rect: Sequence[float], colour: Tuple[int, int, int], width: int = 2) -> None:
    """Outline ``rect`` (x1, y1, x2, y2, image pixels) on ``image`` in place, in ``colour`` (the
    image's channel order): the window's markers (clicked cell, Grad-CAM target) in exports."""
    x1, y1, x2, y2 = (int(round(float(v))) for v in rect)
    cv2.rectangle(image, (x1, y1), (x2, y2), tuple(int(c) for c in colour), int(width))
