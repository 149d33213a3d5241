"""Scene backgrounds: gradients, colour fields, noise, tiles and rectangles, sometimes
blended, always with a reduced contrast (:func:`background`)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .colors import mean_color

__all__ = ["background"]


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


def background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    bg = np.ascontiguousarray(_BACKGROUNDS[int(rng.integers(0, len(_BACKGROUNDS)))](rng, w, h), dtype=np.float32)
    if rng.random() < 0.4:
        other = _BACKGROUNDS[int(rng.integers(0, len(_BACKGROUNDS)))](rng, w, h)
        wgt = np.float32(rng.uniform(0.25, 0.5))
        bg *= 1 - wgt
        bg += other.astype(np.float32) * wgt
    # reduce contrast so labelled objects stand out
    mean = mean_color(bg)
    c = np.float32(rng.uniform(0.45, 0.85))
    bg *= c
    bg += mean * (1 - c)
    np.clip(bg, 0.0, 255.0, out=bg)
    return bg
