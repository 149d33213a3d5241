"""Inference: letterbox, boxes, decode, detector, attention taps and CAM. No Qt here."""

from .attention import AttentionMap
from .detector import Detections, Detector, load_model
from .letterbox import Letterbox, letterbox

__all__ = ["AttentionMap", "Detections", "Detector", "load_model", "Letterbox", "letterbox"]
