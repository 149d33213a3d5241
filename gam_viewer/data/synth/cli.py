"""The ``gam-viewer data synth`` sub-command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
    """Run the ``synth`` sub-command; 0 on success, 2 on bad arguments or an unusable ``--out``.

    Errors print one line, ``gam-viewer: error: ...``, like every other sub-command.
    """
    try:
        data_yaml = generate_dataset(
            args.out, n=args.n, imgsz=args.imgsz, seed=args.seed, val_fraction=args.val_fraction
        )
    except ValueError as exc:
        return _fail(_option_names(str(exc)))
    except OSError as exc:
        return _fail(_os_error_message(exc, args.out))
    s = dataset_summary(data_yaml.parent)
    print(
        f"synth: train {s['train'][0]} images / {s['train'][1]} boxes, "
        f"val {s['val'][0]} images / {s['val'][1]} boxes -> {data_yaml}"
    )
    return 0


def _fail(msg: str) -> int:
    print(f"gam-viewer: error: {msg}", file=sys.stderr)
    return 2


# generate_dataset() names its arguments; on the command line they are options
_OPTIONS = {"out_dir": "--out", "n": "--n", "imgsz": "--imgsz", "seed": "--seed", "val_fraction": "--val-fraction"}


def _option_names(msg: str) -> str:
    name, sep, rest = msg.partition(" must ")
    return f"{_OPTIONS[name]} must {rest}" if sep and name in _OPTIONS else msg


def _os_error_message(exc: OSError, out: str) -> str:
    """An ``OSError`` from writing the dataset, in the user's terms (it names ``--out``)."""
    if exc.errno is None:  # generate_dataset's own refusals already name the folder and the reason
        return str(exc)
    target = Path(out).expanduser().absolute()
    for folder in target.parents:  # e.g. --out some_file/x: "File exists: 'some_file'" says little
        if folder.exists():
            if not folder.is_dir():
                return f"--out {out}: {folder} is not a folder"
            break
    return f"--out {out}: cannot write the dataset there ({exc.strerror or exc})"
