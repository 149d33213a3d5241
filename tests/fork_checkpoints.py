"""Build checkpoints the way YOLO forks pickle them, without any fork's code.

A fork pickles its model by class path (``models.yolo.DetectionModel``,
``models.common.Conv``, ``models.common.GAM_Attention``...). We build gam-viewer's own model,
give every module a stand-in class registered under the fork's module path only while
``torch.save`` runs, and turn GAM blocks into the community layout (``nn.Linear`` channel
MLP, ``Sequential`` spatial branch). The file then looks to gam-viewer exactly like a fork's.
"""

import os
import sys
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Optional

import torch
from torch import nn

from gam_viewer.models.builder import YoloModel, build_model
from gam_viewer.models.insert import insert_after
from gam_viewer.nn import GAM
from gam_viewer.nn.blocks import C2f, C3, SPP, SPPF, Bottleneck, Concat, Conv, Focus
from gam_viewer.nn.heads import DFL, AnchorDetect, DFLDetect

_LAYOUT = {
    # our class -> (module suffix, class name) in a YOLOv5 repo
    Conv: ("common", "Conv"), C3: ("common", "C3"), Bottleneck: ("common", "Bottleneck"),
    SPPF: ("common", "SPPF"), SPP: ("common", "SPP"), Focus: ("common", "Focus"), Concat: ("common", "Concat"),
    AnchorDetect: ("yolo", "Detect"), YoloModel: ("yolo", "DetectionModel"),
}
_ULTRA = {
    Conv: ("modules.conv", "Conv"), C3: ("modules.block", "C3"), C2f: ("modules.block", "C2f"),
    Bottleneck: ("modules.block", "Bottleneck"), SPPF: ("modules.block", "SPPF"), Concat: ("modules.conv", "Concat"),
    DFLDetect: ("modules.head", "Detect"), DFL: ("modules.block", "DFL"), YoloModel: ("tasks", "DetectionModel"),
}


