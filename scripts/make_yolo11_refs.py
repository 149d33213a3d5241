"""Make the small YOLO11 reference checkpoints and Ultralytics' own outputs for them.

    PYTHONPATH=$PWD python scripts/make_yolo11_refs.py [--epochs 12] [--workdir /tmp/y11refs]

Everything here runs the real Ultralytics code (the installed package): the models are
built by its ``parse_model``, trained by its trainer for a few epochs on a small synthetic
shapes set (gam_viewer.data.synth), and saved and stripped by the trainer itself, so the
files are exactly what a user's YOLO11 run leaves behind. Three reduced-width models:

* ``yolo11-tiny.pt``           YOLO11 without GAM (scale letter ``n``)
* ``yolo11-tiny-gam-full.pt``  GAM (paper form, gam-viewer's block, registered the way
                               ``gam-viewer train`` does) after SPPF and after each head C3k2;
                               scale letter ``m``, so Ultralytics turns on C3k in every C3k2
* ``yolo11-tiny-gam-fork.pt``  how a YOLO fork adds GAM: a community ``GAM_Attention`` class
                               (linear channel MLP without sigmoid, ungrouped, no shuffle)
                               pasted into ``ultralytics.nn.modules.block``, unknown to
                               ``parse_model`` (so its YAML arguments are literal channel
                               counts), after the P4 and P5 head C3k2s and after C2PSA;
                               trained with Ultralytics' plain DetectionTrainer

For every file it records, in ``tests/data/yolo11_refs.json``, what ``YOLO(file).predict``
returns on ``resources/samples/*.jpg`` in both letterbox modes (``rect=True``: minimal
padding, the default; ``rect=False``: a square input), and the decoded output of
``model(x)`` on a seeded random input. Nothing is written outside ``--workdir`` except
the three files and the JSON in ``tests/data/`` (an existing file is overwritten only with
``--force``; ``--out DIR`` writes them elsewhere).
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "tests" / "data"
SAMPLES = ROOT / "resources" / "samples"
CONFIGS = ROOT / "gam_viewer" / "models" / "configs"

# reduced width: channels 8..48 (width 1/8, capped at 384 * 1/8); depth as YOLO11n/m
TINY_SCALE = [0.50, 0.125, 384]
NAMES = ["circle", "square", "triangle", "star", "ring", "cross"]
PREDICT = {"imgsz": 320, "conf": 0.05, "iou": 0.45}
LOWER_CONFS = (0.02, 0.01, 0.005, 0.002, 0.001)  # tried in turn until the samples give >= 3 boxes each
RANDOM_INPUT = {"seed": 0, "shape": [1, 3, 160, 224]}


# --------------------------------------------------------------------------- fork-style GAM
def _community_gam_class():
    """A GAM_Attention as the YOLO forks' first port lays it out (written for this script).

    State: ``channel_attention`` = Linear(c, c/r), ReLU, Linear(c/r, c) applied per position
    (no sigmoid on the channel map); ``spatial_attention`` = 7x7 conv c -> c/r, BN, ReLU,
    7x7 conv c/r -> c2, BN, then a sigmoid. Output ``x * channel_map``, then times the spatial gate.
    """
    import torch
    from torch import nn

    class GAM_Attention(nn.Module):  # noqa: N801 - the name forks pickle
        def __init__(self, c1, c2, rate=4):
            super().__init__()
            mid = int(c1 / rate)
            self.channel_attention = nn.Sequential(nn.Linear(c1, mid), nn.ReLU(inplace=True), nn.Linear(mid, c1))
            self.spatial_attention = nn.Sequential(
                nn.Conv2d(c1, mid, kernel_size=7, padding=3), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
                nn.Conv2d(mid, c2, kernel_size=7, padding=3), nn.BatchNorm2d(c2))

        def forward(self, x):
            channel_map = self.channel_attention(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            x = x * channel_map
            return x * torch.sigmoid(self.spatial_attention(x))

    GAM_Attention.__module__ = "ultralytics.nn.modules.block"
    GAM_Attention.__qualname__ = "GAM_Attention"
    return GAM_Attention


def _install_fork_class():
    """Put GAM_Attention where a fork has it: in ultralytics.nn.modules.block, and in the
    namespace parse_model resolves names in."""
    from ultralytics.nn import tasks
    from ultralytics.nn.modules import block

    cls = _community_gam_class()
    block.GAM_Attention = cls
    tasks.GAM_Attention = cls
    return cls


# --------------------------------------------------------------------------- model YAMLs
def _yaml(base: str, scale: str) -> dict:
    import yaml

    cfg = yaml.safe_load((CONFIGS / f"{base}.yaml").read_text())
    cfg["nc"] = len(NAMES)
    cfg["scales"] = {scale: list(TINY_SCALE)}
    cfg["scale"] = scale
    return cfg


def _fork_yaml() -> dict:
    """yolo11 (tiny) with GAM_Attention rows carrying literal channel counts, as a fork's YAML does."""
    from gam_viewer.models.insert import insert_after

    cfg = _yaml("yolo11", "n")
    # after C2PSA (10) and after the P4 (19) and P5 (22) head C3k2s; channels at this width
    new, _ = insert_after(cfg, [10, 19, 22], row_args=[], module="GAM_Attention")
    rows = new["backbone"] + new["head"]
    widths = {11: 48, 21: 48, 25: 48}  # C2PSA 1024, C3k2 512, C3k2 1024: all 384 / 8 at this width
    for i, c in widths.items():
        assert rows[i][2] == "GAM_Attention", (i, rows[i])
        rows[i][3] = [c, c]
    return new


