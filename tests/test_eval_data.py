"""Datasets (YOLO data.yaml, COCO JSON, folders), their bad inputs, and the A/B outcome classes."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from gam_viewer.eval.datasets import DatasetError, label_path_for, open_dataset
from gam_viewer.eval.matching import agreement, compare_image, match_detections


def _image(path: Path, w=64, h=48):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 90, np.uint8))
    return path


def _yolo(root: Path, labels: dict, yaml_text: str = None, split="val"):
    for name, text in labels.items():
        _image(root / "images" / split / f"{name}.jpg")
        if text is not None:
            lp = root / "labels" / split / f"{name}.txt"
            lp.parent.mkdir(parents=True, exist_ok=True)
            lp.write_text(text)
    y = root / "data.yaml"
    y.write_text(yaml_text or f"train: images/train\nval: images/{split}\nnames: [a, b, c]\n")
    return y


# ------------------------------------------------------------------------------------ YOLO
def test_yaml_without_path_resolves_from_its_folder_and_reads_labels(tmp_path):
    y = _yolo(tmp_path, {"img2": "0 0.5 0.5 0.5 0.5\n1 0.25 0.25 0.1 0.2\n", "img10": "", "img1": None})
    ds = open_dataset(y)
    assert [s.path.name for s in ds.samples] == ["img1.jpg", "img2.jpg", "img10.jpg"]   # natural order
    assert ds.names == ["a", "b", "c"]
    assert ds.objects == 2
    assert [p.name for p in ds.missing_labels] == ["img1.txt"]       # missing label = empty, listed
    s = ds.samples[1]
    assert s.classes.tolist() == [0, 1]
    assert s.gt_xyxy(48, 64)[0].tolist() == pytest.approx([16, 12, 48, 36])


def test_relative_path_key_list_file_list_of_entries_and_names_dict(tmp_path):
    root = tmp_path / "ds"
    _yolo(root, {"a": "2 0.5 0.5 0.2 0.2\n"}, split="v1")
    _yolo(root, {"b": "0 0.5 0.5 0.2 0.2\n"}, split="v2")
    (root / "list.txt").write_text("./images/v1/a.jpg\n")
    y = tmp_path / "data.yaml"
    y.write_text("path: ds\nval: [list.txt, images/v2]\nnames: {0: x, 1: y, 2: z}\n")
    ds = open_dataset(y)
    assert ds.names == ["x", "y", "z"]
    assert sorted(s.path.name for s in ds.samples) == ["a.jpg", "b.jpg"]
    assert sorted(int(s.classes[0]) for s in ds.samples) == [0, 2]


def test_polygon_label_becomes_its_bounding_box(tmp_path):
    y = _yolo(tmp_path, {"p": "1 0.1 0.2 0.5 0.2 0.5 0.6 0.1 0.6\n"})
    s = open_dataset(y).samples[0]
    assert s.boxes[0].tolist() == pytest.approx([0.3, 0.4, 0.4, 0.4])


def test_label_path_replaces_the_last_images_folder():
    assert label_path_for(Path("/d/images/x/images/a.png")) == Path("/d/images/x/labels/a.txt")


@pytest.mark.parametrize("line, needle", [
    ("0 0.5 0.5 0.2\n", "expected 'class cx cy w h'"),
    ("0 0.5 abc 0.2 0.2\n", "not a number"),
    ("0 0.5 1.7 0.2 0.2\n", "normalised"),
    ("1.5 0.5 0.5 0.2 0.2\n", "class id must be a non-negative integer"),
])
def test_malformed_label_line_names_file_and_line(tmp_path, line, needle):
    y = _yolo(tmp_path, {"m": "0 0.5 0.5 0.1 0.1\n" + line})
    with pytest.raises(DatasetError) as e:
        open_dataset(y)
    msg = str(e.value)
    assert "m.txt line 2" in msg and needle in msg and "\n" not in msg


def test_class_id_outside_the_dataset_names(tmp_path):
    y = _yolo(tmp_path, {"m": "7 0.5 0.5 0.1 0.1\n"})
    with pytest.raises(DatasetError, match=r"m.txt line 1: class id 7 is outside the dataset's 3 names"):
        open_dataset(y)


def test_zero_images_and_missing_split_say_so(tmp_path):
    (tmp_path / "images" / "val").mkdir(parents=True)
    y = tmp_path / "data.yaml"
    y.write_text("val: images/val\nnames: [a]\n")
    with pytest.raises(DatasetError, match="zero images"):
        open_dataset(y)
    with pytest.raises(DatasetError, match="no 'test' split"):
        open_dataset(y, split="test")
    with pytest.raises(FileNotFoundError, match="no such file"):
        open_dataset(tmp_path / "nope.yaml")


# ------------------------------------------------------------------------------------ COCO / folder
def test_coco_json_with_its_image_folder(tmp_path):
    _image(tmp_path / "val2017" / "1.jpg")
    _image(tmp_path / "val2017" / "2.jpg")
    ann = tmp_path / "annotations" / "instances_val2017.json"
    ann.parent.mkdir()
    ann.write_text(json.dumps({
        "images": [{"id": 5, "file_name": "1.jpg", "width": 64, "height": 48},
                   {"id": 9, "file_name": "2.jpg", "width": 64, "height": 48}],
        "annotations": [{"id": 1, "image_id": 5, "category_id": 18, "bbox": [1, 2, 10, 20], "area": 150.0,
                         "iscrowd": 0},
                        {"id": 2, "image_id": 5, "category_id": 3, "bbox": [0, 0, 30, 30], "iscrowd": 1}],
        "categories": [{"id": 18, "name": "dog"}, {"id": 3, "name": "car"}]}))
    ds = open_dataset(ann)
    assert ds.kind == "coco" and ds.names == ["car", "dog"]          # sorted by category id
    s = ds.samples[0]
    assert s.classes.tolist() == [1, 0]
    assert s.gt_xyxy(48, 64)[0].tolist() == [1, 2, 11, 22]
    assert s.crowd.tolist() == [False, True] and s.objects == 1
    assert s.areas[0] == 150.0


def test_plain_folder_has_no_labels(tmp_path):
    _image(tmp_path / "x" / "b.png")
    _image(tmp_path / "x" / "a.jpg")
    ds = open_dataset(tmp_path / "x")
    assert ds.kind == "folder" and not ds.has_labels and len(ds) == 2


# ------------------------------------------------------------------------------------ outcomes
def _det(rows):
    a = np.asarray(rows, np.float64).reshape(-1, 6)
    return a[:, :4], a[:, 4], a[:, 5].astype(int)


def test_outcome_classes_on_a_hand_made_image():
    gt = np.array([[0, 0, 100, 100],        # A: both find it, model much tighter  -> better localised
                   [200, 0, 300, 100],      # B: only the model
                   [0, 200, 100, 300],      # C: only the baseline
                   [200, 200, 300, 300]],   # D: neither (the model's box there has the wrong class)
                  float)
    cls = np.array([0, 0, 1, 1])
    model = _det([[0, 0, 100, 98, 0.9, 0], [200, 0, 300, 100, 0.8, 0], [200, 200, 300, 300, 0.7, 0],
                  [400, 400, 450, 450, 0.6, 1]])
    base = _det([[0, 0, 100, 70, 0.9, 0], [0, 200, 100, 300, 0.5, 1]])
    o = compare_image(gt, cls, model, base)
    assert (o.objects, o.both, o.only_model, o.only_baseline, o.neither) == (4, 1, 1, 1, 1)
    assert (o.tp_model, o.fp_model, o.fn_model) == (2, 2, 2)
    assert (o.tp_baseline, o.fp_baseline, o.fn_baseline) == (2, 0, 2)
    assert (o.better_localised, o.worse_localised) == (1, 0)
    assert o.disagreement == 1 + 1 + 2 + 0.5
    swapped = compare_image(gt, cls, base, model)
    assert (swapped.only_model, swapped.only_baseline, swapped.worse_localised) == (1, 1, 1)


def test_matching_takes_best_score_first_and_each_object_once():
    gt = np.array([[0, 0, 10, 10]], float)
    boxes = np.array([[0, 0, 10, 9], [0, 0, 10, 10]], float)
    gt_iou, tp, fp = match_detections(gt, [0], boxes, [0.5, 0.9], [0, 0])
    assert tp.tolist() == [False, True] and fp.tolist() == [True, False]
    assert gt_iou[0] == pytest.approx(1.0)
    # below the IoU threshold: a miss plus a false positive
    gt_iou, tp, fp = match_detections(gt, [0], [[5, 5, 15, 15]], [0.9], [0])
    assert gt_iou[0] == 0 and fp.tolist() == [True]


def test_detections_inside_a_crowd_region_are_not_false_positives():
    gt = np.array([[0, 0, 100, 100], [200, 200, 260, 260]], float)
    crowd = np.array([True, False])
    o = compare_image(gt, [0, 0], _det([[10, 10, 50, 50, 0.9, 0]]), _det([]), crowd=crowd)
    assert o.objects == 1 and o.fp_model == 0 and o.neither == 1


def test_agreement_without_labels():
    a = _det([[0, 0, 10, 10, 0.9, 0], [50, 50, 60, 60, 0.8, 1]])
    b = _det([[0, 0, 10, 11, 0.7, 0], [50, 50, 60, 60, 0.8, 0]])
    ag = agreement(a, b)
    assert (ag["agreed"], ag["only_model"], ag["only_baseline"]) == (1, 1, 1)


# ------------------------------------------------------------------------------------ report files
def _tiny_result():
    from gam_viewer.eval.runner import EvalResult

    model = {"spec": "m.pt", "params": 10, "gflops": 1.0, "gflops_imgsz": 64, "latency": {"median_ms": 1.0},
             **{k: None for k in ("map50_95", "map50", "map75", "ap_small", "ap_medium", "ap_large", "ar100")}}
    return EvalResult(settings={"operating_conf": 0.25, "match_iou": 0.5, "imgsz_used": {"model": 64}, "conf": 0.001,
                                "iou": 0.6, "max_det": 300, "letterbox": "val", "resamples": 10, "seed": 0},
                      dataset={"source": "x", "kind": "folder", "split": None, "images": 1, "objects": 0,
                               "has_labels": False},
                      models={"model": dict(model), "baseline": dict(model, spec="b.pt")},
                      difference={"map50_95": {"value": None, "ci95": [None, None], "verdict": "no labels"}},
                      per_class=[], per_image=[{"image": "a.jpg", "disagreement": 1.0}],
                      outcomes={"model": 1, "baseline": 0, "agreed": 0, "only_model": 1, "only_baseline": 0},
                      attention={}, unreadable=[], missing_labels=[], notes=[], timing={})


def test_report_files_are_atomic_and_an_interrupt_leaves_only_complete_ones(tmp_path, monkeypatch):
    from gam_viewer.eval import report as rep

    out = tmp_path / "r"
    written = rep.write_report(_tiny_result(), out)
    assert sorted(p.name for p in written) == sorted(rep.OUTPUT_FILES)
    with pytest.raises(FileExistsError, match="--force"):
        rep.write_report(_tiny_result(), out)
    calls = []
    real = rep.write_atomic

    def interrupted(path, data, overwrite=False):
        calls.append(path.name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(path, data, overwrite=overwrite)

    monkeypatch.setattr(rep, "write_atomic", interrupted)
    out2 = tmp_path / "r2"
    with pytest.raises(KeyboardInterrupt):
        rep.write_report(_tiny_result(), out2)
    assert sorted(p.name for p in out2.iterdir()) == ["per_class.csv", "report.json"]   # no partial files
    assert json.loads((out2 / "report.json").read_text())["dataset"]["images"] == 1


# ------------------------------------------------------------------------------------ attention statistics
def test_attention_on_objects_ratio_pointing_game_and_class_profile_on_a_hand_made_gate():
    import torch

    from gam_viewer.eval.attention_stats import AttentionStats
    from gam_viewer.inference.attention import AttentionMap
    from gam_viewer.inference.letterbox import Letterbox

    # a 64 x 128 image letterboxed into 128 x 128 (32 px padding top and bottom), stride 16:
    # an 8 x 8 grid whose rows 0-1 and 6-7 are padding; content = rows 2-5 (32 cells)
    lb = Letterbox((64, 128), (128, 128), (64, 128), (0, 32), 1.0)
    spatial = torch.ones((2, 8, 8))
    spatial[:, 0, 0] = 50.0                      # in the padding: must not count anywhere
    spatial[:, 2:4, 0:2] = 4.0                   # the box's 4 cells
    channel = torch.zeros((2, 8, 8))
    channel[0, 2:4, 0:2] = 1.0
    channel[1] = 0.5
    a = AttentionMap(9, "backbone/P5", 16, channel, spatial, lb)
    st = AttentionStats(n_classes=2)
    box = np.array([[0, 0, 32, 32]], float)      # original pixels: covers cells (rows 2-3, cols 0-1)
    ratios = st.add([a], box, np.array([1]))
    mass, area = 16 / (16 + 28), 4 / 32
    assert ratios[9] == pytest.approx(mass / area)
    s = st.summary(["cat", "dog"])[0]
    assert s["pointing_hit_rate"] == 1.0 and s["images"] == 1
    assert s["class_channel_profile"] == {"dog": [1.0, 0.5]} and s["class_boxes"] == {"dog": 1}
    # a uniform gate has no preference; an image without boxes adds nothing
    flat = AttentionMap(9, "backbone/P5", 16, channel, torch.ones((2, 8, 8)), lb)
    assert st.add([flat], box, np.array([0]))[9] == pytest.approx(1.0)
    assert st.add([flat], np.zeros((0, 4)), np.zeros(0, int))[9] is None
    # a box too small to hold a cell centre still covers the cell under its centre
    tiny = st.add([a], np.array([[2, 2, 6, 6]], float), np.array([0]))
    assert tiny[9] == pytest.approx((4 / 44) / (1 / 32))
