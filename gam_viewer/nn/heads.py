"""Detection heads: YOLOv5's anchor-based Detect and the anchor-free DFL head of YOLOv5u/v8.

Heads return their raw per-level maps; decoding to boxes lives in
:mod:`gam_viewer.inference.decode` so that the same raw outputs can feed CAM targets and
CUDA-graph replays.
"""

from typing import List, Sequence

import torch
from torch import Tensor, nn

from .blocks import Conv, DWConv

__all__ = ["AnchorDetect", "DFL", "DFLDetect"]


class AnchorDetect(nn.Module):
    """YOLOv5 (v6/v7) head: one 1x1 conv per level, ``na`` anchors x (5 + nc) outputs.

    ``anchors`` is a persistent buffer (nl, na, 2) in *stride units*, as checkpoints store it.
    """

    kind = "anchor"

    def __init__(self, nc: int, anchors: Sequence[Sequence[float]], ch: Sequence[int]):
        super().__init__()
        self.nc = int(nc)
        self.no = self.nc + 5
        self.nl = len(anchors)
        self.na = len(anchors[0]) // 2
        if len(ch) != self.nl:
            raise ValueError(f"Detect: {len(ch)} input levels but {self.nl} anchor levels")
        self.register_buffer("anchors", torch.tensor(anchors, dtype=torch.float32).view(self.nl, -1, 2))
        self.register_buffer("stride", torch.zeros(self.nl), persistent=False)
        self.m = nn.ModuleList(nn.Conv2d(c, self.no * self.na, 1) for c in ch)

    def forward(self, xs: List[Tensor]) -> List[Tensor]:
        return [conv(x) for conv, x in zip(self.m, xs)]


class DFL(nn.Module):
    """Distribution Focal Loss integral: expected value of a softmax over ``c1`` bins.

    The 1x1 conv holds the fixed weights 0..c1-1 (checkpoints store them)."""

    def __init__(self, c1: int = 16):
        super().__init__()
        self.c1 = c1
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.arange(c1, dtype=torch.float32).view(1, c1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        b, _, a = x.shape
        p = x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)
        return self.conv(p).view(b, 4, a)


class DFLDetect(nn.Module):
    """Anchor-free head of YOLOv5u/YOLOv8 (``legacy=True``) and YOLO11 (``legacy=False``).

    Per level: a box branch (two 3x3 Convs, then 4*reg_max logits) and a class branch.
    """

    kind = "dfl"

    def __init__(self, nc: int, ch: Sequence[int], reg_max: int = 16, legacy: bool = True):
        super().__init__()
        self.nc = int(nc)
        self.nl = len(ch)
        self.reg_max = int(reg_max)
        self.no = self.nc + 4 * self.reg_max
        self.legacy = bool(legacy)
        self.register_buffer("stride", torch.zeros(self.nl), persistent=False)
        c2 = max(16, ch[0] // 4, 4 * self.reg_max)
        c3 = max(ch[0], min(self.nc, 100))
        self.cv2 = nn.ModuleList(
            nn.Sequential(Conv(c, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * self.reg_max, 1)) for c in ch
        )
        if self.legacy:
            self.cv3 = nn.ModuleList(
                nn.Sequential(Conv(c, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, self.nc, 1)) for c in ch
            )
        else:
            self.cv3 = nn.ModuleList(
                nn.Sequential(
                    nn.Sequential(DWConv(c, c, 3), Conv(c, c3, 1)),
                    nn.Sequential(DWConv(c3, c3, 3), Conv(c3, c3, 1)),
                    nn.Conv2d(c3, self.nc, 1),
                )
                for c in ch
            )
        self.dfl = DFL(self.reg_max) if self.reg_max > 1 else nn.Identity()

    def forward(self, xs: List[Tensor]) -> List[Tensor]:
        return [torch.cat((box(x), cls(x)), 1) for box, cls, x in zip(self.cv2, self.cv3, xs)]
