"""Turn raw head maps into boxes: decode (anchor-based and DFL), NMS, and mapping back to pixels."""

from typing import Dict, List, Optional, Sequence, Union

import numpy as np

import torch
from torch import Tensor
from torchvision import ops as tv_ops
from torchvision.ops import box_convert

from ..nn.heads import AnchorDetect
from .letterbox import Letterbox

__all__ = ["decode_anchor", "decode_dfl", "decode_head", "decode_candidates", "has_objectness", "nms",
           "scale_boxes", "box_iou", "GridCache"]

class GridCache:
    """Grids and anchor tensors per (level shapes, device, dtype); the pickled ones are stale."""

    def __init__(self):
        self._cache: Dict[tuple, tuple] = {}

    def get(self, key, make):
        if key not in self._cache:
            if len(self._cache) > 8:
                self._cache.clear()
            self._cache[key] = make()
        return self._cache[key]


def decode_anchor(raw: Sequence[Tensor], anchors: Tensor, strides: Tensor, nc: int,
                  cache: Optional[GridCache] = None) -> Tensor:
    """YOLOv5 decode: xy = (2*sigmoid + grid - 0.5) * stride, wh = (2*sigmoid)^2 * anchor * stride.

    ``raw``: per level (B, na*(5+nc), H, W). ``anchors``: (nl, na, 2) in stride units.
    Returns (B, N, 5 + nc) with xywh in input pixels, objectness, class probabilities.
    """
    outs = []
    no = nc + 5
    for i, x in enumerate(raw):
        b, _, h, w = x.shape
        na = anchors.shape[1]
        p = x.float().view(b, na, no, h, w).permute(0, 1, 3, 4, 2).sigmoid()
        s = float(strides[i])

        def make(h=h, w=w, i=i, s=s, na=na, device=x.device):
            ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32),
                                    torch.arange(w, device=device, dtype=torch.float32), indexing="ij")
            grid = torch.stack((xs, ys), -1).view(1, 1, h, w, 2) - 0.5
            anchor_px = (anchors[i].float().to(device) * s).view(1, na, 1, 1, 2)
            return grid, anchor_px

        grid, anchor_px = cache.get(("a", i, h, w, str(x.device)), make) if cache else make()
        xy = (p[..., :2] * 2 + grid) * s
        wh = (p[..., 2:4] * 2) ** 2 * anchor_px
        outs.append(torch.cat((xy, wh, p[..., 4:]), -1).view(b, -1, no))
    return torch.cat(outs, 1)


def decode_dfl(raw: Sequence[Tensor], strides: Tensor, nc: int, reg_max: int, dfl: torch.nn.Module,
               cache: Optional[GridCache] = None) -> Tensor:
    """Anchor-free decode (YOLOv5u/v8): distances from cell centres via the DFL expectation.

    ``raw``: per level (B, 4*reg_max + nc, H, W). Returns (B, N, 4 + nc): xywh in input
    pixels and class probabilities.
    """
    b = raw[0].shape[0]
    flat = torch.cat([x.float().view(b, 4 * reg_max + nc, -1) for x in raw], 2)
    box, cls = flat.split((4 * reg_max, nc), 1)
    shapes = tuple(tuple(x.shape[2:]) for x in raw)

    def make(device=raw[0].device):
        points, stride_col = [], []
        for (h, w), s in zip(shapes, strides.tolist()):
            ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32) + 0.5,
                                    torch.arange(w, device=device, dtype=torch.float32) + 0.5, indexing="ij")
            points.append(torch.stack((xs, ys), 0).view(2, -1))
            stride_col.append(torch.full((1, h * w), float(s), device=device))
        return torch.cat(points, 1).unsqueeze(0), torch.cat(stride_col, 1).unsqueeze(0)

    points, stride_row = cache.get(("d", shapes, str(raw[0].device)), make) if cache else make()
    weight = getattr(getattr(dfl, "conv", None), "weight", None)
    dist = dfl(box if weight is None else box.to(weight.dtype)).float()
    lt, rb = dist[:, :2], dist[:, 2:]
    x1y1, x2y2 = points - lt, points + rb
    xywh = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * stride_row
    return torch.cat((xywh, cls.sigmoid()), 1).transpose(1, 2)


