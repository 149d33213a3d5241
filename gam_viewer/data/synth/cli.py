"""The ``gam-viewer data synth`` sub-command."""

from __future__ import annotations

import argparse
import sys

from .dataset import dataset_summary, generate_dataset
from .shapes import CLASS_NAMES

__all__ = ["add_cli", "run_cli"]


def add_cli(subparsers) -> argparse.ArgumentParser:
    """Register the ``synth`` sub-command on an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "synth",
        help="write a synthetic shapes dataset in YOLO format",
        description=(
            "Write a deterministic synthetic object-detection dataset "
            f"({', '.join(CLASS_NAMES)}) in YOLO layout: images/, labels/, data.yaml."
        ),
    )
    p.add_argument("--out", required=True, help="output directory (new, empty, or a previous synth output)")
    p.add_argument("--n", type=int, default=200, help="number of images (default: 200)")
    p.add_argument("--imgsz", type=int, default=320, help="long image side in pixels (default: 320)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--val-fraction", type=float, default=0.2,
                   help="fraction of images in the val split, 0 <= f < 1 (default: 0.2)")
    p.set_defaults(func=run_cli)
    return p


def run_cli(args: argparse.Namespace) -> int:
    """Run the ``synth`` sub-command; 0 on success, 2 on bad arguments or a refused target."""
    try:
        data_yaml = generate_dataset(
            args.out, n=args.n, imgsz=args.imgsz, seed=args.seed, val_fraction=args.val_fraction
        )
    except (FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    s = dataset_summary(data_yaml.parent)
    print(
        f"synth: train {s['train'][0]} images / {s['train'][1]} boxes, "
        f"val {s['val'][0]} images / {s['val'][1]} boxes -> {data_yaml}"
    )
    return 0
