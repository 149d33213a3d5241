"""GAM: the Global Attention Mechanism block, as the paper defines it and as YOLO forks ship it.

Paper: Yichao Liu, Zongru Shao, Nico Hoffmann, "Global Attention Mechanism: Retain Information
to Enhance Channel-Spatial Interactions", arXiv:2112.05561 (2021).

The block is channel attention followed by spatial attention, like CBAM, but without pooling:

    F2 = Mc(F1) * F1            Mc: per-position MLP C -> C/r -> C (ReLU), then sigmoid
    F3 = Ms(F2) * F2            Ms: kxk conv C -> C/r, BN, ReLU, kxk conv C/r -> C, BN, sigmoid

Both gates are full C x H x W tensors (not a channel vector and a single map). A per-position
MLP is exactly a pair of 1x1 convolutions, which is how it is written here: no permute copies.

Two variants are provided:

``variant="paper"``
    The definition above. With ``groups > 1`` both kxk convolutions are grouped and the
    hidden channels are shuffled *between* them, so that every output channel sees every
    input group (this is what a group-conv + shuffle design is for). The mixing is complete
    when each group holds at least ``groups`` hidden channels (``c1 // rate // groups >=
    groups``, true at every YOLO insertion point with rate 4 and 4 groups).

``variant="community"``
    What the code that people actually trained with computes (the widely copied
    ``GAM_Attention`` modules; the state-dict layout is shared by all of them):

    * the first YOLO port (Dec 2021): no sigmoid on the channel map (the gate is the raw,
      signed MLP output), sigmoid spatial gate, no grouping, no shuffle;
    * its 2022 rewrite (``GAM_Attention(c1, c2, group=True, rate=4)``, copied by yoloair and
      most blogs): no channel sigmoid; grouped convs use ``groups=rate``; the *final*
      spatial map is channel-shuffled with 4 groups after the sigmoid, also when the model
      is ungrouped. Shuffling a finished gate mixes no information between groups: it
      only permutes which channel receives which gate;
    * objectdetection_script (2023): sigmoid on the channel map, no grouping.

    ``channel_sigmoid`` and ``shuffle`` select between them. Neither is visible in a
    checkpoint, so their defaults are documented rather than guessed: ``channel_sigmoid``
    is False, and ``shuffle=None`` means "shuffle when grouped".

Gate values of community models are not bounded to [0, 1]: the channel gate is an
unbounded signed MLP output unless ``channel_sigmoid=True``.

Set ``keep_gates = True`` on a block and every forward stores the two multipliers it
actually applied (detached) as ``channel_gate`` and ``spatial_gate``, so that
``x * channel_gate * spatial_gate`` reproduces the output exactly. They come from the same
forward pass; nothing is recomputed.

Results reported for GAM in detectors are mixed: YOLO blog posts claim +1-3 % mAP on COCO,
but the block costs about 25*C^2 parameters at full width and several GFLOPs at 640 per
insertion point, and independent re-trainings often see smaller or no gains.
"""


import re
from contextlib import contextmanager
from typing import Dict, Iterable, Iterator, Mapping, Optional

import torch
from torch import Tensor, nn

from .blocks import fuse_conv_bn

__all__ = ["GAM", "ChannelGate", "SpatialGate", "channel_shuffle", "COMMUNITY_SHUFFLE_GROUPS", "COMMUNITY_KEYS",
           "community_to_own_path", "gates_kept"]

#: The 2022 community rewrite shuffles its final spatial map with this many groups,
#: hard-coded, whatever the model's own grouping.
COMMUNITY_SHUFFLE_GROUPS = 4

_VARIANTS = ("paper", "community")


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """ShuffleNet channel shuffle: channel ``g * (C // groups) + j`` moves to ``j * groups + g``."""
    b, c, h, w = x.shape
    return x.reshape(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class ChannelGate(nn.Module):
    """Per-position channel MLP, C -> C/rate -> C with ReLU, as two 1x1 convolutions.

    Returns the gate (``sigmoid`` applied when ``sigmoid=True``), not the gated input.
    """

    def __init__(self, channels: int, hidden: int, sigmoid: bool = True):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=True)
        self.act = nn.ReLU()
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=True)
        self.sigmoid = sigmoid

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type == "cpu" and x.dim() == 4 and x.is_contiguous():
            # NCHW on the CPU: the same two 1x1 convs as plain GEMMs on the (C, H*W) view
            # (no copies; oneDNN's NCHW 1x1 conv reorders and is ~3x slower at 80x80)
            b, c, h, w = x.shape
            b1, b2 = self.fc1.bias, self.fc2.bias
            assert b1 is not None and b2 is not None
            y = torch.matmul(self.fc1.weight.flatten(1), x.reshape(b, c, h * w)) + b1.unsqueeze(-1)
            y = torch.matmul(self.fc2.weight.flatten(1), torch.relu(y)) + b2.unsqueeze(-1)
            y = y.reshape(b, c, h, w)
        else:
            y = self.fc2(self.act(self.fc1(x)))
        if self.sigmoid:
            y = torch.sigmoid(y)
        return y