def _candidates_anchor(raw: Sequence[Tensor], anchors: Tensor, strides: Tensor, nc: int,
                       conf: float) -> List[Tensor]:
    """:func:`decode_anchor` restricted to the rows whose objectness exceeds ``conf``."""
    no = nc + 5
    b = raw[0].shape[0]
    na = anchors.shape[1]
    rows: List[List[Tensor]] = [[] for _ in range(b)]
    for i, x in enumerate(raw):
        _, _, h, w = x.shape
        v = x.view(b, na, no, h, w)
        obj = v[:, :, 4].float().sigmoid()
        bi, a, yy, xx = (obj > conf).nonzero(as_tuple=True)      # (image, anchor, y, x) order
        p = v[bi, a, :, yy, xx].float().sigmoid()                # (n, no)
        s = float(strides[i])
        grid = torch.stack((xx, yy), 1).float() - 0.5
        anchor_px = (anchors[i].float().to(x.device) * s)[a]
        xy = (p[:, :2] * 2 + grid) * s
        wh = (p[:, 2:4] * 2) ** 2 * anchor_px
        dec = torch.cat((xy, wh, p[:, 4:]), 1)
        for k in range(b):
            rows[k].append(dec[bi == k] if b > 1 else dec)
    return [torch.cat(r, 0) for r in rows]


def _candidates_dfl(raw: Sequence[Tensor], strides: Tensor, nc: int, reg_max: int, dfl: torch.nn.Module,
                    conf: float) -> List[Tensor]:
    """:func:`decode_dfl` restricted to the rows whose best class probability exceeds ``conf``."""
    b = raw[0].shape[0]
    nbox = 4 * reg_max
    weight = getattr(getattr(dfl, "conv", None), "weight", None)
    rows: List[List[Tensor]] = [[] for _ in range(b)]
    for x, s in zip(raw, strides.tolist()):
        best = x[:, nbox:].amax(1).float().sigmoid()               # (b, h, w)
        bi, yy, xx = (best > conf).nonzero(as_tuple=True)
        if not bi.numel():   # (the DFL convolution refuses an empty input)
            continue
        p = x[bi, :, yy, xx].float()                               # (n, 4 * reg_max + nc)
        box = p[:, :nbox].t().unsqueeze(0)                          # (1, 4 * reg_max, n)
        dist = dfl(box if weight is None else box.to(weight.dtype)).float()[0]   # (4, n)
        points = torch.stack((xx.float() + 0.5, yy.float() + 0.5), 0)
        x1y1, x2y2 = points - dist[:2], points + dist[2:]
        xywh = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 0) * float(s)
        dec = torch.cat((xywh.t(), p[:, nbox:].sigmoid()), 1)
        for k in range(b):
            rows[k].append(dec[bi == k] if b > 1 else dec)
    empty = raw[0].new_zeros((0, 4 + nc), dtype=torch.float32)
    return [torch.cat(r, 0) if r else empty for r in rows]


def decode_candidates(head: torch.nn.Module, raw: Sequence[Tensor], conf: float) -> List[Tensor]:
    """Per image, the decoded rows of :func:`decode_head` that can pass ``conf`` (objectness >
    conf for anchor heads, best class probability > conf for anchor-free ones), in the same
    order and with the same values; the rest are never decoded. :func:`nms` and the
    evaluation's multi-label NMS drop exactly those rows first, so their results are
    unchanged, and a frame with a handful of objects decodes a handful of rows instead of
    every cell (the full decode of 25 200 x 85 values cost more than the NMS)."""
    if not 0 <= conf <= 1:
        raise ValueError(f"conf must be in [0, 1], got {conf}")
    if has_objectness(head):
        return _candidates_anchor(raw, head.anchors, head.stride, head.nc, conf)
    return _candidates_dfl(raw, head.stride, head.nc, head.reg_max, head.dfl, conf)


