"""Inference as a validation run does it: rectangular letterbox with half-stride padding and
multi-label NMS, through a :class:`~gam_viewer.inference.Detector`'s public steps.

YOLOv5's ``val.py`` (v7.0) evaluates with conf 0.001, NMS IoU 0.6, at most 300 boxes, every
class above conf kept for a box (multi-label), and letterboxes each batch to a rectangle: the
long side is resized to ``imgsz`` and each side of the input is ``ceil(side / stride + 0.5) *
stride`` - on average half a stride more than the minimal padding the viewer uses (``detect.py``
style, ``auto=True``). With ``--batch-size 1`` every image gets its own rectangle; that is what
``letterbox="val"`` reproduces (with val.py's default batch of 32 the rectangle is set by the
batch's most extreme aspect ratio, which only changes padding). ``letterbox="minimal"`` is
``Detector.predict``'s own preprocessing, ``"square"`` pads to imgsz x imgsz.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Dict, List

import cv2
import numpy as np
import torch
import torchvision

from ..inference.attention import AttentionMap
from ..inference.decode import decode_candidates, has_objectness, scale_boxes
from ..inference.letterbox import Letterbox, check_imgsz, letterbox

__all__ = ["LETTERBOX_MODES", "val_letterbox", "multilabel_nms", "Prediction", "run_model"]

LETTERBOX_MODES = ("val", "minimal", "square")
MAX_NMS = 30000


def val_letterbox(image: np.ndarray, imgsz: int, stride: int, color=(114, 114, 114)):
    """Resize the long side to ``imgsz`` and pad to val.py's per-image rectangle."""
    h0, w0 = image.shape[:2]
    r = imgsz / max(h0, w0)
    h1, w1 = max(1, int(round(h0 * r))), max(1, int(round(w0 * r)))
    if (h1, w1) != (h0, w0):
        interp = cv2.INTER_AREA if r < 1 else cv2.INTER_LINEAR
        image = cv2.resize(image, (w1, h1), interpolation=interp)
    ratio_h, ratio_w = h1 / max(h1, w1), w1 / max(h1, w1)
    th = int(math.ceil(ratio_h * imgsz / stride + 0.5)) * stride
    tw = int(math.ceil(ratio_w * imgsz / stride + 0.5)) * stride
    dh, dw = (th - h1) / 2, (tw - w1) / 2
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=color)
    gain = min(h1 / h0, w1 / w0)
    return image, Letterbox((h0, w0), (image.shape[0], image.shape[1]), (h1, w1), (left, top), gain)


def multilabel_nms(pred: torch.Tensor, conf: float, iou: float, max_det: int, objectness: bool) -> torch.Tensor:
    """One image's decoded predictions (N, 4 [+1] + nc) -> (n, 6) xyxy, score, class.

    Every (box, class) pair whose score exceeds ``conf`` is a candidate (score = objectness x
    class probability for YOLOv5 heads), then class-aware NMS and the ``max_det`` best.
    """
    if objectness:
        pred = pred[pred[:, 4] > conf]
        scores = pred[:, 5:] * pred[:, 4:5]
    else:
        scores = pred[:, 4:]
    i, j = (scores > conf).nonzero(as_tuple=True)
    if not i.numel():
        return torch.zeros((0, 6))
    xywh = pred[i, :4]
    xyxy = torch.cat((xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2), 1)
    s = scores[i, j]
    if s.numel() > MAX_NMS:
        top = s.topk(MAX_NMS).indices
        xyxy, s, j = xyxy[top], s[top], j[top]
    keep = torchvision.ops.batched_nms(xyxy, s, j, iou)[:max_det]
    return torch.cat((xyxy[keep], s[keep, None], j[keep, None].float()), 1)


@dataclass
class Prediction:
    boxes: np.ndarray          # (N, 4) xyxy original pixels, float32
    scores: np.ndarray
    classes: np.ndarray
    ms: float                  # preprocess + forward + postprocess, milliseconds
    attention: List[AttentionMap] = field(default_factory=list)

    def above(self, conf: float):
        keep = self.scores >= conf
        return self.boxes[keep], self.scores[keep], self.classes[keep]


def run_model(det, image: np.ndarray, imgsz: int, conf: float, iou: float, max_det: int,
              mode: str = "val", attention: bool = False) -> Prediction:
    """Run ``det`` (a Detector) on a BGR image the way ``mode`` says; gates only if asked."""
    if mode not in LETTERBOX_MODES:
        raise ValueError(f"letterbox must be one of {LETTERBOX_MODES}, got {mode!r}")
    stride = det.stride
    size = check_imgsz(imgsz, stride)
    want_gates = attention and det.has_gam
    with torch.inference_mode():
        t0 = time.perf_counter()
        if mode == "val":
            img, lb = val_letterbox(image, size, stride)
        else:
            img, lb = letterbox(image, size, stride, auto=(mode == "minimal"))
        raw = det.forward(det.to_input(img), keep_gates=want_gates)
        pred = decode_candidates(det.model.head, raw, conf)[0].float()
        out = multilabel_nms(pred, conf, iou, max_det, objectness=has_objectness(det.model.head))
        boxes = scale_boxes(out[:, :4], lb).cpu().numpy().astype(np.float32) if len(out) else \
            np.zeros((0, 4), np.float32)
        scores = out[:, 4].cpu().numpy().astype(np.float32)
        classes = out[:, 5].cpu().numpy().astype(np.int64)
        t1 = time.perf_counter()
        maps = det.taps(lb) if want_gates else []
    return Prediction(boxes, scores, classes, (t1 - t0) * 1e3, maps)


def timings_summary(ms: List[float]) -> Dict[str, float]:
    a = np.asarray(ms, np.float64)
    if not len(a):
        return {"median_ms": None, "mean_ms": None, "p90_ms": None}
    return {"median_ms": float(np.median(a)), "mean_ms": float(a.mean()), "p90_ms": float(np.percentile(a, 90))}
