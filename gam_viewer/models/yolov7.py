"""YOLOv7 (WongKinYiu/yolov7) support for the builder and the checkpoint reader.

The YAML schema is YOLOv5's (``nc``, ``depth_multiple``, ``width_multiple``, ``anchors``,
``[from, number, module, args]`` rows), with YOLOv7's own rules where they differ:

* ``Conv`` takes ``(c1, c2, k, s, p, g, act)`` (no dilation argument), and ``act`` is often a
  string such as ``nn.LeakyReLU(0.1)`` (read by :mod:`.yaml_args`, never ``eval``);
* its channel list (width-scaled first argument) holds ``Conv``, ``RepConv``, ``DownC`` and
  ``SPPCSPC`` (the last two also get the repeat count inserted); ``ReOrg`` quadruples channels;
  ``Shortcut`` keeps its first input's; everything else keeps its input's channels and gets
  its arguments literally;
* heads ``Detect`` / ``IDetect`` / ``IAuxDetect`` (see :class:`~gam_viewer.nn.yolov7.V7Detect`).

A model is treated as YOLOv7 when a row uses a module only YOLOv7 has (:data:`V7_ONLY`) or
when the caller says so (a checkpoint whose head holds ``anchor_grid``).
"""

from typing import Any, Callable, Dict, List, Optional, Tuple

from torch import nn

from ..nn.blocks import Conv, make_divisible
from ..nn.yolov7 import MP, SP, SPPCSPC, V7_HEADS, DownC, ReOrg, RepConv, Shortcut, V7Detect
from .errors import ModelLoadError

__all__ = ["V7_ONLY", "V7_ROWS", "FORMAT", "is_yolov7_config", "build_row", "V7_PICKLED_CLASSES",
           "checkpoint_overrides", "reader_options", "after_load"]

#: the ``LoadedModel.format`` of a YOLOv7 checkpoint
FORMAT = "yolov7"

#: row modules that only YOLOv7 configs use
V7_ONLY = frozenset({"MP", "SP", "SPPCSPC", "RepConv", "IDetect", "IAuxDetect", "ReOrg", "DownC", "Shortcut"})
#: rows this module builds when the model is a YOLOv7 one
V7_ROWS = frozenset(V7_ONLY | {"Conv", "Detect"})
#: class names a YOLOv7 checkpoint pickles under ``models.common`` / ``models.yolo`` beyond YOLOv5's
V7_PICKLED_CLASSES = frozenset({"MP", "SP", "SPPCSPC", "RepConv", "IDetect", "IAuxDetect", "ReOrg", "DownC",
                                "Shortcut", "ImplicitA", "ImplicitM"})

_CHANNEL_ROWS = {"Conv", "RepConv", "DownC", "SPPCSPC"}
_REPEAT_ROWS = {"DownC", "SPPCSPC"}


def is_yolov7_config(cfg: Dict[str, Any]) -> bool:
    rows = list(cfg.get("backbone") or []) + list(cfg.get("head") or [])
    return any(isinstance(r, (list, tuple)) and len(r) == 4 and str(r[2]) in V7_ONLY for r in rows)


def _conv(c1, c2, k=1, s=1, p=None, g=1, act=True):
    return Conv(c1, c2, k, s, p, g, act=act)


def build_row(i: int, name: str, args: List[Any], c_in: List[int], number: int, width: float, nc: int,
              override: Optional[Dict[str, Any]] = None, na: int = 3) -> Tuple[int, Callable[[], nn.Module], int, List[Any]]:
    """(output channels, constructor, repeats, final args) of one YOLOv7 row ``name``."""
    override = override or {}
    where = f"layer {i} ({name})"
    n = number
    if name in _CHANNEL_ROWS:
        if not args or isinstance(args[0], bool) or not isinstance(args[0], int):
            raise ModelLoadError(f"{where}: first argument must be the channel count, got {args[:1]!r}")
        no = (nc + 5) * na  # YOLOv7 leaves an output-sized channel count unscaled
        c2 = args[0] if args[0] == no else make_divisible(args[0] * width, 8)
        args = [c_in[0], c2, *args[1:]]
        if name in _REPEAT_ROWS:
            args.insert(2, n)
            n = 1
        if name == "Conv":
            if len(args) > 7:
                raise ModelLoadError(f"{where}: YOLOv7's Conv takes at most 5 arguments after c2, got {args[2:]}")
            make = lambda a=args: _conv(*a)  # noqa: E731
        elif name == "RepConv":
            deploy = bool(override.get("deploy", False))
            make = lambda a=args, d=deploy: RepConv(*a[:7], deploy=d)  # noqa: E731
        else:
            cls = DownC if name == "DownC" else SPPCSPC
            make = lambda a=args, cls=cls: cls(*a)  # noqa: E731
        return c2, make, n, args
    if name == "MP":
        return c_in[0], (lambda a=args: MP(*a)), n, args
    if name == "SP":
        return c_in[0], (lambda a=args: SP(*a)), n, args
    if name == "ReOrg":
        return c_in[0] * 4, ReOrg, n, args
    if name == "Shortcut":
        return c_in[0], (lambda a=args: Shortcut(*a)), n, args
    if name in V7_HEADS:
        implicit, aux = V7_HEADS[name]
        if len(args) < 2:
            raise ModelLoadError(f"{where}: needs [nc, anchors], got {args}")
        anchors = args[1]
        if isinstance(anchors, int):
            anchors = [list(range(anchors * 2))] * (len(c_in) // (2 if aux else 1))
        return 0, (lambda a=anchors, c=list(c_in): V7Detect(nc, a, c, implicit=implicit, aux=aux)), 1, args
    raise ModelLoadError(f"unsupported YOLOv7 layer type '{name}' at index {i}")


def checkpoint_overrides(cfg: Dict[str, Any], sd: Dict[str, Any]) -> Dict[int, Dict[str, Any]]:
    """Per row: constructor options only the tensors show (``RepConv`` in its deploy form)."""
    rows = list(cfg.get("backbone") or []) + list(cfg.get("head") or [])
    out: Dict[int, Dict[str, Any]] = {}
    for i, row in enumerate(rows):
        if isinstance(row, (list, tuple)) and len(row) == 4 and str(row[2]) == "RepConv":
            if f"model.{i}.rbr_reparam.weight" in sd or f"model.{i}.0.rbr_reparam.weight" in sd:
                out[i] = {"deploy": True}
    return out


def reader_options(cfg: Dict[str, Any], sd: Dict[str, Any]) -> Dict[str, Any]:
    """Extra :func:`~gam_viewer.models.builder.build_model` keywords for a YOLOv7 model's YAML and
    tensors (``{}`` for any other family)."""
    if not is_yolov7_config(cfg):
        return {}
    return {"family": "yolov7", "layer_overrides": checkpoint_overrides(cfg, sd)}


def after_load(model: nn.Module) -> None:
    """Once the tensors are in: decode with the pickled pixel anchors (``anchor_grid``), as
    YOLOv7 does."""
    head = model.model[-1]
    if isinstance(head, V7Detect):
        head.anchors_from_grid()
