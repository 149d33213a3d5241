"""Build a YOLO model from its YAML dict (YOLOv5-repo schema or Ultralytics schema).

The YAML's ``backbone`` + ``head`` rows ``[from, number, module, args]`` become an
``nn.Sequential`` named ``model`` so that checkpoint tensors (``model.<i>.<...>``) load by
name. Module names resolve in gam-viewer's own table, never by ``eval``; string arguments
are read by the whitelist grammar of :mod:`.yaml_args` (``'nc'`` and ``'anchors'`` are the
YAML's own values). YOLOv7 configs are recognised by their modules and built by :mod:`.yolov7`.

GAM rows are accepted in every convention seen in forks: ``GAM`` (gam-viewer's paper form),
``GAM_Attention`` / ``GAMAttention`` (community form), with args ``[]``, ``[c]``,
``[c1, c2]`` or ``[c1, c2, group, rate]``. The channel count always comes from the graph;
literal channel numbers are ignored, and only a boolean ``group`` and an explicit ``rate``
(4th argument) are read.
"""

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

import torch
from torch import Tensor, nn

from ..nn import GAM
from ..nn.blocks import (C2f, C3, SPP, SPPF, Bottleneck, Concat, Conv, DWConv, Focus, make_activation,
                         make_divisible)
from ..nn.heads import AnchorDetect, DFLDetect
from ..nn.yolo11 import C2PSA, C3k2
from .errors import ModelLoadError
from .yaml_args import parse_arg
from . import yolov7 as v7

__all__ = ["YoloModel", "LayerInfo", "build_model", "make_divisible", "gam_kwargs", "GAM_NAMES"]

GAM_NAMES = {"GAM": "paper", "GAM_Attention": "community", "GAMAttention": "community"}
_CHANNEL_FIRST = {"Conv": Conv, "DWConv": DWConv, "Bottleneck": Bottleneck, "C3": C3, "C2f": C2f,
                  "SPP": SPP, "SPPF": SPPF, "Focus": Focus}
_REPEAT = {"C3", "C2f"}
# --- YOLO11 (Ultralytics >= 8.3) rows ---
_CHANNEL_FIRST.update({"C3k2": C3k2, "C2PSA": C2PSA})
_REPEAT.update({"C3k2", "C2PSA"})
_C3K_SCALES = {"m", "l", "x"}  # Ultralytics makes every C3k2 use C3k blocks at these scales
# --- end YOLO11 ---
_TORCH = {"Upsample": nn.Upsample, "Identity": nn.Identity, "MaxPool2d": nn.MaxPool2d, "BatchNorm2d": nn.BatchNorm2d}
_OTHER_TASKS = {"Segment": "segmentation", "Segment26": "segmentation", "Proto": "segmentation",
                "Pose": "pose", "Pose26": "pose", "OBB": "oriented-box", "OBB26": "oriented-box",
                "Classify": "classification", "RTDETRDecoder": "RT-DETR", "WorldDetect": "YOLO-World",
                "v10Detect": "YOLOv10 (end-to-end)"}
_NOT_LEGACY = {"C3k2", "A2C2f", "C2fCIB"}


@dataclass
class LayerInfo:
    index: int
    source: Union[int, List[int]]
    number: int
    type: str
    args: List[Any]
    section: str            # "backbone" or "head"
    channels: int           # output channels
    stride: Optional[int] = None  # output stride, filled by the probe
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def position(self) -> str:
        """E.g. ``backbone/P5`` for a stride-32 backbone layer."""
        level = f"P{int(round(math.log2(self.stride)))}" if self.stride else "P?"
        return f"{self.section}/{level}"


