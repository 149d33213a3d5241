"""Deterministic synthetic object-detection scenes ("shapes" dataset).

The generator paints a few labelled geometric objects onto a varied background
together with unlabelled look-alike clutter, so that a small detector trained on
it has to learn the actual shapes rather than "anything with an edge".

Classes (index -> name, see :data:`CLASS_NAMES`)::

    0 circle    filled ellipse, aspect 0.8..1
    1 square    filled rectangle, aspect 0.65..1, any rotation
    2 triangle  filled triangle with slightly jittered corners
    3 star      filled five-pointed star (inner radius 0.38..0.5 of the outer)
    4 ring      annulus; the hole shows what lies behind it
    5 cross     filled plus sign (becomes an "x" when rotated)

Objects vary in size (about 12 px up to 40 % of the short image side), colour,
fill texture (flat with shading, stripes, checker, gradient with smooth noise),
rotation, aspect ratio and position. Objects may overlap each other and the
image border. A label is the tight box around the pixels of the object that are
still visible in the final image (after occlusion by later objects, by clutter
painted on top and by the border); an object is dropped when less than
:data:`MIN_VISIBLE_FRACTION` of it is visible or when the visible part is tiny.

Unlabelled clutter: thin outlines of the class shapes, partial arcs, blurred
blobs, elongated bars, straight lines, scribbles and text-like strings. Most of
it lies under the objects, some is painted over them.

Backgrounds: linear and radial gradients, smooth colour fields, multi-scale
noise, tiled textures and random rectangles, sometimes blended, always with a
reduced contrast so that objects stay clearly visible.

Everything is drawn with numpy and OpenCV only and depends on nothing but the
:class:`numpy.random.Generator` passed in, so the same seed always gives the
same images and labels.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

__all__ = [
    "CLASS_NAMES",
    "MIN_VISIBLE_FRACTION",
    "render_scene",
    "animate_scene",
    "generate_dataset",
    "add_cli",
    "run_cli",
]

#: Class names in class-id order.
CLASS_NAMES: tuple[str, ...] = ("circle", "square", "triangle", "star", "ring", "cross")

#: An object is labelled only if at least this fraction of its area is visible.
MIN_VISIBLE_FRACTION = 0.35
#: ... and if at least this many of its pixels are visible ...
MIN_VISIBLE_PIXELS = 20
#: ... and if its visible box is at least this many pixels wide and high.
MIN_BOX_SIDE = 4

#: Smallest nominal object size (diameter) in pixels.
MIN_OBJECT_SIZE = 12
#: Largest nominal object size as a fraction of the short image side.
MAX_OBJECT_FRACTION = 0.4

#: JPEG quality of dataset images.
DATASET_JPEG_QUALITY = 95

# (width, height) ratios of dataset images, long side == imgsz, with weights.
_DATASET_ASPECTS = ((1.0, 1.0), (1.0, 0.75), (1.0, 9.0 / 16.0), (1.0, 2.0 / 3.0), (0.75, 1.0))
_DATASET_ASPECT_WEIGHTS = (0.4, 0.2, 0.15, 0.1, 0.15)

# Marker file that identifies a directory written by generate_dataset().
_MARKER = ".gam_viewer_synth.json"
_GENERATOR_ID = "gam_viewer.data.synth"
_FORMAT_VERSION = 1

_SUBPIX = 4  # fixed-point bits for OpenCV polygon drawing
_SUBPIX_SCALE = float(1 << _SUBPIX)

_TEXT_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghkmnpqrstuvwxyz0123456789#%&@?"
_FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_PLAIN,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
)


# --------------------------------------------------------------------------
# geometry


@dataclass
class _Shape:
    """Geometry of one shape; ``r`` is the nominal radius in pixels."""

    cls: int
    r: float
    sx: float
    sy: float
    rot: float
    param: float  # star inner ratio / ring hole ratio / cross half-width
    jitter: np.ndarray | None = None  # triangle: (3, 2) angle offsets, radius factors


_ASPECT_RANGE = {0: 0.8, 1: 0.65, 2: 0.75, 3: 0.85, 4: 0.8, 5: 0.8}


def _random_shape(rng: np.random.Generator, cls: int, r: float) -> _Shape:
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
    return _Shape(cls, float(r), sx, sy, rot, param, jitter)


_CIRCLE = np.stack(
    [np.cos(np.linspace(0, 2 * np.pi, 72, endpoint=False)),
     np.sin(np.linspace(0, 2 * np.pi, 72, endpoint=False))],
    axis=1,
)


def _unit_polygons(shape: _Shape) -> tuple[list[np.ndarray], list[np.ndarray]]:
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


def _shape_polygons(
    shape: _Shape, cx: float, cy: float
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Polygons of ``shape`` centred at (cx, cy), as fixed-point int32 arrays."""
    outer, holes = _unit_polygons(shape)
    cs, sn = math.cos(shape.rot), math.sin(shape.rot)
    rotm = np.array([[cs, sn], [-sn, cs]])  # row-vector form of the rotation

    def tf(p: np.ndarray) -> np.ndarray:
        q = (p * (shape.sx, shape.sy)) @ rotm * shape.r + (cx, cy)
        return np.round(q * _SUBPIX_SCALE).astype(np.int32)

    return [tf(p) for p in outer], [tf(p) for p in holes]


def _patch_half(r: float) -> int:
    return int(math.ceil(r * 1.25)) + 3


def _shape_mask(shape: _Shape, cx: float, cy: float) -> tuple[np.ndarray, int, int, float, float]:
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
    outer, holes = _shape_polygons(shape, lcx, lcy)
    cv2.fillPoly(mask, outer, 255, cv2.LINE_AA, _SUBPIX)
    if holes:
        cv2.fillPoly(mask, holes, 0, cv2.LINE_AA, _SUBPIX)
    return mask, x0, y0, lcx, lcy


def _clip_rect(x0: int, y0: int, pw: int, ph: int, w: int, h: int):
    """Intersection of a patch with the image: image slice bounds + patch offsets."""
    ix0, iy0 = max(x0, 0), max(y0, 0)
    ix1, iy1 = min(x0 + pw, w), min(y0 + ph, h)
    if ix1 <= ix0 or iy1 <= iy0:
        return None
    return ix0, iy0, ix1, iy1, ix0 - x0, iy0 - y0


# --------------------------------------------------------------------------
# colours and textures


