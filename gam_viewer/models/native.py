"""gam-viewer's own model format: one ``.safetensors`` file, loadable without pickle.

Tensors are the model's state dict (float16 by default). The safetensors header metadata
carries, as JSON strings: the model YAML, class names, strides, default image size, the
GAM settings of every GAM layer, the activation of every Conv, BatchNorm eps values, and
where the model came from.
"""

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, Optional, Union

from safetensors import SafetensorError
from safetensors.torch import load_file, save as save_bytes
from torch import nn

from ..fsutil import write_atomic
from ..nn import GAM
from . import yolov7
from .builder import build_model
from .errors import ModelLoadError
from .loaded import LoadedModel
from .loading import apply_bn, gam_report, strict_load

__all__ = ["save_native", "read_native", "FORMAT_TAG"]

FORMAT_TAG = "gam-viewer/1"


def _gam_settings(model) -> Dict[str, dict]:
    out = {}
    for info in model.gam_layers():
        b: GAM = model.gam_block(info.index)
        kw = {"variant": b.variant, "rate": b.rate, "kernel_size": b.kernel_size, "groups": b.groups,
              "channel": b.channel_attention is not None, "spatial": b.spatial_attention is not None}
        if b.variant == "community":
            kw.update(channel_sigmoid=bool(b.channel_sigmoid), shuffle=bool(b.shuffle))
        out[str(info.index)] = kw
    return out


def save_native(loaded: LoadedModel, out: Union[str, Path], *, half: bool = True, overwrite: bool = False,
                extra: Optional[dict] = None) -> Path:
    """Write ``loaded`` to ``out`` atomically. Refuses to overwrite unless ``overwrite``."""
    out = Path(out)
    if out.suffix != ".safetensors":
        out = out.with_name(out.name + ".safetensors")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; refusing to overwrite it (choose another name or pass --force)")
    model = loaded.model
    if any(isinstance(m, nn.Identity) and n.endswith(".bn") for n, m in model.named_modules()):
        raise ModelLoadError("cannot save a fused model; save before fusing")
    sd = {k: (v.detach().half() if (half and v.is_floating_point()) else v.detach()).contiguous().cpu()
          for k, v in model.state_dict().items()}
    acts = {n: (f"LeakyReLU({m.act.negative_slope})" if isinstance(m.act, nn.LeakyReLU) else type(m.act).__name__)
            for n, m in model.named_modules() if hasattr(m, "act") and isinstance(m.act, nn.Module)}
    bn = {n: [m.eps, m.momentum] for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)}
    meta = {
        "format": FORMAT_TAG,
        "yaml": json.dumps(model.yaml),
        "scale": json.dumps(model.scale),
        "names": json.dumps(list(loaded.names)),
        "stride": json.dumps([float(s) for s in model.stride]),
        "imgsz": json.dumps(int(loaded.imgsz)),
        "gam": json.dumps(_gam_settings(model)),
        "activations": json.dumps(acts),
        "bn": json.dumps(bn),
        "source": json.dumps({"file": Path(loaded.source).name, "format": loaded.format}),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "extra": json.dumps(extra or {}),
    }
    data = save_bytes(sd, metadata=meta)
    # one atomic writer for every output: temp file + fsync + move; never replaces a file
    # that exists (or appears meanwhile) unless overwrite
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_atomic(out, data, overwrite=overwrite)
    except FileExistsError:
        raise FileExistsError(f"{out} exists; refusing to overwrite it (choose another name or pass --force)") from None
    return out


def read_native(path: Union[str, Path], *, channel_sigmoid=None, shuffle=None, scale=None) -> LoadedModel:
    """Read a gam-viewer ``.safetensors`` file (no pickle); ``scale`` is unused (the file names it)."""
    path = Path(path)
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        sd = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelLoadError(f"{path.name}: unreadable safetensors file ({exc})") from None
    if meta.get("format") != FORMAT_TAG:
        raise ModelLoadError(f"{path.name}: a safetensors file without gam-viewer metadata "
                             f"(format {meta.get('format')!r}); gam-viewer needs the architecture too")
    try:
        cfg = json.loads(meta["yaml"])
        gam = {int(k): v for k, v in json.loads(meta.get("gam", "{}")).items()}
        names = json.loads(meta["names"])
        acts = json.loads(meta.get("activations", "{}"))
        bn = json.loads(meta.get("bn", "{}"))
        scale = json.loads(meta.get("scale", "null"))
        imgsz = int(json.loads(meta.get("imgsz", "640")))
        source = json.loads(meta.get("source", "{}"))
        extra = json.loads(meta.get("extra", "{}"))
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelLoadError(f"{path.name}: damaged gam-viewer metadata ({exc})") from None
    why = {}
    for i, kw in gam.items():
        why[i] = "saved settings"
        if kw.get("variant") == "community":
            if channel_sigmoid is not None:
                kw["channel_sigmoid"] = bool(channel_sigmoid)
                why[i] = "saved settings; channel sigmoid: user"
            if shuffle is not None:
                kw["shuffle"] = bool(shuffle)
                why[i] += "; shuffle: user"
    try:
        model = build_model(cfg, ch=int(cfg.get("ch", 3)), scale=scale, gam_overrides=gam, activations=acts,
                            **yolov7.reader_options(cfg, sd), weights_follow=True)
    except ModelLoadError as exc:
        raise ModelLoadError(f"{path.name}: {exc}") from None
    apply_bn(model, {k: tuple(v) for k, v in bn.items()})
    strict_load(model, sd, path.name)
    yolov7.after_load(model)
    model.names = list(names)
    return LoadedModel(model.eval(), list(names), str(path), "gam-viewer", imgsz, gam_report(model, why),
                       meta={"created": meta.get("created"), "from": source, **({"extra": extra} if extra else {})})
