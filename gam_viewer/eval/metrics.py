"""COCO box metrics through a maintained COCO evaluator, and a paired bootstrap of the mAP difference.

:func:`coco_metrics` runs faster-coco-eval's ``COCOeval_faster`` (the COCO API's evaluation
in C++; its numbers equal pycocotools' — a test checks them against pycocotools on the same
records) on the ground truth and one model's detections: mAP50-95, mAP50, mAP75, AP
small/medium/large, AR@1/10/100 and per-class AP. Nothing here integrates a PR curve for
those numbers. Without faster-coco-eval installed, ``pycocotools.cocoeval.COCOeval`` (the
reference implementation) gives them, ~10x slower.

The bootstrap resamples *images* with replacement (the same resample for both models: a
paired bootstrap). Re-running COCOeval for each resample would cost ~1 s each; instead the
per-image matching that pycocotools' COCOeval computes once (``evaluateImg``: for each image,
class and IoU threshold, which detections matched; area range 'all' only, the one the
bootstrapped numbers use) is kept, and only COCOeval's accumulation step is redone for a
resample: an image drawn k times contributes its detections k times. The detections of one
image drawn k times have the same score, so they sit next to each other in the score order
and a weighted cumulative sum gives the same interpolated precision as k copies would (see
``docs/EVAL.md``). :meth:`MatchTable.average_precision` with all weights 1 reproduces
COCOeval's own accumulation: a test checks that against pycocotools, and every evaluation
checks its table's mAP against the evaluator's (``CocoResult.table_check``).
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

__all__ = ["CocoResult", "coco_metrics", "MatchTable", "paired_bootstrap", "STAT_NAMES", "gt_coco"]

STAT_NAMES = ("map50_95", "map50", "map75", "ap_small", "ap_medium", "ap_large", "ar1", "ar10", "ar100",
              "ar_small", "ar_medium", "ar_large")


def _quiet():
    return contextlib.redirect_stdout(io.StringIO())


def gt_coco(images: Sequence[dict], annotations: Sequence[dict], names: Sequence[str]):
    """A pycocotools COCO object from plain records (category ids are class index + 1)."""
    from pycocotools.coco import COCO

    anns = []
    for i, a in enumerate(annotations):
        a = dict(a)
        a.setdefault("id", i + 1)
        a.setdefault("iscrowd", 0)
        a.setdefault("area", float(a["bbox"][2] * a["bbox"][3]))
        anns.append(a)
    coco = COCO()
    coco.dataset = {"images": list(images), "annotations": anns,
                    "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)]}
    with _quiet():
        coco.createIndex()
    return coco


def _det_coco(gt, detections: Sequence[dict]):
    """Detections as a COCO result object (as ``COCO.loadRes`` builds it, but also when empty)."""
    from pycocotools.coco import COCO

    anns = []
    for i, d in enumerate(detections):
        x, y, w, h = (float(v) for v in d["bbox"])
        anns.append({"image_id": int(d["image_id"]), "category_id": int(d["category_id"]),
                     "bbox": [x, y, w, h], "score": float(d["score"]), "area": w * h, "id": i + 1,
                     "iscrowd": 0})
    res = COCO()
    res.dataset = {"images": list(gt.dataset["images"]), "annotations": anns,
                   "categories": list(gt.dataset["categories"])}
    with _quiet():
        res.createIndex()
    return res


@dataclass
class CocoResult:
    stats: Dict[str, Optional[float]]       # STAT_NAMES -> value in [0, 1], None where undefined
    per_class_ap: List[Optional[float]]     # AP50-95 per class (None: no ground truth)
    per_class_ap50: List[Optional[float]]
    per_class_gt: List[int]
    table: "MatchTable"                     # for the bootstrap
    evaluator: str = "pycocotools"
    table_check: Optional[float] = None     # |table's mAP50-95 - evaluator's|, should be ~0


def _evaluator(gt, dt, max_dets: int):
    """(evaluated and accumulated COCOeval, its name): faster-coco-eval when installed."""
    try:
        from faster_coco_eval import COCO as FastCOCO
        from faster_coco_eval import COCOeval_faster
    except ImportError:
        from pycocotools.cocoeval import COCOeval

        ev, name = COCOeval(gt, dt, "bbox"), "pycocotools"
    else:
        g, d = FastCOCO(), FastCOCO()
        g.dataset, d.dataset = gt.dataset, dt.dataset
        with _quiet():
            g.createIndex()
            d.createIndex()
        ev, name = COCOeval_faster(g, d, "bbox", print_function=lambda *a, **k: None), "faster-coco-eval"
    ev.params.maxDets = [1, 10, max_dets]
    with _quiet():
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev, name


def _matching_cocoeval():
    """pycocotools' COCOeval, with the image-class pairs that hold no ground truth answered
    without its per-pair Python work: there every detection is unmatched (a false positive,
    ignored only outside the area range), which is what its ``evaluateImg`` returns for them;
    pairs with ground truth go through pycocotools itself. At conf 0.001 most pairs are of
    the first kind."""
    from pycocotools.cocoeval import COCOeval

    class MatchingCOCOeval(COCOeval):
        def computeIoU(self, imgId, catId):   # noqa: N802, N803 - pycocotools' names
            if not self._gts.get((imgId, catId)):
                return []
            return super().computeIoU(imgId, catId)

        def evaluateImg(self, imgId, catId, aRng, maxDet):   # noqa: N802, N803
            if self._gts.get((imgId, catId)):
                return super().evaluateImg(imgId, catId, aRng, maxDet)
            dt = self._dts.get((imgId, catId))
            if not dt:
                return None
            scores = np.array([d["score"] for d in dt], np.float64)
            order = np.argsort(-scores, kind="mergesort")[:maxDet]     # as pycocotools sorts
            area = np.array([dt[i]["area"] for i in order], np.float64)
            outside = (area < aRng[0]) | (area > aRng[1])
            t = len(self.params.iouThrs)
            return {"image_id": imgId, "category_id": catId, "aRng": aRng, "maxDet": maxDet,
                    "dtIds": [dt[i]["id"] for i in order], "gtIds": [],
                    "dtMatches": np.zeros((t, len(order))), "gtMatches": np.zeros((t, 0)),
                    "dtScores": scores[order].tolist(), "gtIgnore": np.zeros(0),
                    "dtIgnore": np.repeat(outside[None], t, 0)}

    return MatchingCOCOeval


def _match_table(gt, dt, max_dets: int) -> "MatchTable":
    """pycocotools' per-image matching, area 'all' and ``max_dets`` only, as a MatchTable."""
    ev = _matching_cocoeval()(gt, dt, "bbox")
    ev.params.maxDets = [max_dets]
    ev.params.areaRng, ev.params.areaRngLbl = [ev.params.areaRng[0]], [ev.params.areaRngLbl[0]]
    with _quiet():
        ev.evaluate()
    return MatchTable.from_cocoeval(ev)


