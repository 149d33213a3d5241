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
import functools
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


def _det_anns(detections: Sequence[dict]) -> List[dict]:
    """Detection records as COCO result annotations (as ``COCO.loadRes`` makes them)."""
    anns = []
    for i, d in enumerate(detections):
        x, y, w, h = (float(v) for v in d["bbox"])
        anns.append({"image_id": int(d["image_id"]), "category_id": int(d["category_id"]),
                     "bbox": [x, y, w, h], "score": float(d["score"]), "area": w * h, "id": i + 1,
                     "iscrowd": 0})
    return anns


def _coco_of(gt, anns: List[dict]):
    """A pycocotools COCO object holding ``anns`` over ``gt``'s images and categories (also
    when empty, which ``loadRes`` refuses)."""
    from pycocotools.coco import COCO

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


def _evaluator(gt, anns: List[dict], max_dets: int):
    """(evaluated and accumulated COCOeval, its name): faster-coco-eval when installed."""
    try:
        from faster_coco_eval import COCO as FastCOCO
        from faster_coco_eval import COCOeval_faster
    except ImportError:
        from pycocotools.cocoeval import COCOeval

        ev, name = COCOeval(gt, _coco_of(gt, anns), "bbox"), "pycocotools"
    else:
        g, d = FastCOCO(), FastCOCO()
        g.dataset = gt.dataset
        d.dataset = {"images": list(gt.dataset["images"]), "annotations": anns,
                     "categories": list(gt.dataset["categories"])}
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


def _match_table(gt, anns: List[dict], max_dets: int) -> "MatchTable":
    """pycocotools' per-image matching, area 'all' and ``max_dets`` only, as a MatchTable.

    Only the detections in image-class pairs that hold ground truth (crowd regions included)
    go through pycocotools; in every other pair each detection is unmatched — a false
    positive, ignored only outside the area range — which is what pycocotools' evaluateImg
    returns for them, so they are added directly (:func:`_unmatched`). At conf 0.001 most
    detections are of that kind."""
    pairs = {(int(a["image_id"]), int(a["category_id"])) for a in gt.dataset["annotations"]}
    inside = [a for a in anns if (a["image_id"], a["category_id"]) in pairs]
    outside = [a for a in anns if (a["image_id"], a["category_id"]) not in pairs]
    ev = _matching_cocoeval()(gt, _coco_of(gt, inside), "bbox")
    ev.params.maxDets = [max_dets]
    ev.params.areaRng, ev.params.areaRngLbl = [ev.params.areaRng[0]], [ev.params.areaRngLbl[0]]
    with _quiet():
        ev.evaluate()
    return MatchTable.from_cocoeval(ev, _unmatched(outside, ev.params, max_dets))


@functools.lru_cache(maxsize=None)
def _matching_cocoeval():
    """pycocotools' COCOeval with its per-image matching done one detection at a
    time for all IoU thresholds and ground-truth boxes at once, instead of a Python loop over
    thresholds x detections x boxes. The rules are pycocotools': detections in score order
    (stable), ground truth with ignored boxes last; a detection takes the available
    non-ignored box of highest IoU >= the threshold (the last of equal ones), else the
    available ignored one of highest IoU; crowd boxes stay available; an unmatched detection
    outside the area range is ignored. Same IoUs (pycocotools' ``computeIoU``) and the same
    result dict; a test compares the tables with pycocotools' own on random cases with
    crowd regions and tied scores."""

    from pycocotools.cocoeval import COCOeval

    class MatchingCOCOeval(COCOeval):
        def evaluateImg(self, imgId, catId, aRng, maxDet):   # noqa: N802, N803 - pycocotools' names
            p = self.params
            gt, dt = self._gts[imgId, catId], self._dts[imgId, catId]
            if not gt and not dt:
                return None
            ign = np.array([1 if (g["ignore"] or g["area"] < aRng[0] or g["area"] > aRng[1]) else 0 for g in gt],
                           np.int64)
            gtind = np.argsort(ign, kind="mergesort")
            gt_ig = ign[gtind].astype(bool)
            crowd = np.array([bool(gt[i]["iscrowd"]) for i in gtind], bool)
            gt_ids = np.array([gt[i]["id"] for i in gtind], np.float64)
            dtind = np.argsort([-d["score"] for d in dt], kind="mergesort")[0:maxDet]
            dts = [dt[i] for i in dtind]
            n_t, n_g, n_d = len(p.iouThrs), len(gtind), len(dts)
            dtm, gtm, dt_ig = np.zeros((n_t, n_d)), np.zeros((n_t, n_g)), np.zeros((n_t, n_d), bool)
            ious = self.ious[imgId, catId]
            if len(ious) and n_g:
                ious = np.asarray(ious)[:, gtind]
                thr = np.minimum(np.asarray(p.iouThrs, np.float64), 1 - 1e-10)[:, None]
                taken = np.zeros((n_t, n_g), bool)
                t_all = np.arange(n_t)
                # a detection whose best IoU is under the lowest threshold matches nothing at
                # any threshold: only the others are walked (at conf 0.001, a small share)
                for d in np.flatnonzero(ious.max(1) >= thr.min()):
                    ok = (~taken | crowd[None]) & (ious[d][None] >= thr)          # (T, G)
                    regular = ok & ~gt_ig[None]
                    has_reg = regular.any(1)
                    pick = np.where(has_reg[:, None], regular, ok & gt_ig[None])
                    vals = np.where(pick, ious[d][None], -1.0)
                    m = n_g - 1 - np.argmax(vals[:, ::-1], axis=1)                 # last of the best
                    hit = pick[t_all, m]
                    rows, cols = t_all[hit], m[hit]
                    dt_ig[rows, d] = gt_ig[cols]
                    dtm[rows, d] = gt_ids[cols]
                    gtm[rows, cols] = dts[d]["id"]
                    taken[rows, cols] = True
            outside = np.array([d["area"] < aRng[0] or d["area"] > aRng[1] for d in dts], bool).reshape(1, n_d)
            dt_ig = np.logical_or(dt_ig, np.logical_and(dtm == 0, np.repeat(outside, n_t, 0)))
            return {"image_id": imgId, "category_id": catId, "aRng": aRng, "maxDet": maxDet,
                    "dtIds": [d["id"] for d in dts], "gtIds": [gt[i]["id"] for i in gtind],
                    "dtMatches": dtm, "gtMatches": gtm, "dtScores": [d["score"] for d in dts],
                    "gtIgnore": gt_ig.astype(np.int64), "dtIgnore": dt_ig}

    return MatchingCOCOeval


