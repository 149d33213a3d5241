"""Open a model from any file a GAM-YOLO user holds, without executing it.

Accepted (recognised by content, not by file name):

* a torch zip ``.pt`` from the YOLOv5 repo (``models.*``; old ``Model`` and new
  ``DetectionModel``), the PyPI ``yolov5`` package (``yolov5.models.*``) or Ultralytics 8.x
  (``ultralytics.nn.*``), with or without a community GAM class pasted into the fork;
* gam-viewer's own format (safetensors + JSON metadata, see :mod:`.native`);
* a model YAML (random weights, for inspection), or the name of a shipped YAML.

Pickles are read by :mod:`.safe_pickle` (placeholders, no code), the model is rebuilt from
the checkpoint's own ``yaml`` and its tensors loaded strictly.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import torch
import yaml as yaml_lib
from torch import nn

from ..nn import GAM
from . import configs
from .builder import GAM_NAMES, YoloModel, build_model
from .errors import ModelLoadError
from .safe_pickle import (CheckpointFormatError, Placeholder, RefusedGlobal, attr, children, load_checkpoint_dict,
                          module_path, module_type, state_dict_of, walk_modules)

__all__ = ["LoadedModel", "GamLayerReport", "read_model", "sniff_format"]

# community key layout -> gam-viewer's, for module paths (BN eps, activations)
_COMMUNITY_PATHS = {"channel_attention.0": "channel_attention.fc1", "channel_attention.2": "channel_attention.fc2",
                    "spatial_attention.0": "spatial_attention.conv1", "spatial_attention.1": "spatial_attention.bn1",
                    "spatial_attention.3": "spatial_attention.conv2", "spatial_attention.4": "spatial_attention.bn2"}
_COMMUNITY_KEY_RE = re.compile(r"(channel_attention\.[02]|spatial_attention\.[0134])(?=\.|$)")


@dataclass
class GamLayerReport:
    """What gam-viewer decided for one GAM layer, and why."""

    index: int
    position: str
    stride: Optional[int]
    channels: int
    variant: str
    groups: int
    rate: int
    channel_sigmoid: bool
    shuffle: bool
    decided_by: str  # e.g. "checkpoint", "default for a grouped layer (2022 rewrite)", "user"

    def describe(self) -> str:
        if self.variant == "paper":
            sem = "paper form (sigmoid gates" + (f", {self.groups} groups with mid-shuffle)" if self.groups > 1 else ")")
        else:
            sem = (f"community form, {'grouped x' + str(self.groups) if self.groups > 1 else 'ungrouped'}, "
                   f"channel sigmoid {'on' if self.channel_sigmoid else 'off'}, "
                   f"final-map shuffle {'on' if self.shuffle else 'off'}")
        return f"layer {self.index} {self.position} ({self.channels} ch): {sem} [{self.decided_by}]"


@dataclass
class LoadedModel:
    model: YoloModel
    names: List[str]
    source: str
    format: str          # yolov5-repo | yolov5-pypi | ultralytics | gam-viewer | yaml
    imgsz: int = 640
    gam: List[GamLayerReport] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    meta: Dict[str, Any] = field(default_factory=dict)

    @property
    def has_gam(self) -> bool:
        return bool(self.gam)

    def gam_summary(self) -> str:
        if not self.gam:
            return "no GAM layers"
        return "; ".join(r.describe() for r in self.gam)


def sniff_format(path: Path) -> str:
    """'torch-zip', 'safetensors', 'yaml', 'torch-legacy' or 'unknown', from the first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(64)
    if head[:4] == b"PK\x03\x04":
        return "torch-zip"
    if len(head) >= 9:
        n = int.from_bytes(head[:8], "little")
        if 2 <= n < 100_000_000 and head[8:9] == b"{":
            return "safetensors"
    if head[:1] == b"\x80":
        return "torch-legacy"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "unknown"
    if path.suffix.lower() in (".yaml", ".yml") or re.search(r"^\s*(#|nc:|backbone:|[a-z_]+:)", text, re.M):
        return "yaml"
    return "unknown"