# --------------------------------------------------------------------------- training
def _write_yaml(cfg: dict, path: Path) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _train_with_gam_viewer(model_yaml: Path, data: Path, project: Path, name: str, epochs: int, imgsz: int,
                           hw: dict) -> Path:
    """``gam-viewer train`` (GAM registered by gam_viewer.train); returns Ultralytics' best.pt."""
    from gam_viewer.train.cli import run

    argv = [f"model={model_yaml}", f"data={data}", f"project={project}", f"name={name}", f"epochs={epochs}",
            f"imgsz={imgsz}", f"batch={hw['batch']}", f"workers={hw['workers']}", f"device={hw['device']}",
            "seed=0", "deterministic=True", "plots=False", "val=True", "amp=False",
            f"out={project / (name + '.safetensors')}"]
    code = run(argv)
    if code:
        raise SystemExit(f"gam-viewer train failed for {name} (exit {code})")
    best = project / name / "weights" / "best.pt"
    return best if best.is_file() else project / name / "weights" / "last.pt"


def _train_plain_ultralytics(model_yaml: Path, data: Path, project: Path, name: str, epochs: int,
                             imgsz: int, hw: dict) -> Path:
    """Ultralytics' own DetectionTrainer, GAM registration switched off (the fork case)."""
    from ultralytics.models.yolo.detect import DetectionTrainer

    from gam_viewer.train.register import unregister

    unregister()
    _install_fork_class()
    trainer = DetectionTrainer(overrides={
        "model": str(model_yaml), "data": str(data), "project": str(project), "name": name, "epochs": epochs,
        "imgsz": imgsz, "batch": hw["batch"], "workers": hw["workers"], "device": hw["device"], "seed": 0,
        "deterministic": True, "plots": False, "amp": False, "pretrained": False})
    trainer.train()
    best = Path(trainer.best)
    return best if best.is_file() else Path(trainer.last)


