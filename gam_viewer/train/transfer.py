"""Start a GAM model from a baseline checkpoint: every matching tensor, at its new index.

Inserting GAM rows into a YOLO YAML shifts the index of every later layer, so a baseline's
``model.10.cv1.conv.weight`` belongs to ``model.11.`` of a model with one GAM before SPPF
(see :func:`gam_viewer.models.insert.insert_after`). This module lines the two layer lists
up with the GAM rows taken out, checks that the remaining rows are the same kind of block,
renames the baseline's tensors with :func:`gam_viewer.models.insert.remap_state_dict` and
copies every tensor whose name and shape match. Nothing is skipped silently: the report
lists every target tensor that did not get a baseline value and every baseline tensor that
was not used, each with the reason (a new GAM layer, YOLOv5's anchor-based head versus the
anchor-free DFL head, a different class count, a different width, ...).

The baseline is read with gam-viewer's own safe reader (:func:`gam_viewer.models.read_model`):
YOLOv5-repo, PyPI ``yolov5``, Ultralytics and gam-viewer files; no checkpoint code runs. GAM
rows in the baseline (GAM into GAM, e.g. fine-tuning a GAM model) line up with GAM rows in
the target that follow the same block.
"""

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import torch
from torch import nn

from ..models import LoadedModel, read_model
from ..models.builder import GAM_NAMES
from ..models.insert import remap_state_dict

__all__ = ["TransferReport", "transfer_weights", "align_layers"]

_PREFIX = re.compile(r"^model\.(\d+)\.")


def _rows(cfg: Mapping[str, Any]) -> List[list]:
    return list(cfg.get("backbone") or []) + list(cfg.get("head") or [])


def _kind(name: Any) -> str:
    name = str(name)
    if name in GAM_NAMES:
        return "GAM"
    return name[3:] if name.startswith("nn.") else name


def align_layers(source_cfg: Mapping[str, Any], target_cfg: Mapping[str, Any]) -> Tuple[Dict[int, int], List[str]]:
    """Map source layer index -> target layer index, and notes on what could not be lined up.

    The non-GAM rows of both are compared in order; they are mapped while they are the same
    kind of block (the first difference ends the mapping, with a note). A GAM row maps to a
    GAM row that follows the same (mapped) block.
    """
    src = [(i, _kind(r[2])) for i, r in enumerate(_rows(source_cfg))]
    tgt = [(j, _kind(r[2])) for j, r in enumerate(_rows(target_cfg))]
    src_core = [(i, k) for i, k in src if k != "GAM"]
    tgt_core = [(j, k) for j, k in tgt if k != "GAM"]
    index_map: Dict[int, int] = {}
    notes: List[str] = []
    for (i, ks), (j, kt) in zip(src_core, tgt_core):
        if ks != kt:
            notes.append(f"the architectures differ from baseline layer {i} ({ks}) / target layer {j} ({kt}) on: "
                         "nothing from there on is transferred")
            break
        index_map[i] = j
    else:
        if len(src_core) != len(tgt_core):
            notes.append(f"the baseline has {len(src_core)} non-GAM layers, the target {len(tgt_core)}")
    # GAM rows: a source GAM right after mapped block b goes to a target GAM right after map[b]
    tgt_kinds = dict(tgt)
    for i, k in src:
        if k == "GAM" and i > 0 and (i - 1) in index_map:
            j = index_map[i - 1] + 1
            if tgt_kinds.get(j) == "GAM":
                index_map[i] = j
    return index_map, notes


@dataclass
class TransferReport:
    """What :func:`transfer_weights` copied, and what it could not, with reasons."""

    source: str
    source_format: str
    index_map: Dict[int, int]
    transferred: List[str] = field(default_factory=list)           # target keys that got a baseline value
    not_transferred: Dict[str, str] = field(default_factory=dict)  # target key -> why not
    unused: Dict[str, str] = field(default_factory=dict)           # baseline key -> why not used
    notes: List[str] = field(default_factory=list)
    shapes: Dict[str, Tuple[tuple, tuple]] = field(default_factory=dict)  # key -> (baseline, target) shape
    target_tensors: int = 0
    target_params: int = 0
    transferred_params: int = 0

    @property
    def n_transferred(self) -> int:
        return len(self.transferred)

    def by_layer(self, table: Mapping[str, str]) -> "OrderedDict[Tuple[str, str], List[str]]":
        """Group ``key -> reason`` as ``(layer, reason) -> keys``."""
        out: "OrderedDict[Tuple[str, str], List[str]]" = OrderedDict()
        for key, why in table.items():
            m = _PREFIX.match(key)
            layer = m.group(1) if m else "-"
            out.setdefault((layer, why), []).append(key)
        return out

    def describe(self) -> str:
        lines = [
            f"weights from {self.source} ({self.source_format}): transferred {self.n_transferred} of "
            f"{self.target_tensors} tensors ({self.transferred_params:,} of {self.target_params:,} parameters)",
        ]
        moved = sorted((i, j) for i, j in self.index_map.items() if i != j)
        if moved:
            lines.append("  layers renumbered (baseline -> target): " + ", ".join(f"{i}->{j}" for i, j in moved))
        if self.not_transferred:
            lines.append(f"  not transferred ({len(self.not_transferred)} target tensors, initialised as new):")
            for (layer, why), keys in self.by_layer(self.not_transferred).items():
                lines.append(f"    layer {layer}: {len(keys)} tensors: {why}")
        if self.unused:
            lines.append(f"  baseline tensors not used ({len(self.unused)}):")
            for (layer, why), keys in self.by_layer(self.unused).items():
                lines.append(f"    baseline layer {layer}: {len(keys)} tensors: {why}")
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)

    def as_dict(self) -> Dict[str, Any]:
        return {
            "source": self.source, "source_format": self.source_format,
            "transferred": self.n_transferred, "target_tensors": self.target_tensors,
            "transferred_params": self.transferred_params, "target_params": self.target_params,
            "index_map": {str(k): v for k, v in sorted(self.index_map.items())},
            "not_transferred": {f"layer {layer}: {why}": len(keys)
                                for (layer, why), keys in self.by_layer(self.not_transferred).items()},
            "unused": {f"baseline layer {layer}: {why}": len(keys)
                       for (layer, why), keys in self.by_layer(self.unused).items()},
            "notes": list(self.notes),
            "shape_mismatches": {k: [list(a), list(b)] for k, (a, b) in self.shapes.items()},
        }


