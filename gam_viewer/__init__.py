"""gam-viewer: see what GAM attention does inside a YOLO detector.

>>> from gam_viewer import load_model
>>> det = load_model("best.pt")            # any YOLOv5 / GAM-YOLO checkpoint, read safely
>>> res = det.predict(image_bgr)            # boxes + every GAM layer's gates, same forward

The package imports lazily: ``gam-viewer --help``, ``data synth`` and the other commands that
need neither PyTorch nor Qt start without loading them; the names below load on first use.
"""

__version__ = "0.1.0"

_LAZY = {
    "load_model": ("gam_viewer.inference", "load_model"),
    "Detector": ("gam_viewer.inference", "Detector"),
    "Detections": ("gam_viewer.inference", "Detections"),
    "ModelLoadError": ("gam_viewer.models.errors", "ModelLoadError"),
    "GAM": ("gam_viewer.nn", "GAM"),
}

__all__ = ["load_model", "Detector", "Detections", "GAM", "ModelLoadError", "__version__"]


def __getattr__(name):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'gam_viewer' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(target[0]), target[1])
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
