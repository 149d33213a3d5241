"""Which layers of a model CAM offers, and why (plain model bookkeeping, no grad-cam, no ONNX).

Shared by :mod:`.cam` (the layers it offers) and the ONNX Runtime backend (it exports those
layers' outputs so that EigenCAM needs no PyTorch pass).
"""

from typing import Dict, List

__all__ = ["head_sources", "cam_layer_reasons"]


def head_sources(model) -> List[int]:
    """Indices of the layers feeding the detection head, one per output scale."""
    head = len(model.layers) - 1
    f = model.model[-1].f
    srcs = [f] if isinstance(f, int) else list(f)
    srcs = srcs[: getattr(model.model[-1], "nl", len(srcs))]  # YOLOv7's IAuxDetect: the lead heads' inputs
    return [s if s >= 0 else head + s for s in srcs]   # -1 is the layer just before the head


def cam_layer_reasons(model) -> Dict[int, List[str]]:
    """{layer index: reasons} for every layer CAM offers, in model order."""
    reasons: Dict[int, List[str]] = {}
    for s in head_sources(model):
        reasons.setdefault(s, []).append("feeds Detect")
    for info in model.gam_layers():
        reasons.setdefault(info.index, []).append("GAM")
    backbone = [info.index for info in model.layers if info.section == "backbone"]
    if backbone:
        reasons.setdefault(backbone[-1], []).append("last backbone layer")
    return {i: reasons[i] for i in sorted(reasons)}
