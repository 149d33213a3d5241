"""A model YAML (or a shipped model name) -> a model with seeded random weights, for inspection."""

import re
from pathlib import Path
from typing import Optional

import torch
import yaml as yaml_lib

from .builder import build_model
from .errors import ModelLoadError
from .loaded import LoadedModel
from .loading import gam_report, names_list

__all__ = ["read_yaml"]


def read_yaml(path: Path, *, channel_sigmoid: Optional[bool] = None, shuffle: Optional[bool] = None,
              scale: Optional[str] = None) -> LoadedModel:
    """Build the model a YOLO YAML describes (random weights, seed 0). ``scale`` picks one of the
    YAML's ``scales``; by default the one the file name states (``yolov8s-gam.yaml`` -> s)."""
    try:
        cfg = yaml_lib.safe_load(path.read_text(encoding="utf-8"))
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
    names = names_list(cfg.get("names"), model.nc)
    model.names = names
    return LoadedModel(model.eval(), names, str(path), "yaml", 640, gam_report(model),
                       notes=["built from a YAML: random weights, for inspecting the architecture"])
