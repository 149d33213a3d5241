"""Unlabelled clutter ("distractors") and the alpha stamps that paint it; the
:data:`TOP_KINDS` may also be painted over the objects."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .colors import mean_color, pick_color
from .shapes import CLASS_NAMES, SUBPIX, SUBPIX_SCALE, clip_rect, random_shape, shape_polygons

__all__ = ["Stamp", "stamp_from_mask", "blend_stamp", "make_distractor", "draw_clutter", "TOP_KINDS"]

_TEXT_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghkmnpqrstuvwxyz0123456789#%&@?"
_FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_PLAIN,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
)


@dataclass
class Stamp:
    """Something painted with a colour through an alpha patch at (x, y)."""

    alpha: np.ndarray  # (ph, pw) float32 in 0..1
    x: int
    y: int
    color: np.ndarray  # (3,) float32


def stamp_from_mask(mask: np.ndarray, color: np.ndarray, opacity: float) -> Stamp | None:
    x, y, bw, bh = cv2.boundingRect(mask)
    if bw == 0 or bh == 0:
        return None
    alpha = mask[y: y + bh, x: x + bw].astype(np.float32) * np.float32(opacity / 255.0)
    return Stamp(alpha, x, y, color)


def blend_stamp(img: np.ndarray, st: Stamp, owner: np.ndarray | None = None) -> None:
    h, w = img.shape[:2]
    ph, pw = st.alpha.shape
    cl = clip_rect(st.x, st.y, pw, ph, w, h)
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
TOP_KINDS = ("lines", "scribble", "text", "blob")


def make_distractor(
    rng: np.random.Generator, kind: str, img: np.ndarray, rmax: float
) -> Stamp | None:
    h, w = img.shape[:2]
    short = min(w, h)
    mean = mean_color(img)
    color = pick_color(rng, [mean], 70.0)
    opacity = float(rng.uniform(0.75, 1.0))
    mask = np.zeros((h, w), np.uint8)
    if kind == "outline":
        cls = int(rng.integers(0, len(CLASS_NAMES)))
        r = float(rng.uniform(min(12.0, rmax), max(12.0, rmax * 1.1)))
        shape = random_shape(rng, cls, r)
        outer, holes = shape_polygons(shape, rng.uniform(0, w), rng.uniform(0, h))
        thick = int(rng.integers(1, 3))
        cv2.polylines(mask, outer + holes, True, 255, thick, cv2.LINE_AA, SUBPIX)
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
        return Stamp(alpha.astype(np.float32), x0, y0, color)
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
            cv2.fillPoly(mask, [np.round(pts * SUBPIX_SCALE).astype(np.int32)], 255,
                         cv2.LINE_AA, SUBPIX)
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
        arr = np.round(np.array(pts) * SUBPIX_SCALE).astype(np.int32)
        cv2.polylines(mask, [arr], False, 255, int(rng.integers(1, 4)), cv2.LINE_AA, SUBPIX)
    else:  # pragma: no cover - internal misuse
        raise ValueError(kind)
    return stamp_from_mask(mask, color, opacity)


def draw_clutter(
    rng: np.random.Generator, img: np.ndarray, rmax: float, count: int,
    kinds: tuple[str, ...] = _DISTRACTOR_KINDS, p: tuple[float, ...] | None = _DISTRACTOR_P,
    owner: np.ndarray | None = None,
) -> list[Stamp]:
    stamps = []
    for _ in range(count):
        kind = kinds[int(rng.choice(len(kinds), p=p))]
        st = make_distractor(rng, kind, img, rmax)
        if st is not None:
            blend_stamp(img, st, owner)
            stamps.append(st)
    return stamps
