"""Object colours that contrast with what lies under them, and fill textures (flat with
shading, stripes, checker, gradient with smooth noise) that move and rotate with the object."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["mean_color", "pick_color", "Texture", "random_texture", "texture_patch"]


def mean_color(img: np.ndarray) -> np.ndarray:
    """Mean BGR colour of a (h, w, 3) float32 image (cv2.mean is much faster than numpy here)."""
    return np.array(cv2.mean(img)[:3], np.float32)


def pick_color(
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
class Texture:
    kind: str  # flat | stripes | checker | gradient
    a: np.ndarray
    b: np.ndarray
    period: float
    angle: float
    shade: float
    noise: np.ndarray | None  # small (g, g) grid of smooth noise for "gradient"


_TEXTURE_KINDS = ("flat", "stripes", "checker", "gradient")


def random_texture(
    rng: np.random.Generator, r: float, refs: list[np.ndarray], min_dist: float = 85.0
) -> Texture:
    kind = _TEXTURE_KINDS[int(rng.choice(4, p=(0.35, 0.22, 0.18, 0.25)))]
    a = pick_color(rng, refs, min_dist)
    b = pick_color(rng, refs, min_dist * 0.7, avoid=a, avoid_dist=55.0)
    period = max(2.5, r * float(rng.uniform(0.22, 0.55)))
    angle = float(rng.uniform(0.0, math.pi))
    shade = float(rng.uniform(-0.25, 0.25))
    noise = rng.uniform(-1.0, 1.0, (4, 4)).astype(np.float32) if kind == "gradient" else None
    return Texture(kind, a, b, period, angle, shade, noise)


def texture_patch(tex: Texture, size: int, lcx: float, lcy: float, rot: float, r: float) -> np.ndarray:
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
