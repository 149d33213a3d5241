"""Deterministic synthetic object-detection scenes (transitional: the module moved to
:mod:`.scene` unchanged; the next commit splits it into one module per section)."""

from .scene import (  # noqa: F401
    CLASS_NAMES,
    DATASET_JPEG_QUALITY,
    MAX_OBJECT_FRACTION,
    MIN_BOX_SIDE,
    MIN_OBJECT_SIZE,
    MIN_VISIBLE_FRACTION,
    MIN_VISIBLE_PIXELS,
    _image_rng,
    _image_size,
    _label_lines,
    _render,
    add_cli,
    animate_scene,
    dataset_summary,
    generate_dataset,
    render_scene,
    run_cli,
)
