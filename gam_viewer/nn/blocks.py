"""The YOLO building blocks that YOLOv5 (v6/v7), YOLOv5u and YOLOv8 checkpoints use.

Written for gam-viewer from the published architectures: module and attribute names follow
the checkpoints' state-dict layout (``conv``/``bn``, ``cv1``/``cv2``/``cv3``, ``m``) so that
their tensors load by name. Pure PyTorch, no Qt.
"""

import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

__all__ = [
    "autopad", "make_divisible", "make_activation", "Conv", "DWConv", "Bottleneck", "C3", "C2f", "SPP", "SPPF",
    "Focus", "Concat", "fuse_conv_bn", "conv_with_weights",
]

IntOrPair = Union[int, Tuple[int, int]]


def autopad(k: IntOrPair, p: Optional[IntOrPair] = None, d: int = 1) -> IntOrPair:
    """'Same' padding for an odd kernel (with dilation) when ``p`` is None."""
    if p is not None:
        return p
    if isinstance(k, int):
        return (d * (k - 1) + 1) // 2
    return tuple((d * (x - 1) + 1) // 2 for x in k)


def make_divisible(x: float, divisor: int = 8) -> int:
    """``x`` rounded up to a multiple of ``divisor`` (YOLO's width-scaled channel counts)."""
    return int(math.ceil(x / divisor) * divisor)


_ACTIVATIONS = {
    "SiLU": nn.SiLU,
    "ReLU": nn.ReLU,
    "ReLU6": nn.ReLU6,
    "LeakyReLU": lambda: nn.LeakyReLU(0.1),
    "Hardswish": nn.Hardswish,
    "Mish": nn.Mish,
    "GELU": nn.GELU,
    "Sigmoid": nn.Sigmoid,
    "Identity": nn.Identity,
    "Tanh": nn.Tanh,
}


def make_activation(name: Union[str, bool, nn.Module, None]) -> nn.Module:
    """``True`` -> SiLU (the YOLO default), ``False``/None -> Identity, or a class name."""
    if isinstance(name, nn.Module):
        return name
    if name is True:
        return nn.SiLU()
    if name is False or name is None:
        return nn.Identity()
    key = str(name)
    for prefix in ("torch.nn.", "nn."):
        if key.startswith(prefix):
            key = key[len(prefix):]
    key, _, rest = key.partition("(")
    slope = rest.rstrip(") ").strip()
    if key == "LeakyReLU" and slope:  # 'LeakyReLU(0.2)': a checkpoint's own slope (YOLOv7 configs)
        try:
            return nn.LeakyReLU(float(slope))
        except ValueError:
            raise ValueError(f"unsupported activation {name!r}: the slope must be a number") from None
    if key not in _ACTIVATIONS:
        raise ValueError(f"unsupported activation {name!r}; known: {', '.join(sorted(_ACTIVATIONS))}")
    return _ACTIVATIONS[key]()


def fuse_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d, requires_grad: bool = False) -> nn.Conv2d:
    """A new conv computing ``bn(conv(x))`` with ``bn``'s running statistics (PyTorch's own fold,
    ``torch.nn.utils.fusion.fuse_conv_bn_weights``, which works in either mode)."""
    with torch.no_grad():
        w, b = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps,
                                    bn.weight, bn.bias)
    return conv_with_weights(conv, w, b, requires_grad)


def conv_with_weights(like: nn.Conv2d, weight: Tensor, bias: Tensor, requires_grad: bool = False) -> nn.Conv2d:
    """A Conv2d shaped like ``like`` (stride, padding, dilation, groups) that holds ``weight``
    and ``bias`` (in ``like``'s dtype). It is made on the meta device: the
    random initialisation a new Conv2d would do is skipped, the tensors replace it anyway."""
    with torch.device("meta"):
        conv = nn.Conv2d(like.in_channels, like.out_channels, tuple(weight.shape[2:]), like.stride,
                         like.padding, like.dilation, like.groups, bias=True,
                         padding_mode=like.padding_mode)
    dtype = like.weight.dtype
    conv.weight = nn.Parameter(weight.detach().to(dtype), requires_grad=requires_grad)
    conv.bias = nn.Parameter(bias.detach().to(dtype), requires_grad=requires_grad)
    return conv


