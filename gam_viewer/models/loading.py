"""What every reader does once it has a YAML and a state dict: load tensors strictly, apply the
checkpoint's BatchNorm settings, report the GAM semantics, tidy class names.

Public helpers shared by the readers (:mod:`.checkpoint`, :mod:`.native`, :mod:`.yaml_reader`).
"""

import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
from torch import nn

from ..nn.gam import community_to_own_path
from .builder import YoloModel
from .errors import ModelLoadError
from .loaded import GamLayerReport

__all__ = ["strict_load", "apply_bn", "gam_report", "names_list"]


def names_list(names: Any, nc: int) -> List[str]:
    """Class names from a list or an ``{id: name}`` dict, padded or cut to ``nc``."""
    if isinstance(names, dict):
        try:
            out = [str(names[k]) for k in sorted(names, key=int)]
        except (ValueError, TypeError):
            out = [str(v) for v in names.values()]
    elif isinstance(names, (list, tuple)) and names:
        out = [str(n) for n in names]
    else:
        out = []
    if len(out) != nc:
        out = (out + [str(i) for i in range(len(out), nc)])[:nc]
    return out


def _where(model: YoloModel, key: str) -> str:
    m = re.match(r"model\.(\d+)\.", key)
    if not m:
        return key
    i = int(m.group(1))
    typ = model.layers[i].type if i < len(model.layers) else "?"
    return f"layer {i} ({typ}): '{key}'"


def strict_load(model: YoloModel, sd: Mapping[str, torch.Tensor], source: str) -> None:
    """Load ``sd`` into ``model`` (community GAM keys translated); every tensor must fit by name and
    shape, else :class:`ModelLoadError` naming the layer and the key."""
    own = model.state_dict()
    sd = {(k if k in own else community_to_own_path(k)): v for k, v in sd.items()}
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    if missing:
        raise ModelLoadError(f"{source}: tensor missing for {_where(model, missing[0])}"
                             + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
    if unexpected:
        raise ModelLoadError(f"{source}: unexpected tensor {_where(model, unexpected[0])}"
                             + (f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else ""))
    for k, v in list(sd.items()):
        target = own[k]
        if v.dim() == 2 and target.dim() == 4 and v.shape == target.shape[:2] and target.shape[2:] == (1, 1):
            sd[k] = v = v.reshape(target.shape)  # community nn.Linear -> our 1x1 conv
        if v.shape != target.shape:
            raise ModelLoadError(f"{source}: shape {tuple(v.shape)} does not fit {_where(model, k)} "
                                 f"which expects {tuple(target.shape)}")
    sd = {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}
    if model.is_meta:   # built with weights_follow=True: take the tensors instead of copying them
        model.materialize(sd)
    else:
        model.load_state_dict(sd, strict=True)


def apply_bn(model: nn.Module, bn: Mapping[str, Tuple[float, Optional[float]]]) -> None:
    """Set ``(eps, momentum)`` on the BatchNorms named in ``bn`` (community paths accepted):
    YOLO training pickles eps 1e-3, not PyTorch's 1e-5, and outputs move with it."""
    named = dict(model.named_modules())
    for name, (eps, momentum) in bn.items():
        m = named.get(name) or named.get(community_to_own_path(name))
        if isinstance(m, nn.BatchNorm2d):
            m.eps = float(eps)
            m.momentum = momentum if momentum is None else float(momentum)


def gam_report(model: YoloModel, why: Optional[Mapping[int, str]] = None) -> List[GamLayerReport]:
    """One :class:`GamLayerReport` per GAM layer; ``why[i]`` says who decided (default: the YAML)."""
    why = why or {}
    reports = []
    for info in model.gam_layers():
        block = model.gam_block(info.index)
        reports.append(GamLayerReport(
            info.index, info.position, info.stride, block.c1, block.variant, block.groups, block.rate,
            bool(block.channel_sigmoid), bool(block.shuffle), why.get(info.index, "model YAML"),
        ))
    return reports