def _mean_color(img: np.ndarray) -> np.ndarray:
    """Mean BGR colour of a (h, w, 3) float32 image (cv2.mean is much faster than numpy here)."""
    return np.array(cv2.mean(img)[:3], np.float32)


def _pick_color(
    rng: np.random.Generator,
    refs: list[np.ndarray],
    min_dist: float,
    avoid: np.ndarray | None = None,
    avoid_dist: float = 1.0,
) -> np.ndarray:
    """A random BGR colour at least ``min_dist`` away from every colour in ``refs``.

    Always consumes the same amount of randomness; falls back to the best
    candidate when none meets the bound.
    """
    cands = rng.uniform(0.0, 255.0, (24, 3))
    score = np.full(24, np.inf)
    for ref in refs:
        score = np.minimum(score, np.linalg.norm(cands - ref, axis=1) / min_dist)
    if avoid is not None:
        score = np.minimum(score, np.linalg.norm(cands - avoid, axis=1) / avoid_dist)
    ok = np.flatnonzero(score >= 1.0)
    idx = int(ok[0]) if ok.size else int(np.argmax(score))
    return cands[idx].astype(np.float32)


@dataclass
class _Texture:
    kind: str  # flat | stripes | checker | gradient
    a: np.ndarray
    b: np.ndarray
    period: float
    angle: float
    shade: float
    noise: np.ndarray | None  # small (g, g) grid of smooth noise for "gradient"


_TEXTURE_KINDS = ("flat", "stripes", "checker", "gradient")


def _random_texture(
    rng: np.random.Generator, r: float, refs: list[np.ndarray], min_dist: float = 85.0
) -> _Texture:
    kind = _TEXTURE_KINDS[int(rng.choice(4, p=(0.35, 0.22, 0.18, 0.25)))]
    a = _pick_color(rng, refs, min_dist)
    b = _pick_color(rng, refs, min_dist * 0.7, avoid=a, avoid_dist=55.0)
    period = max(2.5, r * float(rng.uniform(0.22, 0.55)))
    angle = float(rng.uniform(0.0, math.pi))
    shade = float(rng.uniform(-0.25, 0.25))
    noise = rng.uniform(-1.0, 1.0, (4, 4)).astype(np.float32) if kind == "gradient" else None
    return _Texture(kind, a, b, period, angle, shade, noise)


def _texture_patch(tex: _Texture, size: int, lcx: float, lcy: float, rot: float, r: float) -> np.ndarray:
    """(size, size, 3) float32 fill, in coordinates that move/rotate with the object."""
    xs = (np.arange(size, dtype=np.float32) - np.float32(lcx))[None, :]
    ys = (np.arange(size, dtype=np.float32) - np.float32(lcy))[:, None]
    ang = tex.angle + rot
    cs, sn = np.float32(math.cos(ang)), np.float32(math.sin(ang))
    u = xs * cs + ys * sn
    if tex.kind == "flat":
        f = 1.0 + tex.shade * np.clip(u / np.float32(r), -1.0, 1.0)
        return np.clip(f[..., None] * tex.a, 0, 255).astype(np.float32)
    if tex.kind == "stripes":
        sel = (np.floor(u / np.float32(tex.period)) % 2) == 0
        return np.where(sel[..., None], tex.a, tex.b).astype(np.float32)
    if tex.kind == "checker":
        v = -xs * sn + ys * cs
        p = np.float32(tex.period)
        sel = ((np.floor(u / p) + np.floor(v / p)) % 2) == 0
        return np.where(sel[..., None], tex.a, tex.b).astype(np.float32)
    # gradient + smooth noise
    t = np.clip(0.5 + 0.5 * u / np.float32(r), 0.0, 1.0)[..., None]
    out = tex.a * (1.0 - t) + tex.b * t
    assert tex.noise is not None
    n = cv2.resize(tex.noise, (size, size), interpolation=cv2.INTER_CUBIC)
    out = out + 22.0 * n[..., None]
    return np.clip(out, 0, 255).astype(np.float32)


# --------------------------------------------------------------------------
# backgrounds


def _lerp_colors(t: np.ndarray, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    """(h, w, 3) float32 image ``c0 + t * (c1 - c0)`` for a (h, w) float32 ``t``.

    Built per channel and merged: much faster than numpy broadcasting over a
    last axis of length 3.
    """
    t = np.ascontiguousarray(t, dtype=np.float32)
    return cv2.merge([t * np.float32(c1[i] - c0[i]) + np.float32(c0[i]) for i in range(3)])


def _bg_gradient(rng, w, h):
    c0, c1 = rng.uniform(0, 255, (2, 3)).astype(np.float32)
    ang = rng.uniform(0, 2 * math.pi)
    xs = np.arange(w, dtype=np.float32)[None, :] / max(w - 1, 1)
    ys = np.arange(h, dtype=np.float32)[:, None] / max(h - 1, 1)
    t = xs * math.cos(ang) + ys * math.sin(ang)
    t = (t - t.min()) / np.float32(max(float(t.max() - t.min()), 1e-6))
    return _lerp_colors(t, c0, c1)


def _bg_radial(rng, w, h):
    c0, c1 = rng.uniform(0, 255, (2, 3)).astype(np.float32)
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    xs = np.arange(w, dtype=np.float32)[None, :] - cx
    ys = np.arange(h, dtype=np.float32)[:, None] - cy
    d = np.sqrt(xs * xs + ys * ys)
    d /= np.float32(max(float(d.max()), 1e-6))
    t = cv2.pow(d, float(rng.uniform(0.6, 1.6)))
    return _lerp_colors(t, c0, c1)


def _bg_field(rng, w, h):
    g = int(rng.integers(2, 6))
    grid = rng.uniform(0, 255, (g, g + 1, 3)).astype(np.float32)
    return np.clip(cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC), 0, 255)


def _bg_noise(rng, w, h):
    base = rng.uniform(40, 215, 3).astype(np.float32)
    g = int(rng.integers(6, 20))
    low = rng.standard_normal((g, g, 3), dtype=np.float32)
    low *= np.float32(rng.uniform(15, 40))
    low += base
    out = cv2.resize(low, (w, h), interpolation=cv2.INTER_LINEAR)
    fine = rng.standard_normal((h, w), dtype=np.float32)
    fine *= np.float32(rng.uniform(4, 14))
    out += cv2.merge([fine, fine, fine])
    return cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.6, 1.5)))


