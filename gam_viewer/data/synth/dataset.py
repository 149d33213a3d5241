"""A YOLO-format dataset on disk (:func:`generate_dataset`, :func:`dataset_summary`)."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .scene import check_int, render_scene
from .shapes import CLASS_NAMES

__all__ = ["DATASET_JPEG_QUALITY", "generate_dataset", "dataset_summary"]

#: JPEG quality of dataset images.
DATASET_JPEG_QUALITY = 95

# (width, height) ratios of dataset images, long side == imgsz, with weights.
_DATASET_ASPECTS = ((1.0, 1.0), (1.0, 0.75), (1.0, 9.0 / 16.0), (1.0, 2.0 / 3.0), (0.75, 1.0))
_DATASET_ASPECT_WEIGHTS = (0.4, 0.2, 0.15, 0.1, 0.15)

# Marker file that identifies a directory written by generate_dataset().
_MARKER = ".gam_viewer_synth.json"
_GENERATOR_ID = "gam_viewer.data.synth"  # stored in the marker: keep it, old outputs carry it
_FORMAT_VERSION = 1


def _image_size(rng: np.random.Generator, imgsz: int) -> tuple[int, int]:
    i = int(rng.choice(len(_DATASET_ASPECTS), p=_DATASET_ASPECT_WEIGHTS))
    fw, fh = _DATASET_ASPECTS[i]
    return max(32, int(round(imgsz * fw))), max(32, int(round(imgsz * fh)))


def _image_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def _is_val(index: int, n: int, val_fraction: float) -> bool:
    """Evenly spread validation images; independent of ``n`` except for tiny n."""
    if val_fraction <= 0:
        return False
    if math.floor((index + 1) * val_fraction) > math.floor(index * val_fraction):
        return True
    # make sure a dataset with >= 2 images has at least one validation image
    return n >= 2 and index == n - 1 and math.floor(n * val_fraction) == 0


def _label_lines(labels, w: int, h: int) -> str:
    lines = []
    for cls, x1, y1, x2, y2 in labels:
        cx = min(max((x1 + x2) / 2.0 / w, 0.0), 1.0)
        cy = min(max((y1 + y2) / 2.0 / h, 0.0), 1.0)
        bw = min(max((x2 - x1) / w, 0.0), 1.0)
        bh = min(max((y2 - y1) / h, 0.0), 1.0)
        lines.append(f"{int(cls)} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}\n")
    return "".join(lines)


def _is_previous_output(path: Path) -> tuple[bool, str]:
    """Whether ``path`` holds exactly what generate_dataset() writes (and nothing else)."""
    marker = path / _MARKER
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False, "it has no synth marker file"
    if not isinstance(info, dict) or info.get("generator") != _GENERATOR_ID:
        return False, "its marker file is not from this generator"
    allowed_top = {"images", "labels", "data.yaml", _MARKER}
    for entry in path.iterdir():
        if entry.name not in allowed_top:
            return False, f"it contains {entry.name!r}, which the generator does not write"
    for sub, ext in (("images", ".jpg"), ("labels", ".txt")):
        root = path / sub
        if not root.exists():
            continue
        if not root.is_dir() or root.is_symlink():
            return False, f"{sub!r} is not a plain directory"
        for entry in root.iterdir():
            if sub == "labels" and entry.is_file() and entry.suffix == ".cache":
                continue  # label caches written by YOLO trainers
            if entry.name not in ("train", "val") or not entry.is_dir() or entry.is_symlink():
                return False, f"it contains {sub}/{entry.name}"
            for f in entry.iterdir():
                if f.suffix != ext or not f.is_file() or f.is_symlink():
                    return False, f"it contains {sub}/{entry.name}/{f.name}"
    return True, ""


def _check_target(out: Path) -> None:
    if not out.exists() and not out.is_symlink():
        return
    if out.is_symlink() or not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a directory; refusing to replace it")
    if not any(out.iterdir()):
        return
    ok, why = _is_previous_output(out)
    if not ok:
        raise FileExistsError(
            f"{out} is not empty and is not a previous synth dataset ({why}); "
            "refusing to overwrite it - choose an empty or new directory"
        )


def _data_yaml(out: Path, n: int, imgsz: int, seed: int, val_fraction: float) -> str:
    lines = [
        "# Synthetic shapes dataset written by gam_viewer.data.synth",
        f"# n={n} imgsz={imgsz} seed={seed} val_fraction={val_fraction}",
        f"path: {json.dumps(str(out))}",
        "train: images/train",
        "val: images/val",
        f"nc: {len(CLASS_NAMES)}",
        "names:",
    ]
    lines += [f"  {i}: {name}" for i, name in enumerate(CLASS_NAMES)]
    return "\n".join(lines) + "\n"


def generate_dataset(
    out_dir: str | Path,
    n: int = 200,
    imgsz: int = 320,
    seed: int = 0,
    val_fraction: float = 0.2,
    progress: Callable[[int, int], object] | None = None,
) -> Path:
    """Write a YOLO-format synthetic dataset and return the path of its ``data.yaml``.

    Layout::

        out_dir/images/{train,val}/NNNNNN.jpg
        out_dir/labels/{train,val}/NNNNNN.txt   # "cls cx cy w h", normalised, 6 decimals
        out_dir/data.yaml                       # path (absolute), train, val, nc, names
        out_dir/.gam_viewer_synth.json          # marker: parameters of this run

    Image ``i`` is rendered from a generator seeded with ``(seed, i)``: it does
    not depend on ``n``, and the same arguments give byte-identical files. Its
    long side is ``imgsz``; the other side is drawn from a few aspect ratios
    (1:1, 4:3, 16:9, 3:2 landscape and 3:4 portrait). Every
    ``1/val_fraction``-th image goes to ``val`` (at least one when ``n >= 2``
    and ``val_fraction > 0``).

    ``out_dir`` must be missing, empty, or a previous output of this function
    (which is then replaced); anything else raises ``FileExistsError``. The
    dataset is built in a temporary sibling directory and renamed into place at
    the end, so an interrupted run never leaves a partial dataset behind.

    ``progress(done, total)`` is called after every image when given.
    """
    n = check_int("n", n, 1)
    imgsz = check_int("imgsz", imgsz, 64)
    if imgsz > 8192:
        raise ValueError(f"imgsz must be <= 8192, got {imgsz}")
    seed = check_int("seed", seed, 0)
    if isinstance(val_fraction, bool) or not isinstance(
        val_fraction, (int, float, np.integer, np.floating)
    ) or not math.isfinite(val_fraction) or not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be a number with 0 <= val_fraction < 1, got {val_fraction!r}")
    val_fraction = float(val_fraction)
    if progress is not None and not callable(progress):
        raise ValueError(f"progress must be callable or None, got {type(progress).__name__}")
    if out_dir is None or str(out_dir) == "":
        raise ValueError("out_dir must be a non-empty path")

    out = Path(os.path.abspath(Path(out_dir).expanduser()))
    _check_target(out)
    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    # mkdtemp makes a private (0700) directory; build the dataset in a normal
    # sub-directory of it (created with the user's umask) and move that.
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.synth-tmp-", dir=parent))
    tmp = work / "dataset"
    try:
        tmp.mkdir()
        for split in ("train", "val"):
            (tmp / "images" / split).mkdir(parents=True)
            (tmp / "labels" / split).mkdir(parents=True)
        for i in range(n):
            rng = _image_rng(seed, i)
            w, h = _image_size(rng, imgsz)
            img, labels = render_scene(rng, w, h)
            split = "val" if _is_val(i, n, val_fraction) else "train"
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, DATASET_JPEG_QUALITY])
            if not ok:  # pragma: no cover - OpenCV failure
                raise OSError(f"could not encode image {i} as JPEG")
            (tmp / "images" / split / f"{i:06d}.jpg").write_bytes(buf.tobytes())
            (tmp / "labels" / split / f"{i:06d}.txt").write_bytes(
                _label_lines(labels, w, h).encode("ascii")
            )
            if progress is not None:
                progress(i + 1, n)
        (tmp / "data.yaml").write_text(_data_yaml(out, n, imgsz, seed, val_fraction), encoding="utf-8")
        marker = {
            "generator": _GENERATOR_ID,
            "version": _FORMAT_VERSION,
            "n": n,
            "imgsz": imgsz,
            "seed": seed,
            "val_fraction": val_fraction,
            "classes": list(CLASS_NAMES),
        }
        (tmp / _MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")

        # swap into place; re-check in case the target changed while we worked
        _check_target(out)
        if out.exists():
            holder = Path(tempfile.mkdtemp(prefix=f".{out.name}.synth-old-", dir=parent))
            try:
                out.rename(holder / "old")
            except BaseException:
                holder.rmdir()
                raise
            try:
                tmp.rename(out)
            except BaseException:
                (holder / "old").rename(out)  # put the previous dataset back
                holder.rmdir()
                raise
            shutil.rmtree(holder, ignore_errors=True)
        else:
            tmp.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out / "data.yaml"


def dataset_summary(out_dir: str | Path) -> dict[str, tuple[int, int]]:
    """``{"train": (images, boxes), "val": (images, boxes)}`` for a written dataset."""
    root = Path(out_dir)
    result = {}
    for split in ("train", "val"):
        imgs = sorted((root / "images" / split).glob("*.jpg"))
        boxes = 0
        for lab in (root / "labels" / split).glob("*.txt"):
            boxes += sum(1 for line in lab.read_text(encoding="ascii").splitlines() if line.strip())
        result[split] = (len(imgs), boxes)
    return result