def _names_list(names: Any, nc: int) -> List[str]:
    if isinstance(names, dict):
        try:
            return [str(names[k]) for k in sorted(names, key=int)]
        except (ValueError, TypeError):
            return [str(v) for v in names.values()]
    if isinstance(names, (list, tuple)) and names:
        return [str(n) for n in names]
    return [str(i) for i in range(nc)]


def _translate_path(path: str) -> str:
    return _COMMUNITY_KEY_RE.sub(lambda m: _COMMUNITY_PATHS[m.group(1)], path)


def _gam_decisions(cfg: Dict[str, Any], root: Any, sd: Dict[str, torch.Tensor],
                   channel_sigmoid: Optional[bool], shuffle: Optional[bool]) -> Dict[int, Dict[str, Any]]:
    """Per GAM layer index: the GAM keyword arguments, and why ('_why')."""
    rows = list(cfg.get("backbone", [])) + list(cfg.get("head", []))
    modules = dict(walk_modules(root))
    out: Dict[int, Dict[str, Any]] = {}
    for i, row in enumerate(rows):
        if not (isinstance(row, (list, tuple)) and len(row) == 4 and str(row[2]) in GAM_NAMES):
            continue
        prefix = f"model.{i}."
        if f"model.{i}.0.channel_attention.0.weight" in sd or f"model.{i}.0.spatial_attention.0.weight" in sd \
                or f"model.{i}.0.channel_attention.fc1.weight" in sd or f"model.{i}.0.spatial_attention.conv1.weight" in sd:
            prefix = f"model.{i}.0."  # a repeated block: all repeats share one configuration
        ph = modules.get(prefix.rstrip("."))
        if isinstance(ph, Placeholder) and module_path(ph).startswith("gam_viewer."):
            # our own class, trained with gam-viewer: its settings are pickled as plain data
            kw = {k: attr(ph, k) for k in ("variant", "rate", "kernel_size", "groups")}
            if kw["variant"] == "community":
                kw["channel_sigmoid"] = bool(attr(ph, "channel_sigmoid"))
                kw["shuffle"] = bool(attr(ph, "shuffle"))
            kids = children(ph)
            kw["channel"] = kids.get("channel_attention") is not None
            kw["spatial"] = kids.get("spatial_attention") is not None
            kw["_why"] = "checkpoint"
            out[i] = kw
            continue
        if f"{prefix}channel_attention.0.weight" not in sd:
            keys = [k for k in sd if k.startswith(prefix)][:3]
            raise ModelLoadError(
                f"layer {i} ({row[2]}): the checkpoint's tensors do not have the GAM_Attention layout "
                f"(found {keys or 'no tensors'})"
            )
        try:
            shape = GAM.community_config(sd, prefix)
        except ValueError as exc:
            raise ModelLoadError(f"layer {i} ({row[2]}): {exc}") from None
        grouped = shape["groups"] > 1
        kw = {"variant": "community", "rate": shape["rate"], "groups": shape["groups"],
              "kernel_size": shape["kernel_size"]}
        why = []
        kw["channel_sigmoid"] = bool(channel_sigmoid) if channel_sigmoid is not None else False
        why.append("channel sigmoid: user" if channel_sigmoid is not None else "channel sigmoid: default off")
        if shuffle is not None:
            kw["shuffle"] = bool(shuffle)
            why.append("shuffle: user")
        else:
            kw["shuffle"] = grouped
            why.append("shuffle: default for a grouped layer (2022 rewrite)" if grouped
                       else "shuffle: default for an ungrouped layer (first port)")
        kw["_why"] = "; ".join(why)
        out[i] = kw
    return out


def _report(model: YoloModel, decisions: Dict[int, Dict[str, Any]]) -> List[GamLayerReport]:
    reports = []
    for info in model.gam_layers():
        m = model.model[info.index]
        block = m[0] if isinstance(m, nn.Sequential) else m
        reports.append(GamLayerReport(
            info.index, info.position, info.stride, block.c1, block.variant, block.groups, block.rate,
            bool(block.channel_sigmoid), bool(block.shuffle),
            decisions.get(info.index, {}).get("_why", "model YAML"),
        ))
    return reports


