"""The Ultralytics detection trainer, with GAM registered and gam-viewer's model names understood.

:class:`GamDetectionTrainer` *is* Ultralytics' ``DetectionTrainer``: data loading,
augmentation, loss, optimiser, EMA, validation, checkpoints and multi-GPU (DDP) are all
Ultralytics'. What this subclass adds:

* importing this module registers GAM with Ultralytics' model parser
  (:mod:`gam_viewer.train.register`). Ultralytics' multi-GPU launcher writes a script that
  unpickles the trainer *class* in every worker process, which imports this module, so the
  workers can build GAM rows too;
* :meth:`get_model` applies the model scale chosen by a shipped name (``yolov5nu-gam-full``
  -> the ``yolov5u-gam-full.yaml`` file at scale ``n``), which Ultralytics would otherwise
  guess from the file name;
* :meth:`build_model` builds the model up front and can start it from a baseline checkpoint
  read by gam-viewer's safe reader (:mod:`gam_viewer.train.transfer`), never by unpickling
  code. The built module is what the trainer trains, and what a multi-GPU launch hands to
  its workers;
* nothing is downloaded: a data YAML's ``download:`` step is never run (:func:`check_data`),
  and the CUDA mixed-precision check compares the model being trained in float32 and float16
  (:func:`amp_self_check`) instead of downloading a reference model.
"""

import os
import sys
from pathlib import Path
from typing import Optional, Tuple

import torch
import yaml as yaml_lib

if "ultralytics" not in sys.modules:  # Ultralytics reads these once, at import
    from .env import OFFLINE_ENV

    for _k, _v in OFFLINE_ENV.items():
        os.environ.setdefault(_k, _v)

from ultralytics.models.yolo.detect import DetectionTrainer  # noqa: E402
from ultralytics.nn.tasks import DetectionModel  # noqa: E402
from ultralytics.utils import RANK  # noqa: E402

from .register import register  # noqa: E402
from .transfer import TransferReport, transfer_weights  # noqa: E402

register()


def amp_self_check(model) -> bool:
    """Whether mixed precision is safe for ``model``, without downloading anything.

    Ultralytics' own check downloads a reference model (yolo26n.pt) to compare full and mixed
    precision predictions. This one compares the outputs of the model being trained, on a
    fixed random input, in float32 and under autocast: a device whose half-precision kernels
    are broken gives non-finite or far-off outputs. CPU and MPS never use AMP.
    """
    import copy

    device = next(model.parameters()).device
    if device.type != "cuda":
        return False
    probe = copy.deepcopy(model).eval()  # eval: the batch statistics of the real model stay untouched
    gen = torch.Generator(device="cpu").manual_seed(0)
    x = torch.rand(2, 3, 256, 256, generator=gen).to(device)

    def flat(out):
        if isinstance(out, torch.Tensor):
            return [out.float().flatten()]
        if isinstance(out, (list, tuple)):
            return [t for o in out for t in flat(o)]
        if isinstance(out, dict):
            return [t for o in out.values() for t in flat(o)]
        return []

    with torch.no_grad():
        a = torch.cat(flat(probe(x)))
        with torch.autocast(device_type="cuda", dtype=torch.float16):
            b = torch.cat(flat(probe(x)))
    del probe
    ok = bool(torch.isfinite(b).all()) and float((a - b).abs().max()) <= 0.05 * float(a.abs().max()) + 1e-3
    from ultralytics.utils import LOGGER

    LOGGER.info(f"AMP: gam-viewer self-check {'passed' if ok else 'failed, training in float32'} "
                "(compares this model in float32 and float16; nothing downloaded)")
    return ok


def _install_amp_self_check() -> None:
    """Point the trainer module's ``check_amp`` at :func:`amp_self_check` (no download)."""
    from ultralytics.engine import trainer as engine_trainer

    engine_trainer.check_amp = amp_self_check


_install_amp_self_check()

__all__ = ["GamDetectionTrainer", "load_model_yaml", "check_data", "amp_self_check"]


def load_model_yaml(path: str, scale: Optional[str] = None) -> dict:
    """A model YAML as a dict, with ``scale`` set (explicit, else the YAML's own, else from the
    file name as Ultralytics reads it: ``yolov8s-gam.yaml`` means scale ``s``)."""
    p = Path(path)
    try:
        d = yaml_lib.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml_lib.YAMLError) as exc:
        raise ValueError(f"{p}: not a readable model YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(d, dict) or not isinstance(d.get("backbone"), list) or not isinstance(d.get("head"), list):
        raise ValueError(f"{p}: not a YOLO model YAML (needs 'backbone' and 'head' lists)")
    scales = d.get("scales")
    if scales:
        if scale is None:
            scale = d.get("scale")
        if scale is None:
            from ultralytics.nn.tasks import guess_model_scale

            scale = guess_model_scale(p) or None
        if scale is None:
            scale = next(iter(scales))
        if scale not in scales:
            raise ValueError(f"{p}: scale {scale!r} is not one of its scales {sorted(scales)}")
        d["scale"] = scale
    d["yaml_file"] = str(p)
    return d


def check_data(data: str, split: str = "") -> None:
    """Raise RuntimeError naming the problem when the dataset YAML's images are missing.

    Ultralytics runs a data YAML's ``download:`` step (a URL to fetch, a bash line or Python
    code to exec) when the images are missing; gam-viewer never does.
    """
    if not str(data).lower().endswith((".yaml", ".yml")):
        return
    from ultralytics.data.utils import check_det_dataset

    try:
        check_det_dataset(str(data), autodownload=False, split=split)
    except Exception as exc:  # noqa: BLE001 - re-raised as one line naming the data set
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RuntimeError(f"data={data}: {first} (gam-viewer never runs a data YAML's download: step)") from None


class GamDetectionTrainer(DetectionTrainer):
    """Ultralytics' ``DetectionTrainer`` that knows GAM (see the module docstring).

    Attributes set by the caller before :meth:`build_model` / ``train()``:
        model_scale: scale letter for a multi-scale YAML (None: the YAML's or the file name's).
    """

    model_scale: Optional[str] = None

    def get_dataset(self):
        """Ultralytics' dataset check, but a data YAML's ``download:`` step never runs
        (see :func:`check_data`)."""
        check_data(str(self.args.data), split=self.args.split)
        return super().get_dataset()

    def get_model(self, cfg=None, weights=None, verbose=True):
        register()  # idempotent; also covers a trainer built without importing this module first
        if isinstance(cfg, (str, Path)) and str(cfg).lower().endswith((".yaml", ".yml")):
            cfg = load_model_yaml(str(cfg), self.model_scale)
        return super().get_model(cfg=cfg, weights=weights, verbose=verbose)

    def build_model(self, weights=None, verbose: bool = True) -> Tuple[DetectionModel, Optional[TransferReport]]:
        """Build the model from ``args.model`` (a YAML path) now, optionally starting from the
        baseline checkpoint ``weights`` (a path, read safely, or a ``LoadedModel``; layers
        remapped around inserted GAM rows), and make it the model this trainer trains.
        Returns the model and the transfer report."""
        model = self.get_model(cfg=self.args.model, weights=None, verbose=verbose and RANK in {-1, 0})
        report = None
        if weights is not None:
            report = transfer_weights(model, model.yaml, weights)
        self.model = model
        return model, report
