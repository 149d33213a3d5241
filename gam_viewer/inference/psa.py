"""YOLO11's C2PSA self-attention weights, next to GAM's gates.

A GAM gate says how much each (channel, position) is let through. C2PSA's attention says,
for every position of the P5 grid, how much every other position contributes to it: per
head a (H*W) x (H*W) matrix whose rows sum to 1. Two views make it visible on the image:

* :meth:`PsaAttentionMap.from_pixel` - where the grid cell under an image pixel looks (one
  row of the matrix, as an h x w map);
* :meth:`PsaAttentionMap.received` - how much attention each cell receives from all the
  others (the column means; 1 / (h*w) everywhere for uniform attention).

Both average the heads unless one is named, and are placed on the original image with
:func:`gam_viewer.inference.attention.warp_to_image`. No Qt here.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple, Union

import cv2
import numpy as np
import torch

from ..nn.yolo11 import C2PSA
from .attention import pixel_to_cell, warp_to_image
from .letterbox import Letterbox

__all__ = ["PsaAttentionMap", "psa_layers", "psa_attention"]


@dataclass
class PsaAttentionMap:
    """The attention weights of one PSA block for one image, on the CPU as float32."""

    index: int                  # model layer (the C2PSA row)
    block: int                  # which PSABlock inside it (0-based)
    position: str               # e.g. "backbone/P5"
    stride: int
    grid_hw: Tuple[int, int]    # (h, w) of the attended grid
    weights: np.ndarray         # (heads, h*w, h*w): row i = where cell i looks; rows sum to 1
    letterbox: Letterbox

    @property
    def heads(self) -> int:
        return int(self.weights.shape[0])

    @property
    def name(self) -> str:
        h, w = self.grid_hw
        return f"{self.position} C2PSA block {self.block} ({w}x{h}, {self.heads} head{'s' if self.heads > 1 else ''})"

    def _matrix(self, head: Optional[int]) -> np.ndarray:
        if head is None:
            return self.weights.mean(axis=0)
        if not 0 <= head < self.heads:
            raise ValueError(f"head {head} out of range: this block has {self.heads} (0..{self.heads - 1})")
        return self.weights[head]

    def from_cell(self, col: int, row: int, head: Optional[int] = None) -> np.ndarray:
        """(h, w) map: the weights cell (col, row) gives every cell (sums to 1)."""
        h, w = self.grid_hw
        if not (0 <= col < w and 0 <= row < h):
            raise ValueError(f"cell ({col}, {row}) is outside the {w}x{h} grid")
        return self._matrix(head)[row * w + col].reshape(h, w).astype(np.float32)

    def from_pixel(self, x: float, y: float, head: Optional[int] = None) -> np.ndarray:
        """(h, w) map for the cell under original-image pixel (x, y)."""
        col, row = pixel_to_cell(x, y, self.letterbox, self.stride, self.grid_hw)
        return self.from_cell(col, row, head)

    def received(self, head: Optional[int] = None) -> np.ndarray:
        """(h, w) map: mean weight each cell receives over all queries."""
        return self._matrix(head).mean(axis=0).reshape(self.grid_hw).astype(np.float32)

    def image_map(self, grid: np.ndarray, out_hw: Optional[Tuple[int, int]] = None) -> np.ndarray:
        """A (h, w) map from this object placed on the original image (H0, W0) or ``out_hw``."""
        return warp_to_image(grid, self.letterbox, self.stride, out_hw)


def _c2psa_layers(model) -> List[Tuple[int, C2PSA]]:
    out = []
    for info in model.layers:
        m = model.model[info.index]
        for block in (m if isinstance(m, torch.nn.Sequential) else [m]):
            if isinstance(block, C2PSA):
                out.append((info.index, block))
    return out


def psa_layers(detector) -> List[int]:
    """Indices of the model's C2PSA layers (empty for models without one)."""
    return sorted({i for i, _ in _c2psa_layers(detector.model)})


def psa_attention(detector, image: Union[np.ndarray, str, Path], imgsz: Optional[int] = None,
                  auto: bool = True) -> List[PsaAttentionMap]:
    """One forward of ``image`` (BGR array or path) keeping every C2PSA attention matrix.

    ``imgsz`` / ``auto`` as in ``detector.predict`` (same letterbox, so the maps line up with
    its boxes and GAM maps). Memory: heads x (h*w)^2 floats per block (P5 at 640: 400^2).
    Like every detector call, run it from one thread at a time.
    """
    if isinstance(image, (str, Path)):
        path = Path(image)
        image = cv2.imread(str(path))
        if image is None:
            raise ValueError(f"{path}: not a readable image")
    layers = _c2psa_layers(detector.model)
    if not layers:
        return []
    x, lb = detector.preprocess(image, imgsz or detector.default_imgsz, auto)
    attn_modules = [(i, k, blk.attn) for i, c2psa in layers for k, blk in enumerate(c2psa.m)]
    for _, _, a in attn_modules:
        a.keep_attention = True
    try:
        with torch.inference_mode():
            detector.model(x)
        out = []
        infos = {info.index: info for info in detector.model.layers}
        for i, k, a in attn_modules:
            w = a.last_attention[0].float().cpu().numpy()
            n = w.shape[-1]
            stride = int(infos[i].stride or 32)
            h, wd = x.shape[-2] // stride, x.shape[-1] // stride
            if h * wd != n:  # an input size that is not a stride multiple: trust the matrix
                raise RuntimeError(f"layer {i}: attention over {n} cells does not fit a {wd}x{h} grid")
            out.append(PsaAttentionMap(i, k, infos[i].position, stride, (h, wd), w, lb))
        return out
    finally:
        for _, _, a in attn_modules:
            a.keep_attention = False
            a.last_attention = None
