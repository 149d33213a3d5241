"""COCO metrics (faster-coco-eval, checked against pycocotools) on hand-made cases with known AP,
and the paired bootstrap."""

import numpy as np
import pytest

pytest.importorskip("pycocotools", reason="the eval metrics need pycocotools (a gam-viewer dependency)")

from gam_viewer.eval.metrics import coco_metrics, gt_coco, paired_bootstrap  # noqa: E402

R101 = np.linspace(0, 1, 101)


def _img(i, w=640, h=480):
    return {"id": i, "width": w, "height": h}


def test_perfect_detections_give_map_one():
    gt = gt_coco([_img(1), _img(2)], [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 100, 50]},
                                      {"image_id": 2, "category_id": 2, "bbox": [200, 100, 150, 150]}], ["a", "b"])
    res = coco_metrics(gt, [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 100, 50], "score": 0.9},
                            {"image_id": 2, "category_id": 2, "bbox": [200, 100, 150, 150], "score": 0.8}])
    assert res.stats["map50_95"] == pytest.approx(1.0)
    assert res.stats["map50"] == pytest.approx(1.0)
    assert res.stats["ar100"] == pytest.approx(1.0)
    assert res.per_class_ap == [pytest.approx(1.0), pytest.approx(1.0)]
    assert res.stats["ap_small"] is None            # no small objects: COCOeval's -1 becomes None


def test_known_ap_with_a_false_positive_between_two_hits():
    # 2 objects; ranked: hit (0.9), false positive (0.8), hit (0.7).
    # PR points (0.5, 1), (0.5, 0.5), (1, 2/3): interpolated precision 1 for the 51 recall
    # thresholds <= 0.5 and 2/3 for the 50 above -> AP = (51 + 50 * 2/3) / 101 at every IoU.
    gt = gt_coco([_img(1), _img(2)], [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100]},
                                      {"image_id": 2, "category_id": 1, "bbox": [0, 0, 100, 100]}], ["a"])
    dets = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100], "score": 0.9},
            {"image_id": 1, "category_id": 1, "bbox": [300, 300, 50, 50], "score": 0.8},
            {"image_id": 2, "category_id": 1, "bbox": [0, 0, 100, 100], "score": 0.7}]
    res = coco_metrics(gt, dets)
    expected = (51 + 50 * 2 / 3) / 101
    assert res.stats["map50_95"] == pytest.approx(expected)
    assert res.stats["map50"] == pytest.approx(expected)


def test_iou_thresholds_count_half_of_a_box_with_iou_072():
    # IoU 0.72 passes the thresholds 0.50 ... 0.70 (5 of 10): mAP50-95 0.5, mAP50 1, mAP75 0
    gt = gt_coco([_img(1)], [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100]}], ["a"])
    res = coco_metrics(gt, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 72], "score": 0.5}])
    assert res.stats["map50"] == pytest.approx(1.0)
    assert res.stats["map75"] == pytest.approx(0.0)
    assert res.stats["map50_95"] == pytest.approx(0.5)


def test_no_detections_give_zero_and_wrong_class_is_a_miss():
    gt = gt_coco([_img(1)], [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100]}], ["a", "b"])
    assert coco_metrics(gt, []).stats["map50_95"] == pytest.approx(0.0)
    res = coco_metrics(gt, [{"image_id": 1, "category_id": 2, "bbox": [0, 0, 100, 100], "score": 0.9}])
    assert res.stats["map50"] == pytest.approx(0.0)
    assert res.per_class_ap[1] is None              # class b has no ground truth: undefined, not 0


