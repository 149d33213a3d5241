"""Labelled datasets for evaluation: YOLO ``data.yaml``, COCO instances JSON, or a plain folder.

:func:`open_dataset` reads the description and *every* label up front, so that a malformed
label line or a class id outside the names stops the run before any inference, with one line
naming the file and the line. Images are only listed here; they are decoded while the
evaluation runs (an unreadable one is skipped and listed there).

YOLO (Ultralytics / YOLOv5 style)
    ``path:`` is optional. Without it the dataset root is the YAML's own folder; a relative
    ``path:`` is taken relative to the YAML's folder (YOLOv5 resolves it against its repository
    root and Ultralytics against its ``datasets_dir``; neither exists here, and the YAML's
    folder is what makes a dataset folder portable). ``train``/``val``/``test`` may be a folder
    (searched recursively), a ``.txt`` file listing images (relative lines are relative to the
    list file's folder), a single image, or a list of these. A ``../x`` entry that does not
    exist is retried as ``x`` under the root, as Ultralytics does. ``names`` is a list or a
    ``{index: name}`` dict (``nc`` alone gives ``class0``...). Labels: for ``.../images/.../a.jpg``
    the file ``.../labels/.../a.txt`` (the last ``images`` folder replaced by ``labels``), one
    object per line, ``class cx cy w h`` normalised to [0, 1]; a polygon line (``class x1 y1 x2
    y2 ...``) is reduced to its bounding box. A missing label file means an image without
    objects: counted and listed, not an error.

COCO
    An instances JSON (``images``, ``annotations``, ``categories``) and its image folder.
    Categories sorted by id become class indices 0..K-1; ``bbox`` is ``[x, y, w, h]`` in pixels;
    ``iscrowd`` and ``area`` are kept for the COCO evaluator.

Folder
    A folder of images without labels: the two models can only be compared with each other.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from ..media.sources import IMAGE_EXTENSIONS, list_images, natural_key

__all__ = ["DatasetError", "Sample", "Dataset", "open_dataset", "label_path_for", "SPLITS"]

SPLITS = ("train", "val", "test")
COORD_TOLERANCE = 1e-3   # normalised coordinates may overshoot [0, 1] by rounding this much


class DatasetError(ValueError):
    """A dataset that cannot be used as given; ``str(err)`` is one line naming the file."""


@dataclass
class Sample:
    """One image and its ground truth (empty arrays when it has no objects)."""

    path: Path
    image_id: int                     # 1-based, stable within the dataset
    classes: np.ndarray               # (N,) int64 class indices into Dataset.names
    boxes: np.ndarray                 # (N, 4) float64: normalised cx cy w h, or pixel xyxy (see normalized)
    normalized: bool = True           # YOLO labels are relative to the image size
    crowd: Optional[np.ndarray] = None   # (N,) bool, COCO iscrowd
    areas: Optional[np.ndarray] = None   # (N,) float64, COCO area (else the box area)
    label_path: Optional[Path] = None
    size_hw: Optional[tuple] = None   # (height, width) when the annotation file states it
    lines: Optional[np.ndarray] = None   # (N,) label-file line of each object (YOLO)

    @property
    def objects(self) -> int:
        return int(self.classes.shape[0]) - int(self.crowd.sum() if self.crowd is not None else 0)

    def gt_xyxy(self, h: int, w: int) -> np.ndarray:
        """Boxes as (N, 4) xyxy in pixels of an h x w image."""
        if not self.normalized:
            return self.boxes.copy()
        b = self.boxes
        out = np.empty_like(b)
        out[:, 0] = (b[:, 0] - b[:, 2] / 2) * w
        out[:, 1] = (b[:, 1] - b[:, 3] / 2) * h
        out[:, 2] = (b[:, 0] + b[:, 2] / 2) * w
        out[:, 3] = (b[:, 1] + b[:, 3] / 2) * h
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, w)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, h)
        return out

    def crowd_mask(self) -> np.ndarray:
        n = self.classes.shape[0]
        return self.crowd.astype(bool) if self.crowd is not None else np.zeros(n, bool)


@dataclass
class Dataset:
    """What :func:`open_dataset` found."""

    kind: str                         # "yolo", "coco" or "folder"
    source: Path                      # the data.yaml, the JSON, or the folder
    split: Optional[str]
    names: List[str]
    samples: List[Sample]
    has_labels: bool
    missing_labels: List[Path] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def objects(self) -> int:
        return sum(s.objects for s in self.samples)

    def describe(self) -> str:
        what = f"{len(self.samples)} images"
        if self.has_labels:
            what += f", {self.objects} objects, {len(self.names)} classes"
        split = f" [{self.split}]" if self.split else ""
        return f"{self.source}{split}: {self.kind}, {what}"

    def fingerprint(self) -> dict:
        """Enough to tell whether a cached result still belongs to this dataset."""
        stamp = []
        for s in self.samples:
            for p in (s.path, s.label_path):
                if p is not None:
                    try:
                        st = p.stat()
                        stamp.append((str(p), st.st_size, int(st.st_mtime)))
                    except OSError:
                        stamp.append((str(p), -1, -1))
        import hashlib

        h = hashlib.sha256(json.dumps([self.kind, str(self.source), self.split, self.names, stamp]).encode())
        return {"source": str(self.source), "split": self.split, "images": len(self), "sha256": h.hexdigest()}


# ------------------------------------------------------------------------------------- entry point
def open_dataset(spec: Union[str, Path], split: str = "val", images: Optional[Union[str, Path]] = None) -> Dataset:
    """Open a ``data.yaml``, a COCO instances ``.json`` (images in ``images`` or found next to it),
    or a plain image folder. Raises :class:`DatasetError` / ``FileNotFoundError`` (one line)."""
    path = Path(spec).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"--data {spec}: no such file or folder")
    if path.is_dir():
        ds = _open_folder(path)
    elif path.suffix.lower() in (".yaml", ".yml"):
        ds = _open_yolo(path, split)
    elif path.suffix.lower() == ".json":
        ds = _open_coco(path, images)
    else:
        raise DatasetError(f"--data {spec}: expected a data.yaml, a COCO instances .json or an image folder")
    if not ds.samples:
        where = f" (split {split!r})" if ds.kind == "yolo" else ""
        raise DatasetError(f"--data {spec}{where}: the dataset holds zero images")
    return ds


# ------------------------------------------------------------------------------------- folder
def _open_folder(folder: Path) -> Dataset:
    files = list_images(folder)
    samples = [Sample(p, i + 1, _no_classes(), _no_boxes()) for i, p in enumerate(files)]
    return Dataset("folder", folder, None, [], samples, has_labels=False,
                   notes=["a plain image folder has no labels: only the agreement of the two models is measured"])


def _no_classes() -> np.ndarray:
    return np.zeros(0, np.int64)


def _no_boxes() -> np.ndarray:
    return np.zeros((0, 4), np.float64)


# ------------------------------------------------------------------------------------- YOLO
def _read_yaml(path: Path) -> dict:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise DatasetError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: a data.yaml must be a mapping with train/val/names keys")
    return data


def _names_from(data: dict, path: Path) -> List[str]:
    names = data.get("names")
    nc = data.get("nc")
    if names is None:
        if isinstance(nc, int) and nc > 0:
            return [f"class{i}" for i in range(nc)]
        raise DatasetError(f"{path}: no 'names' (and no 'nc')")
    if isinstance(names, dict):
        try:
            keyed = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            raise DatasetError(f"{path}: 'names' keys must be class indices 0, 1, ...") from None
        if sorted(keyed) != list(range(len(keyed))):
            raise DatasetError(f"{path}: 'names' keys must be 0..{len(keyed) - 1} without gaps, "
                               f"got {sorted(keyed)[:10]}")
        out = [keyed[i] for i in range(len(keyed))]
    elif isinstance(names, (list, tuple)):
        out = [str(n) for n in names]
    else:
        raise DatasetError(f"{path}: 'names' must be a list or a dict, got {type(names).__name__}")
    if isinstance(nc, int) and nc != len(out):
        raise DatasetError(f"{path}: nc is {nc} but 'names' lists {len(out)} classes")
    if not out:
        raise DatasetError(f"{path}: 'names' is empty")
    return out


def _dataset_root(data: dict, path: Path) -> Path:
    root = data.get("path")
    if root in (None, ""):
        return path.parent.resolve()
    root = Path(str(root)).expanduser()
    if not root.is_absolute():
        root = path.parent / root
    return root.resolve()


def _resolve_entry(root: Path, entry: str) -> Path:
    p = Path(entry).expanduser()
    if p.is_absolute():
        return p
    full = (root / p).resolve()
    if not full.exists() and entry.startswith("../"):
        alt = (root / entry[3:]).resolve()
        if alt.exists():
            return alt
    return full


def _natural(p: Path):
    return natural_key(str(p))


def _images_of(entry_path: Path, yaml_path: Path, key: str) -> List[Path]:
    if entry_path.is_dir():
        files = [p for p in entry_path.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
        return sorted(files, key=_natural)
    if not entry_path.exists():
        raise FileNotFoundError(f"{yaml_path}: {key}: {entry_path} does not exist")
    if entry_path.suffix.lower() in IMAGE_EXTENSIONS:
        return [entry_path]
    if entry_path.suffix.lower() == ".txt":
        out = []
        try:
            lines = entry_path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise DatasetError(f"{entry_path}: cannot read the image list ({exc})") from None
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            p = Path(line).expanduser()
            if not p.is_absolute():
                p = (entry_path.parent / p).resolve()
            out.append(p)
        return out
    raise DatasetError(f"{yaml_path}: {key}: {entry_path} is not a folder, an image or a .txt list of images")


def label_path_for(image: Path) -> Path:
    """``.../images/x/a.jpg`` -> ``.../labels/x/a.txt`` (the last ``images`` part replaced)."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")