def _bg_tiles(rng, w, h):
    t = int(rng.integers(8, 41))
    c0 = rng.uniform(30, 225, 3).astype(np.float32)
    c1 = np.clip(c0 + rng.uniform(-70, 70, 3), 0, 255).astype(np.float32)
    kind = int(rng.integers(0, 4))
    tile = np.empty((t, t, 3), np.float32)
    tile[:] = c0
    if kind == 0:  # checker
        half = t // 2
        tile[:half, :half] = c1
        tile[half:, half:] = c1
    elif kind == 1:  # bricks / grid lines
        lw = max(1, t // 8)
        tile[:lw, :] = c1
        tile[: t // 2, :lw] = c1
        tile[t // 2: t // 2 + lw, :] = c1
        tile[t // 2:, t // 2: t // 2 + lw] = c1
    elif kind == 2:  # dots
        cv2.circle(tile, (t // 2, t // 2), max(1, t // 4), c1.tolist(), -1, cv2.LINE_AA)
    else:  # blurred random tile
        n = rng.uniform(0, 1, (t, t, 1)).astype(np.float32)
        n = cv2.GaussianBlur(n, (0, 0), 1.5)[..., None]
        tile = c0 * (1 - n) + c1 * n
    reps = (h // t + 2, w // t + 2, 1)
    oy, ox = int(rng.integers(0, t)), int(rng.integers(0, t))
    return np.tile(tile, reps)[oy: oy + h, ox: ox + w]


def _bg_rects(rng, w, h):
    base = rng.uniform(30, 225, 3).astype(np.float32)
    out = np.empty((h, w, 3), np.float32)
    out[:] = base
    for _ in range(int(rng.integers(8, 40))):
        rw = int(rng.uniform(0.05, 0.5) * w) + 1
        rh = int(rng.uniform(0.05, 0.5) * h) + 1
        x, y = int(rng.integers(-rw // 2, w)), int(rng.integers(-rh // 2, h))
        col = base + (rng.uniform(0, 255, 3) - base) * rng.uniform(0.2, 0.6)
        cv2.rectangle(out, (x, y), (x + rw, y + rh), col.tolist(), -1)
    return out


_BACKGROUNDS = (_bg_gradient, _bg_radial, _bg_field, _bg_noise, _bg_tiles, _bg_rects)


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    bg = np.ascontiguousarray(_BACKGROUNDS[int(rng.integers(0, len(_BACKGROUNDS)))](rng, w, h), dtype=np.float32)
    if rng.random() < 0.4:
        other = _BACKGROUNDS[int(rng.integers(0, len(_BACKGROUNDS)))](rng, w, h)
        wgt = np.float32(rng.uniform(0.25, 0.5))
        bg *= 1 - wgt
        bg += other.astype(np.float32) * wgt
    # reduce contrast so labelled objects stand out
    mean = _mean_color(bg)
    c = np.float32(rng.uniform(0.45, 0.85))
    bg *= c
    bg += mean * (1 - c)
    np.clip(bg, 0.0, 255.0, out=bg)
    return bg


# --------------------------------------------------------------------------
# clutter (unlabelled distractors)


@dataclass
class _Stamp:
    """Something painted with a colour through an alpha patch at (x, y)."""

    alpha: np.ndarray  # (ph, pw) float32 in 0..1
    x: int
    y: int
    color: np.ndarray  # (3,) float32


def _stamp_from_mask(mask: np.ndarray, color: np.ndarray, opacity: float) -> _Stamp | None:
    x, y, bw, bh = cv2.boundingRect(mask)
    if bw == 0 or bh == 0:
        return None
    alpha = mask[y: y + bh, x: x + bw].astype(np.float32) * np.float32(opacity / 255.0)
    return _Stamp(alpha, x, y, color)


def _blend_stamp(img: np.ndarray, st: _Stamp, owner: np.ndarray | None = None) -> None:
    h, w = img.shape[:2]
    ph, pw = st.alpha.shape
    cl = _clip_rect(st.x, st.y, pw, ph, w, h)
    if cl is None:
        return
    ix0, iy0, ix1, iy1, lx, ly = cl
    a = st.alpha[ly: ly + iy1 - iy0, lx: lx + ix1 - ix0]
    reg = img[iy0:iy1, ix0:ix1]
    nz = a > np.float32(1.0 / 512.0)
    if np.count_nonzero(nz) < 0.4 * nz.size:  # thin strokes: touch only their pixels
        sub = reg[nz]
        sub += (st.color - sub) * a[nz][:, None]
        reg[nz] = sub
    else:
        reg += (st.color - reg) * cv2.merge([a, a, a])
    if owner is not None:
        owner[iy0:iy1, ix0:ix1][a > 0.5] = -1


_DISTRACTOR_KINDS = ("outline", "arc", "blob", "bar", "lines", "text", "scribble")
_DISTRACTOR_P = (0.22, 0.14, 0.15, 0.12, 0.12, 0.13, 0.12)
_TOP_KINDS = ("lines", "scribble", "text", "blob")


def _make_distractor(
    rng: np.random.Generator, kind: str, img: np.ndarray, rmax: float
) -> _Stamp | None:
    h, w = img.shape[:2]
    short = min(w, h)
    mean = _mean_color(img)
    color = _pick_color(rng, [mean], 70.0)
    opacity = float(rng.uniform(0.75, 1.0))
    mask = np.zeros((h, w), np.uint8)
    if kind == "outline":
        cls = int(rng.integers(0, len(CLASS_NAMES)))
        r = float(rng.uniform(min(12.0, rmax), max(12.0, rmax * 1.1)))
        shape = _random_shape(rng, cls, r)
        outer, holes = _shape_polygons(shape, rng.uniform(0, w), rng.uniform(0, h))
        thick = int(rng.integers(1, 3))
        cv2.polylines(mask, outer + holes, True, 255, thick, cv2.LINE_AA, _SUBPIX)
    elif kind == "arc":
        a = float(rng.uniform(8.0, max(9.0, rmax * 1.2)))
        b = a * float(rng.uniform(0.6, 1.0))
        start = float(rng.uniform(0, 360))
        span = float(rng.uniform(40, 200))
        thick = int(rng.integers(1, max(2, min(4, int(0.15 * a) + 1))))
        center = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.ellipse(mask, center, (int(a), int(b)), float(rng.uniform(0, 180)),
                    start, start + span, 255, thick, cv2.LINE_AA)
    elif kind == "blob":
        # soft-edged ellipse: a sigmoid of the elliptical distance (like a heavy blur)
        a = float(rng.uniform(5.0, max(6.0, rmax)))
        b = a * float(rng.uniform(0.5, 1.0))
        soft = a * float(rng.uniform(0.2, 0.4)) + 1.5  # edge width in px
        ang = float(rng.uniform(0, math.pi))
        cx, cy = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        opacity = float(rng.uniform(0.5, 0.95))
        half = int(a + 4 * soft) + 1
        x0, y0 = int(cx) - half, int(cy) - half
        xs = (np.arange(2 * half + 1, dtype=np.float32) + np.float32(x0 - cx))[None, :]
        ys = (np.arange(2 * half + 1, dtype=np.float32) + np.float32(y0 - cy))[:, None]
        cs, sn = np.float32(math.cos(ang)), np.float32(math.sin(ang))
        u = (xs * cs + ys * sn) / np.float32(a)
        v = (-xs * sn + ys * cs) / np.float32(b)
        dist = (np.sqrt(u * u + v * v) - 1.0) * np.float32(a / soft)
        alpha = np.float32(opacity) / (1.0 + np.exp(np.clip(dist * 2.5, -30, 30)))
        return _Stamp(alpha.astype(np.float32), x0, y0, color)
    elif kind == "bar":
        length = float(rng.uniform(16.0, max(17.0, 0.5 * short)))
        width = max(2.0, length / float(rng.uniform(4.0, 9.0)))
        ang = float(rng.uniform(0, math.pi))
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        d = np.array([math.cos(ang), math.sin(ang)]) * length / 2
        n = np.array([-math.sin(ang), math.cos(ang)]) * width / 2
        c = np.array([cx, cy])
        if rng.random() < 0.5:
            pts = np.array([c - d - n, c + d - n, c + d + n, c - d + n])
            cv2.fillPoly(mask, [np.round(pts * _SUBPIX_SCALE).astype(np.int32)], 255,
                         cv2.LINE_AA, _SUBPIX)
        else:
            cv2.ellipse(mask, (int(cx), int(cy)), (int(length / 2), max(1, int(width / 2))),
                        math.degrees(ang), 0, 360, 255, -1, cv2.LINE_AA)
    elif kind == "lines":
        thick = int(rng.integers(1, 4))
        for _ in range(int(rng.integers(1, 5))):
            p0 = (int(rng.integers(-w // 4, w + w // 4)), int(rng.integers(-h // 4, h + h // 4)))
            p1 = (int(rng.integers(-w // 4, w + w // 4)), int(rng.integers(-h // 4, h + h // 4)))
            cv2.line(mask, p0, p1, 255, thick, cv2.LINE_AA)
    elif kind == "text":
        k = int(rng.integers(2, 9))
        text = "".join(_TEXT_CHARS[int(i)] for i in rng.integers(0, len(_TEXT_CHARS), k))
        font = _FONTS[int(rng.integers(0, len(_FONTS)))]
        height = float(rng.uniform(8.0, 8.0 + 0.12 * short))
        scale = height / 22.0
        thick = int(rng.integers(1, 3))
        org = (int(rng.integers(-w // 8, w)), int(rng.integers(int(height), h + int(height))))
        cv2.putText(mask, text, org, font, scale, 255, thick, cv2.LINE_AA)
    elif kind == "scribble":
        npts = int(rng.integers(5, 16))
        step = float(rng.uniform(4.0, 4.0 + 0.08 * short))
        heading = float(rng.uniform(0, 2 * math.pi))
        p = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        pts = [p.copy()]
        for _ in range(npts - 1):
            heading += float(rng.normal(0.0, 0.9))
            p = p + step * np.array([math.cos(heading), math.sin(heading)])
            pts.append(p.copy())
        arr = np.round(np.array(pts) * _SUBPIX_SCALE).astype(np.int32)
        cv2.polylines(mask, [arr], False, 255, int(rng.integers(1, 4)), cv2.LINE_AA, _SUBPIX)
    else:  # pragma: no cover - internal misuse
        raise ValueError(kind)
    return _stamp_from_mask(mask, color, opacity)


def _draw_clutter(
    rng: np.random.Generator, img: np.ndarray, rmax: float, count: int,
    kinds: tuple[str, ...] = _DISTRACTOR_KINDS, p: tuple[float, ...] | None = _DISTRACTOR_P,
    owner: np.ndarray | None = None,
) -> list[_Stamp]:
    stamps = []
    for _ in range(count):
        kind = kinds[int(rng.choice(len(kinds), p=p))]
        st = _make_distractor(rng, kind, img, rmax)
        if st is not None:
            _blend_stamp(img, st, owner)
            stamps.append(st)
    return stamps


# --------------------------------------------------------------------------
# objects and scenes


@dataclass
class _Placed:
    shape: _Shape
    tex: _Texture
    cx: float
    cy: float
    full: int  # number of mask pixels of the whole (unclipped, unoccluded) shape
    rect: tuple[int, int, int, int] | None  # clipped image rect of its patch


def _size_range(w: int, h: int) -> tuple[float, float]:
    rmin = MIN_OBJECT_SIZE / 2.0
    rmax = max(rmin + 0.5, MAX_OBJECT_FRACTION * min(w, h) / 2.0)
    return rmin, rmax


def _sample_radius(rng: np.random.Generator, rmin: float, rmax: float) -> float:
    return float(math.exp(rng.uniform(math.log(rmin), math.log(rmax))))


def _sample_center(rng: np.random.Generator, r: float, w: int, h: int) -> tuple[float, float]:
    if rng.random() < 0.78:
        lox, hix = (r, w - r) if w > 2 * r else (w / 2, w / 2)
        loy, hiy = (r, h - r) if h > 2 * r else (h / 2, h / 2)
    else:  # may cross the border
        lox, hix, loy, hiy = -0.3 * r, w + 0.3 * r, -0.3 * r, h + 0.3 * r
    return float(rng.uniform(lox, hix)), float(rng.uniform(loy, hiy))


def _paint_object(
    img: np.ndarray, owner: np.ndarray, k: int, shape: _Shape, tex: _Texture,
    cx: float, cy: float, mask_info=None,
) -> tuple[int, tuple[int, int, int, int] | None]:
    """Paint one object; returns (full area in pixels, clipped rect)."""
    h, w = img.shape[:2]
    mask, x0, y0, lcx, lcy = mask_info if mask_info is not None else _shape_mask(shape, cx, cy)
    full = int(np.count_nonzero(mask > 127))
    size = mask.shape[0]
    cl = _clip_rect(x0, y0, size, size, w, h)
    if cl is None:
        return full, None
    ix0, iy0, ix1, iy1, lx, ly = cl
    m = mask[ly: ly + iy1 - iy0, lx: lx + ix1 - ix0]
    tex_patch = _texture_patch(tex, size, lcx, lcy, shape.rot, shape.r)
    t = tex_patch[ly: ly + iy1 - iy0, lx: lx + ix1 - ix0]
    a = m.astype(np.float32) * np.float32(1.0 / 255.0)
    reg = img[iy0:iy1, ix0:ix1]
    reg += (t - reg) * a[..., None]
    owner[iy0:iy1, ix0:ix1][m > 127] = k
    return full, (ix0, iy0, ix1, iy1)


def _place_objects(
    rng: np.random.Generator, img: np.ndarray, owner: np.ndarray, n: int,
    rmin: float, rmax: float,
) -> list[_Placed]:
    """Add ``n`` objects one by one, preferring spots that keep everyone visible."""
    h, w = img.shape[:2]
    placed: list[_Placed] = []
    visible: list[int] = []
    for k in range(n):
        cls = int(rng.integers(0, len(CLASS_NAMES)))
        shape = _random_shape(rng, cls, _sample_radius(rng, rmin, rmax))
        best = None
        for _attempt in range(6):
            cx, cy = _sample_center(rng, shape.r, w, h)
            info = _shape_mask(shape, cx, cy)
            mask, x0, y0 = info[0], info[1], info[2]
            full = int(np.count_nonzero(mask > 127))
            size = mask.shape[0]
            cl = _clip_rect(x0, y0, size, size, w, h)
            if cl is None:
                continue
            ix0, iy0, ix1, iy1, lx, ly = cl
            m = mask[ly: ly + iy1 - iy0, lx: lx + ix1 - ix0] > 127
            own = int(np.count_nonzero(m))
            bad = 0 if own >= max(MIN_VISIBLE_FRACTION * full, MIN_VISIBLE_PIXELS) else 1
            covered = np.bincount(owner[iy0:iy1, ix0:ix1][m] + 1, minlength=k + 1)[1:]
            for j in np.flatnonzero(covered):
                before = visible[j]
                if before >= MIN_VISIBLE_FRACTION * placed[j].full and \
                        before - covered[j] < MIN_VISIBLE_FRACTION * placed[j].full:
                    bad += 1
            if best is None or bad < best[0]:
                best = (bad, cx, cy, info, (ix0, iy0, ix1, iy1), m, covered)
            if bad == 0:
                break
        if best is None:
            continue
        _, cx, cy, info, rect, m, covered = best
        ix0, iy0, ix1, iy1 = rect
        region = img[iy0:iy1, ix0:ix1]
        tex = _random_texture(rng, shape.r, _region_refs(region, m))
        idx = len(placed)
        full, rect = _paint_object(img, owner, idx, shape, tex, cx, cy, info)
        for j in np.flatnonzero(covered):
            visible[j] -= int(covered[j])
        visible.append(int(np.count_nonzero(m)))
        placed.append(_Placed(shape, tex, cx, cy, full, rect))
    return placed


def _region_refs(region: np.ndarray, m: np.ndarray) -> list[np.ndarray]:
    """Colours an object painted over ``region`` (under mask ``m``) must contrast with:
    the mean under the whole mask and under each quarter of it."""
    m8 = m.astype(np.uint8)
    refs = []
    if m8.any():
        refs.append(np.array(cv2.mean(region, mask=m8)[:3], np.float32))
        hh, hw = m8.shape[0] // 2, m8.shape[1] // 2
        for ys in (slice(0, hh), slice(hh, None)):
            for xs in (slice(0, hw), slice(hw, None)):
                sub = m8[ys, xs]
                if np.count_nonzero(sub) >= 4:
                    refs.append(np.array(cv2.mean(region[ys, xs], mask=sub)[:3], np.float32))
    else:
        refs.append(_mean_color(region))
    return refs


def _labels_from_owner(owner: np.ndarray, placed: list[_Placed]) -> tuple[list, list[int]]:
    labels = []
    kept = []
    for k, obj in enumerate(placed):
        if obj.rect is None:
            continue
        ix0, iy0, ix1, iy1 = obj.rect
        m = owner[iy0:iy1, ix0:ix1] == k
        cnt = int(np.count_nonzero(m))
        if cnt < MIN_VISIBLE_PIXELS or cnt < MIN_VISIBLE_FRACTION * obj.full:
            continue
        cols = np.flatnonzero(m.any(axis=0))
        rows = np.flatnonzero(m.any(axis=1))
        x1, x2 = ix0 + int(cols[0]), ix0 + int(cols[-1]) + 1
        y1, y2 = iy0 + int(rows[0]), iy0 + int(rows[-1]) + 1
        if x2 - x1 < MIN_BOX_SIDE or y2 - y1 < MIN_BOX_SIDE:
            continue
        labels.append((obj.shape.cls, float(x1), float(y1), float(x2), float(y2)))
        kept.append(k)
    return labels, kept


def _finish(
    rng: np.random.Generator, img: np.ndarray, noise_sigma: float | None = None,
    gain: float | None = None, bias: float | None = None,
) -> np.ndarray:
    """Global photometric jitter, sensor noise, optional blur -> uint8 (modifies ``img``).

    With ``noise_sigma``/``gain``/``bias`` given (video frames) only the noise
    is random, so the frames do not flicker.
    """
    h, w = img.shape[:2]
    gain = np.float32(rng.uniform(0.88, 1.12) if gain is None else gain)
    bias = np.float32(rng.uniform(-12, 12) if bias is None else bias)
    out = img
    out *= gain
    out += bias + np.float32(0.5)  # +0.5: the final cast truncates, this rounds
    sigma = float(rng.uniform(0.0, 6.0)) if noise_sigma is None else noise_sigma
    if sigma > 0:
        # luminance noise at full resolution (uniform: cheaper than normal, looks the same)
        lum = rng.random((h, w), dtype=np.float32)
        lum -= np.float32(0.5)
        lum *= np.float32(sigma * 2.8)  # std ~ 0.8 sigma
        # colour noise at a quarter of the resolution
        chroma = rng.standard_normal(((h + 3) // 4, (w + 3) // 4, 3), dtype=np.float32)
        chroma *= np.float32(sigma * 0.5)
        out += cv2.resize(chroma, (w, h), interpolation=cv2.INTER_LINEAR)
        out += cv2.merge([lum, lum, lum])
    if noise_sigma is None and rng.random() < 0.25:
        out = cv2.GaussianBlur(out, (3, 3), float(rng.uniform(0.5, 0.9)))
    np.clip(out, 0.0, 255.0, out=out)
    return out.astype(np.uint8)


@dataclass
class _SceneDebug:
    image: np.ndarray  # final BGR uint8
    labels: list
    owner: np.ndarray  # int16, index into ``placed`` per pixel, -1 = not an object
    kept: list[int]  # index into ``placed`` of each label
    before_objects: np.ndarray | None  # float32 image before any object was painted (debug only)
    placed: list[_Placed]


def _check_int(name: str, value, lo: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if lo is not None and value < lo:
        raise ValueError(f"{name} must be >= {lo}, got {value}")
    return int(value)


def _check_scene_args(rng, width, height, n_objects) -> tuple[int, int, int, int]:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    width = _check_int("width", width, 32)
    height = _check_int("height", height, 32)
    try:
        lo, hi = n_objects
    except (TypeError, ValueError):
        raise ValueError(f"n_objects must be a (min, max) pair, got {n_objects!r}") from None
    lo = _check_int("n_objects[0]", lo, 0)
    hi = _check_int("n_objects[1]", hi, 0)
    if hi < lo:
        raise ValueError(f"n_objects must satisfy min <= max, got {n_objects!r}")
    if hi > 64:
        raise ValueError(f"n_objects max must be <= 64, got {hi}")
    return width, height, lo, hi


def _render(rng: np.random.Generator, width: int, height: int, n_objects, debug: bool = False) -> _SceneDebug:
    w, h, lo, hi = _check_scene_args(rng, width, height, n_objects)
    rmin, rmax = _size_range(w, h)
    n = int(rng.integers(lo, hi + 1))
    img = _background(rng, w, h)
    scale = math.sqrt(w * h) / 320.0
    n_clutter = max(1, int(round(int(rng.integers(3, 10)) * scale)))
    _draw_clutter(rng, img, rmax, n_clutter)
    before = img.copy() if debug else None
    owner = np.full((h, w), -1, np.int16)
    placed = _place_objects(rng, img, owner, n, rmin, rmax)
    if rng.random() < 0.35:
        _draw_clutter(rng, img, rmax, int(rng.integers(1, 3)), _TOP_KINDS, None, owner)
    labels, kept = _labels_from_owner(owner, placed)
    image = _finish(rng, img)
    return _SceneDebug(image, labels, owner, kept, before, placed)


def render_scene(
    rng: np.random.Generator,
    width: int,
    height: int,
    n_objects: tuple[int, int] = (2, 8),
) -> tuple[np.ndarray, list[tuple[int, float, float, float, float]]]:
    """Render one synthetic scene.

    Args:
        rng: the only source of randomness; the same generator state gives the
            same scene.
        width, height: image size in pixels (each >= 32).
        n_objects: inclusive (min, max) range for the number of objects that
            are placed. Objects that end up mostly hidden are not labelled, so a
            scene can have fewer labels than objects.

    Returns:
        ``(image, labels)``: a BGR ``uint8`` array of shape (height, width, 3)
        and a list of ``(class_id, x1, y1, x2, y2)`` boxes in pixels (x2/y2
        exclusive, i.e. pixel-edge coordinates), tight around the visible pixels
        of each labelled object. ``class_id`` indexes :data:`CLASS_NAMES`.
    """
    d = _render(rng, width, height, n_objects)
    return d.image, d.labels


# --------------------------------------------------------------------------
# animation


@dataclass
class _Mover:
    shape: _Shape
    tex: _Texture | None  # None: an unlabelled outline distractor
    x: float
    y: float
    vx: float
    vy: float
    omega: float  # radians per frame
    color: np.ndarray | None = None
    thick: int = 1


def _check_animation_args(n_frames, fps) -> tuple[int, float]:
    n_frames = _check_int("n_frames", n_frames, 1)
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)) \
            or not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return n_frames, float(fps)


def animate_scene(
    rng: np.random.Generator,
    width: int,
    height: int,
    n_frames: int,
    fps: float = 15.0,
    n_objects: tuple[int, int] = (3, 6),
    return_labels: bool = False,
) -> Iterator[np.ndarray] | Iterator[tuple[np.ndarray, list]]:
    """Frames of a scene whose objects drift, bounce off the borders and spin.

    The background and most of the clutter are static; one or two outline
    distractors move as well. Speeds are given per second and converted with
    ``fps``, so motion looks the same at any frame rate.

    Arguments are validated immediately (``ValueError``); the returned iterator
    yields ``n_frames`` BGR ``uint8`` frames, or ``(frame, labels)`` pairs when
    ``return_labels`` is true (labels as in :func:`render_scene`).
    """
    w, h, lo, hi = _check_scene_args(rng, width, height, n_objects)
    n_frames, fps = _check_animation_args(n_frames, fps)
    return _animate(rng, w, h, lo, hi, n_frames, fps, bool(return_labels))


def _animate(rng, w, h, lo, hi, n_frames, fps, return_labels):
    rmin, rmax = _size_range(w, h)
    short = min(w, h)
    # demo-sized objects: clearly visible, with room to move
    rmin, rmax = max(rmin, 0.05 * short), max(rmin + 0.5, 0.15 * short)
    base = _background(rng, w, h)
    scale = math.sqrt(w * h) / 320.0
    _draw_clutter(rng, base, rmax, max(1, int(round(int(rng.integers(3, 8)) * scale))))
    global_mean = _mean_color(base)
    gain, bias = float(rng.uniform(0.92, 1.08)), float(rng.uniform(-8, 8))

    # initial layout via the normal placement logic (on a scratch copy)
    scratch = base.copy()
    owner = np.full((h, w), -1, np.int16)
    n = int(rng.integers(lo, hi + 1))
    placed = _place_objects(rng, scratch, owner, n, rmin, rmax)
    movers: list[_Mover] = []
    for obj in placed:
        # colours must work wherever the object goes: contrast with the whole frame too
        tex = _random_texture(rng, obj.shape.r, [global_mean, _local_mean(base, obj)], 80.0)
        speed = float(rng.uniform(0.06, 0.2)) * short / fps
        ang = float(rng.uniform(0, 2 * math.pi))
        omega = float(rng.uniform(-1.0, 1.0)) / fps
        movers.append(_Mover(obj.shape, tex, obj.cx, obj.cy,
                             speed * math.cos(ang), speed * math.sin(ang), omega))
    outline_movers: list[_Mover] = []
    for _ in range(int(rng.integers(1, 3))):
        cls = int(rng.integers(0, len(CLASS_NAMES)))
        shape = _random_shape(rng, cls, float(rng.uniform(max(12.0, rmin), max(12.5, rmax))))
        speed = float(rng.uniform(0.05, 0.15)) * short / fps
        ang = float(rng.uniform(0, 2 * math.pi))
        outline_movers.append(_Mover(
            shape, None, float(rng.uniform(0, w)), float(rng.uniform(0, h)),
            speed * math.cos(ang), speed * math.sin(ang), float(rng.uniform(-1, 1)) / fps,
            color=_pick_color(rng, [global_mean], 80.0), thick=int(rng.integers(1, 3)),
        ))
    top: list[_Stamp] = []
    if rng.random() < 0.5:
        top = [s for s in (_make_distractor(rng, k, base, rmax) for k in ("lines",)) if s is not None]

    def step(m: _Mover) -> None:
        m.x += m.vx
        m.y += m.vy
        m.shape.rot += m.omega
        lo_x, hi_x = 0.3 * m.shape.r, w - 0.3 * m.shape.r
        lo_y, hi_y = 0.3 * m.shape.r, h - 0.3 * m.shape.r
        if (m.x < lo_x and m.vx < 0) or (m.x > hi_x and m.vx > 0):
            m.vx = -m.vx
        if (m.y < lo_y and m.vy < 0) or (m.y > hi_y and m.vy > 0):
            m.vy = -m.vy

    for _ in range(n_frames):
        img = base.copy()
        for m in outline_movers:
            mask = np.zeros((h, w), np.uint8)
            outer, holes = _shape_polygons(m.shape, m.x, m.y)
            cv2.polylines(mask, outer + holes, True, 255, m.thick, cv2.LINE_AA, _SUBPIX)
            st = _stamp_from_mask(mask, m.color, 0.9)
            if st is not None:
                _blend_stamp(img, st)
        owner = np.full((h, w), -1, np.int16)
        frame_objs: list[_Placed] = []
        for k, m in enumerate(movers):
            full, rect = _paint_object(img, owner, k, m.shape, m.tex, m.x, m.y)
            frame_objs.append(_Placed(m.shape, m.tex, m.x, m.y, full, rect))
        for st in top:
            _blend_stamp(img, st, owner)
        labels, _ = _labels_from_owner(owner, frame_objs)
        frame = _finish(rng, img, noise_sigma=1.0, gain=gain, bias=bias)
        yield (frame, labels) if return_labels else frame
        for m in movers:
            step(m)
        for m in outline_movers:
            step(m)


def _local_mean(img: np.ndarray, obj: _Placed) -> np.ndarray:
    if obj.rect is None:
        return _mean_color(img)
    ix0, iy0, ix1, iy1 = obj.rect
    return _mean_color(img[iy0:iy1, ix0:ix1])


# --------------------------------------------------------------------------
# dataset writer


def _image_size(rng: np.random.Generator, imgsz: int) -> tuple[int, int]:
    i = int(rng.choice(len(_DATASET_ASPECTS), p=_DATASET_ASPECT_WEIGHTS))
    fw, fh = _DATASET_ASPECTS[i]
    return max(32, int(round(imgsz * fw))), max(32, int(round(imgsz * fh)))


def _image_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def _is_val(index: int, n: int, val_fraction: float) -> bool:
    """Evenly spread validation images; independent of ``n`` except for tiny n."""
    if val_fraction <= 0:
        return False
    if math.floor((index + 1) * val_fraction) > math.floor(index * val_fraction):
        return True
    # make sure a dataset with >= 2 images has at least one validation image
    return n >= 2 and index == n - 1 and math.floor(n * val_fraction) == 0


def _label_lines(labels, w: int, h: int) -> str:
    lines = []
    for cls, x1, y1, x2, y2 in labels:
        cx = min(max((x1 + x2) / 2.0 / w, 0.0), 1.0)
        cy = min(max((y1 + y2) / 2.0 / h, 0.0), 1.0)
        bw = min(max((x2 - x1) / w, 0.0), 1.0)
        bh = min(max((y2 - y1) / h, 0.0), 1.0)
        lines.append(f"{int(cls)} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}\n")
    return "".join(lines)


def _is_previous_output(path: Path) -> tuple[bool, str]:
    """Whether ``path`` holds exactly what generate_dataset() writes (and nothing else)."""
    marker = path / _MARKER
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False, "it has no synth marker file"
    if not isinstance(info, dict) or info.get("generator") != _GENERATOR_ID:
        return False, "its marker file is not from this generator"
    allowed_top = {"images", "labels", "data.yaml", _MARKER}
    for entry in path.iterdir():
        if entry.name not in allowed_top:
            return False, f"it contains {entry.name!r}, which the generator does not write"
    for sub, ext in (("images", ".jpg"), ("labels", ".txt")):
        root = path / sub
        if not root.exists():
            continue
        if not root.is_dir() or root.is_symlink():
            return False, f"{sub!r} is not a plain directory"
        for entry in root.iterdir():
            if sub == "labels" and entry.is_file() and entry.suffix == ".cache":
                continue  # label caches written by YOLO trainers
            if entry.name not in ("train", "val") or not entry.is_dir() or entry.is_symlink():
                return False, f"it contains {sub}/{entry.name}"
            for f in entry.iterdir():
                if f.suffix != ext or not f.is_file() or f.is_symlink():
                    return False, f"it contains {sub}/{entry.name}/{f.name}"
    return True, ""


def _check_target(out: Path) -> None:
    if not out.exists() and not out.is_symlink():
        return
    if out.is_symlink() or not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a directory; refusing to replace it")
    if not any(out.iterdir()):
        return
    ok, why = _is_previous_output(out)
    if not ok:
        raise FileExistsError(
            f"{out} is not empty and is not a previous synth dataset ({why}); "
            "refusing to overwrite it - choose an empty or new directory"
        )


def _data_yaml(out: Path, n: int, imgsz: int, seed: int, val_fraction: float) -> str:
    lines = [
        "# Synthetic shapes dataset written by gam_viewer.data.synth",
        f"# n={n} imgsz={imgsz} seed={seed} val_fraction={val_fraction}",
        f"path: {json.dumps(str(out))}",
        "train: images/train",
        "val: images/val",
        f"nc: {len(CLASS_NAMES)}",
        "names:",
    ]
    lines += [f"  {i}: {name}" for i, name in enumerate(CLASS_NAMES)]
    return "\n".join(lines) + "\n"


def generate_dataset(
    out_dir: str | Path,
    n: int = 200,
    imgsz: int = 320,
    seed: int = 0,
    val_fraction: float = 0.2,
    progress: Callable[[int, int], object] | None = None,
) -> Path:
    """Write a YOLO-format synthetic dataset and return the path of its ``data.yaml``.

    Layout::

        out_dir/images/{train,val}/NNNNNN.jpg
        out_dir/labels/{train,val}/NNNNNN.txt   # "cls cx cy w h", normalised, 6 decimals
        out_dir/data.yaml                       # path (absolute), train, val, nc, names
        out_dir/.gam_viewer_synth.json          # marker: parameters of this run

    Image ``i`` is rendered from a generator seeded with ``(seed, i)``: it does
    not depend on ``n``, and the same arguments give byte-identical files. Its
    long side is ``imgsz``; the other side is drawn from a few aspect ratios
    (1:1, 4:3, 16:9, 3:2 landscape and 3:4 portrait). Every
    ``1/val_fraction``-th image goes to ``val`` (at least one when ``n >= 2``
    and ``val_fraction > 0``).

    ``out_dir`` must be missing, empty, or a previous output of this function
    (which is then replaced); anything else raises ``FileExistsError``. The
    dataset is built in a temporary sibling directory and renamed into place at
    the end, so an interrupted run never leaves a partial dataset behind.

    ``progress(done, total)`` is called after every image when given.
    """
    n = _check_int("n", n, 1)
    imgsz = _check_int("imgsz", imgsz, 64)
    if imgsz > 8192:
        raise ValueError(f"imgsz must be <= 8192, got {imgsz}")
    seed = _check_int("seed", seed, 0)
    if isinstance(val_fraction, bool) or not isinstance(
        val_fraction, (int, float, np.integer, np.floating)
    ) or not math.isfinite(val_fraction) or not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be a number with 0 <= val_fraction < 1, got {val_fraction!r}")
    val_fraction = float(val_fraction)
    if progress is not None and not callable(progress):
        raise ValueError(f"progress must be callable or None, got {type(progress).__name__}")
    if out_dir is None or str(out_dir) == "":
        raise ValueError("out_dir must be a non-empty path")

    out = Path(os.path.abspath(Path(out_dir).expanduser()))
    _check_target(out)
    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    # mkdtemp makes a private (0700) directory; build the dataset in a normal
    # sub-directory of it (created with the user's umask) and move that.
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.synth-tmp-", dir=parent))
    tmp = work / "dataset"
    try:
        tmp.mkdir()
        for split in ("train", "val"):
            (tmp / "images" / split).mkdir(parents=True)
            (tmp / "labels" / split).mkdir(parents=True)
        for i in range(n):
            rng = _image_rng(seed, i)
            w, h = _image_size(rng, imgsz)
            img, labels = render_scene(rng, w, h)
            split = "val" if _is_val(i, n, val_fraction) else "train"
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, DATASET_JPEG_QUALITY])
            if not ok:  # pragma: no cover - OpenCV failure
                raise OSError(f"could not encode image {i} as JPEG")
            (tmp / "images" / split / f"{i:06d}.jpg").write_bytes(buf.tobytes())
            (tmp / "labels" / split / f"{i:06d}.txt").write_bytes(
                _label_lines(labels, w, h).encode("ascii")
            )
            if progress is not None:
                progress(i + 1, n)
        (tmp / "data.yaml").write_text(_data_yaml(out, n, imgsz, seed, val_fraction), encoding="utf-8")
        marker = {
            "generator": _GENERATOR_ID,
            "version": _FORMAT_VERSION,
            "n": n,
            "imgsz": imgsz,
            "seed": seed,
            "val_fraction": val_fraction,
            "classes": list(CLASS_NAMES),
        }
        (tmp / _MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")

        # swap into place; re-check in case the target changed while we worked
        _check_target(out)
        if out.exists():
            holder = Path(tempfile.mkdtemp(prefix=f".{out.name}.synth-old-", dir=parent))
            try:
                out.rename(holder / "old")
            except BaseException:
                holder.rmdir()
                raise
            try:
                tmp.rename(out)
            except BaseException:
                (holder / "old").rename(out)  # put the previous dataset back
                holder.rmdir()
                raise
            shutil.rmtree(holder, ignore_errors=True)
        else:
            tmp.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out / "data.yaml"


def dataset_summary(out_dir: str | Path) -> dict[str, tuple[int, int]]:
    """``{"train": (images, boxes), "val": (images, boxes)}`` for a written dataset."""
    root = Path(out_dir)
    result = {}
    for split in ("train", "val"):
        imgs = sorted((root / "images" / split).glob("*.jpg"))
        boxes = 0
        for lab in (root / "labels" / split).glob("*.txt"):
            boxes += sum(1 for line in lab.read_text(encoding="ascii").splitlines() if line.strip())
        result[split] = (len(imgs), boxes)
    return result


# --------------------------------------------------------------------------
# command line


def add_cli(subparsers) -> argparse.ArgumentParser:
    """Register the ``synth`` sub-command on an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "synth",
        help="write a synthetic shapes dataset in YOLO format",
        description=(
            "Write a deterministic synthetic object-detection dataset "
            f"({', '.join(CLASS_NAMES)}) in YOLO layout: images/, labels/, data.yaml."
        ),
    )
    p.add_argument("--out", required=True, help="output directory (new, empty, or a previous synth output)")
    p.add_argument("--n", type=int, default=200, help="number of images (default: 200)")
    p.add_argument("--imgsz", type=int, default=320, help="long image side in pixels (default: 320)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--val-fraction", type=float, default=0.2,
                   help="fraction of images in the val split, 0 <= f < 1 (default: 0.2)")
    p.set_defaults(func=run_cli)
    return p


def run_cli(args: argparse.Namespace) -> int:
    """Run the ``synth`` sub-command; 0 on success, 2 on bad arguments or a refused target."""
    try:
        data_yaml = generate_dataset(
            args.out, n=args.n, imgsz=args.imgsz, seed=args.seed, val_fraction=args.val_fraction
        )
    except (FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    s = dataset_summary(data_yaml.parent)
    print(
        f"synth: train {s['train'][0]} images / {s['train'][1]} boxes, "
        f"val {s['val'][0]} images / {s['val'][1]} boxes -> {data_yaml}"
    )
    return 0