def _random_case(seed, n_images=40, tie_scores=True):
    rng = np.random.default_rng(seed)
    images, anns, dets = [], [], []
    for i in range(1, n_images + 1):
        images.append(_img(i))
        for _ in range(int(rng.integers(0, 5))):
            x, y = rng.uniform(0, 500, 2)
            w, h = rng.uniform(8, 130, 2)
            c = int(rng.integers(1, 4))
            anns.append({"image_id": i, "category_id": c, "bbox": [x, y, w, h]})
            if rng.random() < 0.8:
                j = rng.normal(0, 5, 4)
                s = rng.random()
                dets.append({"image_id": i, "category_id": c, "score": float(np.round(s, 1) if tie_scores else s),
                             "bbox": [x + j[0], y + j[1], max(2.0, w + j[2]), max(2.0, h + j[3])]})
        for _ in range(int(rng.integers(0, 8))):
            s = rng.random()
            dets.append({"image_id": i, "category_id": int(rng.integers(1, 4)),
                         "score": float(np.round(s, 1) if tie_scores else s),
                         "bbox": [*rng.uniform(0, 400, 2), *rng.uniform(5, 150, 2)]})
        if tie_scores:   # ties across images, none inside one image (see docs/EVAL.md on tie order)
            mine = [d for d in dets if d["image_id"] == i]
            for k, d in enumerate(mine):
                d["score"] = round(d["score"] + k * 1e-4, 6)
    return images, anns, dets


@pytest.mark.parametrize("seed", [3, 11])
def test_the_numbers_equal_pycocotools_cocoeval(seed):
    """The evaluator gam-viewer reports with (faster-coco-eval) gives pycocotools' numbers: all
    twelve summary statistics and the per-class AP, on random cases with crowd boxes, small
    and large objects; and the bootstrap's own matching agrees with it (table_check)."""
    import contextlib
    import io

    from pycocotools.cocoeval import COCOeval

    from gam_viewer.eval.metrics import STAT_NAMES

    images, anns, dets = _random_case(seed, n_images=60, tie_scores=False)
    for a in anns[::9]:
        a["iscrowd"] = 1
    gt = gt_coco(images, anns, ["a", "b", "c"])
    res = coco_metrics(gt, dets)
    assert res.evaluator == "faster-coco-eval"
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes([dict(d) for d in dets]), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    for name, want in zip(STAT_NAMES, ev.stats):
        assert res.stats[name] == (None if want < 0 else pytest.approx(float(want), abs=1e-12)), name
    for k in range(3):
        p = ev.eval["precision"][:, :, k, 0, -1]
        assert res.per_class_ap[k] == pytest.approx(float(p[p > -1].mean()), abs=1e-12)
    assert res.table_check is not None and res.table_check < 1e-12


def test_bootstrap_matching_equals_pycocotools_matching():
    """The bootstrap's per-image matching (pycocotools, pairs without ground truth answered
    directly) is pycocotools' own: same detections, order, true positives and ignored ones at
    every IoU threshold, for every class; images with only false positives included."""
    import contextlib
    import io

    from pycocotools.cocoeval import COCOeval

    from gam_viewer.eval.metrics import MatchTable

    images, anns, dets = _random_case(8, n_images=50, tie_scores=True)
    for a in anns[::7]:
        a["iscrowd"] = 1
    rng = np.random.default_rng(1)
    for i in range(1, 51):   # plenty of image-class pairs with detections and no ground truth
        dets += [{"image_id": i, "category_id": int(rng.integers(1, 4)), "score": float(rng.random() * 0.01),
                  "bbox": [*rng.uniform(0, 400, 2), *rng.uniform(1, 300, 2)]} for _ in range(20)]
    for i in (2, 5):   # a class with no ground truth at all, > 100 tied boxes in one image
        dets += [{"image_id": i, "category_id": 4, "score": float(np.round(rng.random(), 2)),
                  "bbox": [*rng.uniform(0, 400, 2), *rng.uniform(1, 300, 2)]} for _ in range(150)]
    gt = gt_coco(images, anns, ["a", "b", "c", "d"])
    mine = coco_metrics(gt, dets).table
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes([dict(d) for d in dets]), "bbox")
        ev.params.maxDets = [100]
        ev.params.areaRng, ev.params.areaRngLbl = ev.params.areaRng[:1], ev.params.areaRngLbl[:1]
        ev.evaluate()
    ref = MatchTable.from_cocoeval(ev)
    assert len(ref.img[3]) == 200   # the best 100 of each image
    for k in range(4):
        assert np.array_equal(mine.img[k], ref.img[k]) and np.array_equal(mine.npig[k], ref.npig[k])
        for t in range(10):
            assert np.array_equal(mine.tp_pos[k][t], ref.tp_pos[k][t])
            assert np.array_equal(mine.ig_pos[k][t], ref.ig_pos[k][t])


