"""Animated scenes (:func:`animate_scene`): objects drift, bounce off the borders and spin."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np

from .backgrounds import background
from .clutter import Stamp, blend_stamp, draw_clutter, make_distractor, stamp_from_mask
from .colors import Texture, mean_color, pick_color, random_texture
from .scene import (
    Placed,
    check_int,
    check_scene_args,
    finish,
    labels_from_owner,
    paint_object,
    place_objects,
    size_range,
)
from .shapes import CLASS_NAMES, SUBPIX, Shape, random_shape, shape_polygons

__all__ = ["animate_scene"]


@dataclass
class _Mover:
    shape: Shape
    tex: Texture | None  # None: an unlabelled outline distractor
    x: float
    y: float
    vx: float
    vy: float
    omega: float  # radians per frame
    color: np.ndarray | None = None
    thick: int = 1


def _check_animation_args(n_frames, fps) -> tuple[int, float]:
    n_frames = check_int("n_frames", n_frames, 1)
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
    w, h, lo, hi = check_scene_args(rng, width, height, n_objects)
    n_frames, fps = _check_animation_args(n_frames, fps)
    return _animate(rng, w, h, lo, hi, n_frames, fps, bool(return_labels))


def _animate(rng, w, h, lo, hi, n_frames, fps, return_labels):
    rmin, rmax = size_range(w, h)
    short = min(w, h)
    # demo-sized objects: clearly visible, with room to move
    rmin, rmax = max(rmin, 0.05 * short), max(rmin + 0.5, 0.15 * short)
    base = background(rng, w, h)
    scale = math.sqrt(w * h) / 320.0
    draw_clutter(rng, base, rmax, max(1, int(round(int(rng.integers(3, 8)) * scale))))
    global_mean = mean_color(base)
    gain, bias = float(rng.uniform(0.92, 1.08)), float(rng.uniform(-8, 8))

    # initial layout via the normal placement logic (on a scratch copy)
    scratch = base.copy()
    owner = np.full((h, w), -1, np.int16)
    n = int(rng.integers(lo, hi + 1))
    placed = place_objects(rng, scratch, owner, n, rmin, rmax)
    movers: list[_Mover] = []
    for obj in placed:
        # colours must work wherever the object goes: contrast with the whole frame too
        tex = random_texture(rng, obj.shape.r, [global_mean, _local_mean(base, obj)], 80.0)
        speed = float(rng.uniform(0.06, 0.2)) * short / fps
        ang = float(rng.uniform(0, 2 * math.pi))
        omega = float(rng.uniform(-1.0, 1.0)) / fps
        movers.append(_Mover(obj.shape, tex, obj.cx, obj.cy,
                             speed * math.cos(ang), speed * math.sin(ang), omega))
    outline_movers: list[_Mover] = []
    for _ in range(int(rng.integers(1, 3))):
        cls = int(rng.integers(0, len(CLASS_NAMES)))
        shape = random_shape(rng, cls, float(rng.uniform(max(12.0, rmin), max(12.5, rmax))))
        speed = float(rng.uniform(0.05, 0.15)) * short / fps
        ang = float(rng.uniform(0, 2 * math.pi))
        outline_movers.append(_Mover(
            shape, None, float(rng.uniform(0, w)), float(rng.uniform(0, h)),
            speed * math.cos(ang), speed * math.sin(ang), float(rng.uniform(-1, 1)) / fps,
            color=pick_color(rng, [global_mean], 80.0), thick=int(rng.integers(1, 3)),
        ))
    top: list[Stamp] = []
    if rng.random() < 0.5:
        top = [s for s in (make_distractor(rng, k, base, rmax) for k in ("lines",)) if s is not None]

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
            outer, holes = shape_polygons(m.shape, m.x, m.y)
            cv2.polylines(mask, outer + holes, True, 255, m.thick, cv2.LINE_AA, SUBPIX)
            st = stamp_from_mask(mask, m.color, 0.9)
            if st is not None:
                blend_stamp(img, st)
        owner = np.full((h, w), -1, np.int16)
        frame_objs: list[Placed] = []
        for k, m in enumerate(movers):
            full, rect = paint_object(img, owner, k, m.shape, m.tex, m.x, m.y)
            frame_objs.append(Placed(m.shape, m.tex, m.x, m.y, full, rect))
        for st in top:
            blend_stamp(img, st, owner)
        labels, _ = labels_from_owner(owner, frame_objs)
        frame = finish(rng, img, noise_sigma=1.0, gain=gain, bias=bias)
        yield (frame, labels) if return_labels else frame
        for m in movers:
            step(m)
        for m in outline_movers:
            step(m)


def _local_mean(img: np.ndarray, obj: Placed) -> np.ndarray:
    if obj.rect is None:
        return mean_color(img)
    ix0, iy0, ix1, iy1 = obj.rect
    return mean_color(img[iy0:iy1, ix0:ix1])