class SpatialGate(nn.Module):
    """kxk conv C -> C/rate, BN, ReLU, kxk conv C/rate -> C, BN, sigmoid; returns the gate.

    ``mid_shuffle``: shuffle the hidden channels between the two (grouped) convolutions
    (the paper form). ``out_shuffle``: shuffle the finished gate with that many groups
    (the 2022 community rewrite); 0 disables it.
    """

    def __init__(
        self,
        channels: int,
        hidden: int,
        kernel_size: int = 7,
        groups: int = 1,
        mid_shuffle: bool = False,
        out_shuffle: int = 0,
    ):
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv2d(channels, hidden, kernel_size, padding=pad, groups=groups, bias=True)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(hidden, channels, kernel_size, padding=pad, groups=groups, bias=True)
        self.bn2 = nn.BatchNorm2d(channels)
        self.groups = groups
        self.mid_shuffle = bool(mid_shuffle)
        self.out_shuffle = int(out_shuffle)

    def forward(self, x: Tensor) -> Tensor:
        y = self.act(self.bn1(self.conv1(x)))
        if self.mid_shuffle:
            y = channel_shuffle(y, self.groups)
        y = torch.sigmoid(self.bn2(self.conv2(y)))
        if self.out_shuffle > 0:
            y = channel_shuffle(y, self.out_shuffle)
        return y

    def fuse(self) -> None:
        """Fold both BatchNorms into the convolutions (inference)."""
        if isinstance(self.bn1, nn.BatchNorm2d):
            self.conv1 = fuse_conv_bn(self.conv1, self.bn1, self.conv1.weight.requires_grad)
            self.bn1 = nn.Identity()
        if isinstance(self.bn2, nn.BatchNorm2d):
            self.conv2 = fuse_conv_bn(self.conv2, self.bn2, self.conv2.weight.requires_grad)
            self.bn2 = nn.Identity()


# community state-dict names -> ours (layout shared by every copied GAM_Attention); the one
# map: the checkpoint reader uses it for module paths too (BN eps, activations)
COMMUNITY_KEYS = {
    "channel_attention.0.": "channel_attention.fc1.",
    "channel_attention.2.": "channel_attention.fc2.",
    "spatial_attention.0.": "spatial_attention.conv1.",
    "spatial_attention.1.": "spatial_attention.bn1.",
    "spatial_attention.3.": "spatial_attention.conv2.",
    "spatial_attention.4.": "spatial_attention.bn2.",
}


_COMMUNITY_PATH_RE = re.compile("(" + "|".join(re.escape(k[:-1]) for k in COMMUNITY_KEYS) + r")(?=\.|$)")


def community_to_own_path(path: str) -> str:
    """A module path or tensor key in the community layout -> gam-viewer's (others unchanged)."""
    return _COMMUNITY_PATH_RE.sub(lambda m: COMMUNITY_KEYS[m.group(1) + "."][:-1], path)


def _check_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"GAM: {name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"GAM: {name} must be >= {minimum}, got {value}")
    return value


