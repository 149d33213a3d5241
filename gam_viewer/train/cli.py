"""``gam-viewer train``: train a (GAM-)YOLO detector with the Ultralytics trainer.

    gam-viewer train model=yolov5nu-gam-full data=shapes/data.yaml epochs=30 imgsz=320
    gam-viewer train model=yolov5nu-gam-full data=coco128.yaml weights=yolov5n.pt epochs=10
    gam-viewer train model=my-gam.yaml data=d.yaml project=runs name=exp1 batch=16 device=0,1

Arguments are ``key=value`` like Ultralytics' own CLI. gam-viewer's keys:

  model=    a model YAML (Ultralytics schema; ``GAM``, ``GAM_Attention``, ``GAMAttention`` rows
            work) or a shipped name (``gam-viewer info`` lists them: yolov5nu-gam-full,
            yolov8s-gam-head, ...); required
  data=     an Ultralytics/YOLO dataset YAML; required (``gam-viewer data synth`` makes one)
  weights=  a baseline checkpoint to start from (YOLOv5 repo, Ultralytics or gam-viewer file,
            read safely: no code in it runs); every matching tensor is copied, layers
            renumbered around inserted GAM blocks, and a report says what was not and why
  project=  folder for runs (default ./runs/gam-viewer); Ultralytics' settings, fonts and
            multi-GPU launch files go to <project>/.ultralytics unless YOLO_CONFIG_DIR is set
  out=      where to write the result in gam-viewer's safe format (default
            <run>/weights/best.safetensors); an existing file is never overwritten
  out_dtype= float16 (default) or float32 for that file

Every other key is passed to the Ultralytics trainer (epochs, imgsz, batch, device, seed,
workers, lr0, ..., see its documentation). Not accepted: ``resume`` and ``pretrained=<file>``
(Ultralytics would unpickle the file, running any code in it: use ``weights=``), and a
``.pt`` as ``model`` (give its YAML or a shipped name, and the file as ``weights``).

Nothing is downloaded: the run is offline (``YOLO_OFFLINE=1``, ``YOLO_AUTOINSTALL=false``,
a bundled font stands in for Arial, and the CUDA AMP self-test uses the model being trained
instead of downloading one).
"""

import difflib
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml as yaml_lib

from . import env

# Fail at import (which ``gam-viewer train`` reports as "the train extra is missing") rather
# than mid-run; Ultralytics itself is imported only after the environment is prepared.
if importlib.util.find_spec("ultralytics") is None:
    raise ImportError("No module named 'ultralytics'")

__all__ = ["run", "parse_args", "resolve_model", "OWN_KEYS"]

OWN_KEYS = ("model", "data", "weights", "project", "out", "out_dtype")
_REFUSED = {
    "resume": "resume=... is not supported: Ultralytics resumes by unpickling the checkpoint (running its code); "
              "start a new run with weights=<last.pt> instead",
    "mode": "mode is always 'train' here",
    "task": "task is always 'detect' here",
}
DEFAULT_PROJECT = Path("runs") / "gam-viewer"


def _usage() -> str:
    return __doc__.split("\n\n", 1)[1]


def _value(text: str) -> Any:
    """A key=value value as Ultralytics' CLI reads it: YAML scalars (3, 0.5, true, none)."""
    if text.lower() == "none":
        return None
    try:
        v = yaml_lib.safe_load(text)
    except yaml_lib.YAMLError:
        return text
    return v if isinstance(v, (int, float, bool, list)) or v is None else text


def parse_args(argv: List[str]) -> Dict[str, Any]:
    """``['epochs=3', 'model=x']`` -> ``{'epochs': 3, 'model': 'x'}``; ValueError naming a bad item."""
    out: Dict[str, Any] = {}
    for item in argv:
        if "=" not in item or item.startswith("="):
            raise ValueError(f"train: expected key=value, got {item!r} (see gam-viewer train --help)")
        key, text = item.split("=", 1)
        key = key.strip().lstrip("-").replace("-", "_")
        if key in out:
            raise ValueError(f"train: {key} is given twice")
        out[key] = text if key in ("model", "data", "weights", "project", "out", "name") else _value(text)
    return out


