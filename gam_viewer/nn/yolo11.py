"""The blocks YOLO11 (Ultralytics >= 8.3) adds to the YOLOv8 set: C3k2, C3k, C2PSA, PSABlock
and the position-sensitive self-attention inside PSABlock.

Written for gam-viewer from the published architecture. Attribute names follow the
checkpoints' state-dict layout (``cv1``/``cv2``/``cv3``, ``m``, ``attn.qkv``/``attn.proj``/
``attn.pe``, ``ffn.0``/``ffn.1``) so that the tensors of an Ultralytics YOLO11 file load by
name. Pure PyTorch, no Qt.

What each block computes (x: N x C x H x W):

* ``C3k2``: YOLOv8's split-and-concatenate CSP (``C2f``), whose inner blocks are 3x3/3x3
  bottlenecks at half width, or (``c3k=True``) small ``C3k`` CSP blocks, or (``attn=True``)
  a bottleneck followed by a ``PSABlock``.
* ``C3k``: a YOLOv5-style ``C3`` whose bottlenecks use ``k x k`` kernels for both convs.
* ``C2PSA``: split a 1x1 projection in two halves, run ``n`` ``PSABlock`` on one half,
  concatenate, project back; input and output widths are equal.
* ``PSABlock``: ``x + attn(x)`` then ``x + ffn(x)`` (the ``ffn`` a 1x1 expand-by-2 and a
  linear 1x1 back).
* ``PSAAttention``: multi-head self-attention over the H*W positions. One 1x1 conv gives,
  per head, a query and a key of ``key_dim`` channels and a value of ``head_dim`` channels;
  the weights are ``softmax(q^T k / sqrt(key_dim))`` (N_pos x N_pos per head); the output
  is the weighted values, plus a depth-wise 3x3 conv of the values (a positional term),
  through a linear 1x1 projection.
"""

from typing import Optional

import torch
from torch import Tensor, nn

from .blocks import C2f, C3, Bottleneck, Conv

__all__ = ["PSAAttention", "PSABlock", "C2PSA", "C3k", "C3k2"]


class PSAAttention(nn.Module):
    """Position-sensitive multi-head self-attention (checkpoints call the class ``Attention``).

    Set ``keep_attention = True`` to keep the last softmax weights in ``last_attention``
    (detached, shape ``(batch, heads, H*W, H*W)``: row ``i`` says where position ``i`` looks).
    """

    def __init__(self, dim: int, num_heads: int = 8, attn_ratio: float = 0.5):
        super().__init__()
        if num_heads < 1 or dim % num_heads:
            raise ValueError(f"attention: {dim} channels do not split into {num_heads} heads")
        self.num_heads = int(num_heads)
        self.head_dim = dim // self.num_heads
        self.key_dim = int(self.head_dim * attn_ratio)
        self.scale = self.key_dim ** -0.5
        qkv_channels = dim + 2 * self.key_dim * self.num_heads
        self.qkv = Conv(dim, qkv_channels, 1, act=False)
        self.proj = Conv(dim, dim, 1, act=False)
        self.pe = Conv(dim, dim, 3, 1, g=dim, act=False)
        self.keep_attention = False
        self.last_attention: Optional[Tensor] = None

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        per_head = self.qkv(x).view(b, self.num_heads, 2 * self.key_dim + self.head_dim, h * w)
        q, k, v = per_head.split((self.key_dim, self.key_dim, self.head_dim), dim=2)
        # logits[b, head, i, j] = <q_i, k_j> / sqrt(key_dim); softmax over the keys j
        weights = torch.matmul((q * self.scale).transpose(-2, -1), k).softmax(dim=-1)
        if self.keep_attention:
            self.last_attention = weights.detach()
        mixed = torch.matmul(v, weights.transpose(-2, -1))  # value of position i = sum_j w_ij v_j
        v_map = v.reshape(b, c, h, w)
        return self.proj(mixed.view(b, c, h, w) + self.pe(v_map))


class PSABlock(nn.Module):
    """Self-attention then a two-layer 1x1 feed-forward, each with a residual (``shortcut``)."""

    def __init__(self, c: int, attn_ratio: float = 0.5, num_heads: int = 4, shortcut: bool = True):
        super().__init__()
        self.attn = PSAAttention(c, num_heads=num_heads, attn_ratio=attn_ratio)
        self.ffn = nn.Sequential(Conv(c, 2 * c, 1), Conv(2 * c, c, 1, act=False))
        self.add = bool(shortcut)

    def forward(self, x: Tensor) -> Tensor:
        y = self.attn(x)
        x = x + y if self.add else y
        y = self.ffn(x)
        return x + y if self.add else y


def _heads(c: int) -> int:
    """YOLO11's head count for a PSA block of ``c`` channels: one per 64 channels, at least 1."""
    return max(c // 64, 1)


class C2PSA(nn.Module):
    """Half the channels through ``n`` PSABlocks, the other half bypassed; c1 must equal c2."""

    def __init__(self, c1: int, c2: int, n: int = 1, e: float = 0.5):
        super().__init__()
        if c1 != c2:
            raise ValueError(f"C2PSA keeps its width: input {c1} and output {c2} channels differ")
        self.c = int(c1 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv(2 * self.c, c1, 1)
        self.m = nn.Sequential(*(PSABlock(self.c, attn_ratio=0.5, num_heads=_heads(self.c)) for _ in range(n)))

    def forward(self, x: Tensor) -> Tensor:
        bypass, work = self.cv1(x).split((self.c, self.c), dim=1)
        return self.cv2(torch.cat((bypass, self.m(work)), 1))


class C3k(C3):
    """A C3 block (two 1x1 branches, ``n`` bottlenecks on one, a 1x1 merge) with k x k bottlenecks."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5,
                 k: int = 3):
        super().__init__(c1, c2, n, shortcut, g, e, k=(k, k))


class C3k2(C2f):
    """C2f whose ``n`` inner blocks are 3x3 bottlenecks, C3k blocks (``c3k``) or bottleneck + PSA (``attn``).

    Argument order as in the model YAMLs (after the channels and the repeat count):
    ``c3k, e, attn, g, shortcut``; note the shortcut defaults to True (C2f's to False).
    """

    def __init__(self, c1: int, c2: int, n: int = 1, c3k: bool = False, e: float = 0.5, attn: bool = False,
                 g: int = 1, shortcut: bool = True):
        super().__init__(c1, c2, n, shortcut, g, e)
        c = self.c

        def inner() -> nn.Module:
            if attn:
                return nn.Sequential(Bottleneck(c, c, shortcut, g, k=(3, 3), e=0.5),
                                     PSABlock(c, attn_ratio=0.5, num_heads=_heads(c)))
            if c3k:
                return C3k(c, c, 2, shortcut, g)
            return Bottleneck(c, c, shortcut, g, k=(3, 3), e=0.5)

        self.m = nn.ModuleList(inner() for _ in range(n))
