"""Data helpers: a deterministic synthetic shapes dataset (numpy + OpenCV only).

See :mod:`gam_viewer.data.synth` for the classes, the rendering rules and the
YOLO dataset layout.
"""

from .synth import (
    CLASS_NAMES,
    MIN_VISIBLE_FRACTION,
    add_cli,
    animate_scene,
    dataset_summary,
    generate_dataset,
    render_scene,
    run_cli,
)

__all__ = [
    "CLASS_NAMES",
    "MIN_VISIBLE_FRACTION",
    "add_cli",
    "animate_scene",
    "dataset_summary",
    "generate_dataset",
    "render_scene",
    "run_cli",
]
