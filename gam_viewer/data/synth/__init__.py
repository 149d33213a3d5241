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

Modules, each depending only on those above it:

    shapes       the six classes and their geometry (polygons, masks)
    colors       object colours and fill textures
    backgrounds  scene backgrounds
    clutter      unlabelled distractors and the alpha stamps that paint them
    scene        object placement, labels, render_scene()
    animation    animate_scene()
    dataset      generate_dataset(), dataset_summary(): the YOLO layout on disk
    cli          the ``gam-viewer data synth`` sub-command
"""

from .animation import animate_scene
from .cli import add_cli, run_cli
from .dataset import DATASET_JPEG_QUALITY, dataset_summary, generate_dataset
from .scene import (
    MAX_OBJECT_FRACTION,
    MIN_BOX_SIDE,
    MIN_OBJECT_SIZE,
    MIN_VISIBLE_FRACTION,
    MIN_VISIBLE_PIXELS,
    render_scene,
)
from .shapes import CLASS_NAMES

__all__ = [
    "CLASS_NAMES",
    "MIN_VISIBLE_FRACTION",
    "MIN_VISIBLE_PIXELS",
    "MIN_BOX_SIDE",
    "MIN_OBJECT_SIZE",
    "MAX_OBJECT_FRACTION",
    "DATASET_JPEG_QUALITY",
    "render_scene",
    "animate_scene",
    "generate_dataset",
    "dataset_summary",
    "add_cli",
    "run_cli",
]
