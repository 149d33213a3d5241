"""The layers of YOLOv7 (WongKinYiu/yolov7) checkpoints, written for gam-viewer.

Written from the published architecture (YOLOv7 paper and its configs), not copied. Module and
attribute names follow the checkpoints' state-dict layout (``m``, ``cv1``..``cv7``,
``rbr_dense``/``rbr_1x1``/``rbr_identity``/``rbr_reparam``, ``ia``/``im``/``m2``, ``implicit``,
``anchors``/``anchor_grid``) so that their tensors load by name. YOLOv7's plain ``Conv`` and
``Concat`` have the YOLOv5 layout and are :mod:`.blocks`' classes.

* ``MP``/``SP``: max-pool down-sampling (k x k, stride k) and same-size max-pool (stride 1).
* ``ReOrg``: space-to-depth (2 x 2 pixel blocks to channels), the P6 models' stem.
* ``DownC``: two-branch down-sampling, ``cat(conv3x3_s(conv1x1(x)), conv1x1(maxpool(x)))``.
* ``SPPCSPC``: CSP block around parallel max-pools 5/9/13.
* ``RepConv``: RepVGG block (3x3 + 1x1 + identity BN) that :meth:`RepConv.fuse`
  re-parameterises into one 3x3 conv; the deploy form holds that conv as ``rbr_reparam``.
* ``ImplicitA``/``ImplicitM``: learned per-channel addend / multiplier (YOLOR).
* ``V7Detect``: the anchor head in its three YOLOv7 forms, ``Detect`` (deploy configs),
  ``IDetect`` (implicit terms around each output conv) and ``IAuxDetect`` (P6 models: lead
  heads plus auxiliary heads ``m2`` that only training uses). Like :class:`.heads.AnchorDetect`
  it returns the raw lead maps; decoding is shared with YOLOv5.
* ``Shortcut``: sum of two inputs (yolov7-e6e).
"""

from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import Conv, autopad, conv_with_weights, make_activation
from .heads import AnchorDetect

__all__ = ["MP", "SP", "ReOrg", "DownC", "SPPCSPC", "RepConv", "ImplicitA", "ImplicitM", "Shortcut",
           "V7Detect", "V7_HEADS"]

#: head class name in a YOLOv7 YAML -> (implicit terms, auxiliary heads)
V7_HEADS = {"Detect": (False, False), "IDetect": (True, False), "IAuxDetect": (True, True)}


class MP(nn.Module):
    """Max-pool with kernel = stride = ``k`` (halves H and W for k=2)."""

    def __init__(self, k: int = 2):
        super().__init__()
        self.m = nn.MaxPool2d(kernel_size=k, stride=k)

    def forward(self, x: Tensor) -> Tensor:
        return self.m(x)


