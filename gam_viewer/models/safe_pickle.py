"""Read a PyTorch (zip) checkpoint without running any of its code.

A YOLO ``.pt`` is a pickle of the whole ``nn.Module`` tree. Loading it with an unrestricted
``torch.load`` imports the training repo's classes and runs whatever the pickle asks for; we
never do that.
Instead Python's own (C) unpickler reads it with ``find_class`` restricted to a short
allow-list (the technique the ``pickle`` documentation gives for untrusted data): every
global the pickle asks for is resolved *here* — a class to an inert placeholder (an object
that only records the attributes the pickle sets), a tensor rebuild to gam-viewer's own
function that makes a tensor view of a storage read from the zip, a few harmless builtins —
and anything else is refused with an error that names the global, before any of it is
called. Tensor views are bounds-checked by ``torch.as_strided``. The model is then rebuilt
from the checkpoint's own ``yaml`` by :mod:`gam_viewer.models.checkpoint`.

(Until this wave the objects were built by PyTorch's ``torch.load(weights_only=True)`` after
this module had listed and checked the globals. Its unpickler is pure Python: it took 95 ms of
a 250 ms load of a full-width yolov7-tiny, where YOLOv7's own ``attempt_load`` needs 120-160 ms
in all; issue 14 asks for loading no slower than the original code.)
"""

import io
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np
import torch

