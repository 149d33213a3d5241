"""The PyTorch (pickle) checkpoint reader: YOLOv5 repo and forks, the PyPI ``yolov5`` package,
YOLOv7 (WongKinYiu/yolov7 and forks, see :mod:`.yolov7`), Ultralytics 8.x, and models trained
by ``gam-viewer train``.

The pickle is read by :mod:`.safe_pickle` (inert placeholders, no code runs), the model is
rebuilt from the checkpoint's own ``yaml`` and its tensors loaded strictly
(:func:`.loading.strict_load`). :mod:`.read` picks this reader by content.
"""

from pathlib import Path
from typing import Any, Dict, Optional

import torch

from ..nn import GAM
from ..nn.gam import community_to_own_path
from .builder import GAM_NAMES, build_model
from .errors import ModelLoadError
from .loaded import LoadedModel
from .loading import apply_bn, gam_report, names_list, strict_load
from . import yolov7
from .safe_pickle import (CheckpointFormatError, Placeholder, RefusedGlobal, attr, children, load_checkpoint_dict,
                          module_path, module_type, state_dict_of, walk_modules)

__all__ = ["read_torch"]


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


def read_torch(path: Path, *, channel_sigmoid: Optional[bool] = None, shuffle: Optional[bool] = None,
               scale: Optional[str] = None) -> LoadedModel:
    """Read a torch zip checkpoint safely and rebuild its model (see the module docstring)."""
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
    v7_options = yolov7.reader_options(cfg, sd)  # {} unless a YOLOv7 (WongKinYiu) model
    if v7_options:
        fmt = yolov7.FORMAT
    decisions = _gam_decisions(cfg, root, sd, channel_sigmoid, shuffle)
    overrides = {i: {k: v for k, v in kw.items() if not k.startswith("_")} for i, kw in decisions.items()}
    activations: Dict[str, str] = {}
    bn: Dict[str, tuple] = {}
    for name, mod in walk_modules(root):
        if not isinstance(mod, Placeholder):
            continue
        act = children(mod).get("act")
        if isinstance(act, Placeholder):
            kind = module_type(act)
            if kind == "LeakyReLU":  # keep the pickled slope (YOLOv7 configs write LeakyReLU(0.1))
                kind = f"LeakyReLU({float(attr(act, 'negative_slope', 0.01))})"
            activations[community_to_own_path(name)] = kind
        if module_type(mod) == "BatchNorm2d":
            bn[community_to_own_path(name)] = (attr(mod, "eps", 1e-5), attr(mod, "momentum", 0.1))
    scale = cfg.get("scale")
    try:
        model = build_model(cfg, ch=int(cfg.get("ch", 3)), scale=scale, gam_overrides=overrides,
                            activations=activations, **v7_options, weights_follow=True)
    except ModelLoadError as exc:
        raise ModelLoadError(f"{path.name}: {exc}") from None
    apply_bn(model, bn)
    strict_load(model, sd, path.name)
    yolov7.after_load(model)
    names = names_list(attr(root, "names"), model.nc)
    model.names = names
    imgsz = 640
    args = ckpt.get("train_args") or ckpt.get("opt")
    if isinstance(args, dict) and isinstance(args.get("imgsz"), int):
        imgsz = int(args["imgsz"])
    elif isinstance(args, dict) and isinstance(args.get("img_size"), list) and args["img_size"]:
        imgsz = int(args["img_size"][0])
    why = {i: kw["_why"] for i, kw in decisions.items()}
    return LoadedModel(model.eval(), names, str(path), fmt, imgsz, gam_report(model, why),
                       meta={"date": ckpt.get("date"), "epoch": ckpt.get("epoch"), "class": origin})