def resolve_model(model: str) -> Tuple[Path, Optional[str]]:
    """(YAML path, scale or None) for ``model=``: an existing YAML file or a shipped name."""
    from ..models import configs

    p = Path(model).expanduser()
    scale = None
    if p.is_file():
        if p.suffix.lower() not in (".yaml", ".yml"):
            raise ValueError(f"model={model}: give a model YAML or a shipped name; to start from a checkpoint, "
                             f"pass its architecture as model= and the file as weights={model}")
        path = p.resolve()
    elif p.suffix.lower() in (".yaml", ".yml", ".pt", ".pth", ".safetensors") or "/" in model or "\\" in model:
        raise FileNotFoundError(f"model={model}: no such file")
    else:
        path, scale = configs.find_with_scale(model)
        if path is None:
            close = difflib.get_close_matches(model, configs.names(), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else " (gam-viewer info lists the shipped models)"
            raise ValueError(f"model={model}: not a file and not a shipped model name{hint}")
    try:
        cfg = yaml_lib.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml_lib.YAMLError) as exc:
        raise ValueError(f"model={model}: not a readable YAML file ({str(exc).splitlines()[0]})") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("backbone"), list) or not isinstance(cfg.get("head"), list):
        raise ValueError(f"model={model}: not a YOLO model YAML (needs 'backbone' and 'head' lists)")
    if "anchors" in cfg:
        raise ValueError(f"model={model}: a YOLOv5-repo model (anchor-based head), which the Ultralytics trainer "
                         "cannot train; use the Ultralytics form of the same backbone and neck "
                         "(yolov5nu, yolov5nu-gam-full, yolov5su-gam-head, ...)")
    return path, scale


