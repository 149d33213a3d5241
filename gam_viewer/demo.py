"""The embedded demo: bundled sample media and a bundled GAM-YOLO / baseline pair.

Everything here works offline. The trained pair lives in ``resources/demo/`` in
gam-viewer's own format; until it exists the shipped YAMLs (random weights) stand in, and
:func:`demo_models` says so.
"""

from pathlib import Path
from typing import List, Tuple

from .media.sources import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

__all__ = ["RESOURCES", "demo_models", "demo_media", "demo_is_trained"]

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
DEMO_DIR = RESOURCES / "demo"
SAMPLES_DIR = RESOURCES / "samples"
GAM_DEMO = DEMO_DIR / "gam-yolov5n.safetensors"
BASE_DEMO = DEMO_DIR / "yolov5n.safetensors"


def demo_is_trained() -> bool:
    return GAM_DEMO.is_file() and BASE_DEMO.is_file()


def demo_models() -> Tuple[str, str]:
    """(GAM model, baseline model) for the demo: trained files when bundled, else shipped YAMLs."""
    if demo_is_trained():
        return str(GAM_DEMO), str(BASE_DEMO)
    return "yolov5nu-gam-full", "yolov5nu"


def demo_media() -> List[Path]:
    """Bundled sample images and video, sorted (images first)."""
    if not SAMPLES_DIR.is_dir():
        return []
    files = [p for p in SAMPLES_DIR.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS]
    return sorted(files, key=lambda p: (p.suffix.lower() in VIDEO_EXTENSIONS, p.name))