class Conv(nn.Module):
    """Conv2d (no bias) + BatchNorm2d + activation (SiLU by default)."""

    def __init__(self, c1: int, c2: int, k: IntOrPair = 1, s: int = 1, p: Optional[IntOrPair] = None,
                 g: int = 1, d: int = 1, act: Union[bool, str, nn.Module] = True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p, d), groups=g, dilation=d, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        # True = the model's default activation (SiLU unless the model YAML names another; the
        # builder swaps it after construction, so no class-wide state is shared between threads)
        self.default_activation = act is True
        self.act = make_activation(act)

    def forward(self, x: Tensor) -> Tensor:
        y = self.bn(self.conv(x))
        if type(self.act) is nn.SiLU and not torch.is_grad_enabled():
            # inference: overwrite the conv output in place instead of allocating another
            # tensor of the same size (a few % of a CPU frame; autograd needs the original)
            return torch.nn.functional.silu(y, inplace=True)
        return self.act(y)

    def fuse(self) -> None:
        if isinstance(self.bn, nn.BatchNorm2d):
            self.conv = fuse_conv_bn(self.conv, self.bn)
            self.bn = nn.Identity()


class DWConv(Conv):
    """Depth-wise conv: groups = gcd(c1, c2)."""

    def __init__(self, c1: int, c2: int, k: IntOrPair = 1, s: int = 1, d: int = 1, act=True):
        super().__init__(c1, c2, k, s, g=math.gcd(c1, c2), d=d, act=act)


class Bottleneck(nn.Module):
    """Two convs (kernel sizes ``k``) with a residual when ``shortcut`` and c1 == c2."""

    def __init__(self, c1: int, c2: int, shortcut: bool = True, g: int = 1,
                 k: Tuple[IntOrPair, IntOrPair] = (1, 3), e: float = 0.5):
        super().__init__()
        hidden = int(c2 * e)
        self.cv1 = Conv(c1, hidden, k[0], 1)
        self.cv2 = Conv(hidden, c2, k[1], 1, g=g)
        self.add = bool(shortcut) and c1 == c2

    def forward(self, x: Tensor) -> Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3(nn.Module):
    """CSP block with three convs: ``cv3(cat(m(cv1(x)), cv2(x)))``; ``k``: the bottlenecks' kernels."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5,
                 k: Tuple[IntOrPair, IntOrPair] = (1, 3)):
        super().__init__()
        hidden = int(c2 * e)
        self.cv1 = Conv(c1, hidden, 1, 1)
        self.cv2 = Conv(c1, hidden, 1, 1)
        self.cv3 = Conv(2 * hidden, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(hidden, hidden, shortcut, g, k=k, e=1.0) for _ in range(n)))

    def forward(self, x: Tensor) -> Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class C2f(nn.Module):
    """YOLOv8's CSP variant: split cv1's output, chain n bottlenecks, concatenate every stage."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False, g: int = 1, e: float = 0.5):
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut, g, k=(3, 3), e=1.0) for _ in range(n))

    def forward(self, x: Tensor) -> Tensor:
        parts = list(self.cv1(x).chunk(2, 1))
        for block in self.m:
            parts.append(block(parts[-1]))
        return self.cv2(torch.cat(parts, 1))


class SPP(nn.Module):
    """Spatial pyramid pooling with parallel max-pools of sizes ``k``."""

    def __init__(self, c1: int, c2: int, k: Sequence[int] = (5, 9, 13)):
        super().__init__()
        hidden = c1 // 2
        self.cv1 = Conv(c1, hidden, 1, 1)
        self.cv2 = Conv(hidden * (len(k) + 1), c2, 1, 1)
        self.m = nn.ModuleList(nn.MaxPool2d(kernel_size=x, stride=1, padding=x // 2) for x in k)

    def forward(self, x: Tensor) -> Tensor:
        x = self.cv1(x)
        return self.cv2(torch.cat([x] + [pool(x) for pool in self.m], 1))


class SPPF(nn.Module):
    """Fast SPP: ``n`` chained max-pools of size k (k=5, n=3 equals SPP(5, 9, 13))."""

    def __init__(self, c1: int, c2: int, k: int = 5, n: int = 3, shortcut: bool = False):
        super().__init__()
        hidden = c1 // 2
        self.cv1 = Conv(c1, hidden, 1, 1)
        self.cv2 = Conv(hidden * (n + 1), c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)
        self.n = n
        self.add = bool(shortcut) and c1 == c2

    def forward(self, x: Tensor) -> Tensor:
        ys: List[Tensor] = [self.cv1(x)]
        for _ in range(self.n):
            ys.append(self.m(ys[-1]))
        y = self.cv2(torch.cat(ys, 1))
        return y + x if self.add else y


class Focus(nn.Module):
    """Space-to-depth (2x2 pixel blocks to channels), then a Conv (early YOLOv5 stem)."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p: Optional[int] = None, g: int = 1, act=True):
        super().__init__()
        self.conv = Conv(c1 * 4, c2, k, s, p, g, act=act)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(torch.cat((x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]), 1))


class Concat(nn.Module):
    """Concatenate a list of tensors along ``dimension``."""

    def __init__(self, dimension: int = 1):
        super().__init__()
        self.d = dimension

    def forward(self, xs: List[Tensor]) -> Tensor:
        return torch.cat(xs, self.d)
