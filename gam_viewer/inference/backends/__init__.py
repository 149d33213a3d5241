"""Inference backends: what runs the network's forward pass for a :class:`~..detector.Detector`.

``torch``: the PyTorch model itself (any device, fp16, CUDA graphs). ``onnxruntime``: the
same fused model exported once to ONNX with every GAM gate as an output
(:mod:`.onnxrt`), run by ONNX Runtime on the CPU. ``auto`` picks ONNX Runtime on the CPU
when it is installed and the export works, PyTorch otherwise (CUDA, fp16, CUDA graphs).
Pre- and post-processing (letterbox, decode, NMS) are shared, so both give the same
``Detections``.
"""

import os
from typing import Optional

from .onnxrt import ExportError, OrtEngine, onnxruntime_available, open_onnx

__all__ = ["BACKENDS", "ENV_BACKEND", "ExportError", "OrtEngine", "check_backend", "choose_backend",
           "onnxruntime_available",
           "open_onnx"]

BACKENDS = ("auto", "torch", "onnxruntime")
#: environment variable that decides what "auto" means ("torch" or "onnxruntime"), e.g. for
#: test suites that do not want an export per model
ENV_BACKEND = "GAM_VIEWER_BACKEND"


def check_backend(backend: Optional[str]) -> str:
    """Normalise a backend name (None -> "auto"); ValueError naming the argument otherwise."""
    name = "auto" if backend is None else str(backend).strip().lower()
    if name in ("ort", "onnx"):
        name = "onnxruntime"
    if name in ("pytorch",):
        name = "torch"
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    return name


def choose_backend(backend: str, device_type: str, half: bool = False, cuda_graph: bool = False) -> str:
    """What ``auto`` means here: ``$GAM_VIEWER_BACKEND`` when set (and possible), else
    "onnxruntime" on the CPU (float32) when installed, else "torch"."""
    backend = check_backend(backend)
    if backend != "auto":
        return backend
    env = os.environ.get(ENV_BACKEND, "").strip()
    if env:
        try:
            backend = check_backend(env)
        except ValueError:
            backend = "auto"
        if backend == "torch" or (backend == "onnxruntime" and device_type == "cpu" and not half):
            return backend
    if device_type == "cpu" and not half and not cuda_graph and onnxruntime_available():
        return "onnxruntime"
    return "torch"
