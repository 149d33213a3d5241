"""GAM gates captured in a forward pass, and the reductions the views need.

Each GAM layer applies two C x H x W multipliers. A bar chart needs a channel vector
(reduce over H x W, or take the vector at one pixel); a heatmap needs a map (reduce over C,
or take one channel), placed on the original image through the letterbox and the layer's
stride. Community gates are not bounded to [0, 1]; nothing here clips them.
"""

from dataclasses import dataclass
from typing import Optional, Tuple, Union

import cv2
import numpy as np
import torch

from .letterbox import Letterbox

__all__ = ["AttentionMap", "REDUCTIONS", "warp_to_image", "pixel_to_cell"]

REDUCTIONS = ("mean", "max", "min", "std")
GATES = ("spatial", "channel")


def _check_gate(gate: str) -> None:
    if gate not in GATES:
        raise ValueError(f"gate must be one of {GATES}, got {gate!r}")


def _reduce(values: np.ndarray, axis: int, how: str) -> np.ndarray:
    """float32 reduction along ``axis`` (numpy: single-threaded small reductions beat torch's pool)."""
    if how == "mean":
        return values.mean(axis=axis, dtype=np.float64).astype(np.float32)
    if how == "max":
        return values.max(axis=axis)
    if how == "min":
        return values.min(axis=axis)
    return values.std(axis=axis, ddof=1, dtype=np.float64).astype(np.float32)


def pixel_to_cell(x: float, y: float, lb: Letterbox, stride: int, grid_hw: Tuple[int, int]) -> Tuple[int, int]:
    """Original-image pixel (x, y) -> (column, row) of the layer's grid cell holding it (clamped)."""
    ix, iy = lb.orig_to_input(x, y)
    col = int(np.clip(np.floor(ix / stride), 0, grid_hw[1] - 1))
    row = int(np.clip(np.floor(iy / stride), 0, grid_hw[0] - 1))
    return col, row


def warp_to_image(grid: np.ndarray, lb: Letterbox, stride: int, out_hw: Optional[Tuple[int, int]] = None,
                  interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Resample a layer-resolution map (h x w) onto the original image (H0 x W0, or ``out_hw``).

    Cell (c, r) covers input pixels [c*s, (c+1)*s) x [r*s, (r+1)*s); the input is the
    letterboxed image, so padding is cropped away and the content scaled back exactly.
    One affine warp, no intermediate full-size image.
    """
    h0, w0 = lb.orig_hw
    oh, ow = out_hw or (h0, w0)
    sx, sy = lb.scale_xy
    # output pixel centre (u + 0.5) * (w0 / ow) in original pixels -> input pixel -> grid coordinate
    fx, fy = w0 / ow, h0 / oh
    a = sx * fx / stride
    b = (0.5 * fx * sx + lb.pad[0]) / stride - 0.5
    c = sy * fy / stride
    d = (0.5 * fy * sy + lb.pad[1]) / stride - 0.5
    m = np.array([[a, 0, b], [0, c, d]], dtype=np.float64)
    src = np.ascontiguousarray(grid, dtype=np.float32)
    return cv2.warpAffine(src, m, (ow, oh), flags=interpolation | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


@dataclass
class AttentionMap:
    """The gates of one GAM layer for one image (batch element), on the CPU as float32."""

    index: int                 # layer index in the model
    position: str              # e.g. "backbone/P5"
    stride: int
    channel_gate: Optional[torch.Tensor]   # (C, h, w) or None (spatial-only block)
    spatial_gate: Optional[torch.Tensor]   # (C, h, w) or None (channel-only block)
    letterbox: Letterbox

    @property
    def name(self) -> str:
        h, w = self.grid_hw
        return f"{self.position} ({w}x{h})"

    @property
    def channels(self) -> int:
        g = self.spatial_gate if self.spatial_gate is not None else self.channel_gate
        return int(g.shape[0])

    @property
    def grid_hw(self) -> Tuple[int, int]:
        g = self.spatial_gate if self.spatial_gate is not None else self.channel_gate
        return int(g.shape[1]), int(g.shape[2])

    def gate(self, which: str = "spatial") -> torch.Tensor:
        _check_gate(which)
        g = self.spatial_gate if which == "spatial" else self.channel_gate
        if g is None:
            raise ValueError(f"layer {self.index} ({self.position}) has no {which} gate (ablated block)")
        return g

    # ---------------------------------------------------------------- reductions
    def channel_vector(self, reduce: str = "mean", at: Optional[Tuple[float, float]] = None,
                       gate: str = "channel") -> np.ndarray:
        """Per-channel values (C,): ``reduce`` over H x W, or the vector at original pixel ``at``."""
        g = self.gate(gate).numpy()
        if at is not None:
            col, row = self.cell_at(*at)
            return g[:, row, col].copy()
        if reduce not in REDUCTIONS:
            raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
        return _reduce(g.reshape(g.shape[0], -1), 1, reduce)

    def spatial_map(self, reduce: Union[str, int] = "mean", gate: str = "spatial") -> np.ndarray:
        """Layer-resolution map (h, w): ``reduce`` over channels, or one channel by index."""
        g = self.gate(gate).numpy()
        if isinstance(reduce, (int, np.integer)) and not isinstance(reduce, bool):
            if not 0 <= reduce < g.shape[0]:
                raise ValueError(f"channel {reduce} out of range: layer {self.index} has {g.shape[0]} channels")
            return g[int(reduce)].copy()
        if reduce not in REDUCTIONS:
            raise ValueError(f"reduce must be one of {REDUCTIONS} or a channel index, got {reduce!r}")
        return _reduce(g, 0, reduce)

    def image_map(self, reduce: Union[str, int] = "mean", gate: str = "spatial",
                  out_hw: Optional[Tuple[int, int]] = None) -> np.ndarray:
        """:meth:`spatial_map` resampled onto the original image (H0, W0) through the letterbox."""
        return warp_to_image(self.spatial_map(reduce, gate), self.letterbox, self.stride, out_hw)

    def cell_at(self, x: float, y: float) -> Tuple[int, int]:
        """(column, row) of the grid cell under original-image pixel (x, y)."""
        return pixel_to_cell(x, y, self.letterbox, self.stride, self.grid_hw)

    def cell_rect(self, col: int, row: int) -> Tuple[float, float, float, float]:
        """Original-image rectangle (x1, y1, x2, y2) covered by grid cell (col, row)."""
        x1, y1 = self.letterbox.input_to_orig(col * self.stride, row * self.stride)
        x2, y2 = self.letterbox.input_to_orig((col + 1) * self.stride, (row + 1) * self.stride)
        return x1, y1, x2, y2