def has_objectness(head: torch.nn.Module) -> bool:
    """Anchor heads (YOLOv5, YOLOv7) score boxes as objectness x class; anchor-free ones by class."""
    return isinstance(head, AnchorDetect)


def decode_head(head: torch.nn.Module, raw: Sequence[Tensor], cache: Optional[GridCache] = None) -> Tensor:
    """The one dispatch from a model's head to its decode: (B, N, 5 + nc) or (B, N, 4 + nc)."""
    if has_objectness(head):
        return decode_anchor(raw, head.anchors, head.stride, head.nc, cache)
    return decode_dfl(raw, head.stride, head.nc, head.reg_max, head.dfl, cache)


def nms(pred: Union[Tensor, Sequence[Tensor]], conf: float = 0.25, iou: float = 0.45,
        classes: Optional[Sequence[int]] = None, agnostic: bool = False, max_det: int = 1000,
        objectness: bool = True, max_nms: int = 30000) -> List[Tensor]:
    """Per image: threshold, best class per box, class-aware NMS. Returns (n, 6) xyxy, score, class.

    ``pred``: (B, N, no) from :func:`decode_head`, or the per-image rows of
    :func:`decode_candidates`.

    ``objectness=True`` (YOLOv5): score = objectness * class probability, candidates need
    objectness > conf first. ``objectness=False`` (YOLOv5u/v8): score = class probability.
    """
    if not 0 <= conf <= 1:
        raise ValueError(f"conf must be in [0, 1], got {conf}")
    if not 0 <= iou <= 1:
        raise ValueError(f"iou must be in [0, 1], got {iou}")
    out = []
    for x in pred:
        if objectness:
            x = x[x[:, 4] > conf]
            scores = x[:, 5:] * x[:, 4:5]
        else:
            scores = x[:, 4:]
        if not x.shape[0]:
            out.append(torch.zeros((0, 6), device=x.device))
            continue
        best, cls = scores.max(1)
        keep = best > conf
        box = box_convert(x[keep, :4], "cxcywh", "xyxy")
        det = torch.cat((box, best[keep, None], cls[keep, None].float()), 1)
        if classes is not None:
            det = det[(det[:, 5:6] == torch.tensor(list(classes), device=det.device)).any(1)]
        if not det.shape[0]:
            out.append(det)
            continue
        det = det[det[:, 4].argsort(descending=True)[:max_nms]]
        if agnostic:
            keep = tv_ops.nms(det[:, :4], det[:, 4], iou)
        else:
            keep = tv_ops.batched_nms(det[:, :4], det[:, 4], det[:, 5].long(), iou)
        out.append(det[keep[:max_det]])
    return out


def scale_boxes(boxes: Tensor, lb: Letterbox) -> Tensor:
    """Map xyxy boxes from network-input pixels to original pixels, clipped to the image."""
    b = boxes.clone()
    b[:, [0, 2]] = (b[:, [0, 2]] - lb.pad[0]) / lb.gain
    b[:, [1, 3]] = (b[:, [1, 3]] - lb.pad[1]) / lb.gain
    return tv_ops.clip_boxes_to_image(b, lb.orig_hw)


def box_iou(boxes, box) -> np.ndarray:
    """IoU of one xyxy ``box`` with each row of ``boxes`` (N x 4 xyxy), as float64 (N,)."""
    b = torch.as_tensor(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
    one = torch.as_tensor(np.asarray(box, dtype=np.float64).reshape(1, 4))
    return np.nan_to_num(tv_ops.box_iou(b, one)[:, 0].numpy(), nan=0.0)  # 0/0 for empty boxes -> 0