def _strict_load(model: nn.Module, sd: Dict[str, torch.Tensor], source: str) -> None:
    own = model.state_dict()
    sd = {_translate_gam_key(k, own): v for k, v in sd.items()}
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]

    def where(key):
        m = re.match(r"model\.(\d+)\.", key)
        if not m:
            return key
        i = int(m.group(1))
        typ = model.layers[i].type if i < len(model.layers) else "?"
        return f"layer {i} ({typ}): '{key}'"

    if missing:
        raise ModelLoadError(f"{source}: tensor missing for {where(missing[0])}"
                             + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
    if unexpected:
        raise ModelLoadError(f"{source}: unexpected tensor {where(unexpected[0])}"
                             + (f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else ""))
    for k, v in list(sd.items()):
        target = own[k]
        if v.dim() == 2 and target.dim() == 4 and v.shape == target.shape[:2] and target.shape[2:] == (1, 1):
            sd[k] = v = v.reshape(target.shape)  # community nn.Linear -> our 1x1 conv
        if v.shape != target.shape:
            raise ModelLoadError(f"{source}: shape {tuple(v.shape)} does not fit {where(k)} "
                                 f"which expects {tuple(target.shape)}")
    model.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}, strict=True)


def _translate_gam_key(key: str, own: Dict[str, torch.Tensor]) -> str:
    if key in own:
        return key
    new = _translate_path(key)
    return new if new in own else key


def _read_torch(path: Path, channel_sigmoid, shuffle) -> LoadedModel:
    try:
        ckpt = load_checkpoint_dict(path)
    except RefusedGlobal as exc:
        raise ModelLoadError(f"{path.name}: {exc}") from None
    except CheckpointFormatError as exc:
        raise ModelLoadError(str(exc)) from None
    if not isinstance(ckpt, dict):
        raise ModelLoadError(f"{path.name}: the checkpoint holds a {type(ckpt).__name__}, not a dict with a 'model'")
    root = ckpt.get("ema") or ckpt.get("model")
    if root is None:
        if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            raise ModelLoadError(f"{path.name}: a bare state dict without the architecture; "
                                 "gam-viewer needs a full checkpoint (with 'model') or its own format")
        raise ModelLoadError(f"{path.name}: no 'model' or 'ema' entry: not a YOLO checkpoint")
    if not isinstance(root, Placeholder):
        raise ModelLoadError(f"{path.name}: 'model' is a {type(root).__name__}, not a pickled YOLO model")
    cls = module_type(root)
    for task, word in (("Segmentation", "segmentation"), ("Pose", "pose"), ("Classification", "classification"),
                       ("OBB", "oriented-box")):
        if cls.startswith(task):
            raise ModelLoadError(f"{path.name}: this is a {word} model ({cls}); gam-viewer opens detection models only")
    cfg = attr(root, "yaml")
    if not isinstance(cfg, dict):
        raise ModelLoadError(f"{path.name}: the pickled model carries no 'yaml' architecture dict")
    origin = module_path(root)
    fmt = ("yolov5-pypi" if origin.startswith("yolov5.") else "ultralytics" if origin.startswith("ultralytics.")
           else "gam-viewer-trained" if origin.startswith("gam_viewer.") else "yolov5-repo")
    sd = state_dict_of(root)
    decisions = _gam_decisions(cfg, root, sd, channel_sigmoid, shuffle)
    overrides = {i: {k: v for k, v in kw.items() if not k.startswith("_")} for i, kw in decisions.items()}
    activations: Dict[str, str] = {}
    bn: Dict[str, tuple] = {}
    for name, mod in walk_modules(root):
        if not isinstance(mod, Placeholder):
            continue
        act = children(mod).get("act")
        if isinstance(act, Placeholder):
            activations[_translate_path(name)] = module_type(act)
        if module_type(mod) == "BatchNorm2d":
            bn[_translate_path(name)] = (attr(mod, "eps", 1e-5), attr(mod, "momentum", 0.1))
    scale = cfg.get("scale")
    try:
        model = build_model(cfg, ch=int(cfg.get("ch", 3)), scale=scale, gam_overrides=overrides,
                            activations=activations)
    except ModelLoadError as exc:
        raise ModelLoadError(f"{path.name}: {exc}") from None
    _apply_bn(model, bn)
    _strict_load(model, sd, path.name)
    nc = model.nc
    names = _names_list(attr(root, "names"), nc)
    if len(names) != nc:
        names = (names + [str(i) for i in range(len(names), nc)])[:nc]
    model.names = names
    imgsz = 640
    args = ckpt.get("train_args") or ckpt.get("opt")
    if isinstance(args, dict) and isinstance(args.get("imgsz"), int):
        imgsz = int(args["imgsz"])
    elif isinstance(args, dict) and isinstance(args.get("img_size"), list) and args["img_size"]:
        imgsz = int(args["img_size"][0])
    loaded = LoadedModel(model.eval(), names, str(path), fmt, imgsz, _report(model, decisions),
                         meta={"date": ckpt.get("date"), "epoch": ckpt.get("epoch"), "class": origin})
    return loaded