def test_reaccumulation_with_unit_weights_reproduces_cocoeval():
    images, anns, dets = _random_case(3)
    res = coco_metrics(gt_coco(images, anns, ["a", "b", "c"]), dets)
    s = res.table.summary(np.ones((1, len(images))))
    assert s["map50_95"][0] == pytest.approx(res.stats["map50_95"], abs=1e-12)
    assert s["map50"][0] == pytest.approx(res.stats["map50"], abs=1e-12)
    ap = res.table.average_precision(np.ones((1, len(images))))[0]      # T x K
    assert np.nanmean(ap, axis=0) == pytest.approx(np.array(res.per_class_ap, float), abs=1e-12)


def test_a_resample_with_repeated_images_equals_cocoeval_on_the_copied_dataset():
    """An image drawn k times must count as k copies of it (scores tie: the hard case)."""
    images, anns, dets = _random_case(5, n_images=25)
    names = ["a", "b", "c"]
    res = coco_metrics(gt_coco(images, anns, names), dets)
    rng = np.random.default_rng(0)
    draws = np.sort(rng.integers(0, len(images), len(images)))
    weights = np.bincount(draws, minlength=len(images)).astype(float)[None]
    # the copied dataset: copies of an image get consecutive new ids in the original image order
    new_images, new_anns, new_dets, nid = [], [], [], 0
    for idx in range(len(images)):
        for _ in range(int(weights[0, idx])):
            nid += 1
            new_images.append(_img(nid))
            new_anns += [dict(a, image_id=nid) for a in anns if a["image_id"] == idx + 1]
            new_dets += [dict(d, image_id=nid) for d in dets if d["image_id"] == idx + 1]
    ref = coco_metrics(gt_coco(new_images, new_anns, names), new_dets)
    s = res.table.summary(weights)
    assert s["map50_95"][0] == pytest.approx(ref.stats["map50_95"], abs=1e-12)
    assert s["map50"][0] == pytest.approx(ref.stats["map50"], abs=1e-12)


def test_bootstrap_of_identical_models_is_exactly_zero():
    images, anns, dets = _random_case(7)
    res = coco_metrics(gt_coco(images, anns, ["a", "b", "c"]), dets)
    boot = paired_bootstrap(res.table, res.table, resamples=1000, seed=1)
    for key in ("map50_95", "map50"):
        assert boot[key]["resamples"] == 1000
        assert boot[key]["ci95"] == [0.0, 0.0]


def test_bootstrap_sees_a_real_difference_and_is_seeded():
    images, anns, dets = _random_case(11, n_images=60)
    gt = gt_coco(images, anns, ["a", "b", "c"])
    good = coco_metrics(gt, [dict(a, score=0.9) for a in anns])        # every object found exactly
    bad = coco_metrics(gt, dets)
    b1 = paired_bootstrap(good.table, bad.table, resamples=1000, seed=2)
    b2 = paired_bootstrap(good.table, bad.table, resamples=1000, seed=2)
    assert b1 == b2
    lo, hi = b1["map50_95"]["ci95"]
    diff = good.stats["map50_95"] - bad.stats["map50_95"]
    assert 0 < lo <= diff <= hi


def test_coco_metrics_leave_the_garbage_collector_as_they_found_it():
    """The metrics pause Python's cyclic collector while they build their dicts and restore
    its state after: on if it was on, off (the window collects in its GUI thread) if off."""
    import gc

    images, anns, dets = _random_case(2, n_images=10)
    gt = gt_coco(images, anns, ["a", "b", "c"])
    was = gc.isenabled()
    try:
        for state in (True, False):
            (gc.enable if state else gc.disable)()
            coco_metrics(gt, dets)
            assert gc.isenabled() is state
    finally:
        (gc.enable if was else gc.disable)()