def _check_keys(args: Dict[str, Any]) -> None:
    from ultralytics.cfg import DEFAULT_CFG_DICT

    for key in args:
        if key in _REFUSED:
            raise ValueError(f"train: {_REFUSED[key]}")
        if key in OWN_KEYS or key in DEFAULT_CFG_DICT:
            continue
        close = difflib.get_close_matches(key, list(DEFAULT_CFG_DICT) + list(OWN_KEYS), n=1)
        raise ValueError(f"train: unknown argument {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    pre = args.get("pretrained")
    if pre not in (None, True, False):
        raise ValueError("train: pretrained=<file> would make Ultralytics unpickle that file (running its code); "
                         "use weights=<file>, which gam-viewer reads safely")


def _default_out(save_dir: Path) -> Path:
    return save_dir / "weights" / "best.safetensors"


def run(argv: List[str]) -> int:
    """Entry point of ``gam-viewer train``; returns the exit status."""
    if any(a in ("-h", "--help", "help") for a in argv):
        print("usage: gam-viewer train model=<yaml|name> data=<data.yaml> [weights=<.pt>] [key=value ...]\n")
        print(_usage())
        return 0
    args = parse_args(argv)
    for key in ("model", "data"):
        if not args.get(key):
            raise ValueError(f"train: {key}=... is required (see gam-viewer train --help)")
    model_yaml, scale = resolve_model(str(args.pop("model")))
    data = Path(str(args["data"])).expanduser()
    if not data.is_file():
        raise FileNotFoundError(f"data={args['data']}: no such file (a dataset YAML; gam-viewer data synth makes one)")
    if data.suffix.lower() not in (".yaml", ".yml"):
        raise ValueError(f"data={args['data']}: give a dataset YAML (train:, val:, names:)")
    args["data"] = str(data.resolve())
    weights = args.pop("weights", None)
    baseline = None
    if weights is not None:
        weights = Path(str(weights)).expanduser()
        if not weights.is_file():
            raise FileNotFoundError(f"weights={weights}: no such file")
        from ..models import read_model

        baseline = read_model(str(weights))  # read safely, and now: a bad file fails before any run starts
    project = Path(str(args.pop("project", DEFAULT_PROJECT))).expanduser().resolve()
    out = args.pop("out", None)
    out_dtype = str(args.pop("out_dtype", "float16"))
    if out_dtype not in ("float16", "float32"):
        raise ValueError(f"train: out_dtype must be float16 or float32, got {out_dtype!r}")
    if out is not None:
        out = Path(str(out)).expanduser()
        if out.suffix != ".safetensors":
            out = out.with_name(out.name + ".safetensors")
        if out.exists():
            raise FileExistsError(f"out={out}: exists; refusing to overwrite it (choose another name)")

    env.prepare(project, font=False)  # before Ultralytics is imported
    _check_keys(args)
    env.install_font()
    from ultralytics.cfg import get_cfg

    from .trainer import GamDetectionTrainer, check_data

    stem = model_yaml.stem if scale is None else _scaled_stem(model_yaml.stem, scale)
    overrides = {"model": str(model_yaml), "project": str(project), "name": args.pop("name", stem),
                 "pretrained": False, **args}
    try:
        get_cfg(overrides=overrides)  # Ultralytics' own type checks, before any run folder exists
        check_data(args["data"], split=str(args.get("split") or ""))
    except (SyntaxError, TypeError, ValueError, RuntimeError, FileNotFoundError) as exc:
        raise ValueError(f"train: {_first_line(exc)}") from None
    try:
        trainer = GamDetectionTrainer(overrides=overrides)
    except (SyntaxError, TypeError, ValueError, RuntimeError, FileNotFoundError) as exc:
        # Ultralytics' argument and dataset checks; its seeding may have switched torch's
        # deterministic mode on for the run that now does not happen
        from ultralytics.utils.torch_utils import unset_deterministic

        unset_deterministic()
        raise ValueError(f"train: {_first_line(exc)}") from None
    trainer.model_scale = scale
    model, report = trainer.build_model(weights=baseline)
    save_dir = Path(trainer.save_dir)
    if report is not None:
        print(report.describe())
        (save_dir / "transfer.json").write_text(json.dumps(report.as_dict(), indent=1), encoding="utf-8")
    t0 = time.time()
    trainer.train()
    elapsed = time.time() - t0
    best = Path(trainer.best)
    if not best.is_file():
        best = Path(trainer.last)
    if not best.is_file():
        raise RuntimeError(f"training finished without a checkpoint in {trainer.wdir}")
    extra = {"trained_with": "gam-viewer train", "argv": list(argv), "metrics": _metrics(trainer, best),
             "seconds": round(elapsed, 1), "transfer": report.as_dict() if report else None}
    try:
        written = export_native(best, out or _default_out(save_dir), half=out_dtype == "float16", extra=extra)
    except FileExistsError:  # out= appeared during training: keep that file, write next to the run
        written = export_native(best, _default_out(save_dir), half=out_dtype == "float16", extra=extra)
        print(f"gam-viewer: {out} appeared while training; left it alone and wrote {written} instead")
    print(f"gam-viewer: trained {stem} in {elapsed / 60:.1f} min; Ultralytics checkpoint {best}")
    print(f"gam-viewer: wrote {written} (open it with: gam-viewer --model {written})")
    return 0


def export_native(checkpoint: Path, out: Path, *, half: bool = True, extra: Optional[dict] = None) -> Path:
    """Read an Ultralytics checkpoint safely and write it in gam-viewer's format."""
    from ..models import read_model
    from ..models.native import save_native

    loaded = read_model(str(checkpoint))
    return save_native(loaded, out, half=half, overwrite=False, extra=extra)


def _metrics(trainer, best: Path) -> Dict[str, float]:
    """Final validation metrics: the trainer's, or (after a multi-GPU run, whose workers
    validated) those stored in the checkpoint, read safely."""
    m = getattr(trainer, "metrics", None) or {}
    if not m:
        from ..models.safe_pickle import load_checkpoint_dict

        try:
            ckpt = load_checkpoint_dict(best)
            m = ckpt.get("train_metrics") or {} if isinstance(ckpt, dict) else {}
        except Exception:  # noqa: BLE001 - metrics are informative only
            m = {}
    out = {}
    for k, v in dict(m).items():
        try:
            out[k] = round(float(v), 5)
        except (TypeError, ValueError):
            pass
    return out


def _scaled_stem(stem: str, scale: str) -> str:
    if stem.startswith("yolov5u"):
        return stem.replace("yolov5u", f"yolov5{scale}u", 1)
    if stem.startswith("yolov8"):
        return stem.replace("yolov8", f"yolov8{scale}", 1)
    if stem.startswith("yolo11"):
        return stem.replace("yolo11", f"yolo11{scale}", 1)
    return f"{stem}-{scale}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


if __name__ == "__main__":  # python -m gam_viewer.train.cli ...
    sys.exit(run(sys.argv[1:]))
