"""Colour tables: the one source of heatmap colours for the window (pyqtgraph) and the figures (matplotlib).

Every heatmap colour, on screen or in a file, comes from :func:`colormap_lut`: matplotlib's
table for the map, sampled at 256 points. The window hands the same table to pyqtgraph
(``ImageItem`` LUT, ``ColorBarItem``), so what is on screen is what gets exported.
"""

from functools import lru_cache

import numpy as np

__all__ = ["COLORMAPS", "DEFAULT_COLORMAP", "check_cmap", "colormap_lut", "sampled_lut"]

#: perceptual colormaps offered everywhere (matplotlib names); the first is the default
COLORMAPS = ("inferno", "viridis", "magma", "plasma", "turbo", "cividis")
DEFAULT_COLORMAP = COLORMAPS[0]


def check_cmap(name: str) -> str:
    """``name`` if it is one of :data:`COLORMAPS`, else a ValueError naming the choices."""
    if name not in COLORMAPS:
        raise ValueError(f"unknown colormap {name!r}; choose one of {', '.join(COLORMAPS)}")
    return name


@lru_cache(maxsize=None)
def _lut_f32(name: str) -> np.ndarray:
    from matplotlib import colormaps

    rgb = colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3].astype(np.float32)
    rgb.setflags(write=False)
    return rgb


@lru_cache(maxsize=None)
def _lut_u8(name: str) -> np.ndarray:
    out = np.round(_lut_f32(name) * 255).astype(np.uint8)
    out.setflags(write=False)
    return out


def sampled_lut(name: str) -> np.ndarray:
    """(256, 3) uint8 table of any matplotlib map, sampled as :func:`colormap_lut` does but not limited
    to :data:`COLORMAPS` (the figure grid's diverging map). Read-only and shared."""
    return _lut_u8(name)


def colormap_lut(name: str = DEFAULT_COLORMAP, dtype=np.uint8) -> np.ndarray:
    """(256, 3) RGB table of colormap ``name``: uint8 0..255 or float32 0..1 (``dtype=np.float32``).

    The array is read-only and shared; copy it to modify.
    """
    check_cmap(name)
    if np.dtype(dtype) == np.uint8:
        return _lut_u8(name)
    lut = _lut_f32(name)
    return lut if np.dtype(dtype) == np.float32 else lut.astype(dtype)