def _parse_labels(path: Path, names: Sequence[str]) -> tuple:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the label file ({exc})") from None
    classes, boxes, numbers = [], [], []
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5 and (len(parts) < 7 or len(parts) % 2 == 0):
            raise DatasetError(f"{path} line {n}: expected 'class cx cy w h' (5 numbers) or a polygon "
                               f"'class x1 y1 x2 y2 x3 y3 ...', got {len(parts)} fields: {line.strip()[:60]!r}")
        try:
            values = [float(v) for v in parts]
        except ValueError:
            raise DatasetError(f"{path} line {n}: not a number in {line.strip()[:60]!r}") from None
        if not all(math.isfinite(v) for v in values):
            raise DatasetError(f"{path} line {n}: non-finite value in {line.strip()[:60]!r}")
        c = values[0]
        if c != int(c) or c < 0:
            raise DatasetError(f"{path} line {n}: class id must be a non-negative integer, got {parts[0]!r}")
        c = int(c)
        if c >= len(names):
            raise DatasetError(f"{path} line {n}: class id {c} is outside the dataset's {len(names)} names "
                               f"(0..{len(names) - 1})")
        coords = np.asarray(values[1:], np.float64)
        if (coords < -COORD_TOLERANCE).any() or (coords > 1 + COORD_TOLERANCE).any():
            raise DatasetError(f"{path} line {n}: coordinates must be normalised to [0, 1], got "
                               f"{line.strip()[:60]!r}")
        coords = coords.clip(0, 1)
        if len(parts) == 5:
            box = coords
        else:
            xs, ys = coords[0::2], coords[1::2]
            box = np.array([(xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2, xs.max() - xs.min(),
                            ys.max() - ys.min()])
        classes.append(c)
        boxes.append(box)
        numbers.append(n)
    if not classes:
        return _no_classes(), _no_boxes(), np.zeros(0, np.int64)
    return np.asarray(classes, np.int64), np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(numbers)


def _open_yolo(path: Path, split: str) -> Dataset:
    data = _read_yaml(path)
    names = _names_from(data, path)
    if split not in data or data.get(split) in (None, "", []):
        have = [k for k in SPLITS if data.get(k)]
        raise DatasetError(f"{path}: no '{split}' split (it has: {', '.join(have) or 'none'})")
    root = _dataset_root(data, path)
    entries = data[split]
    entries = entries if isinstance(entries, (list, tuple)) else [entries]
    files: List[Path] = []
    for e in entries:
        files += _images_of(_resolve_entry(root, str(e)), path, split)
    seen, unique = set(), []
    for f in files:
        if f not in seen:
            seen.add(f)
            unique.append(f)
    samples, missing = [], []
    for i, img in enumerate(unique):
        lp = label_path_for(img)
        if lp.is_file():
            cls, box, numbers = _parse_labels(lp, names)
        else:
            missing.append(lp)
            cls, box, numbers = _no_classes(), _no_boxes(), None
            lp = None
        samples.append(Sample(img, i + 1, cls, box, True, label_path=lp, lines=numbers))
    notes = []
    if missing:
        notes.append(f"{len(missing)} image(s) have no label file: counted as images without objects")
    return Dataset("yolo", path.resolve(), split, names, samples, has_labels=True, missing_labels=missing,
                   notes=notes)


# ------------------------------------------------------------------------------------- COCO
def _coco_image_dir(json_path: Path, images: Optional[Union[str, Path]], first: Optional[str]) -> Path:
    if images is not None:
        d = Path(images).expanduser()
        if not d.is_dir():
            raise FileNotFoundError(f"--images {images}: no such folder")
        return d
    stem = json_path.stem
    guesses = [json_path.parent, json_path.parent / "images"]
    if stem.startswith("instances_"):
        guesses += [json_path.parent.parent / stem[len("instances_"):],
                    json_path.parent.parent / "images" / stem[len("instances_"):]]
    guesses += [json_path.parent.parent / "images", json_path.parent.parent]
    for g in guesses:
        if first is None or (g / first).is_file():
            return g
    raise DatasetError(f"{json_path}: cannot find its images (looked for {first} in "
                       f"{', '.join(str(g) for g in guesses[:4])}); give the folder with --images")


def _open_coco(path: Path, images: Optional[Union[str, Path]]) -> Dataset:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path} line {exc.lineno}: not valid JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from None
    if not isinstance(data, dict) or not all(k in data for k in ("images", "annotations", "categories")):
        raise DatasetError(f"{path}: a COCO instances file needs 'images', 'annotations' and 'categories'")
    try:
        cats = sorted(data["categories"], key=lambda c: int(c["id"]))
        cat_index = {int(c["id"]): i for i, c in enumerate(cats)}
        names = [str(c["name"]) for c in cats]
    except (KeyError, TypeError, ValueError):
        raise DatasetError(f"{path}: every category needs an integer 'id' and a 'name'") from None
    imgs = data["images"]
    first = imgs[0].get("file_name") if imgs and isinstance(imgs[0], dict) else None
    folder = _coco_image_dir(path, images, first)
    per_image: Dict[int, list] = {}
    for n, a in enumerate(data["annotations"]):
        try:
            img_id = int(a["image_id"])
            cat = int(a["category_id"])
            x, y, w, h = (float(v) for v in a["bbox"])
        except (KeyError, TypeError, ValueError):
            raise DatasetError(f"{path}: annotation #{n} needs image_id, category_id and a 4-number bbox") from None
        if cat not in cat_index:
            raise DatasetError(f"{path}: annotation #{n} (id {a.get('id')}) has category_id {cat}, which is not "
                               f"among the file's categories ({sorted(cat_index)[:10]}...)")
        if not all(math.isfinite(v) for v in (x, y, w, h)) or w < 0 or h < 0:
            raise DatasetError(f"{path}: annotation #{n} (id {a.get('id')}) has a bad bbox {a['bbox']}")
        area = float(a.get("area", w * h))
        per_image.setdefault(img_id, []).append((cat_index[cat], x, y, x + w, y + h, bool(a.get("iscrowd", 0)), area))
    samples = []
    order = sorted(imgs, key=lambda im: _natural(Path(str(im.get("file_name", "")))))
    for i, im in enumerate(order):
        try:
            img_id, fname = int(im["id"]), str(im["file_name"])
        except (KeyError, TypeError, ValueError):
            raise DatasetError(f"{path}: every image needs an integer 'id' and a 'file_name'") from None
        rows = per_image.get(img_id, [])
        cls = np.asarray([r[0] for r in rows], np.int64)
        box = np.asarray([r[1:5] for r in rows], np.float64).reshape(-1, 4)
        crowd = np.asarray([r[5] for r in rows], bool)
        area = np.asarray([r[6] for r in rows], np.float64)
        hw = (int(im["height"]), int(im["width"])) if "height" in im and "width" in im else None
        samples.append(Sample(folder / fname, i + 1, cls, box, False, crowd, area, label_path=None, size_hw=hw))
    return Dataset("coco", path.resolve(), None, names, samples, has_labels=True)