def gam_kwargs(name: str, args: List[Any], override: Optional[Dict[str, Any]] = None,
               defaults: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """:class:`~gam_viewer.nn.GAM` keyword arguments for a YAML row ``[.., name, args]``.

    ``name`` picks the form (``GAM`` paper, ``GAM_Attention``/``GAMAttention`` community); a
    boolean third argument is the community ``group`` switch and an int fourth the ``rate``;
    ``defaults`` fill the community semantics a YAML cannot state, ``override`` (what a
    checkpoint showed or the user chose) wins over everything.
    """
    variant = GAM_NAMES[name]
    defaults = defaults or {}
    kw: Dict[str, Any] = {"variant": variant}
    if len(args) >= 3 and isinstance(args[2], bool):
        group = args[2]
        rate = args[3] if len(args) >= 4 and isinstance(args[3], int) and not isinstance(args[3], bool) else 4
        kw["rate"] = rate
        if group:
            kw["groups"] = rate
    if variant == "community":
        kw["channel_sigmoid"] = defaults.get("channel_sigmoid")
        kw["shuffle"] = defaults.get("shuffle")
    if override:
        kw.update(override)
    if kw.get("variant") == "paper":
        kw.pop("channel_sigmoid", None)
        kw.pop("shuffle", None)
    return kw


class YoloModel(nn.Module):
    """A YOLO detector built from its YAML; ``forward`` returns the head's raw per-level maps."""

    def __init__(self, cfg: Dict[str, Any], ch: int = 3, *, scale: Optional[str] = None,
                 gam_overrides: Optional[Dict[int, Dict[str, Any]]] = None,
                 gam_defaults: Optional[Dict[str, Any]] = None,
                 activations: Optional[Dict[str, str]] = None,
                 family: Optional[str] = None,
                 layer_overrides: Optional[Dict[int, Dict[str, Any]]] = None,
                 weights_follow: bool = False):
        super().__init__()
        self._ch = int(ch)
        if weights_follow:
            # every tensor is about to be replaced by a checkpoint's (strict_load): build the
            # layers on the meta device, so that nothing is initialised; the stride probe runs
            # once the checkpoint's tensors are in (materialize), on the real weights
            with torch.device("meta"):
                self._build(cfg, ch, scale, gam_overrides, gam_defaults, activations, family, layer_overrides,
                            probe=False)
        else:
            self._build(cfg, ch, scale, gam_overrides, gam_defaults, activations, family, layer_overrides)

    @property
    def is_meta(self) -> bool:
        """True while the layers are shape-only (built for a checkpoint, tensors not loaded yet)."""
        return any(p.is_meta for p in self.parameters())

    def materialize(self, sd: Dict[str, Tensor]) -> None:
        """Give a meta-built model the tensors of ``sd`` (every persistent tensor, checked by
        the caller) and real stride buffers, then probe the strides; the tensors are taken,
        not copied."""
        self.load_state_dict(sd, strict=True, assign=True)
        for name, buf in list(self.named_buffers()):
            if buf.is_meta:   # the non-persistent stride buffers: not in any state dict
                owner_name, _, attr_name = name.rpartition(".")
                owner = self.get_submodule(owner_name) if owner_name else self
                owner.register_buffer(attr_name, torch.zeros(buf.shape, dtype=buf.dtype), persistent=False)
        self._probe(self._ch)

    def _build(self, cfg, ch, scale, gam_overrides, gam_defaults, activations, family, layer_overrides,
               probe: bool = True) -> None:
        cfg = copy.deepcopy(dict(cfg))
        for key in ("backbone", "head"):
            if not isinstance(cfg.get(key), list):
                raise ModelLoadError(f"model config has no '{key}' list: not a YOLO model YAML")
        self.yaml = cfg
        self.schema = "yolov5" if "anchors" in cfg else "ultralytics"
        if cfg.get("end2end"):  # YOLO11 YAMLs may say end2end: the NMS-free one2one head (YOLOv10/YOLO26 style)
            raise ModelLoadError("model config: an end-to-end (NMS-free, 'end2end: true') head, which gam-viewer "
                                 "does not support; YOLO11 detection models without it open")
        # YOLOv7 (WongKinYiu): YOLOv5's schema with its own modules and rules, see models/yolov7.py
        self.family = family or ("yolov7" if v7.is_yolov7_config(cfg) else None)
        layer_overrides = layer_overrides or {}
        nc = cfg.get("nc")
        if not isinstance(nc, int) or nc < 1:
            raise ModelLoadError(f"model config: 'nc' must be a positive integer, got {nc!r}")
        self.nc = nc
        depth = float(cfg.get("depth_multiple", 1.0))
        width = float(cfg.get("width_multiple", 1.0))
        max_channels = float("inf")
        scales = cfg.get("scales")
        if scales:
            scale = scale or cfg.get("scale") or next(iter(scales))
            if scale not in scales:
                raise ModelLoadError(f"model config: scale {scale!r} not in scales {sorted(scales)}")
            depth, width, max_channels = scales[scale]
            cfg["scale"] = scale
        self.scale = scale
        anchors = cfg.get("anchors")
        gam_overrides = gam_overrides or {}
        gam_defaults = gam_defaults or {}
        act = cfg.get("activation")
        rows = list(cfg["backbone"]) + list(cfg["head"])
        n_backbone = len(cfg["backbone"])
        legacy = not any(isinstance(r, (list, tuple)) and len(r) == 4 and r[2] in _NOT_LEGACY for r in rows)

        if act:
            try:
                make_activation(act)  # validate; applied to the default-activation Convs after the build
            except ValueError as exc:
                raise ModelLoadError(f"model config: 'activation': {exc}") from None
        layers: List[nn.Module] = []
        infos: List[LayerInfo] = []
        chans: List[int] = []
        save: set = set()
        for i, row in enumerate(rows):
            if not (isinstance(row, (list, tuple)) and len(row) == 4):
                raise ModelLoadError(f"layer {i}: a row must be [from, number, module, args], got {row!r}")
            src, number, name, args = row
            name = str(name)
            args = [parse_arg(a, nc, anchors, where=f"layer {i} ({name})") for a in (args or [])]
            short = name[3:] if name.startswith("nn.") else name
            if short in _OTHER_TASKS:
                raise ModelLoadError(
                    f"this is a {_OTHER_TASKS[short]} model ({name} at layer {i}); gam-viewer opens detection models only"
                )
            srcs = [src] if isinstance(src, int) else list(src)
            for s in srcs:
                if not isinstance(s, int) or s >= i or (i > 0 and i + s < 0) or (i == 0 and s != -1):
                    raise ModelLoadError(f"layer {i} ({name}): invalid 'from' index {src!r}")
            c_in = [ch if (i == 0 and s == -1) else chans[s] for s in srcs]
            n = max(round(number * depth), 1) if number > 1 else number
            extra: Dict[str, Any] = {}

            if self.family == "yolov7" and name in v7.V7_ROWS:
                na = len(anchors[0]) // 2 if isinstance(anchors, list) and anchors else 3
                c2, make, n, args = v7.build_row(i, name, args, c_in, n, width, nc, layer_overrides.get(i), na=na)
            elif name in _CHANNEL_FIRST:
                cls = _CHANNEL_FIRST[name]
                if not isinstance(args[0], int) or isinstance(args[0], bool):
                    raise ModelLoadError(f"layer {i} ({name}): first argument must be the channel count, got {args[0]!r}")
                c2 = make_divisible(min(args[0], max_channels) * width, 8)
                args = [c_in[0], c2, *args[1:]]
                if name in _REPEAT:
                    args.insert(2, n)
                    n = 1
                if name == "C3k2" and cfg.get("scale") in _C3K_SCALES:
                    args[3:4] = [True]
                make = lambda cls=cls, args=args: cls(*args)  # noqa: E731
            elif name in GAM_NAMES:
                c2 = c_in[0]
                kw = gam_kwargs(name, args, gam_overrides.get(i), gam_defaults)
                extra["gam"] = kw
                make = lambda c=c2, kw=kw: GAM(c, **kw)  # noqa: E731
            elif name == "Concat":
                c2 = sum(c_in)
                make = lambda args=args: Concat(*args)  # noqa: E731
            elif name == "Detect":
                if self.schema == "yolov5":
                    head_anchors = args[1] if len(args) > 1 else anchors
                    if isinstance(head_anchors, int):
                        head_anchors = [list(range(head_anchors * 2))] * len(srcs)
                    make = lambda a=head_anchors, c=c_in: AnchorDetect(nc, a, c)  # noqa: E731
                else:
                    reg_max = int(cfg.get("reg_max", 16))
                    make = lambda c=c_in, r=reg_max: DFLDetect(nc, c, reg_max=r, legacy=legacy)  # noqa: E731
                c2 = 0
            elif short in _TORCH and (name.startswith("nn.") or name in ("Upsample",)):
                cls = _TORCH[short]
                c2 = c_in[0]
                if cls is nn.BatchNorm2d:
                    args = [c_in[0]]
                make = lambda cls=cls, args=args: cls(*args)  # noqa: E731
            else:
                raise ModelLoadError(f"unsupported layer type '{name}' at index {i}")

            try:
                module = nn.Sequential(*(make() for _ in range(n))) if n > 1 else make()
            except ModelLoadError:
                raise
            except (ValueError, TypeError, IndexError, RuntimeError) as exc:
                raise ModelLoadError(f"layer {i} ({name}) with args {args}: {exc}") from None
            module.i, module.f, module.type = i, src, name
            layers.append(module)
            infos.append(LayerInfo(i, src, n, name, args, "backbone" if i < n_backbone else "head", c2, extra=extra))
            save.update(s % i for s in srcs if s != -1)
            chans.append(c2)
        if act:  # the YAML's model-wide activation, on every Conv built with the default one
            for m in (mm for layer in layers for mm in layer.modules()):
                if isinstance(m, Conv) and m.default_activation:
                    m.act = make_activation(act)
        if not isinstance(layers[-1], (AnchorDetect, DFLDetect)):
            raise ModelLoadError("model config: the last layer must be a Detect head")
        self.model = nn.Sequential(*layers)
        self.save = sorted(save)
        self.layers = infos
        self.names = [str(k) for k in range(nc)]
        self.register_buffer("stride", torch.zeros(self.head.nl), persistent=False)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):  # YOLO's initialisation, checkpoints override it
                m.eps, m.momentum = 1e-3, 0.03
        if activations:
            self.set_activations(activations)
        if not probe:   # built for a checkpoint: its anchors (in strides) replace the YAML's
            return
        self._probe(ch)
        if isinstance(self.head, AnchorDetect):  # YAML anchors are pixels; the buffer is in strides
            with torch.no_grad():
                self.head.anchors /= self.head.stride.view(-1, 1, 1)

    # ------------------------------------------------------------------ construction helpers
    def _probe(self, ch: int, size: int = 128) -> None:
        """One small forward to learn every layer's output stride and the head strides."""
        training = self.training
        self.eval()
        with torch.no_grad():
            x = torch.zeros(1, ch, size, size, device=self.stride.device)
            try:
                outs = self._run(x, record=True)
            except (RuntimeError, ValueError, TypeError, IndexError) as exc:
                i = len(self.__dict__.get("_probe_heights", []))
                name = self.layers[i].type if i < len(self.layers) else "?"
                msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise ModelLoadError(f"layer {i} ({name}) fails on a test input: {msg}") from None
            finally:
                self.__dict__.pop("_probe_heights", None)
        self.train(training)
        for info, h in zip(self.layers, outs):
            if h:
                info.stride = int(round(size / h))
        head_srcs = [self.model[-1].f] if isinstance(self.model[-1].f, int) else self.model[-1].f
        strides = [self.layers[s].stride for s in head_srcs][: self.head.nl]  # IAuxDetect: lead heads
        self.stride.copy_(torch.tensor(strides, dtype=torch.float32, device=self.stride.device))
        self.head.stride.copy_(self.stride)
        self.layers[-1].stride = None

    def set_activations(self, activations: Dict[str, str]) -> None:
        """Replace ``<module path>.act`` activations by class name (from a checkpoint)."""
        named = dict(self.named_modules())
        for path, act_name in activations.items():
            owner = named.get(path)
            if owner is not None and hasattr(owner, "act"):
                owner.act = make_activation(act_name)

    # ------------------------------------------------------------------ properties
    @property
    def head(self) -> Union[AnchorDetect, DFLDetect]:
        return self.model[-1]

    def gam_layers(self) -> List[LayerInfo]:
        return [info for info in self.layers if info.type in GAM_NAMES]

    def gam_block(self, index: int) -> GAM:
        """The GAM block of layer ``index``. A row with ``number > 1`` holds repeats that share one
        configuration; the last one feeds the next layer, so its gates are the ones shown."""
        m = self.model[index]
        block = m[-1] if isinstance(m, nn.Sequential) else m
        if not isinstance(block, GAM):
            raise ValueError(f"layer {index} ({self.layers[index].type}) is not a GAM layer; "
                             f"GAM layers: {[i.index for i in self.gam_layers()]}")
        return block

    def gam_modules(self) -> List[GAM]:
        out = []
        for info in self.gam_layers():
            m = self.model[info.index]
            out.extend(m if isinstance(m, nn.Sequential) else [m])
        return out

    # ------------------------------------------------------------------ forward
    def _run(self, x: Tensor, record: bool = False):
        ys: List[Optional[Tensor]] = []
        heights: List[Optional[int]] = []
        if record:
            self._probe_heights = heights
        save = set(self.save)
        for m in self.model:
            if m.f != -1:
                x = ys[m.f] if isinstance(m.f, int) else [x if j == -1 else ys[j] for j in m.f]
            x = m(x)
            ys.append(x if m.i in save else None)
            if record:
                heights.append(x.shape[-2] if isinstance(x, Tensor) else None)
        return heights if record else x

    def forward(self, x: Tensor) -> List[Tensor]:
        return self._run(x)

    def fuse(self) -> "YoloModel":
        """Fold BatchNorms into convolutions (Conv blocks and GAM) for inference; YOLOv7's
        RepConv is re-parameterised and its implicit head terms folded into the output convs."""
        for m in list(self.modules()):  # RepConv.fuse replaces its children: iterate a copy
            if isinstance(m, (Conv, GAM, v7.RepConv, v7.V7Detect)):
                m.fuse()
        return self

    def count_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build_model(cfg: Dict[str, Any], ch: int = 3, **kwargs) -> YoloModel:
    """Build a :class:`YoloModel` from a YAML dict (see :class:`YoloModel` for keywords)."""
    return YoloModel(cfg, ch, **kwargs)