@contextlib.contextmanager
def _gc_paused():
    """Python's cyclic garbage collector off for the duration (restored as it was): the COCO
    API makes a dict per detection — tens of thousands at conf 0.001 — and every few hundred
    new containers the collector would walk them all again; these dicts hold no cycles, so
    reference counting frees them anyway (measured: 15-30 % of the COCO metrics' time)."""
    import gc

    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def coco_metrics(gt, detections: Sequence[dict], max_dets: int = 100) -> CocoResult:
    """Run COCOeval (bbox) on ``gt`` (from :func:`gt_coco`) and a list of detection records
    ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``."""
    with _gc_paused():
        return _coco_metrics(gt, detections, max_dets)


def _coco_metrics(gt, detections: Sequence[dict], max_dets: int) -> CocoResult:
    dt = _det_coco(gt, detections)
    ev, name = _evaluator(gt, dt, max_dets)
    stats = {k: (None if v < 0 else float(v)) for k, v in zip(STAT_NAMES, ev.stats)}
    prec = ev.eval["precision"]            # T x R x K x A x M
    k_ids = list(ev.params.catIds)
    per, per50, ngt = [], [], []
    for k in range(len(k_ids)):
        p = prec[:, :, k, 0, -1]
        per.append(float(p[p > -1].mean()) if (p > -1).any() else None)
        p50 = prec[0, :, k, 0, -1]
        per50.append(float(p50[p50 > -1].mean()) if (p50 > -1).any() else None)
        ngt.append(len([a for a in gt.getAnnIds(catIds=[k_ids[k]], iscrowd=False)]))
    table = _match_table(gt, dt, max_dets)
    check = None
    if stats["map50_95"] is not None:
        with _nan_quiet():
            check = abs(float(table.summary(np.ones((1, table.n_images)))["map50_95"][0]) - stats["map50_95"])
    return CocoResult(stats, per, per50, ngt, table, name, check)


