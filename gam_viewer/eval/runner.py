"""One evaluation of a model against a baseline on a dataset; shared by the CLI and the window.

:func:`evaluate` streams the images once: read -> both models -> detections kept as COCO
records (a few numbers per box) -> per-image outcomes and attention statistics -> the gates
are dropped. Then COCOeval per model, the paired bootstrap, and an :class:`EvalResult` that
``report`` writes out. ``progress(done, total)`` is called after every image and
``cancelled()`` is polled before every image (raising :class:`EvalCancelled`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

from ..media.sources import SourceError, read_image
from .attention_stats import AttentionStats
from .cost import model_cost
from .datasets import Dataset, DatasetError
from .inference import LETTERBOX_MODES, run_model, timings_summary
from .matching import agreement, compare_image, Outcome
from .metrics import STAT_NAMES, coco_metrics, gt_coco, paired_bootstrap

__all__ = ["EvalSettings", "EvalResult", "EvalCancelled", "evaluate", "check_names", "ROLES", "signed", "verdict"]

ROLES = ("model", "baseline")


class EvalCancelled(Exception):
    """The caller asked the evaluation to stop (nothing is written)."""


@dataclass
class EvalSettings:
    imgsz: Optional[int] = None        # None: each model's trained size
    conf: float = 0.001
    iou: float = 0.6
    max_det: int = 300
    operating_conf: float = 0.25
    match_iou: float = 0.5
    letterbox: str = "val"
    resamples: int = 1000
    seed: int = 0
    attention: bool = True
    allow_name_mismatch: bool = False

    def check(self) -> None:
        for name in ("conf", "iou", "operating_conf", "match_iou"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ValueError(f"--{name.replace('_', '-')} must be in [0, 1], got {v}")
        if self.max_det < 1:
            raise ValueError(f"--max-det must be at least 1, got {self.max_det}")
        if self.resamples < 1:
            raise ValueError(f"--resamples must be at least 1, got {self.resamples}")
        if self.letterbox not in LETTERBOX_MODES:
            raise ValueError(f"--letterbox must be one of {', '.join(LETTERBOX_MODES)}, got {self.letterbox!r}")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class EvalResult:
    settings: dict
    dataset: dict
    models: Dict[str, dict]
    difference: Dict[str, dict]
    per_class: List[dict]
    per_image: List[dict]
    outcomes: dict
    attention: Dict[str, List[dict]]
    unreadable: List[str]
    missing_labels: List[str]
    notes: List[str]
    timing: dict
    names: List[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"settings": self.settings, "dataset": self.dataset, "models": self.models,
                "difference": self.difference, "outcomes": self.outcomes, "attention": self.attention,
                "per_class": self.per_class, "unreadable": self.unreadable,
                "missing_labels": self.missing_labels, "notes": self.notes, "timing": self.timing}


def _fmt_names(names: List[str]) -> str:
    return "[" + ", ".join(names) + "]"


def check_names(dataset: Dataset, dets: Dict[str, object], allow_mismatch: bool) -> List[str]:
    """Refuse models whose class names differ from the dataset's (unless allowed); returns notes.

    Also refuses a label whose class id the model cannot predict (names the file, line, model)."""
    notes = []
    if not dataset.has_labels:
        a, b = list(dets["model"].names), list(dets["baseline"].names)
        if a != b and not allow_mismatch:
            raise DatasetError(f"the two models have different class names: --model {_fmt_names(a)} vs "
                               f"--baseline {_fmt_names(b)} (use --allow-name-mismatch to compare by index)")
        return notes
    for role, det in dets.items():
        names = list(det.names)
        if names != list(dataset.names):
            if not allow_mismatch:
                raise DatasetError(f"--{role} {Path(det.source).name} has class names {_fmt_names(names)} but "
                                   f"{dataset.source.name} has {_fmt_names(dataset.names)} "
                                   f"(use --allow-name-mismatch to compare by class index)")
            notes.append(f"{role}: class names differ from the dataset's; classes compared by index")
            for s in dataset.samples:
                bad = np.nonzero(s.classes >= len(names))[0]
                if len(bad):
                    i = int(bad[0])
                    where = f"{s.label_path} line {int(s.lines[i])}" if s.lines is not None and s.label_path \
                        else f"{s.path.name}"
                    raise DatasetError(f"{where}: class id {int(s.classes[i])} ({dataset.names[s.classes[i]]}) "
                                       f"is outside --{role} {Path(det.source).name}'s {len(names)} names "
                                       f"(0..{len(names) - 1})")
    return notes


def _records(image_id: int, boxes, scores, classes, n_names: int) -> List[tuple]:
    keep = classes < n_names
    b, s, c = boxes[keep], scores[keep], classes[keep]
    return [(image_id, int(ci) + 1, float(x1), float(y1), float(x2 - x1), float(y2 - y1), float(si))
            for (x1, y1, x2, y2), si, ci in zip(b, s, c)]


def _records_to_dicts(rows: List[tuple]) -> List[dict]:
    return [{"image_id": r[0], "category_id": r[1], "bbox": [r[2], r[3], r[4], r[5]], "score": r[6]} for r in rows]


def evaluate(model, baseline, dataset: Dataset, settings: EvalSettings,
             progress: Optional[Callable[[int, int], None]] = None,
             cancelled: Optional[Callable[[], bool]] = None,
             on_image: Optional[Callable[[dict], None]] = None) -> EvalResult:
    """Evaluate two Detectors on ``dataset``; see the module docstring."""
    settings.check()
    dets = {"model": model, "baseline": baseline}
    notes = list(dataset.notes) + check_names(dataset, dets, settings.allow_name_mismatch)
    n_names = len(dataset.names) if dataset.has_labels else len(model.names)
    names = list(dataset.names) if dataset.has_labels else list(model.names)
    imgsz = {r: int(settings.imgsz or d.default_imgsz) for r, d in dets.items()}
    stats = {r: AttentionStats(n_names) for r, d in dets.items() if d.has_gam and settings.attention}
    records: Dict[str, List[tuple]] = {r: [] for r in ROLES}
    latency: Dict[str, List[float]] = {r: [] for r in ROLES}
    images, annotations, per_image, unreadable = [], [], [], []
    totals = Outcome()
    agree_totals = {"model": 0, "baseline": 0, "agreed": 0}
    total = len(dataset.samples)
    t_start = time.perf_counter()
    for n, sample in enumerate(dataset.samples):
        if cancelled is not None and cancelled():
            raise EvalCancelled("cancelled")
        try:
            image, _warn = read_image(sample.path)
        except SourceError as exc:
            unreadable.append(f"{sample.path}: {exc}")
            if progress:
                progress(n + 1, total)
            continue
        h, w = image.shape[:2]
        if sample.size_hw is not None and tuple(sample.size_hw) != (h, w):
            notes.append(f"{sample.path.name}: the JSON says {sample.size_hw[1]}x{sample.size_hw[0]}, "
                         f"the file is {w}x{h}; boxes used as given")
        gt = sample.gt_xyxy(h, w)
        crowd = sample.crowd_mask()
        images.append({"id": sample.image_id, "width": w, "height": h, "file_name": str(sample.path)})
        if sample.areas is not None:
            areas = sample.areas
        else:
            areas = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
        for k in range(len(gt)):
            x1, y1, x2, y2 = (float(v) for v in gt[k])
            annotations.append({"image_id": sample.image_id, "category_id": int(sample.classes[k]) + 1,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": float(areas[k]),
                                "iscrowd": int(crowd[k])})
        preds = {}
        for role, det in dets.items():
            p = run_model(det, image, imgsz[role], settings.conf, settings.iou, settings.max_det,
                          settings.letterbox, attention=role in stats and dataset.has_labels)
            latency[role].append(p.ms)
            records[role] += _records(sample.image_id, p.boxes, p.scores, p.classes, n_names)
            preds[role] = p
        row = {"image": _rel(sample.path, dataset.source), "image_id": sample.image_id, "width": w, "height": h}
        op = {r: preds[r].above(settings.operating_conf) for r in ROLES}
        if dataset.has_labels:
            keep = ~crowd
            out = compare_image(gt, sample.classes, op["model"], op["baseline"], iou=settings.match_iou,
                                crowd=crowd)
            totals.add(out)
            row.update(out.as_dict())
            row["classes"] = "; ".join(sorted({names[int(c)] for c in sample.classes[keep] if c < len(names)}))
            for role, st in stats.items():
                ratios = st.add(preds[role].attention, gt[keep], sample.classes[keep])
                for idx, v in ratios.items():
                    row[f"{role}_attn_ratio_L{idx}"] = None if v is None else round(v, 4)
        else:
            ag = agreement(op["model"], op["baseline"], iou=settings.match_iou)
            for k in agree_totals:
                agree_totals[k] += ag[k]
            row.update({"objects": None, "model_boxes": ag["model"], "baseline_boxes": ag["baseline"],
                        "agreed": ag["agreed"], "only_model": ag["only_model"],
                        "only_baseline": ag["only_baseline"], "disagreement": ag["disagreement"]})
        per_image.append(row)
        del preds
        if on_image is not None:
            on_image(row)
        if progress:
            progress(n + 1, total)
    elapsed = time.perf_counter() - t_start
    if not images:
        raise DatasetError(f"--data {dataset.source}: none of its {total} images could be read "
                           f"(first: {unreadable[0] if unreadable else '?'})")
    models: Dict[str, dict] = {}
    difference: Dict[str, dict] = {}
    per_class: List[dict] = []
    has_map = dataset.has_labels and any(a["iscrowd"] == 0 for a in annotations)
    if dataset.has_labels and not has_map:
        notes.append("the labels hold no objects: no mAP")
    t_metrics = time.perf_counter()
    coco = {}
    if has_map:
        gt_obj = gt_coco(images, annotations, names)
        for role in ROLES:
            coco[role] = coco_metrics(gt_obj, _records_to_dicts(records[role]))
    for role, det in dets.items():
        entry = {"spec": str(det.source), "describe": det.describe(), "names": len(det.names),
                 "gam_layers": [r.describe() for r in det.gam], "imgsz": imgsz[role],
                 "backend": getattr(det, "backend_label", getattr(det, "backend", "torch")),
                 "detections": len(records[role])}
        entry.update(model_cost(det, imgsz[role]))
        entry["latency"] = timings_summary(latency[role])
        if role in coco:
            entry.update(coco[role].stats)
            entry["evaluator"] = coco[role].evaluator
            if coco[role].table_check is not None and coco[role].table_check > 1e-6:
                notes.append(f"{role}: the bootstrap's matching gives mAP50-95 {coco[role].table_check:.2g} away "
                             f"from {coco[role].evaluator}'s; its interval may be off by as much")
        else:
            entry.update({k: None for k in STAT_NAMES})
        models[role] = entry
    if has_map:
        boot = paired_bootstrap(coco["model"].table, coco["baseline"].table, settings.resamples, settings.seed)
        for key in ("map50_95", "map50"):
            value = models["model"][key] - models["baseline"][key]
            lo, hi = boot[key]["ci95"]
            for role in ROLES:
                models[role][key + "_ci95"] = boot[key][role + "_ci95"]
            difference[key] = {"value": value, "ci95": [lo, hi], "bootstrap_std": boot[key]["std"],
                               "resamples": boot[key]["resamples"], "seed": settings.seed,
                               "verdict": verdict(value, lo, hi, len(images), key)}
        for key in ("map75", "ap_small", "ap_medium", "ap_large", "ar100"):
            a, b = models["model"][key], models["baseline"][key]
            difference[key] = {"value": None if a is None or b is None else a - b}
        cm, cb = coco["model"], coco["baseline"]
        img_count = np.zeros(len(names), np.int64)
        for s in dataset.samples:
            for c in set(int(c) for c in s.classes):
                img_count[c] += 1
        for k, name in enumerate(names):
            am, ab = cm.per_class_ap[k], cb.per_class_ap[k]
            a50m, a50b = cm.per_class_ap50[k], cb.per_class_ap50[k]
            per_class.append({"class": k, "name": name, "objects": cm.per_class_gt[k], "images": int(img_count[k]),
                              "ap_model": am, "ap_baseline": ab,
                              "ap_difference": None if am is None or ab is None else am - ab,
                              "ap50_model": a50m, "ap50_baseline": a50b,
                              "ap50_difference": None if a50m is None or a50b is None else a50m - a50b})
    else:
        difference = {"map50_95": {"value": None, "ci95": [None, None], "verdict": "no labels: no mAP"},
                      "map50": {"value": None, "ci95": [None, None], "verdict": "no labels: no mAP"}}
    t_end = time.perf_counter()
    bare = sum(sum(v) for v in latency.values()) / 1e3
    outcomes = totals.as_dict() if dataset.has_labels else dict(agree_totals, only_model=agree_totals["model"] -
                                                              agree_totals["agreed"],
                                                              only_baseline=agree_totals["baseline"] -
                                                              agree_totals["agreed"])
    attention = {role: st.summary(names) for role, st in stats.items()}
    return EvalResult(
        settings=dict(settings.as_dict(), imgsz_used=imgsz),
        dataset={"source": str(dataset.source), "kind": dataset.kind, "split": dataset.split,
                 "images": len(images), "listed_images": total, "objects": int(sum(1 for a in annotations
                                                                                   if a["iscrowd"] == 0)),
                 "classes": len(names), "names": names, "has_labels": dataset.has_labels,
                 "images_without_labels": len(dataset.missing_labels), "unreadable_images": len(unreadable)},
        models=models, difference=difference, per_class=per_class, per_image=per_image, outcomes=outcomes,
        attention=attention, unreadable=unreadable, missing_labels=[str(p) for p in dataset.missing_labels],
        notes=notes,
        timing={"images_s": round(elapsed, 3), "bare_inference_s": round(bare, 3),
                "metrics_and_bootstrap_s": round(t_end - t_metrics, 3), "total_s": round(t_end - t_start, 3)},
        names=names)


def signed(x: float, digits: int = 1) -> str:
    """``x`` with its sign and ``digits`` decimals; a value that rounds to zero reads +0.0, never -0.0."""
    text = f"{x:+.{digits}f}"
    return "+" + text[1:] if text.startswith("-") and float(text) == 0 else text


def verdict(value: float, lo: float, hi: float, n_images: int, key: str) -> str:
    what = "mAP50-95" if key == "map50_95" else "mAP50"
    pts = f"{signed(value * 100)} points"
    size = f"{abs(value) * 100:.1f} points"   # "worse by 3.2 points", not "worse by -3.2"
    ci = f"[{signed(lo * 100)}, {signed(hi * 100)}]"
    if lo == hi == 0 and value == 0:
        return f"{what}: no difference at all (identical detections on all {n_images} images)"
    if lo > 0:
        return f"{what}: the model is better by {size}; the 95 % interval {ci} excludes 0, so these {n_images} " \
               f"images support a real difference"
    if hi < 0:
        return f"{what}: the model is worse by {size}; the 95 % interval {ci} excludes 0, so these {n_images} " \
               f"images support a real difference"
    return f"{what}: {pts}, but the 95 % interval {ci} contains 0: on {n_images} images a difference this size " \
           f"is within resampling noise (the data do not show that either model is better)"


def _rel(path: Path, source: Path) -> str:
    base = source if source.is_dir() else source.parent
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)
