"""Where GAM's gates fall relative to the ground truth, streamed image by image.

Per GAM layer and image (the gates at the layer's own grid resolution, h x w cells of
``stride`` input pixels; the spatial gate reduced over channels by its mean, S(cell)):

* cells: those whose centre lies on the image (letterbox padding excluded) = the content C;
  a box covers the cells whose centre lies inside it (a box too small to hold a cell centre
  covers the cell holding its own centre); O = union over the image's boxes.
* mass share  m = sum_{O} S / sum_{C} S;   area share a = |O| / |C|;
  attention-on-objects ratio = m / a (1: no preference; > 1: the gate concentrates on objects).
  Images without objects, or whose boxes cover every cell, have no ratio.
* pointing game: a hit when the cell with the largest S is in O.
* class x channel profile: for every box of class c, the channel gate averaged over the box's
  cells (a C-vector); the profile of c is the mean of those vectors over all boxes of c.

Everything is summed into fixed-size accumulators and the gates are dropped: memory does not
depend on the number of images.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np

from ..inference.attention import AttentionMap

__all__ = ["LayerStats", "AttentionStats", "box_cells"]


def box_cells(lb, stride: int, grid_hw, boxes_xyxy: np.ndarray):
    """(content mask (h, w) bool, one (h, w) bool mask per box) for original-pixel boxes."""
    h, w = grid_hw
    sx, sy = lb.scale_xy
    cx = ((np.arange(w) + 0.5) * stride - lb.pad[0]) / sx       # cell centres in original pixels
    cy = ((np.arange(h) + 0.5) * stride - lb.pad[1]) / sy
    h0, w0 = lb.orig_hw
    content = (cy[:, None] >= 0) & (cy[:, None] < h0) & (cx[None, :] >= 0) & (cx[None, :] < w0)
    masks = []
    for x1, y1, x2, y2 in np.asarray(boxes_xyxy, np.float64).reshape(-1, 4):
        m = (cy[:, None] >= y1) & (cy[:, None] <= y2) & (cx[None, :] >= x1) & (cx[None, :] <= x2) & content
        if not m.any():
            ix, iy = lb.orig_to_input((x1 + x2) / 2, (y1 + y2) / 2)
            col = int(np.clip(ix // stride, 0, w - 1))
            row = int(np.clip(iy // stride, 0, h - 1))
            m = np.zeros((h, w), bool)
            m[row, col] = True
        masks.append(m)
    return content, masks


class LayerStats:
    """Accumulators of one GAM layer."""

    def __init__(self, index: int, position: str, stride: int, n_classes: int):
        self.index, self.position, self.stride = index, position, stride
        self.n_classes = n_classes
        self.ratios: List[float] = []      # one float per image with objects (small)
        self.mass_sum = 0.0
        self.area_sum = 0.0
        self.point_hits = 0
        self.point_total = 0
        self.channels: Optional[int] = None
        self.profile_sum: Optional[np.ndarray] = None   # (K, C)
        self.profile_n = np.zeros(n_classes, np.int64)

    def add(self, a: AttentionMap, boxes: np.ndarray, classes: np.ndarray) -> Optional[float]:
        """Fold one image in; returns its attention-on-objects ratio (None when undefined)."""
        if not len(boxes):
            return None
        content, masks = box_cells(a.letterbox, a.stride, a.grid_hw, boxes)
        union = np.zeros_like(content)
        for m in masks:
            union |= m
        ratio = None
        if a.spatial_gate is not None:
            s = a.spatial_map("mean").astype(np.float64)
            total = float(s[content].sum())
            n_content = int(content.sum())
            n_in = int((union & content).sum())
            if total > 0 and 0 < n_in < n_content:
                mass = float(s[union & content].sum()) / total
                area = n_in / n_content
                ratio = mass / area
                self.ratios.append(ratio)
                self.mass_sum += mass
                self.area_sum += area
            masked = np.where(content, s, -np.inf)
            r, c = np.unravel_index(int(np.argmax(masked)), masked.shape)
            self.point_hits += int(union[r, c])
            self.point_total += 1
        if a.channel_gate is not None:
            g = a.channel_gate.numpy()
            flat = g.reshape(g.shape[0], -1)
            if self.profile_sum is None:
                self.channels = g.shape[0]
                self.profile_sum = np.zeros((self.n_classes, g.shape[0]), np.float64)
            for m, k in zip(masks, classes):
                k = int(k)
                if 0 <= k < self.n_classes:
                    self.profile_sum[k] += flat[:, m.ravel()].mean(1, dtype=np.float64)
                    self.profile_n[k] += 1
        return ratio

    def profile(self) -> Optional[np.ndarray]:
        if self.profile_sum is None:
            return None
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.profile_sum / self.profile_n[:, None]

    def summary(self, names: Sequence[str]) -> dict:
        r = np.asarray(self.ratios, np.float64)
        prof = self.profile()
        return {
            "layer": self.index, "position": self.position, "stride": self.stride, "channels": self.channels,
            "images": int(len(r)),
            "on_objects_ratio_mean": float(r.mean()) if len(r) else None,
            "on_objects_ratio_median": float(np.median(r)) if len(r) else None,
            "on_objects_ratio_pooled": (self.mass_sum / self.area_sum) if self.area_sum > 0 else None,
            "mass_share_mean": self.mass_sum / len(r) if len(r) else None,
            "area_share_mean": self.area_sum / len(r) if len(r) else None,
            "pointing_hit_rate": self.point_hits / self.point_total if self.point_total else None,
            "pointing_images": self.point_total,
            "class_channel_profile": None if prof is None else {
                names[k] if k < len(names) else str(k): [round(float(v), 5) for v in prof[k]]
                for k in range(prof.shape[0]) if self.profile_n[k] > 0},
            "class_boxes": {names[k] if k < len(names) else str(k): int(n)
                            for k, n in enumerate(self.profile_n) if n > 0},
        }


class AttentionStats:
    """All GAM layers of one model; ``add`` per image, then ``summary``."""

    def __init__(self, n_classes: int):
        self.n_classes = n_classes
        self.layers: Dict[int, LayerStats] = {}

    def add(self, maps: Sequence[AttentionMap], boxes: np.ndarray, classes: np.ndarray) -> Dict[int, Optional[float]]:
        out = {}
        for a in maps:
            st = self.layers.get(a.index)
            if st is None:
                st = self.layers[a.index] = LayerStats(a.index, a.position, a.stride, self.n_classes)
            out[a.index] = st.add(a, boxes, classes)
        return out

    def summary(self, names: Sequence[str]) -> List[dict]:
        return [self.layers[i].summary(names) for i in sorted(self.layers)]
