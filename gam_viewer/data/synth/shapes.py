"""The six labelled shape classes (:data:`CLASS_NAMES`; the table is in the package
docstring) and their geometry.

A :class:`Shape` is drawn from a generator (:func:`random_shape`), turned into
polygons in OpenCV's fixed-point coordinates (:func:`shape_polygons`, :data:`SUBPIX`
fractional bits) and into an anti-aliased mask patch (:func:`shape_mask`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "CLASS_NAMES",
    "SUBPIX",
    "SUBPIX_SCALE",
    "Shape",
    "random_shape",
    "shape_polygons",
    "shape_mask",
    "clip_rect",
]

#: Class names in class-id order.
CLASS_NAMES: tuple[str, ...] = ("circle", "square", "triangle", "star", "ring", "cross")

SUBPIX = 4  # fixed-point bits for OpenCV polygon drawing
SUBPIX_SCALE = float(1 << SUBPIX)


@dataclass
class Shape:
    """Geometry of one shape; ``r`` is the nominal radius in pixels."""

    cls: int
    r: float
    sx: float
    sy: float
    rot: float
    param: float  # star inner ratio / ring hole ratio / cross half-width
    jitter: np.ndarray | None = None  # triangle: (3, 2) angle offsets, radius factors


_ASPECT_RANGE = {0: 0.8, 1: 0.65, 2: 0.75, 3: 0.85, 4: 0.8, 5: 0.8}


def random_shape(rng: np.random.Generator, cls: int, r: float) -> Shape:
    lo = _ASPECT_RANGE[cls]
    a = float(rng.uniform(lo, 1.0))
    if rng.random() < 0.5:
        sx, sy = 1.0, a
    else:
        sx, sy = a, 1.0
    rot = float(rng.uniform(0.0, 2.0 * math.pi))
    if cls == 3:
        param = float(rng.uniform(0.38, 0.5))
    elif cls == 4:
        param = float(rng.uniform(0.45, 0.65))
    elif cls == 5:
        param = float(rng.uniform(0.25, 0.36))
    else:
        param = 0.0
    jitter = None
    if cls == 2:
        jitter = np.stack(
            [rng.uniform(-0.17, 0.17, 3), rng.uniform(0.92, 1.08, 3)], axis=1
        )
    return Shape(cls, float(r), sx, sy, rot, param, jitter)


_CIRCLE = np.stack(
    [np.cos(np.linspace(0, 2 * np.pi, 72, endpoint=False)),
     np.sin(np.linspace(0, 2 * np.pi, 72, endpoint=False))],
    axis=1,
)


def _unit_polygons(shape: Shape) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Outer polygons and holes of ``shape`` in unit coordinates (radius ~1)."""
    c = shape.cls
    if c == 0:
        return [_CIRCLE], []
    if c == 1:
        h = 0.85
        return [np.array([[-h, -h], [h, -h], [h, h], [-h, h]])], []
    if c == 2:
        assert shape.jitter is not None
        ang = np.deg2rad(np.array([-90.0, 30.0, 150.0])) + shape.jitter[:, 0]
        rad = 1.1 * shape.jitter[:, 1]
        return [np.stack([rad * np.cos(ang), rad * np.sin(ang)], axis=1)], []
    if c == 3:
        ang = np.deg2rad(-90.0 + 36.0 * np.arange(10))
        rad = np.where(np.arange(10) % 2 == 0, 1.1, 1.1 * shape.param)
        return [np.stack([rad * np.cos(ang), rad * np.sin(ang)], axis=1)], []
    if c == 4:
        return [_CIRCLE], [_CIRCLE * shape.param]
    if c == 5:
        t, L = shape.param, 1.0
        pts = [(-t, -L), (t, -L), (t, -t), (L, -t), (L, t), (t, t),
               (t, L), (-t, L), (-t, t), (-L, t), (-L, -t), (-t, -t)]
        return [np.array(pts)], []
    raise ValueError(f"unknown class id {c}")


def shape_polygons(
    shape: Shape, cx: float, cy: float
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Polygons of ``shape`` centred at (cx, cy), as fixed-point int32 arrays."""
    outer, holes = _unit_polygons(shape)
    cs, sn = math.cos(shape.rot), math.sin(shape.rot)
    rotm = np.array([[cs, sn], [-sn, cs]])  # row-vector form of the rotation

    def tf(p: np.ndarray) -> np.ndarray:
        q = (p * (shape.sx, shape.sy)) @ rotm * shape.r + (cx, cy)
        return np.round(q * SUBPIX_SCALE).astype(np.int32)

    return [tf(p) for p in outer], [tf(p) for p in holes]


def _patch_half(r: float) -> int:
    return int(math.ceil(r * 1.25)) + 3


def shape_mask(shape: Shape, cx: float, cy: float) -> tuple[np.ndarray, int, int, float, float]:
    """Anti-aliased 0..255 mask of ``shape`` in a square patch.

    Returns (mask, x0, y0, lcx, lcy): the patch's top-left corner in image
    coordinates (may be negative or beyond the image) and the shape centre in
    patch coordinates.
    """
    half = _patch_half(shape.r)
    x0 = int(math.floor(cx)) - half
    y0 = int(math.floor(cy)) - half
    size = 2 * half + 1
    lcx, lcy = cx - x0, cy - y0
    mask = np.zeros((size, size), np.uint8)
    outer, holes = shape_polygons(shape, lcx, lcy)
    cv2.fillPoly(mask, outer, 255, cv2.LINE_AA, SUBPIX)
    if holes:
        cv2.fillPoly(mask, holes, 0, cv2.LINE_AA, SUBPIX)
    return mask, x0, y0, lcx, lcy


def clip_rect(x0: int, y0: int, pw: int, ph: int, w: int, h: int):
    """Intersection of a patch with the image: image slice bounds + patch offsets."""
    ix0, iy0 = max(x0, 0), max(y0, 0)
    ix1, iy1 = min(x0 + pw, w), min(y0 + ph, h)
    if ix1 <= ix0 or iy1 <= iy0:
        return None
    return ix0, iy0, ix1, iy1, ix0 - x0, iy0 - y0
