"""Letterbox resizing (aspect-preserving resize + grey padding) and its inverse mappings.

Default behaviour follows YOLOv5 v7.0's ``detect.py``: scale so the long side fits ``imgsz``,
pad to a multiple of the model stride (``auto=True``, minimal padding) or to the full square
(``auto=False``), split the padding evenly, pad value 114.
"""

from dataclasses import dataclass
from typing import Tuple

import cv2
import numpy as np

__all__ = ["Letterbox", "letterbox", "check_imgsz"]


@dataclass(frozen=True)
class Letterbox:
    """How an original image was placed in the network input."""

    orig_hw: Tuple[int, int]      # original (height, width)
    input_hw: Tuple[int, int]     # network input (height, width), padding included
    resized_hw: Tuple[int, int]   # size of the image content inside the input
    pad: Tuple[int, int]          # (left, top) padding in input pixels
    gain: float                   # the scale factor used (min of the two axis ratios)

    @property
    def scale_xy(self) -> Tuple[float, float]:
        """Exact per-axis scale of the image content (resized / original)."""
        return self.resized_hw[1] / self.orig_hw[1], self.resized_hw[0] / self.orig_hw[0]

    def input_to_orig(self, x: float, y: float) -> Tuple[float, float]:
        sx, sy = self.scale_xy
        return (x - self.pad[0]) / sx, (y - self.pad[1]) / sy

    def orig_to_input(self, x: float, y: float) -> Tuple[float, float]:
        sx, sy = self.scale_xy
        return x * sx + self.pad[0], y * sy + self.pad[1]


def check_imgsz(imgsz: int, stride: int = 32) -> int:
    """Round ``imgsz`` up to a multiple of ``stride``; reject nonsense with a clear message."""
    if isinstance(imgsz, bool) or not isinstance(imgsz, (int, np.integer)):
        raise ValueError(f"imgsz must be an integer number of pixels, got {imgsz!r}")
    if imgsz < stride:
        raise ValueError(f"imgsz={imgsz} is smaller than the model stride {stride}")
    if imgsz > 8192:
        raise ValueError(f"imgsz={imgsz} is too large (max 8192)")
    return int(np.ceil(imgsz / stride) * stride)


def letterbox(image: np.ndarray, imgsz: int = 640, stride: int = 32, auto: bool = True,
              color: Tuple[int, int, int] = (114, 114, 114)) -> Tuple[np.ndarray, Letterbox]:
    """Resize and pad ``image`` (H x W x 3 uint8) for the network; return it and the mapping."""
    h0, w0 = image.shape[:2]
    if h0 < 1 or w0 < 1:
        raise ValueError(f"cannot letterbox an empty image (shape {image.shape})")
    gain = min(imgsz / h0, imgsz / w0)
    # a very thin strip (e.g. 4000 x 3) would round its short side to 0 pixels: keep one,
    # the padding fills the rest (so tiny and extreme-aspect images run instead of failing)
    new_w, new_h = max(1, int(round(w0 * gain))), max(1, int(round(h0 * gain)))
    dw, dh = imgsz - new_w, imgsz - new_h
    if auto:
        dw, dh = dw % stride, dh % stride
    half_w, half_h = dw / 2, dh / 2
    if (w0, h0) != (new_w, new_h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(half_h - 0.1)), int(round(half_h + 0.1))
    left, right = int(round(half_w - 0.1)), int(round(half_w + 0.1))
    if top or bottom or left or right:
        image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=color)
    info = Letterbox((h0, w0), (image.shape[0], image.shape[1]), (new_h, new_w), (left, top), gain)
    return image, info
