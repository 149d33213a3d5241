"""``gam-viewer eval``: does GAM help on *my* data? mAP side by side with a confidence interval,
the images where the two models disagree, and where GAM's attention falls.

    gam-viewer eval --model gam.pt --baseline yolov5s.pt --data data.yaml [--split val]
                    [--imgsz 640] [--conf 0.001] [--iou 0.6] [--max-det 300]
                    [--operating-conf 0.25] [--out report/] [--force] [--allow-name-mismatch]

Writes report.json, per_class.csv, per_image.csv and report.html into ``--out`` (never over
existing files without ``--force``; each file atomically), prints a summary table, and shows a
progress bar on stderr. The work is done by :mod:`gam_viewer.eval`; formulas and settings are
in ``docs/EVAL.md``. User errors raise ValueError/FileExistsError: one line, exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List

from .args import Parser, positive_int, unit_float
from .progress import progress_bar

__all__ = ["run", "build_parser"]


def build_parser() -> Parser:
    ap = Parser(
        prog="gam-viewer eval",
        description="Compare a GAM-YOLO model with a baseline on a labelled dataset (YOLO data.yaml, COCO "
                    "instances JSON, or an image folder without labels): COCO mAP with a paired-bootstrap "
                    "interval, per-class AP, per-image outcomes, attention statistics, cost.")
    ap.add_argument("--model", required=True, help="the GAM-YOLO model (.pt, .safetensors, YAML or shipped name)")
    ap.add_argument("--baseline", required=True, help="the model to compare with")
    ap.add_argument("--data", required=True, help="data.yaml, COCO instances .json, or a folder of images")
    ap.add_argument("--split", default="val", choices=("train", "val", "test"), help="data.yaml split (default: val)")
    ap.add_argument("--images", help="COCO: the image folder (default: found next to the JSON)")
    ap.add_argument("--imgsz", type=positive_int, help="inference size (default: each model's trained size, 640 for "
                                                      "official YOLOv5 checkpoints)")
    ap.add_argument("--conf", type=unit_float, default=0.001, help="detection threshold for mAP (default: 0.001)")
    ap.add_argument("--iou", type=unit_float, default=0.6, help="NMS IoU threshold (default: 0.6)")
    ap.add_argument("--max-det", type=positive_int, default=300, help="boxes kept per image (default: 300)")
    ap.add_argument("--operating-conf", type=unit_float, default=0.25,
                    help="score threshold of the per-image outcomes (default: 0.25)")
    ap.add_argument("--letterbox", choices=("val", "minimal", "square"), default="val",
                    help="val: YOLOv5 val.py's rectangle with half-stride padding (default); minimal: the viewer's "
                         "detect.py-style padding; square: imgsz x imgsz")
    ap.add_argument("--resamples", type=positive_int, default=1000, help="bootstrap resamples (default: 1000)")
    ap.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    ap.add_argument("--no-attention", action="store_true", help="skip the attention statistics")
    ap.add_argument("--out", default="report", help="output folder (default: ./report)")
    ap.add_argument("--force", action="store_true", help="overwrite existing report files")
    ap.add_argument("--allow-name-mismatch", action="store_true",
                    help="compare by class index when the models' class names differ from the dataset's")
    ap.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    ap.add_argument("--backend", choices=("auto", "torch", "onnxruntime"), default="auto",
                    help="what runs the models: auto (ONNX Runtime on the CPU, PyTorch on a GPU), torch, onnxruntime")
    ap.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")
    return ap


def run(argv: List[str]) -> int:
    args = build_parser().parse_args(argv)
    from ..eval.datasets import open_dataset
    from ..eval.report import check_outputs, summary_table, write_report
    from ..eval.runner import EvalSettings, evaluate
    from ..inference import load_model

    from ..fsutil import check_output_folder

    out = check_output_folder(args.out, "--out")        # a file in the way, no permission: said plainly
    check_outputs(out, args.force)                      # before any work
    settings = EvalSettings(imgsz=args.imgsz, conf=args.conf, iou=args.iou, max_det=args.max_det,
                            operating_conf=args.operating_conf, letterbox=args.letterbox,
                            resamples=args.resamples, seed=args.seed, attention=not args.no_attention,
                            allow_name_mismatch=args.allow_name_mismatch)
    settings.check()
    dataset = open_dataset(args.data, args.split, args.images)
    model = load_model(args.model, device=args.device, backend=args.backend)
    baseline = load_model(args.baseline, device=args.device, backend=args.backend)
    from ..inference.letterbox import check_imgsz

    for role, det in (("model", model), ("baseline", baseline)):
        try:
            check_imgsz(args.imgsz or det.default_imgsz, det.stride)
        except ValueError as exc:
            raise ValueError(f"--imgsz: {exc} (--{role})") from None
    bar = progress_bar(len(dataset), args.quiet, unit="img", desc="eval")
    state = {"done": 0}

    def progress(done: int, total: int) -> None:
        bar.update(done - state["done"])
        state["done"] = done

    try:
        result = evaluate(model, baseline, dataset, settings, progress=progress)
    finally:
        bar.close()
    files = write_report(result, out, force=args.force)
    if not args.quiet:
        print(summary_table(result))
        print(f"wrote {', '.join(p.name for p in files)} in {out}")
    for u in result.unreadable:
        print(f"gam-viewer: warning: skipped {u}", file=sys.stderr)
    return 0