# --------------------------------------------------------------------------- references
def _predict_refs(path: Path) -> dict:
    import cv2
    import torch
    from ultralytics import YOLO

    yolo = YOLO(str(path))
    pictures = sorted(SAMPLES.glob("*.jpg"))
    images = {p.name: cv2.imread(str(p)) for p in pictures}
    args = dict(PREDICT)
    for conf in (PREDICT["conf"], *LOWER_CONFS):  # a briefly trained model: find a conf that shows boxes
        args["conf"] = conf
        found = [len(yolo.predict(img, verbose=False, device="cpu", **args)[0].boxes) for img in images.values()]
        if min(found) >= 3:
            break
    out = {"predict": {}, "args": args}
    for picture in pictures:
        img = images[picture.name]
        per_mode = {}
        for mode, rect in (("auto", True), ("square", False)):
            r = yolo.predict(img, rect=rect, verbose=False, device="cpu", **args)[0]  # CPU float32: no TF32
            per_mode[mode] = {
                "boxes": [[round(float(v), 3) for v in b] for b in r.boxes.xyxy.tolist()],
                "scores": [round(float(s), 6) for s in r.boxes.conf.tolist()],
                "classes": [int(c) for c in r.boxes.cls.tolist()],
                "input_shape": list(r.orig_shape),
            }
        out["predict"][picture.name] = per_mode
    model = yolo.model.float().eval()
    g = torch.Generator().manual_seed(RANDOM_INPUT["seed"])
    x = torch.rand(*RANDOM_INPUT["shape"], generator=g)
    with torch.no_grad():
        y = model(x)
    y = y[0] if isinstance(y, (list, tuple)) else y
    out["random_input"] = dict(RANDOM_INPUT)
    out["random_output_shape"] = list(y.shape)
    # every 7th anchor column (boxes in pixels, class scores): enough to pin the decode
    out["random_output_every7"] = [[round(float(v), 4) for v in row] for row in y[0, :, ::7].tolist()]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--imgsz", type=int, default=192)
    ap.add_argument("--n", type=int, default=160, help="synthetic training images")
    ap.add_argument("--workdir", default=None, help="runs and data set (default: a temporary folder)")
    ap.add_argument("--only", default=None, help="comma-separated subset: tiny,gam-full,gam-fork")
    ap.add_argument("--force", action="store_true", help="overwrite existing files in tests/data")
    ap.add_argument("--out", default=None, help="where the files go (default tests/data)")
    ap.add_argument("--device", default="cpu", help="training device (references are always computed on the CPU)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--workers", type=int, default=0)
    args = ap.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="y11refs-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(work / "ultralytics-config"))
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    import torch

    hw = {"device": args.device, "batch": args.batch, "workers": args.workers}
    from gam_viewer.data.synth import generate_dataset

    data = work / "synth" / "data.yaml"
    if not data.is_file():
        data = generate_dataset(work / "synth", n=args.n, imgsz=args.imgsz, seed=11, val_fraction=0.2)

    wanted = set((args.only or "tiny,gam-full,gam-fork").split(","))
    jobs = []
    if "tiny" in wanted:
        jobs.append(("yolo11-tiny", _write_yaml(_yaml("yolo11", "n"), work / "yolo11-tiny.yaml"), "gam-viewer"))
    if "gam-full" in wanted:
        jobs.append(("yolo11-tiny-gam-full",
                     _write_yaml(_yaml("yolo11-gam-full", "m"), work / "yolo11-tiny-gam-full.yaml"), "gam-viewer"))
    if "gam-fork" in wanted:
        jobs.append(("yolo11-tiny-gam-fork", _write_yaml(_fork_yaml(), work / "yolo11-tiny-gam-fork.yaml"), "fork"))

    out_dir = Path(args.out).resolve() if args.out else DATA
    out_dir.mkdir(parents=True, exist_ok=True)
    ref_path = out_dir / "yolo11_refs.json"
    refs = json.loads(ref_path.read_text()) if ref_path.is_file() else {}
    import ultralytics

    for name, model_yaml, how in jobs:
        target = out_dir / f"{name}.pt"
        if target.exists() and not args.force:
            raise SystemExit(f"{target} exists (use --force to replace it)")
        if how == "fork":
            best = _train_plain_ultralytics(model_yaml, data, work / "runs", name, args.epochs, args.imgsz, hw)
        else:
            best = _train_with_gam_viewer(model_yaml, data, work / "runs", name, args.epochs, args.imgsz, hw)
        shutil.copyfile(best, target)
        size = target.stat().st_size
        if size > 2_000_000:
            raise SystemExit(f"{target} is {size} bytes: over the 2 MB limit for tests/data")
        entry = _predict_refs(target)
        entry.update({
            "file": target.name, "bytes": size, "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
            "made_with": f"ultralytics {ultralytics.__version__}, torch {torch.__version__}",
            "trainer": "gam-viewer train (GAM registered)" if how != "fork" else "ultralytics DetectionTrainer",
            "epochs": args.epochs, "train_imgsz": args.imgsz, "train_images": args.n, "train_device": args.device,
            "yaml": __import__("yaml").safe_load(model_yaml.read_text()),
        })
        refs[name] = entry
        n_det = sum(len(v["auto"]["boxes"]) for v in entry["predict"].values())
        print(f"{name}: {size} bytes, {n_det} detections on the samples (rect=True)")
        ref_path.write_text(json.dumps(refs, indent=1) + "\n")
        if how == "fork":
            from gam_viewer.train.register import register

            register()
    print(f"wrote {ref_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
