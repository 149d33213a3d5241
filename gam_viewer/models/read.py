"""Open a model from any file a GAM-YOLO user holds, without executing it.

The format is recognised by content, never by file name, and each format has one reader:

======================  ===========================================================
``torch-zip``           :func:`.checkpoint.read_torch` (YOLOv5 repo/forks, PyPI yolov5,
                        Ultralytics 8.x, gam-viewer-trained)
``safetensors``         :func:`.native.read_native` (gam-viewer's own format)
``yaml``                :func:`.yaml_reader.read_yaml` (random weights, for inspection)
======================  ===========================================================
"""

import os
import re
from pathlib import Path
from typing import Callable, Dict, Optional, Union

from . import configs
from .checkpoint import read_torch
from .errors import ModelLoadError
from .loaded import LoadedModel
from .native import read_native
from .yaml_reader import read_yaml

__all__ = ["read_model", "sniff_format", "READERS"]

READERS: Dict[str, Callable[..., LoadedModel]] = {
    "torch-zip": read_torch,
    "safetensors": read_native,
    "yaml": read_yaml,
}


# the number torch.save (before PyTorch 1.6) pickles first, as 10 little-endian bytes
_LEGACY_MAGIC = (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def sniff_format(path: Path) -> str:
    """'torch-zip', 'safetensors', 'yaml', 'torch-legacy', 'pickle' or 'unknown', from the first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(64)
    if head[:4] == b"PK\x03\x04":
        return "torch-zip"
    if len(head) >= 9:
        n = int.from_bytes(head[:8], "little")
        if 2 <= n < 100_000_000 and head[8:9] == b"{":
            return "safetensors"
    if head[:4] == b"\x80\x02\x8a\x0a" and head[4:14] == _LEGACY_MAGIC:
        return "torch-legacy"       # torch.save before 1.6: a pickled magic number first
    if head[:1] == b"\x80":
        return "pickle"             # some other pickle (protocol 2+): not a torch checkpoint
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "unknown"
    if path.suffix.lower() in (".yaml", ".yml") or re.search(r"^\s*(#|nc:|backbone:|[a-z_]+:)", text, re.M):
        return "yaml"
    return "unknown"


def read_model(source: Union[str, Path], *, channel_sigmoid: Optional[bool] = None,
               shuffle: Optional[bool] = None) -> LoadedModel:
    """Open ``source`` (file path or shipped YAML name) into a float32 eval-mode model.

    ``channel_sigmoid`` / ``shuffle`` override the community GAM semantics a checkpoint cannot
    show (None = documented defaults). Raises :class:`ModelLoadError` with a one-line reason.
    """
    if isinstance(source, bytes) or not isinstance(source, (str, os.PathLike)):
        raise ModelLoadError(f"model source must be a file path or a shipped model name, got "
                             f"{'None' if source is None else type(source).__name__}")
    if not str(source).strip():
        raise ModelLoadError("model source is an empty string: give a file path or a shipped model name")
    path = Path(source)
    kwargs = {"channel_sigmoid": channel_sigmoid, "shuffle": shuffle}
    if not path.exists():
        shipped, scale = configs.find_with_scale(str(source))
        if shipped is None:
            raise ModelLoadError(f"{source}: no such file, and not a shipped model name "
                                 f"(shipped: {configs.summary()})")
        path = shipped
        kwargs["scale"] = scale
    if path.is_dir():
        raise ModelLoadError(f"{path}: is a folder, not a model file")
    try:
        kind = sniff_format(path)
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot read ({exc.strerror or exc})") from None
    reader = READERS.get(kind)
    if reader is not None:
        return reader(path, **kwargs)
    if kind == "torch-legacy":
        raise ModelLoadError(f"{path.name}: a legacy (pre-1.6) torch.save file; re-save it with a current PyTorch")
    if kind == "pickle":
        raise ModelLoadError(f"{path.name}: a plain Python pickle, not a PyTorch checkpoint (torch.save writes a "
                             "zip archive); gam-viewer does not open plain pickles, which can run code")
    if path.stat().st_size == 0:
        raise ModelLoadError(f"{path.name}: the file is empty")
    raise ModelLoadError(f"{path.name}: not a model file gam-viewer knows (expected a YOLO .pt, "
                         "a gam-viewer .safetensors or a model .yaml)")
