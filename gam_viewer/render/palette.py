"""Colours of things drawn over the image: one colour per class, and the markers' colours.

The window's boxes, its screenshots, its figure exports and ``gam-viewer export`` all take a
class's colour from :func:`class_rgb`, so a class has the same colour everywhere.
"""

import colorsys
from typing import Tuple

__all__ = ["class_rgb", "class_bgr", "text_rgb", "CELL_RGB", "TARGET_BOX_RGB"]

RGB = Tuple[int, int, int]

_GOLDEN = 0.6180339887498949
CELL_RGB: RGB = (0, 229, 255)          # the clicked grid cell of the channel chart
TARGET_BOX_RGB: RGB = (255, 255, 255)  # the Grad-CAM target box (dashed on screen)


def class_rgb(index: int) -> RGB:
    """A bright RGB colour per class index, stable between runs; neighbouring classes differ in hue
    (hue steps by the golden ratio; saturation and value alternate in groups of 6 and 3)."""
    i = int(index)
    hue = (0.02 + i * _GOLDEN) % 1.0
    sat = 0.80 if (i // 6) % 2 == 0 else 0.60
    val = 1.00 if (i // 3) % 2 == 0 else 0.85
    r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def class_bgr(index: int) -> RGB:
    """:func:`class_rgb` in OpenCV's channel order."""
    r, g, b = class_rgb(index)
    return b, g, r


def text_rgb(background: RGB) -> RGB:
    """Black or white, whichever reads better on ``background`` (RGB)."""
    lum = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2]
    return (0, 0, 0) if lum > 140 else (255, 255, 255)