class MatchTable:
    """COCOeval's per-image matching for area 'all' and the largest maxDets, ready to re-accumulate.

    For class k, in COCOeval's score order (stable sort of the detections concatenated in image
    order): ``img[k]`` (D,) the image index of each detection, ``tp_pos[k][t]`` the positions of
    the true positives at IoU threshold t, ``ig_pos[k][t]`` those of ignored detections; and
    ``npig[k]`` (I,) the non-ignored ground truth per image.

    Only true-positive positions matter: recall changes only there, and precision between two
    of them only falls, so COCOeval's interpolated precision at a recall threshold is always read
    at a true positive (the envelope's maximum to the right is reached at one). At those
    positions the weighted counts are cumulative sums of image weights, so a resample costs
    O(detections + true positives x IoU thresholds), not a COCOeval run.
    """

    def __init__(self, n_images: int, iou_thrs: np.ndarray, rec_thrs: np.ndarray):
        self.n_images = n_images
        self.iou_thrs = np.asarray(iou_thrs)
        self.rec_thrs = np.asarray(rec_thrs, np.float64)
        self.img: List[np.ndarray] = []
        self.tp_pos: List[List[np.ndarray]] = []
        self.ig_pos: List[List[np.ndarray]] = []
        self.npig: List[np.ndarray] = []

    @classmethod
    def from_cocoeval(cls, ev) -> "MatchTable":
        p = ev.params
        n_i, n_a = len(p.imgIds), len(p.areaRng)
        max_det = p.maxDets[-1]
        a0 = 0                                   # areaRng[0] is 'all' in COCOeval's parameters
        n_t = len(p.iouThrs)
        tab = cls(n_i, p.iouThrs, p.recThrs)
        for k in range(len(p.catIds)):
            idx, tps, igs, scores = [], [], [], []
            npig = np.zeros(n_i, np.int64)
            base = k * n_a * n_i + a0 * n_i
            for i in range(n_i):
                e = ev.evalImgs[base + i]
                if e is None:
                    continue
                npig[i] = int(np.count_nonzero(np.asarray(e["gtIgnore"]) == 0))
                s = np.asarray(e["dtScores"][:max_det], np.float64)
                if not len(s):
                    continue
                m = np.asarray(e["dtMatches"])[:, :max_det] > 0
                ig = np.asarray(e["dtIgnore"])[:, :max_det].astype(bool)
                idx.append(np.full(len(s), i, np.int64))
                tps.append(m & ~ig)
                igs.append(ig)
                scores.append(s)
            if idx:
                order = np.argsort(-np.concatenate(scores), kind="mergesort")
                img = np.concatenate(idx)[order]
                tp = np.concatenate(tps, 1)[:, order]
                ig = np.concatenate(igs, 1)[:, order]
                tab.tp_pos.append([np.flatnonzero(tp[t]) for t in range(n_t)])
                tab.ig_pos.append([np.flatnonzero(ig[t]) for t in range(n_t)])
            else:
                img = np.zeros(0, np.int64)
                tab.tp_pos.append([np.zeros(0, np.int64)] * n_t)
                tab.ig_pos.append([np.zeros(0, np.int64)] * n_t)
            tab.img.append(img)
            tab.npig.append(npig)
        return tab

    def average_precision(self, weights: np.ndarray, chunk: int = 250) -> np.ndarray:
        """AP per (resample, IoU threshold, class) for image weights (B, I): (B, T, K), NaN where
        the resample holds no ground truth of the class (COCOeval's -1)."""
        w = np.atleast_2d(np.asarray(weights, np.float64))
        if np.array_equal(w, np.round(w)) and 0 <= w.min() and w.sum(1).max() < 2 ** 20:
            # resample counts: integer running sums are exact and half the bytes of float64
            # ones (the divisions below are float64 either way, so the result is the same)
            w = w.astype(np.int32)
        b, t_n, kk = w.shape[0], len(self.iou_thrs), len(self.img)
        r = len(self.rec_thrs)
        out = np.full((b, t_n, kk), np.nan)
        for k in range(kk):
            img, npig = self.img[k], self.npig[k]
            # only positions up to the last true positive are ever read (precision is read at
            # true positives): at conf 0.001 most detections of a class come after it
            last = max((int(p[-1]) for p in self.tp_pos[k] if len(p)), default=-1)
            img = img[:last + 1]
            n_gt = (w @ npig.astype(w.dtype)).astype(np.float64)   # (B,)
            valid = n_gt > 0
            if not valid.any():
                continue
            for s0 in range(0, b, chunk):
                ws = w[s0:s0 + chunk]
                ok = valid[s0:s0 + chunk]
                rows = ws.shape[0]
                seen = np.cumsum(ws[:, img], axis=1, dtype=ws.dtype) if len(img) else None   # weighted detections so far
                gt_w = np.where(ok, n_gt[s0:s0 + chunk], 1.0)[:, None]
                for t in range(t_n):
                    pos = self.tp_pos[k][t]
                    n = len(pos)
                    if n == 0:
                        out[s0:s0 + chunk, t, k] = np.where(ok, 0.0, np.nan)
                        continue
                    tpc = np.cumsum(ws[:, img[pos]], axis=1, dtype=ws.dtype)             # (rows, n)
                    fpc = seen[:, pos] - tpc
                    ig = self.ig_pos[k][t]
                    ig = ig[:np.searchsorted(ig, last, side="right")]   # those after it never count
                    if len(ig):
                        igc = np.concatenate((np.zeros((rows, 1), ws.dtype), np.cumsum(ws[:, img[ig]], axis=1, dtype=ws.dtype)), 1)
                        fpc -= igc[:, np.searchsorted(ig, pos, side="right")]
                    rc = tpc / gt_w
                    pr = tpc / (fpc + tpc + np.spacing(1))
                    env = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
                    # COCOeval reads the envelope at inds_j = searchsorted(rc, recThrs_j, 'left'):
                    # threshold j lands on the first position whose recall reaches it, i.e. on
                    # position d for bins_d - bins_(d-1) thresholds (bins_d = #(thr <= rc_d));
                    # the thresholds no position reaches read 0. So AP = sum_d env_d x that / R
                    bins = np.searchsorted(self.rec_thrs, rc, side="right")
                    q = (env * np.diff(bins, axis=1, prepend=0)).sum(1) / r
                    out[s0:s0 + chunk, t, k] = np.where(ok, q, np.nan)
        return out

    def summary(self, weights: np.ndarray) -> Dict[str, np.ndarray]:
        """mAP50-95 and mAP50 per resample, as COCOeval's summarize averages them."""
        ap = self.average_precision(weights)
        with _nan_quiet():
            m = np.nanmean(ap, axis=(1, 2))
            m50 = np.nanmean(ap[:, 0, :], axis=1)
        return {"map50_95": m, "map50": m50}


