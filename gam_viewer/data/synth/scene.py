"""Object placement, visible-pixel labels and one finished scene (:func:`render_scene`).

The label rules (:data:`MIN_VISIBLE_FRACTION`, :data:`MIN_VISIBLE_PIXELS`,
:data:`MIN_BOX_SIDE`) are described in the package docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .backgrounds import background
from .clutter import TOP_KINDS, draw_clutter
from .colors import Texture, mean_color, random_texture, texture_patch
from .shapes import CLASS_NAMES, Shape, clip_rect, random_shape, shape_mask

__all__ = [
    "MIN_VISIBLE_FRACTION",
    "MIN_VISIBLE_PIXELS",
    "MIN_BOX_SIDE",
    "MIN_OBJECT_SIZE",
    "MAX_OBJECT_FRACTION",
    "Placed",
    "size_range",
    "paint_object",
    "place_objects",
    "labels_from_owner",
    "finish",
    "check_int",
    "check_scene_args",
    "render_scene",
]

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


@dataclass
class Placed:
    shape: Shape
    tex: Texture
    cx: float
    cy: float
    full: int  # number of mask pixels of the whole (unclipped, unoccluded) shape
    rect: tuple[int, int, int, int] | None  # clipped image rect of its patch


def size_range(w: int, h: int) -> tuple[float, float]:
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


def paint_object(
    img: np.ndarray, owner: np.ndarray, k: int, shape: Shape, tex: Texture,
    cx: float, cy: float, mask_info=None,
) -> tuple[int, tuple[int, int, int, int] | None]:
    """Paint one object; returns (full area in pixels, clipped rect)."""
    h, w = img.shape[:2]
    mask, x0, y0, lcx, lcy = mask_info if mask_info is not None else shape_mask(shape, cx, cy)
    full = int(np.count_nonzero(mask > 127))
    size = mask.shape[0]
    cl = clip_rect(x0, y0, size, size, w, h)
    if cl is None:
        return full, None
    ix0, iy0, ix1, iy1, lx, ly = cl
    m = mask[ly: ly + iy1 - iy0, lx: lx + ix1 - ix0]
    tex_patch = texture_patch(tex, size, lcx, lcy, shape.rot, shape.r)
    t = tex_patch[ly: ly + iy1 - iy0, lx: lx + ix1 - ix0]
    a = m.astype(np.float32) * np.float32(1.0 / 255.0)
    reg = img[iy0:iy1, ix0:ix1]
    reg += (t - reg) * a[..., None]
    owner[iy0:iy1, ix0:ix1][m > 127] = k
    return full, (ix0, iy0, ix1, iy1)


def place_objects(
    rng: np.random.Generator, img: np.ndarray, owner: np.ndarray, n: int,
    rmin: float, rmax: float,
) -> list[Placed]:
    """Add ``n`` objects one by one, preferring spots that keep everyone visible."""
    h, w = img.shape[:2]
    placed: list[Placed] = []
    visible: list[int] = []
    for k in range(n):
        cls = int(rng.integers(0, len(CLASS_NAMES)))
        shape = random_shape(rng, cls, _sample_radius(rng, rmin, rmax))
        best = None
        for _attempt in range(6):
            cx, cy = _sample_center(rng, shape.r, w, h)
            info = shape_mask(shape, cx, cy)
            mask, x0, y0 = info[0], info[1], info[2]
            full = int(np.count_nonzero(mask > 127))
            size = mask.shape[0]
            cl = clip_rect(x0, y0, size, size, w, h)
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
        tex = random_texture(rng, shape.r, _region_refs(region, m))
        idx = len(placed)
        full, rect = paint_object(img, owner, idx, shape, tex, cx, cy, info)
        for j in np.flatnonzero(covered):
            visible[j] -= int(covered[j])
        visible.append(int(np.count_nonzero(m)))
        placed.append(Placed(shape, tex, cx, cy, full, rect))
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
        refs.append(mean_color(region))
    return refs


def labels_from_owner(owner: np.ndarray, placed: list[Placed]) -> tuple[list, list[int]]:
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


def finish(
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
    placed: list[Placed]


def check_int(name: str, value, lo: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if lo is not None and value < lo:
        raise ValueError(f"{name} must be >= {lo}, got {value}")
    return int(value)


def check_scene_args(rng, width, height, n_objects) -> tuple[int, int, int, int]:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    width = check_int("width", width, 32)
    height = check_int("height", height, 32)
    try:
        lo, hi = n_objects
    except (TypeError, ValueError):
        raise ValueError(f"n_objects must be a (min, max) pair, got {n_objects!r}") from None
    lo = check_int("n_objects[0]", lo, 0)
    hi = check_int("n_objects[1]", hi, 0)
    if hi < lo:
        raise ValueError(f"n_objects must satisfy min <= max, got {n_objects!r}")
    if hi > 64:
        raise ValueError(f"n_objects max must be <= 64, got {hi}")
    return width, height, lo, hi


def _render(rng: np.random.Generator, width: int, height: int, n_objects, debug: bool = False) -> _SceneDebug:
    w, h, lo, hi = check_scene_args(rng, width, height, n_objects)
    rmin, rmax = size_range(w, h)
    n = int(rng.integers(lo, hi + 1))
    img = background(rng, w, h)
    scale = math.sqrt(w * h) / 320.0
    n_clutter = max(1, int(round(int(rng.integers(3, 10)) * scale)))
    draw_clutter(rng, img, rmax, n_clutter)
    before = img.copy() if debug else None
    owner = np.full((h, w), -1, np.int16)
    placed = place_objects(rng, img, owner, n, rmin, rmax)
    if rng.random() < 0.35:
        draw_clutter(rng, img, rmax, int(rng.integers(1, 3)), TOP_KINDS, None, owner)
    labels, kept = labels_from_owner(owner, placed)
    image = finish(rng, img)
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