__all__ = ["RefusedGlobal", "CheckpointFormatError", "Placeholder", "load_checkpoint_dict", "requested_globals",
           "state_dict_of", "walk_modules", "module_type", "allowed_globals"]


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle asked for a global that is not on the allow-list."""

    def __init__(self, module: str, name: str):
        self.global_name = f"{module}.{name}"
        super().__init__(
            f"refused to unpickle global '{self.global_name}': it is not on gam-viewer's allow-list "
            "(checkpoint code is never executed)"
        )


class CheckpointFormatError(ValueError):
    """The file is not a readable PyTorch zip checkpoint."""


# ----------------------------------------------------------------------------- placeholders
class Placeholder:
    """An inert stand-in for a pickled object: it records state, runs nothing."""

    _gv_path = "?"

    def __init__(self, *args, **kwargs):
        self._gv_args = args

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2 and (state[0] is None or isinstance(state[0], dict)):
            state = {**(state[0] or {}), **(state[1] or {})}  # (dict, slots) form
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_gv_state"] = state

    def __repr__(self):
        return f"<placeholder {self._gv_path}>"


class PathPlaceholder(Placeholder):
    """pathlib paths in training options: kept as their string."""

    def __str__(self):
        return "/".join(str(a) for a in self._gv_args)


_PLACEHOLDER_CLASSES: Dict[str, type] = {}


def _placeholder(path: str, base: type = Placeholder) -> type:
    cls = _PLACEHOLDER_CLASSES.get(path)
    if cls is None:
        module, _, name = path.rpartition(".")
        cls = type(name, (base,), {"_gv_path": path, "__module__": "gam_viewer.placeholders." + module})
        _PLACEHOLDER_CLASSES[path] = cls
    return cls


def module_type(obj: Any) -> str:
    """Class name of a placeholder (``'Conv'``), or of any object."""
    if isinstance(obj, Placeholder):
        return obj._gv_path.rpartition(".")[2]
    return type(obj).__name__


def module_path(obj: Any) -> str:
    return obj._gv_path if isinstance(obj, Placeholder) else f"{type(obj).__module__}.{type(obj).__name__}"


# ----------------------------------------------------------------------------- allow-list
# Roots under which YOLO code pickles its classes, and the class names we accept there.
_YOLO_ROOTS = (
    "models.",            # the YOLOv5 repo and its forks
    "yolov5.models.",     # the PyPI yolov5 package
    "ultralytics.nn.",    # Ultralytics 8.x
    "ultralytics.yolo.",  # Ultralytics 8.0.x before the package reorganisation
    "gam_viewer.nn.",     # models trained with gam-viewer's training extra
)
_YOLO_CLASSES = frozenset({
    # model containers
    "Model", "DetectionModel", "BaseModel", "SegmentationModel", "PoseModel", "ClassificationModel",
    "OBBModel", "WorldModel", "RTDETRDetectionModel",
    # layers
    "Conv", "DWConv", "Bottleneck", "C3", "C2f", "SPP", "SPPF", "Focus", "Concat", "Detect", "DFL",
    "BottleneckCSP", "C3TR", "C3Ghost", "C3x", "GhostConv", "GhostBottleneck", "C3k2", "C3k", "C2PSA",
    "PSABlock", "Attention", "Segment", "Pose", "OBB", "Classify", "Proto",
    # GAM, as forks and gam-viewer name it
    "GAM", "GAM_Attention", "GAMAttention", "ChannelGate", "SpatialGate",
})
# YOLOv7 (WongKinYiu/yolov7): its layers and heads, pickled under models.common / models.yolo
_YOLOV7_CLASSES = frozenset({
    "MP", "SP", "SPPCSPC", "RepConv", "ReOrg", "DownC", "Shortcut", "ImplicitA", "ImplicitM",
    "IDetect", "IAuxDetect",
})
_YOLO_CLASSES = _YOLO_CLASSES | _YOLOV7_CLASSES
_TORCH_NN = frozenset({
    "torch.nn.modules.conv.Conv2d", "torch.nn.modules.batchnorm.BatchNorm2d",
    "torch.nn.modules.activation.SiLU", "torch.nn.modules.activation.ReLU",
    "torch.nn.modules.activation.ReLU6", "torch.nn.modules.activation.LeakyReLU",
    "torch.nn.modules.activation.Hardswish", "torch.nn.modules.activation.Sigmoid",
    "torch.nn.modules.activation.Mish", "torch.nn.modules.activation.GELU",
    "torch.nn.modules.activation.Tanh", "torch.nn.modules.activation.Softmax",
    "torch.nn.modules.linear.Linear", "torch.nn.modules.linear.Identity",
    "torch.nn.modules.container.Sequential", "torch.nn.modules.container.ModuleList",
    "torch.nn.modules.container.ModuleDict", "torch.nn.modules.pooling.MaxPool2d",
    "torch.nn.modules.pooling.AdaptiveAvgPool2d", "torch.nn.modules.upsampling.Upsample",
    "torch.nn.modules.dropout.Dropout", "torch.nn.modules.flatten.Flatten",
    "torch.nn.modules.channelshuffle.ChannelShuffle",
})
_DATA_PLACEHOLDERS = frozenset({
    "argparse.Namespace", "types.SimpleNamespace",
    "ultralytics.utils.IterableSimpleNamespace", "ultralytics.yolo.utils.IterableSimpleNamespace",
})
_PATHS = frozenset({
    "pathlib.PosixPath", "pathlib.WindowsPath", "pathlib.PurePosixPath", "pathlib.PureWindowsPath",
    "pathlib._local.PosixPath", "pathlib._local.WindowsPath",
})
_STORAGES = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "DoubleStorage": torch.float64,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}
_DTYPES = {str(d).replace("torch.", ""): d for d in (
    torch.float32, torch.float16, torch.float64, torch.bfloat16, torch.int64, torch.int32,
    torch.int16, torch.int8, torch.uint8, torch.bool)}


def _numpy_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype):
        raise pickle.UnpicklingError("numpy scalar without a dtype")
    if data is None:
        return dtype.type(0)
    if isinstance(data, str):
        data = data.encode("latin1")
    return np.frombuffer(bytes(data), dtype=dtype, count=1)[0]


def _numpy_reconstruct(cls, shape, dtype_char):
    if cls is not np.ndarray:
        raise pickle.UnpicklingError("numpy reconstruct of something that is not an ndarray")
    return np.ndarray.__new__(np.ndarray, shape, dtype_char)


def _codecs_encode(text, encoding="utf-8"):
    if encoding != "latin1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r} is not allowed")
    return text.encode("latin1")


class _InertMarker(Placeholder):
    """What ``getattr(placeholder, name)`` yields: a named nothing."""


def _safe_getattr(obj, name, *default):
    if (isinstance(obj, type) and issubclass(obj, Placeholder)) or isinstance(obj, Placeholder):
        return _placeholder(f"{getattr(obj, '_gv_path', '?')}.{name}", _InertMarker)()
    raise pickle.UnpicklingError(f"getattr on {type(obj).__name__} is not allowed")


_FUNCTIONS = {
    "builtins.set": set,
    "builtins.frozenset": frozenset,
    "builtins.slice": slice,
    "builtins.getattr": _safe_getattr,
    "numpy.core.multiarray.scalar": _numpy_scalar,
    "numpy._core.multiarray.scalar": _numpy_scalar,
    "numpy.core.multiarray._reconstruct": _numpy_reconstruct,
    "numpy._core.multiarray._reconstruct": _numpy_reconstruct,
    "numpy.dtype": np.dtype,
    "numpy.ndarray": np.ndarray,
    "_codecs.encode": _codecs_encode,
}


class _StorageType:
    """What a storage class global (``torch.HalfStorage``) resolves to: only its dtype."""

    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype


def _rebuild_tensor(storage, offset, size, stride, *rest):
    """A tensor view of a storage (``torch._utils._rebuild_tensor(_v2)``'s arguments); the
    requires-grad flag, hooks and metadata that may follow are ignored."""
    if not isinstance(storage, torch.Tensor):
        raise pickle.UnpicklingError("tensor rebuild without a storage")
    if not (isinstance(offset, int) and isinstance(size, (tuple, list)) and isinstance(stride, (tuple, list))):
        raise pickle.UnpicklingError("tensor rebuild with malformed arguments")
    # as_strided checks that the view stays inside the storage
    return torch.as_strided(storage, tuple(int(v) for v in size), tuple(int(v) for v in stride), int(offset))


def _rebuild_parameter(data, *rest):
    """``torch._utils._rebuild_parameter(_with_state)``: the tensor itself (no Parameter, no state)."""
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError("parameter rebuild without a tensor")
    return data


# what tensors, sizes and ordered dicts are rebuilt with
_TORCH_OWN = {
    "collections.OrderedDict": OrderedDict,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor,
    "torch._utils._rebuild_tensor": _rebuild_tensor,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
    "torch.Size": torch.Size,
}


def allowed_globals() -> List[str]:
    """Every class path or function a checkpoint may ask for (for docs and tests)."""
    names = sorted(set(_TORCH_OWN) | set(_FUNCTIONS)) + sorted(_TORCH_NN) + sorted(_DATA_PLACEHOLDERS) + sorted(_PATHS)
    names += [f"torch.{s}" for s in sorted(_STORAGES)] + [f"torch.{d}" for d in sorted(_DTYPES)]
    names += [f"{root}*.{c}" for root in _YOLO_ROOTS for c in sorted(_YOLO_CLASSES)]
    return names


def _resolve(module: str, name: str):
    """What the unpickler gets for ``module.name``; RefusedGlobal if the global is not on the
    allow-list."""
    path = f"{module}.{name}"
    if path in _TORCH_OWN:
        return _TORCH_OWN[path]
    if module == "torch" and name in _STORAGES:
        return _StorageType(_STORAGES[name])
    if module == "torch" and name in _DTYPES:
        return _DTYPES[name]
    if path in _FUNCTIONS:
        return _FUNCTIONS[path]
    if path in _TORCH_NN:
        return _placeholder(path)
    if path in _DATA_PLACEHOLDERS:
        return _placeholder(path)
    if path in _PATHS:
        return _placeholder(path, PathPlaceholder)
    if name in _YOLO_CLASSES and any(path.startswith(root) for root in _YOLO_ROOTS):
        return _placeholder(path)
    raise RefusedGlobal(module, name)


_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class _Stub:
    """What every global resolves to while the globals are listed: it accepts any arguments and
    any state and does nothing, so listing a pickle's globals runs none of them."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def __call__(self, *args, **kwargs):
        return _Stub()

    # a stub may stand in for a container class (OrderedDict, a list subclass): SETITEMS / APPENDS
    def __setitem__(self, key, value):
        pass

    def append(self, value):
        pass

    def extend(self, values):
        pass


class _GlobalLister(pickle.Unpickler):
    """Python's (C) unpickler with every global replaced by :class:`_Stub` and every storage by
    None: it walks the whole pickle quickly and records the globals it asks for."""

    def __init__(self, data: bytes):
        super().__init__(io.BytesIO(data), encoding="utf-8")
        self.seen: List[Tuple[str, str]] = []

    def find_class(self, module, name):
        self.seen.append((_PY2_MODULES.get(module, module), name))
        return _Stub

    def persistent_load(self, pid):
        return None


def requested_globals(data: bytes) -> List[Tuple[str, str]]:
    """``(module, name)`` of every global a pickle asks for, in order (nothing of it runs).

    Every global (``GLOBAL``, ``STACK_GLOBAL``, extension codes) resolves through
    ``find_class``, which here only records the name and hands back an inert stub; tensor
    storages are not read. A global this listing misses would still be refused by PyTorch's
    loader, which only knows the globals allowed here.
    """
    lister = _GlobalLister(data)
    try:
        lister.load()
    except RecursionError:
        raise pickle.UnpicklingError("the pickle nests too deeply") from None
    except pickle.UnpicklingError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged pickle, whatever the unpickler tripped on
        raise pickle.UnpicklingError(f"{type(exc).__name__}: {exc}") from None
    return lister.seen


class _RestrictedUnpickler(pickle.Unpickler):
    """Python's C unpickler; every global through :func:`_resolve`, storages from the zip."""

    def __init__(self, data: bytes, storages):
        super().__init__(io.BytesIO(data), encoding="utf-8")
        self._storages = storages

    def find_class(self, module, name):
        return _resolve(_PY2_MODULES.get(module, module), name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r:.80}")
        _, stype, key, _location, numel = pid[:5]
        dtype = stype.dtype if isinstance(stype, _StorageType) else stype
        if not isinstance(dtype, torch.dtype) or not isinstance(numel, int) or numel < 0:
            raise pickle.UnpicklingError("storage of unknown type or size")
        return self._storages(str(key), dtype, numel)


def _zip_storages(zf: zipfile.ZipFile, prefix: str):
    """key, dtype, element count -> a 1-D tensor over that storage's bytes (read once)."""
    cache: Dict[str, torch.Tensor] = {}

    def load(key: str, dtype: torch.dtype, numel: int) -> torch.Tensor:
        if key not in cache:
            name = f"{prefix}data/{key}"
            try:
                raw = zf.read(name)
            except KeyError:
                raise CheckpointFormatError(f"storage {name!r} is missing: the file is truncated or damaged") from None
            if len(raw) < numel * dtype.itemsize:
                raise CheckpointFormatError(f"storage {name!r} is short: the file is truncated or damaged")
            # one copy, into memory the tensor may own and write (zf.read's bytes are read-only)
            cache[key] = (torch.frombuffer(bytearray(raw), dtype=dtype, count=numel) if numel
                          else torch.empty(0, dtype=dtype))
        return cache[key]

    return load


def load_checkpoint_dict(path: Union[str, Path]) -> Any:
    """Unpickle a torch zip checkpoint with placeholders instead of code. Raises
    :class:`RefusedGlobal` for a global off the allow-list and :class:`CheckpointFormatError`
    for a file that is not such a checkpoint."""
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        with open(path, "rb") as fh:
            head = fh.read(4)
        if head[:1] == b"\x80":
            raise CheckpointFormatError(
                f"{path.name}: a legacy (pre-1.6) torch.save file; re-save it with a current PyTorch "
                "(torch.save(ckpt, 'new.pt')) in the environment that trained it"
            )
        raise CheckpointFormatError(f"{path.name}: not a PyTorch checkpoint (not a zip archive), or truncated")
    with zf:
        names = zf.namelist()
        pkl = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
        if not pkl:
            raise CheckpointFormatError(f"{path.name}: zip archive without data.pkl: not a PyTorch checkpoint")
        prefix = pkl[0][: -len("data.pkl")]
        try:
            data = zf.read(pkl[0])
            order = zf.read(prefix + "byteorder").decode("ascii", "replace").strip() \
                if prefix + "byteorder" in names else "little"
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise CheckpointFormatError(f"{path.name}: truncated or damaged ({exc})") from None
        if order != "little":
            raise CheckpointFormatError(f"{path.name}: saved with {order}-endian byte order, which gam-viewer "
                                        "does not read")
        try:
            return _RestrictedUnpickler(data, _zip_storages(zf, prefix)).load()
        except RefusedGlobal:
            raise
        except CheckpointFormatError as exc:
            raise CheckpointFormatError(f"{path.name}: {exc}") from None
        except RecursionError:
            raise CheckpointFormatError(f"{path.name}: damaged checkpoint pickle (nests too deeply)") from None
        except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError, TypeError, AttributeError,
                KeyError, IndexError, RuntimeError, OSError) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise CheckpointFormatError(f"{path.name}: damaged checkpoint pickle ({msg[:200]})") from None