class GAM(nn.Module):
    """Global Attention Mechanism block (channel gate, then spatial gate).

    Args:
        c1: input channels (the block preserves them).
        c2: output channels; must equal ``c1`` when given (kept for YAML compatibility).
        rate: channel reduction ratio r of both gates (hidden = c1 // r).
        kernel_size: odd size of the spatial gate's two convolutions (7 in the paper).
        groups: groups of the two spatial convolutions (1 = dense).
        channel, spatial: build only one of the two gates (the paper's ablation).
        variant: ``"paper"`` or ``"community"`` (see the module docstring).
        channel_sigmoid: sigmoid on the channel MLP; the paper always has it, the
            community default (None) is False.
        shuffle: community only; shuffle the final spatial map with 4 groups. None means
            "when grouped" (the 2022 rewrite). The paper variant shuffles between its
            grouped convolutions instead, always when ``groups > 1``.
    """

    channel_gate: Optional[Tensor]
    spatial_gate: Optional[Tensor]
    keep_gates: bool
    __jit_unused_properties__ = ["is_fused"]

    def __init__(
        self,
        c1: int,
        c2: Optional[int] = None,
        *,
        rate: int = 4,
        kernel_size: int = 7,
        groups: int = 1,
        channel: bool = True,
        spatial: bool = True,
        variant: str = "paper",
        channel_sigmoid: Optional[bool] = None,
        shuffle: Optional[bool] = None,
    ):
        super().__init__()
        c1 = _check_int("c1", c1)
        if c2 is not None and c2 != c1:
            raise ValueError(f"GAM: c2 must equal c1 (the block preserves channels), got c1={c1}, c2={c2!r}")
        rate = _check_int("rate", rate)
        kernel_size = _check_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f"GAM: kernel_size must be odd to keep H x W, got {kernel_size}")
        groups = _check_int("groups", groups)
        if variant not in _VARIANTS:
            raise ValueError(f"GAM: variant must be one of {_VARIANTS}, got {variant!r}")
        if c1 % rate:
            raise ValueError(f"GAM: c1={c1} is not divisible by rate={rate}")
        hidden = c1 // rate
        if spatial and groups > 1:
            if c1 % groups:
                raise ValueError(f"GAM: c1={c1} is not divisible by groups={groups}")
            if hidden % groups:
                raise ValueError(f"GAM: hidden channels c1/rate={hidden} are not divisible by groups={groups}")
        if not channel and not spatial:
            raise ValueError("GAM: channel=False and spatial=False leaves no attention at all")

        if variant == "paper":
            if channel_sigmoid is False:
                raise ValueError("GAM: channel_sigmoid=False is only meaningful with variant='community'")
            if shuffle is not None:
                raise ValueError("GAM: shuffle is a community option; the paper variant shuffles between its grouped convs")
            channel_sigmoid = True
            mid_shuffle, out_shuffle = groups > 1, 0
        else:
            channel_sigmoid = bool(channel_sigmoid) if channel_sigmoid is not None else False
            shuffle = (groups > 1) if shuffle is None else bool(shuffle)
            if shuffle and c1 % COMMUNITY_SHUFFLE_GROUPS:
                raise ValueError(
                    f"GAM: shuffle=True needs c1 divisible by {COMMUNITY_SHUFFLE_GROUPS}, got c1={c1}"
                )
            mid_shuffle, out_shuffle = False, (COMMUNITY_SHUFFLE_GROUPS if shuffle else 0)

        self.c1 = c1
        self.rate = rate
        self.kernel_size = kernel_size
        self.groups = groups
        self.variant = variant
        self.channel_sigmoid = channel_sigmoid
        self.shuffle = bool(out_shuffle) if variant == "community" else False
        self.channel_attention = ChannelGate(c1, hidden, channel_sigmoid) if channel else None
        self.spatial_attention = (
            SpatialGate(c1, hidden, kernel_size, groups, mid_shuffle, out_shuffle) if spatial else None
        )
        self.keep_gates = False
        self.channel_gate: Optional[Tensor] = None
        self.spatial_gate: Optional[Tensor] = None

    # ------------------------------------------------------------------ forward
    def forward(self, x: Tensor) -> Tensor:
        cg: Optional[Tensor] = None
        sg: Optional[Tensor] = None
        if self.channel_attention is not None:
            cg = self.channel_attention(x)
            x = x * cg
        if self.spatial_attention is not None:
            sg = self.spatial_attention(x)
            x = x * sg
        if self.keep_gates:
            self.channel_gate = cg.detach() if cg is not None else None
            self.spatial_gate = sg.detach() if sg is not None else None
        return x

    def extra_repr(self) -> str:
        parts = [f"{self.c1}", f"rate={self.rate}", f"kernel_size={self.kernel_size}", f"groups={self.groups}"]
        parts.append(f"variant={self.variant!r}")
        if self.variant == "community":
            parts.append(f"channel_sigmoid={self.channel_sigmoid}")
            parts.append(f"shuffle={self.shuffle}")
        return ", ".join(parts)

    # ------------------------------------------------------------------ inference helpers
    def fuse(self) -> "GAM":
        """Fold the spatial gate's BatchNorms into its convolutions; returns self."""
        if self.spatial_attention is not None:
            self.spatial_attention.fuse()
        return self

    @property
    def is_fused(self) -> bool:
        return self.spatial_attention is not None and not isinstance(self.spatial_attention.bn2, nn.BatchNorm2d)

    # ------------------------------------------------------------------ community state dicts
    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing, unexpected, errors):
        # A method, not a registered hook: hooks are pickled with the module and a
        # checkpoint should hold only data.
        self._rename_community_keys(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing, unexpected, errors)

    @staticmethod
    def _rename_community_keys(state_dict, prefix: str) -> None:
        """Accept the community layout (``channel_attention.0`` Linear, ...) when loading."""
        for key in [k for k in state_dict.keys() if k.startswith(prefix)]:
            rest = key[len(prefix):]
            for old, new in COMMUNITY_KEYS.items():
                if rest.startswith(old):
                    value = state_dict.pop(key)
                    if new.startswith("channel_attention.") and rest.endswith(".weight") and value.dim() == 2:
                        value = value.reshape(*value.shape, 1, 1)  # nn.Linear -> 1x1 conv
                    state_dict[prefix + new + rest[len(old):]] = value
                    break

    @staticmethod
    def community_config(state_dict: Mapping[str, Tensor], prefix: str = "") -> Dict[str, int]:
        """Infer ``c1``, ``rate``, ``groups``, ``kernel_size`` from a community GAM state dict.

        Raises ValueError naming the missing or inconsistent tensor when it is not a GAM.
        """

        def get(name: str) -> Tensor:
            key = prefix + name
            if key not in state_dict:
                raise ValueError(f"not a GAM state dict: missing {key!r}")
            t = state_dict[key]
            if not isinstance(t, Tensor):
                raise ValueError(f"not a GAM state dict: {key!r} is not a tensor")
            return t

        w1 = get("channel_attention.0.weight")
        w2 = get("channel_attention.2.weight")
        s1 = get("spatial_attention.0.weight")
        s2 = get("spatial_attention.3.weight")
        get("spatial_attention.1.running_var")
        get("spatial_attention.4.running_var")
        if w1.dim() != 2 or w2.dim() != 2:
            raise ValueError(f"not a GAM state dict: {prefix}channel_attention weights must be nn.Linear (2-D)")
        hidden, c1 = w1.shape
        if tuple(w2.shape) != (c1, hidden):
            raise ValueError(
                f"not a GAM state dict: {prefix}channel_attention.2.weight has shape {tuple(w2.shape)}, "
                f"expected {(c1, hidden)}"
            )
        if s1.dim() != 4 or s2.dim() != 4:
            raise ValueError(f"not a GAM state dict: {prefix}spatial_attention convs must be 4-D")
        if hidden == 0 or c1 % hidden:
            raise ValueError(f"not a GAM state dict: hidden width {hidden} does not divide {c1} channels")
        rate = c1 // hidden
        if s1.shape[0] != hidden or s2.shape[0] != c1 or s1.shape[1] == 0 or c1 % s1.shape[1]:
            raise ValueError(
                f"not a GAM state dict: spatial conv shapes {tuple(s1.shape)}, {tuple(s2.shape)} "
                f"do not fit {c1} channels with hidden width {hidden}"
            )
        groups = c1 // s1.shape[1]
        if s2.shape[1] * groups != hidden:
            raise ValueError(
                f"not a GAM state dict: {prefix}spatial_attention.3.weight {tuple(s2.shape)} "
                f"is inconsistent with groups={groups}"
            )
        k = s1.shape[-1]
        return {"c1": int(c1), "rate": int(rate), "groups": int(groups), "kernel_size": int(k)}

    @classmethod
    def from_community(
        cls,
        state_dict: Mapping[str, Tensor],
        channel_sigmoid: bool = False,
        shuffle: Optional[bool] = None,
        *,
        prefix: str = "",
    ) -> "GAM":
        """Build a community-variant block from a copied ``GAM_Attention`` state dict and load it.

        Channels, rate, grouping and kernel size come from the tensor shapes. ``shuffle=None``
        follows the documented default: grouped -> shuffle (2022 rewrite), ungrouped -> none.
        BatchNorm eps is not in a state dict; set it on ``spatial_attention.bn1/bn2`` when known.
        """
        cfg = cls.community_config(state_dict, prefix)
        block = cls(
            cfg["c1"],
            rate=cfg["rate"],
            kernel_size=cfg["kernel_size"],
            groups=cfg["groups"],
            variant="community",
            channel_sigmoid=channel_sigmoid,
            shuffle=shuffle,
        )
        sub = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
        ref = next(iter(sub.values()))
        block.to(dtype=ref.dtype if ref.is_floating_point() else torch.float32)
        block.load_state_dict(sub, strict=True)
        return block


@contextmanager
def gates_kept(blocks: Iterable["GAM"], keep: bool) -> Iterator[None]:
    """Set ``keep_gates`` on ``blocks`` for the duration, then put each block's own value back
    (CAM and the FLOP count run without stored gates, the ONNX export with them)."""
    blocks = list(blocks)
    saved = [b.keep_gates for b in blocks]
    for b in blocks:
        b.keep_gates = keep
    try:
        yield
    finally:
        for b, k in zip(blocks, saved):
            b.keep_gates = k
