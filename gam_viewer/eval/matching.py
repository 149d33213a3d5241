"""Per-image A/B outcomes at an operating point: which objects each model finds, and how well.

At the operating point (detections with score >= ``operating_conf``), each model's boxes are
matched to the ground truth greedily, best score first, each to the unmatched ground-truth box
of the same class with the highest IoU, if that IoU >= ``iou`` (0.5) - the rule COCO uses at
one IoU threshold. A ground-truth object is then

* found by both, only by the model, only by the baseline, or by neither;
* when found by both: *better localised* by the model if its matched IoU exceeds the
  baseline's by more than ``loc_margin`` (0.1), *worse localised* if it is lower by more.

An unmatched detection is a false positive, unless it lies mostly (>= 50 % of its area) inside
a crowd region (COCO ``iscrowd``), which is neither a hit nor a miss.

The disagreement score of an image (used to rank images) is::

    only_model + only_baseline + |FP_model - FP_baseline| + 0.5 * (better + worse)

Without labels, :func:`agreement` matches the two models' boxes with each other instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

__all__ = ["iou_matrix", "match_detections", "Outcome", "compare_image", "agreement", "disagreement"]

LOC_MARGIN = 0.1


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every xyxy box in ``a`` (N, 4) with every box in ``b`` (M, 4): (N, M) float64."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clip(0)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _inside_fraction(det: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """For each det box, the largest share of its area inside one of ``regions``: (D,)."""
    if not len(regions) or not len(det):
        return np.zeros(len(det))
    lt = np.maximum(det[:, None, :2], regions[None, :, :2])
    rb = np.minimum(det[:, None, 2:], regions[None, :, 2:])
    wh = (rb - lt).clip(0)
    inter = wh[..., 0] * wh[..., 1]
    area = ((det[:, 2] - det[:, 0]) * (det[:, 3] - det[:, 1]))[:, None]
    return (inter / np.maximum(area, 1e-12)).max(1)


def match_detections(gt_boxes, gt_classes, boxes, scores, classes, iou: float = 0.5,
                     crowd: Optional[np.ndarray] = None):
    """Greedy class-aware matching. Returns (gt_iou (G,), det_tp (D,), det_fp (D,)).

    ``gt_iou[g]`` is the IoU of the detection matched to ground truth g (0 when missed);
    crowd ground truth is never matched and always has gt_iou 0 (the caller drops it).
    """
    gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    gt_classes = np.asarray(gt_classes).reshape(-1)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    classes = np.asarray(classes).reshape(-1)
    scores = np.asarray(scores, np.float64).reshape(-1)
    crowd = np.zeros(len(gt_boxes), bool) if crowd is None else np.asarray(crowd, bool)
    gt_iou = np.zeros(len(gt_boxes))
    tp = np.zeros(len(boxes), bool)
    if len(boxes) and len(gt_boxes):
        ious = iou_matrix(boxes, gt_boxes)
        ious[classes[:, None] != gt_classes[None, :]] = -1.0
        ious[:, crowd] = -1.0
        taken = np.zeros(len(gt_boxes), bool)
        for d in np.argsort(-scores, kind="mergesort"):
            row = np.where(taken, -1.0, ious[d])
            g = int(row.argmax())
            if row[g] >= iou:
                taken[g] = True
                tp[d] = True
                gt_iou[g] = ious[d, g]
    fp = ~tp
    if crowd.any() and fp.any():
        fp[fp] = _inside_fraction(boxes[fp], gt_boxes[crowd]) < 0.5
    return gt_iou, tp, fp


@dataclass
class Outcome:
    """Counts for one image at the operating point."""

    objects: int = 0
    tp_model: int = 0
    fp_model: int = 0
    tp_baseline: int = 0
    fp_baseline: int = 0
    both: int = 0
    only_model: int = 0
    only_baseline: int = 0
    neither: int = 0
    better_localised: int = 0
    worse_localised: int = 0

    @property
    def fn_model(self) -> int:
        return self.objects - self.tp_model

    @property
    def fn_baseline(self) -> int:
        return self.objects - self.tp_baseline

    @property
    def disagreement(self) -> float:
        return disagreement(self.only_model, self.only_baseline, self.fp_model, self.fp_baseline,
                            self.better_localised, self.worse_localised)

    def add(self, other: "Outcome") -> None:
        for k in self.__dataclass_fields__:
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d.update(fn_model=self.fn_model, fn_baseline=self.fn_baseline, disagreement=self.disagreement)
        return d


def disagreement(only_model: int, only_baseline: int, fp_model: int, fp_baseline: int,
                 better: int = 0, worse: int = 0) -> float:
    return float(only_model + only_baseline + abs(fp_model - fp_baseline) + 0.5 * (better + worse))


def compare_image(gt_boxes, gt_classes, model_det, baseline_det, iou: float = 0.5,
                  loc_margin: float = LOC_MARGIN, crowd: Optional[np.ndarray] = None) -> Outcome:
    """Outcome of one image. ``*_det`` are (boxes, scores, classes), already at the operating point."""
    crowd = np.zeros(len(np.asarray(gt_classes).reshape(-1)), bool) if crowd is None else np.asarray(crowd, bool)
    gm, _, fpm = match_detections(gt_boxes, gt_classes, *model_det, iou=iou, crowd=crowd)
    gb, _, fpb = match_detections(gt_boxes, gt_classes, *baseline_det, iou=iou, crowd=crowd)
    keep = ~crowd
    gm, gb = gm[keep], gb[keep]
    fm, fb = gm > 0, gb > 0
    both = fm & fb
    diff = gm - gb
    return Outcome(objects=int(keep.sum()), tp_model=int(fm.sum()), fp_model=int(fpm.sum()),
                   tp_baseline=int(fb.sum()), fp_baseline=int(fpb.sum()), both=int(both.sum()),
                   only_model=int((fm & ~fb).sum()), only_baseline=int((fb & ~fm).sum()),
                   neither=int((~fm & ~fb).sum()), better_localised=int((both & (diff > loc_margin)).sum()),
                   worse_localised=int((both & (diff < -loc_margin)).sum()))


def agreement(model_det, baseline_det, iou: float = 0.5) -> dict:
    """Without labels: match the model's boxes to the baseline's (class-aware, greedy by score).

    Returns ``{"model": D1, "baseline": D2, "agreed": k, "only_model": D1-k, "only_baseline": D2-k,
    "disagreement": only_model + only_baseline}``.
    """
    mb, ms, mc = model_det
    bb, bs, bc = baseline_det
    gt_iou, tp, _ = match_detections(bb, bc, mb, ms, mc, iou=iou)
    k = int(tp.sum())
    n1, n2 = len(np.asarray(ms).reshape(-1)), len(np.asarray(bs).reshape(-1))
    return {"model": n1, "baseline": n2, "agreed": k, "only_model": n1 - k, "only_baseline": n2 - k,
            "disagreement": float(n1 - k + n2 - k)}
