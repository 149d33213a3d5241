"""What a model costs: parameters, GFLOPs (``torch.utils.flop_counter``), measured latency.

GFLOPs are counted on one imgsz x imgsz input of the fused inference model (BatchNorms folded,
as YOLOv5's model summary reports them: one multiply-add = 2 FLOPs), so yolov5n reads 4.5 at
640. They are counted on the PyTorch module, which a Detector keeps whatever runs its forward
pass: FlopCounterMode sees only PyTorch operators, so counting through an ONNX Runtime session
would read 0. Latency is measured during the evaluation itself (see ``runner``): the median per-image
time of letterbox + forward + decode + NMS on this machine.
"""

from __future__ import annotations

import torch

from ..nn import gates_kept

__all__ = ["model_cost"]


def model_cost(det, imgsz: int) -> dict:
    """{"params": int, "gflops": float or None, "gflops_imgsz": imgsz} for a Detector."""
    params = int(sum(p.numel() for p in det.model.parameters()))
    gflops = None
    try:
        from torch.utils.flop_counter import FlopCounterMode

        model = det.model
        p = next(model.parameters())
        x = torch.zeros((1, 3, imgsz, imgsz), dtype=p.dtype, device=p.device)
        counter = FlopCounterMode(display=False)
        with gates_kept(model.gam_modules(), False), torch.inference_mode(), counter:
            model(x)
        gflops = counter.get_total_flops() / 1e9
        if gflops <= 0:
            raise RuntimeError("the FLOP counter saw no operators")
    except Exception as exc:  # a counter that cannot trace a model must not stop an evaluation
        return {"params": params, "gflops": None, "gflops_imgsz": imgsz, "gflops_error": str(exc)[:200]}
    return {"params": params, "gflops": round(gflops, 3), "gflops_imgsz": imgsz}