# ----------------------------------------------------------------------------- walking placeholders
def children(obj: Any) -> "OrderedDict[str, Any]":
    mods = getattr(obj, "__dict__", {}).get("_modules")
    return mods if isinstance(mods, dict) else OrderedDict()


def walk_modules(obj: Any, prefix: str = "") -> Iterator[Tuple[str, Any]]:
    """(dotted name, placeholder) for the object and every sub-module, depth first."""
    yield prefix.rstrip("."), obj
    for name, child in children(obj).items():
        if child is not None:
            yield from walk_modules(child, f"{prefix}{name}.")


def state_dict_of(obj: Any) -> "OrderedDict[str, torch.Tensor]":
    """The state dict a placeholder tree would have had (parameters and persistent buffers)."""
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for name, mod in walk_modules(obj):
        d = getattr(mod, "__dict__", {})
        pre = f"{name}." if name else ""
        for k, v in (d.get("_parameters") or {}).items():
            if isinstance(v, torch.Tensor):
                out[pre + k] = v
        skip = d.get("_non_persistent_buffers_set") or set()
        for k, v in (d.get("_buffers") or {}).items():
            if isinstance(v, torch.Tensor) and k not in skip:
                out[pre + k] = v
    return out


def attr(obj: Any, name: str, default: Optional[Any] = None) -> Any:
    return getattr(obj, "__dict__", {}).get(name, default)
