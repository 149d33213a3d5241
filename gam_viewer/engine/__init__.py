"""Inference: letterbox, decode, NMS, attention taps, CAM and frame sources. No Qt here."""

from .attention import AttentionMap
from .detector import Detections, Detector, load_model
from .letterbox import Letterbox, letterbox

__all__ = ["AttentionMap", "Detections", "Detector", "load_model", "Letterbox", "letterbox"]