class Evil:
    """A pickle payload: unpickling it would run ``touch target`` (a reader must refuse it)."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def randomise_bn(model: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0, 0.1, generator=g)
                m.running_mean.normal_(0, 0.1, generator=g)
                m.running_var.uniform_(0.5, 1.5, generator=g)


class CommunityGAM(nn.Module):
    """The copied GAM_Attention layout (what a fork's module holds as state)."""

    def __init__(self, ours: GAM):
        super().__init__()
        c, h, g, k = ours.c1, ours.c1 // ours.rate, ours.groups, ours.kernel_size
        ca, sa = ours.channel_attention, ours.spatial_attention
        self.channel_attention = nn.Sequential(nn.Linear(c, h), nn.ReLU(inplace=True), nn.Linear(h, c))
        self.spatial_attention = nn.Sequential(
            nn.Conv2d(c, h, k, padding=k // 2, groups=g), nn.BatchNorm2d(h), nn.ReLU(inplace=True),
            nn.Conv2d(h, c, k, padding=k // 2, groups=g), nn.BatchNorm2d(c))
        with torch.no_grad():
            self.channel_attention[0].weight.copy_(ca.fc1.weight.flatten(1))
            self.channel_attention[0].bias.copy_(ca.fc1.bias)
            self.channel_attention[2].weight.copy_(ca.fc2.weight.flatten(1))
            self.channel_attention[2].bias.copy_(ca.fc2.bias)
            for dst, src in ((0, sa.conv1), (3, sa.conv2)):
                self.spatial_attention[dst].load_state_dict(src.state_dict())
            for dst, src in ((1, sa.bn1), (4, sa.bn2)):
                self.spatial_attention[dst].load_state_dict(src.state_dict())
                self.spatial_attention[dst].eps = src.eps
                self.spatial_attention[dst].momentum = src.momentum
        self.i, self.f, self.type = getattr(ours, "i", 0), getattr(ours, "f", -1), "GAM_Attention"


@contextmanager
def fake_modules(paths: Dict[str, type]):
    """Register classes under dotted module paths for pickling, then remove them again."""
    added = []
    try:
        for full, cls in paths.items():
            mod_name, _, name = full.rpartition(".")
            parts = mod_name.split(".")
            for j in range(1, len(parts) + 1):
                sub = ".".join(parts[:j])
                if sub not in sys.modules:
                    sys.modules[sub] = types.ModuleType(sub)
                    added.append(sub)
            setattr(sys.modules[mod_name], name, cls)
            cls.__module__, cls.__qualname__ = mod_name, name
        yield
    finally:
        for sub in reversed(added):
            sys.modules.pop(sub, None)


def _stand_in(cls_name: str, base: type) -> type:
    return type(cls_name, (base,), {})


def make_fork_checkpoint(path: Path, *, root: str = "models", base_cfg: Optional[dict] = None,
                         gam_after=(8,), gam_name: str = "GAM_Attention", grouped: bool = False,
                         rate: int = 4, names=None, half: bool = True, seed: int = 0,
                         ultralytics: bool = False, extra: Optional[dict] = None) -> Dict:
    """Write a fork-style checkpoint; return {'cfg', 'model' (our reference model, float32)}."""
    from gam_viewer.models import configs
    import yaml

    if base_cfg is None:
        base_cfg = yaml.safe_load((configs.HERE / ("yolov5u.yaml" if ultralytics else "yolov5n.yaml")).read_text())
        if ultralytics:
            base_cfg["scale"] = "n"
    args = [1024, 1024, True, rate] if grouped else [1024, 1024]
    cfg, _ = insert_after(base_cfg, gam_after, row_args=args, module=gam_name) if gam_after else (base_cfg, None)
    torch.manual_seed(seed)
    model = build_model(cfg, gam_defaults={"channel_sigmoid": False, "shuffle": grouped})
    randomise_bn(model, seed)
    model.names = list(names) if names is not None else [f"class{i}" for i in range(model.nc)]
    reference = build_model(cfg, gam_defaults={"channel_sigmoid": False, "shuffle": grouped})
    reference.load_state_dict(model.state_dict())
    reference.names = model.names
    # community layout for GAM layers
    for info in model.gam_layers():
        ours = model.model[info.index]
        comm = CommunityGAM(ours)
        comm.i, comm.f = info.index, info.source
        model.model[info.index] = comm
    layout = _ULTRA if ultralytics else _LAYOUT
    prefix = "ultralytics.nn" if ultralytics else root
    stand_ins: Dict[type, type] = {}
    registry: Dict[str, type] = {}
    gam_cls = _stand_in(gam_name, nn.Module)
    registry[f"{prefix}.{'modules.block' if ultralytics else 'common'}.{gam_name}"] = gam_cls
    for ours_cls, (suffix, name) in layout.items():
        stand = _stand_in(name, ours_cls)
        stand_ins[ours_cls] = stand
        registry[f"{prefix}.{suffix}.{name}"] = stand
    for m in model.modules():
        if isinstance(m, CommunityGAM):
            m.__class__ = gam_cls
        elif type(m) in stand_ins:
            m.__class__ = stand_ins[type(m)]
    model.yaml = cfg
    del model.layers  # gam-viewer bookkeeping a fork's model does not have
    model.stride = model.stride.clone()
    model.names = {i: n for i, n in enumerate(model.names)} if ultralytics else model.names
    if half:
        model.half()
    ckpt = {"epoch": 9, "best_fitness": None, "model": model, "ema": None, "updates": 0, "optimizer": None,
            "date": "2024-01-01T00:00:00"}
    if ultralytics:
        ckpt.update(train_args={"imgsz": 640, "epochs": 1}, version="8.4.0")
    else:
        ckpt["opt"] = {"imgsz": 640, "weights": "yolov5n.pt"}
    ckpt.update(extra or {})
    with fake_modules(registry):
        torch.save(ckpt, path)
    return {"cfg": cfg, "model": reference}