@contextlib.contextmanager
def _nan_quiet():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def paired_bootstrap(model: MatchTable, baseline: MatchTable, resamples: int = 1000, seed: int = 0,
                     chunk: int = 250) -> Dict[str, dict]:
    """95 % percentile intervals of (model - baseline) for mAP50-95 and mAP50 over image resamples
    (each model's own interval under ``"model"`` / ``"baseline"``)."""
    if model.n_images != baseline.n_images:
        raise ValueError("the two tables must cover the same images")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    n = model.n_images
    rng = np.random.default_rng(seed)
    keys = ("map50_95", "map50")
    vals = {(who, key): [] for who in ("model", "baseline") for key in keys}
    for s0 in range(0, resamples, chunk):
        m = min(chunk, resamples - s0)
        draws = rng.integers(0, n, size=(m, n))
        w = np.bincount((np.arange(m)[:, None] * n + draws).ravel(), minlength=m * n).reshape(m, n).astype(float)
        for who, table in (("model", model), ("baseline", baseline)):
            s = table.summary(w)
            for key in keys:
                vals[who, key].append(s[key])
    out = {}
    for key in keys:
        a, b = np.concatenate(vals["model", key]), np.concatenate(vals["baseline", key])
        d = a - b
        d = d[np.isfinite(d)]
        lo, hi = (np.percentile(d, [2.5, 97.5]) if len(d) else (np.nan, np.nan))
        out[key] = {"ci95": [float(lo), float(hi)], "std": float(d.std(ddof=1)) if len(d) > 1 else 0.0,
                    "resamples": int(len(d)),
                    "share_above_0": float((d > 0).mean()) if len(d) else None,
                    "share_below_0": float((d < 0).mean()) if len(d) else None}
        for who, v in (("model", a), ("baseline", b)):
            v = v[np.isfinite(v)]
            out[key][who + "_ci95"] = [float(x) for x in np.percentile(v, [2.5, 97.5])] if len(v) else [None, None]
    return out
