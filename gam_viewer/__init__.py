"""gam-viewer: see what GAM attention does inside a YOLO detector.

>>> from gam_viewer import load_model
>>> det = load_model("best.pt")            # any YOLOv5 / GAM-YOLO checkpoint, read safely
>>> res = det.predict(image_bgr)            # boxes + every GAM layer's gates, same forward
"""

__version__ = "0.1.0"

from .inference import Detections, Detector, load_model  # noqa: E402
from .models import ModelLoadError  # noqa: E402
from .nn import GAM  # noqa: E402

__all__ = ["load_model", "Detector", "Detections", "GAM", "ModelLoadError", "__version__"]