class SP(nn.Module):
    """Max-pool of size ``k`` and stride ``s`` with 'same' padding (yolov7-tiny's SPP branches)."""

    def __init__(self, k: int = 3, s: int = 1):
        super().__init__()
        self.m = nn.MaxPool2d(kernel_size=k, stride=s, padding=k // 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.m(x)


class ReOrg(nn.Module):
    """Space-to-depth: (B, C, H, W) -> (B, 4C, H/2, W/2), even/odd rows and columns stacked."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat((x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]), 1)


class Shortcut(nn.Module):
    """Element-wise sum of the first two inputs."""

    def __init__(self, dimension: int = 0):
        super().__init__()
        self.d = dimension

    def forward(self, xs: List[Tensor]) -> Tensor:
        return xs[0] + xs[1]


class DownC(nn.Module):
    """Down-sampling by ``k`` in two halves: a strided 3x3 conv path and a max-pool path."""

    def __init__(self, c1: int, c2: int, n: int = 1, k: int = 2):
        super().__init__()
        self.cv1 = Conv(c1, c1, 1, 1)
        self.cv2 = Conv(c1, c2 // 2, 3, k)
        self.cv3 = Conv(c1, c2 // 2, 1, 1)
        self.mp = nn.MaxPool2d(kernel_size=k, stride=k)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat((self.cv2(self.cv1(x)), self.cv3(self.mp(x))), 1)


class SPPCSPC(nn.Module):
    """CSP around a spatial pyramid pool: a pooled path of 5 convs and a 1x1 bypass, merged by cv7."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False, g: int = 1, e: float = 0.5,
                 k: Sequence[int] = (5, 9, 13)):
        super().__init__()
        hidden = int(2 * c2 * e)
        self.cv1 = Conv(c1, hidden, 1, 1)
        self.cv2 = Conv(c1, hidden, 1, 1)
        self.cv3 = Conv(hidden, hidden, 3, 1)
        self.cv4 = Conv(hidden, hidden, 1, 1)
        self.m = nn.ModuleList(nn.MaxPool2d(kernel_size=s, stride=1, padding=s // 2) for s in k)
        self.cv5 = Conv(4 * hidden, hidden, 1, 1)
        self.cv6 = Conv(hidden, hidden, 3, 1)
        self.cv7 = Conv(2 * hidden, c2, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        a = self.cv4(self.cv3(self.cv1(x)))
        a = self.cv6(self.cv5(torch.cat([a] + [pool(a) for pool in self.m], 1)))
        return self.cv7(torch.cat((a, self.cv2(x)), 1))


def _bn_scale_shift(bn: nn.BatchNorm2d) -> Tuple[Tensor, Tensor]:
    scale = bn.weight.float() / torch.sqrt(bn.running_var.float() + bn.eps)
    return scale, bn.bias.float() - bn.running_mean.float() * scale


class RepConv(nn.Module):
    """RepVGG block: ``act(bn(conv3x3(x)) + bn(conv1x1(x)) [+ bn(x)])``, the identity branch
    only when c1 == c2 and s == 1. ``deploy=True`` (or :meth:`fuse`) is the single
    equivalent 3x3 conv with bias, ``rbr_reparam``."""

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 1, p=None, g: int = 1, act=True,
                 deploy: bool = False):
        super().__init__()
        if k != 3 or autopad(k, p) != 1:
            raise ValueError(f"RepConv needs a 3x3 kernel with padding 1, got k={k}, p={p}")
        self.in_channels, self.out_channels, self.groups = c1, c2, g
        self.deploy = bool(deploy)
        self.act = make_activation("SiLU" if act is True else act)
        if self.deploy:
            self.rbr_reparam = nn.Conv2d(c1, c2, 3, s, 1, groups=g, bias=True)
        else:
            self.rbr_identity = nn.BatchNorm2d(c1) if c1 == c2 and s == 1 else None
            self.rbr_dense = nn.Sequential(nn.Conv2d(c1, c2, 3, s, 1, groups=g, bias=False), nn.BatchNorm2d(c2))
            self.rbr_1x1 = nn.Sequential(nn.Conv2d(c1, c2, 1, s, 0, groups=g, bias=False), nn.BatchNorm2d(c2))

    def forward(self, x: Tensor) -> Tensor:
        if self.deploy:
            return self.act(self.rbr_reparam(x))
        y = self.rbr_dense(x) + self.rbr_1x1(x)
        if self.rbr_identity is not None:
            y = y + self.rbr_identity(x)
        return self.act(y)

    def equivalent_kernel_bias(self) -> Tuple[Tensor, Tensor]:
        """The 3x3 kernel and bias of the single conv equal to the three branches (eval mode)."""
        w3 = self.rbr_dense[0].weight.float()
        s3, b3 = _bn_scale_shift(self.rbr_dense[1])
        s1, b1 = _bn_scale_shift(self.rbr_1x1[1])
        kernel = w3 * s3.view(-1, 1, 1, 1) + F.pad(self.rbr_1x1[0].weight.float() * s1.view(-1, 1, 1, 1), [1, 1, 1, 1])
        bias = b3 + b1
        if self.rbr_identity is not None:
            si, bi = _bn_scale_shift(self.rbr_identity)
            per_group = self.in_channels // self.groups
            ident = torch.zeros_like(kernel)
            idx = torch.arange(self.in_channels, device=kernel.device)
            ident[idx, idx % per_group, 1, 1] = 1.0
            kernel = kernel + ident * si.view(-1, 1, 1, 1)
            bias = bias + bi
        return kernel, bias

    def fuse(self) -> None:
        if self.deploy:
            return
        kernel, bias = self.equivalent_kernel_bias()
        self.rbr_reparam = conv_with_weights(self.rbr_dense[0], kernel, bias)
        del self.rbr_dense, self.rbr_1x1, self.rbr_identity
        self.deploy = True


class _Implicit(nn.Module):
    """A learned per-channel term ``implicit`` (1 x C x 1 x 1), starting at its neutral value."""

    neutral = 0.0

    def __init__(self, channel: int):
        super().__init__()
        self.channel = channel
        self.implicit = nn.Parameter(torch.full((1, channel, 1, 1), self.neutral))


class ImplicitA(_Implicit):
    """A learned per-channel addend, ``x + implicit``."""

    neutral = 0.0

    def forward(self, x: Tensor) -> Tensor:
        return self.implicit + x


class ImplicitM(_Implicit):
    """A learned per-channel multiplier, ``x * implicit``."""

    neutral = 1.0

    def forward(self, x: Tensor) -> Tensor:
        return self.implicit * x


class V7Detect(AnchorDetect):
    """YOLOv7's anchor head: ``Detect``, ``IDetect`` (``implicit``) or ``IAuxDetect`` (``aux``).

    Buffers as the checkpoints hold them: ``anchors`` (nl, na, 2) in stride units and
    ``anchor_grid`` (nl, 1, na, 1, 1, 2) in pixels; YOLOv7 decodes with ``anchor_grid``, so
    :meth:`anchors_from_grid` makes ``anchors`` agree with it after loading. ``forward``
    returns the raw lead maps; an IAuxDetect's auxiliary heads (``m2``, inputs ``nl..2nl-1``)
    are loaded but only training uses them.

    :meth:`fuse` folds the implicit terms into the output convs (as YOLOv7's ``fuse`` does)
    and sets them to their neutral values, so the module stays loadable and equal.
    """

    kind = "anchor"

    def __init__(self, nc: int, anchors: Sequence[Sequence[float]], ch: Sequence[int],
                 implicit: bool = False, aux: bool = False):
        nn.Module.__init__(self)
        self.nc = int(nc)
        self.no = self.nc + 5
        self.nl = len(anchors)
        self.na = len(anchors[0]) // 2
        self.implicit, self.aux = bool(implicit), bool(aux)
        want = 2 * self.nl if self.aux else self.nl
        if len(ch) != want:
            raise ValueError(f"{self.type_name}: {len(ch)} input levels but {self.nl} anchor levels "
                             f"({'lead + auxiliary: ' if self.aux else ''}{want} inputs expected)")
        a = torch.tensor(anchors, dtype=torch.float32).view(self.nl, -1, 2)
        self.register_buffer("anchors", a)
        self.register_buffer("anchor_grid", a.clone().view(self.nl, 1, -1, 1, 1, 2))
        self.register_buffer("stride", torch.zeros(self.nl), persistent=False)
        self.m = nn.ModuleList(nn.Conv2d(c, self.no * self.na, 1) for c in ch[:self.nl])
        if self.aux:
            self.m2 = nn.ModuleList(nn.Conv2d(c, self.no * self.na, 1) for c in ch[self.nl:])
        if self.implicit:
            self.ia = nn.ModuleList(ImplicitA(c) for c in ch[:self.nl])
            self.im = nn.ModuleList(ImplicitM(self.no * self.na) for _ in ch[:self.nl])
        self.folded = False

    @property
    def type_name(self) -> str:
        return "IAuxDetect" if self.aux else "IDetect" if self.implicit else "Detect"

    def forward(self, xs: List[Tensor]) -> List[Tensor]:
        out = []
        for i in range(self.nl):
            if self.implicit and not self.folded:
                out.append(self.im[i](self.m[i](self.ia[i](xs[i]))))
            else:
                out.append(self.m[i](xs[i]))
        return out

    def anchors_from_grid(self) -> None:
        """Set ``anchors`` = ``anchor_grid`` / stride (what YOLOv7's decode multiplies by)."""
        if float(self.stride.min()) <= 0:
            return
        with torch.no_grad():
            self.anchors.copy_(self.anchor_grid.float().view(self.nl, self.na, 2) / self.stride.view(-1, 1, 1))

    def fuse(self) -> None:
        """Fold ImplicitA (before the conv) and ImplicitM (after it) into each output conv."""
        if not self.implicit or self.folded:
            return
        with torch.no_grad():
            for conv, ia, im in zip(self.m, self.ia, self.im):
                w = conv.weight.float()
                scale = im.implicit.float().view(-1)
                bias = conv.bias.float() + w.flatten(1) @ ia.implicit.float().view(-1)
                conv.weight.copy_((w * scale.view(-1, 1, 1, 1)).to(conv.weight.dtype))
                conv.bias.copy_((bias * scale).to(conv.bias.dtype))
                ia.implicit.fill_(ia.neutral)
                im.implicit.fill_(im.neutral)
        self.folded = True

    def extra_repr(self) -> str:
        return f"{self.type_name}, nc={self.nc}, nl={self.nl}, na={self.na}"