def _head_kind(cfg: Mapping[str, Any], sd: Mapping[str, torch.Tensor], index: int) -> str:
    if any(k.startswith(f"model.{index}.m.") for k in sd) or "anchors" in cfg:
        return "anchor"
    return "dfl"


def _layer_of(key: str) -> Optional[int]:
    m = _PREFIX.match(key)
    return int(m.group(1)) if m else None


def transfer_weights(model: nn.Module, target_cfg: Mapping[str, Any],
                     source: Union[str, LoadedModel]) -> TransferReport:
    """Copy every matching tensor of the baseline ``source`` into ``model`` (in place).

    ``model`` is any module whose state dict uses the YOLO ``model.<i>.`` layout (an
    Ultralytics ``DetectionModel`` or gam-viewer's ``YoloModel``) built from ``target_cfg``.
    ``source`` is a checkpoint path (read safely) or an already loaded model.
    """
    loaded = source if isinstance(source, LoadedModel) else read_model(source)
    src_cfg = loaded.model.yaml
    src_sd = loaded.model.state_dict()
    index_map, notes = align_layers(src_cfg, target_cfg)
    renamed = remap_state_dict({k: v for k, v in src_sd.items() if _layer_of(k) in index_map}, index_map)
    back = {v: k for k, v in index_map.items()}
    src_rows, tgt_rows = _rows(src_cfg), _rows(target_cfg)
    n_src_layers = len(src_rows)
    src_head, tgt_head = n_src_layers - 1, len(tgt_rows) - 1
    src_head_kind = _head_kind(src_cfg, src_sd, src_head)
    tgt_sd = model.state_dict()
    tgt_head_kind = "anchor" if any(k.startswith(f"model.{tgt_head}.m.") for k in tgt_sd) else "dfl"
    src_nc, tgt_nc = src_cfg.get("nc"), target_cfg.get("nc")

    report = TransferReport(str(loaded.source), loaded.format, index_map, notes=list(notes))
    new_sd = {}
    for key, value in tgt_sd.items():
        report.target_tensors += 1
        if value.is_floating_point():
            report.target_params += value.numel()
        j = _layer_of(key)
        i = back.get(j) if j is not None else None
        kind = _kind(tgt_rows[j][2]) if j is not None and j < len(tgt_rows) else "?"
        if j == tgt_head and src_head_kind != tgt_head_kind:
            report.not_transferred[key] = (
                "the baseline's head is YOLOv5's anchor-based Detect; this anchor-free (DFL) head cannot take its "
                "weights and starts from scratch" if src_head_kind == "anchor" else
                f"the baseline's head is {src_head_kind}, this one {tgt_head_kind}: not compatible")
            continue
        if i is None:
            report.not_transferred[key] = ("a GAM layer the baseline does not have" if kind == "GAM"
                                           else f"no matching baseline layer for this {kind}")
            continue
        if key not in renamed:
            report.not_transferred[key] = f"baseline layer {i} has no tensor '{key.split('.', 2)[2]}'"
            continue
        src = renamed[key]
        if tuple(src.shape) != tuple(value.shape):
            if j == tgt_head and src_nc != tgt_nc:
                why = f"sized for the baseline's {src_nc} classes; this model has {tgt_nc}"
            else:
                why = "a different shape in the baseline (another width or scale?)"
            report.not_transferred[key] = why
            report.shapes[key] = (tuple(src.shape), tuple(value.shape))
            continue
        new_sd[key] = src.to(dtype=value.dtype)
        report.transferred.append(key)
        if value.is_floating_point():
            report.transferred_params += value.numel()
    used = set(new_sd)
    forward = dict(index_map)
    for key in src_sd:
        i = _layer_of(key)
        if i is None:
            report.unused[key] = "not a layer tensor"
            continue
        if i not in forward:
            report.unused[key] = "no matching layer in the target"
            continue
        new_key = f"model.{forward[i]}." + key[_PREFIX.match(key).end():]
        if new_key in used:
            continue
        if i == src_head and src_head_kind != tgt_head_kind:
            report.unused[key] = f"{src_head_kind} head tensors have no place in a {tgt_head_kind} head"
        elif new_key in report.not_transferred:
            report.unused[key] = report.not_transferred[new_key]
        else:
            report.unused[key] = "no tensor of that name in the target layer"
    if new_sd:
        merged = dict(tgt_sd)
        merged.update(new_sd)
        model.load_state_dict(merged, strict=True)
    if not new_sd:
        report.notes.append("nothing was transferred: is this the right baseline for this model?")
    return report