def _apply_bn(model: nn.Module, bn: Dict[str, tuple]) -> None:
    named = dict(model.named_modules())
    for name, (eps, momentum) in bn.items():
        m = named.get(name)
        if isinstance(m, nn.BatchNorm2d):
            m.eps = float(eps)
            m.momentum = momentum if momentum is None else float(momentum)


def _read_yaml(path: Path, channel_sigmoid, shuffle, text: Optional[str] = None,
               scale: Optional[str] = None) -> LoadedModel:
    try:
        cfg = yaml_lib.safe_load(text if text is not None else path.read_text(encoding="utf-8"))
    except (yaml_lib.YAMLError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path.name}: not a readable YAML file ({str(exc).splitlines()[0]})") from None
    if not isinstance(cfg, dict) or "backbone" not in cfg:
        raise ModelLoadError(f"{path.name}: not a YOLO model YAML (no 'backbone')")
    m = re.search(r"yolov?\d+([nsmlx])u?(?:[-_.]|$)", path.stem)
    if cfg.get("scales") and m and scale is None:
        scale = m.group(1)  # 'yolov8s-gam.yaml' means scale s, as Ultralytics reads it
    defaults = {"channel_sigmoid": channel_sigmoid, "shuffle": shuffle}
    with torch.random.fork_rng():
        torch.manual_seed(0)
        try:
            model = build_model(cfg, ch=int(cfg.get("ch", 3)), scale=scale, gam_defaults=defaults)
        except ModelLoadError as exc:
            raise ModelLoadError(f"{path.name}: {exc}") from None
    names = _names_list(cfg.get("names"), model.nc)
    model.names = names
    loaded = LoadedModel(model.eval(), names, str(path), "yaml", 640, _report(model, {}),
                         notes=["built from a YAML: random weights, for inspecting the architecture"])
    return loaded


def read_model(source: Union[str, Path], *, channel_sigmoid: Optional[bool] = None,
               shuffle: Optional[bool] = None) -> LoadedModel:
    """Open ``source`` (file path or shipped YAML name) into a float32 eval-mode model."""
    path = Path(source)
    scale = None
    if not path.exists():
        shipped, scale = configs.find_with_scale(str(source))
        if shipped is None:
            raise ModelLoadError(f"{source}: no such file, and not a shipped model name "
                                 f"(shipped: {configs.summary()})")
        path = shipped
    if path.is_dir():
        raise ModelLoadError(f"{path}: is a folder, not a model file")
    try:
        kind = sniff_format(path)
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if kind == "torch-zip":
        return _read_torch(path, channel_sigmoid, shuffle)
    if kind == "safetensors":
        from .native import read_native

        return read_native(path, channel_sigmoid=channel_sigmoid, shuffle=shuffle)
    if kind == "yaml":
        return _read_yaml(path, channel_sigmoid, shuffle, scale=scale)
    if kind == "torch-legacy":
        raise ModelLoadError(f"{path.name}: a legacy (pre-1.6) torch.save file; re-save it with a current PyTorch")
    size = path.stat().st_size
    if size == 0:
        raise ModelLoadError(f"{path.name}: the file is empty")
    raise ModelLoadError(f"{path.name}: not a model file gam-viewer knows (expected a YOLO .pt, "
                         "a gam-viewer .safetensors or a model .yaml)")


def json_default(o):
    if isinstance(o, torch.Tensor):
        return o.tolist()
    raise TypeError(type(o).__name__)


def dumps(obj) -> str:
    return json.dumps(obj, default=json_default, separators=(",", ":"))