def _unmatched(anns: List[dict], p, max_dets: int) -> Dict[int, tuple]:
    """Per class position k: (image positions, ranks in their image, scores, ignored) of
    detections in pairs without ground truth, each image's best ``max_dets`` of the class in
    pycocotools' order (score descending, ties in annotation order)."""
    img_pos = {int(v): n for n, v in enumerate(p.imgIds)}
    cat_pos = {int(v): n for n, v in enumerate(p.catIds)}
    anns = [a for a in anns if a["image_id"] in img_pos and a["category_id"] in cat_pos]
    if not anns:
        return {}
    im = np.array([img_pos[a["image_id"]] for a in anns], np.int64)
    ct = np.array([cat_pos[a["category_id"]] for a in anns], np.int64)
    sc = np.array([a["score"] for a in anns], np.float64)
    area = np.array([a["area"] for a in anns], np.float64)
    o = np.lexsort((np.arange(len(anns)), -sc, im, ct))       # class, image, score desc, order
    im, ct, sc, area = im[o], ct[o], sc[o], area[o]
    n = len(o)
    start = np.r_[True, (ct[1:] != ct[:-1]) | (im[1:] != im[:-1])]
    rank = np.arange(n) - np.maximum.accumulate(np.where(start, np.arange(n), 0))
    lo, hi = p.areaRng[0]
    ignored = (area < lo) | (area > hi)
    keep = rank < max_dets
    out = {}
    for k in np.unique(ct):
        m = keep & (ct == k)
        out[int(k)] = (im[m], rank[m], sc[m], ignored[m])
    return out


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
    anns = _det_anns(detections)
    ev, name = _evaluator(gt, anns, max_dets)
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
    table = _match_table(gt, anns, max_dets)
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
    def from_cocoeval(cls, ev, extra: Optional[Dict[int, tuple]] = None) -> "MatchTable":
        """From an evaluated COCOeval (area 'all' first); ``extra[k]``: detections of class
        position k that COCOeval did not see, all unmatched (see :func:`_unmatched`)."""
        extra = extra or {}
        p = ev.params
        n_i, n_a = len(p.imgIds), len(p.areaRng)
        max_det = p.maxDets[-1]
        a0 = 0                                   # areaRng[0] is 'all' in COCOeval's parameters
        n_t = len(p.iouThrs)
        tab = cls(n_i, p.iouThrs, p.recThrs)
        for k in range(len(p.catIds)):
            idx, ranks, tps, igs, scores = [], [], [], [], []
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
                ranks.append(np.arange(len(s)))
                tps.append(m & ~ig)
                igs.append(ig)
                scores.append(s)
            if k in extra:
                e_img, e_rank, e_score, e_ig = extra[k]
                idx.append(e_img)
                ranks.append(e_rank)
                scores.append(e_score)
                tps.append(np.zeros((n_t, len(e_img)), bool))
                igs.append(np.repeat(np.asarray(e_ig, bool)[None], n_t, 0))
            if idx:
                # COCOeval's order: images in order, each image's detections by score, then a
                # stable sort of the whole by score
                pre = np.lexsort((np.concatenate(ranks), np.concatenate(idx)))
                order = pre[np.argsort(-np.concatenate(scores)[pre], kind="mergesort")]
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
                # weighted detections so far
                seen = np.cumsum(ws[:, img], axis=1, dtype=ws.dtype) if len(img) else None
                gt_w = np.where(ok, n_gt[s0:s0 + chunk], 1.0)[:, None]
                for t in range(t_n):
                    pos = self.tp_pos[k][t]
                    n = len(pos)
                    if n == 0:
                        out[s0:s0 + chunk, t, k] = np.where(ok, 0.0, np.nan)
                        continue
                    tpc = np.cumsum(ws[:, img[pos]], axis=1, dtype=ws.dtype)   # (rows, n)
                    fpc = seen[:, pos] - tpc
                    ig = self.ig_pos[k][t]
                    ig = ig[:np.searchsorted(ig, last, side="right")]   # those after it never count
                    if len(ig):
                        igc = np.concatenate((np.zeros((rows, 1), ws.dtype),
                                              np.cumsum(ws[:, img[ig]], axis=1, dtype=ws.dtype)), 1)
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
