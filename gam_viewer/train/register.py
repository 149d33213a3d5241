"""Make ``GAM`` usable by name in Ultralytics model YAMLs, without touching Ultralytics on disk.

Ultralytics builds a model in ``ultralytics.nn.tasks.parse_model``: it resolves each row's
module name in that module's globals and, for a module it does not know, passes the YAML
``args`` verbatim and assumes the output has the input's channels. GAM preserves its channels
but needs to know them (``c1``), which a YAML written once for every model scale cannot say.

:func:`register` replaces the module attribute ``tasks.parse_model`` (looked up at call time
by ``DetectionModel``) with :func:`parse_model_with_gam`, which

1. builds the graph once with a channel-reporting stand-in (``nn.BatchNorm2d``, whose
   argument Ultralytics fills with the input channel count) in place of every GAM row, and
   reads each GAM input's channel count from it: the channels come from the graph, at every
   scale and width;
2. builds it again with each GAM row pointing at gam-viewer's own :class:`gam_viewer.nn.GAM`
   (registered under a private alias in ``tasks``' namespace) with that channel count, and
   configures each block as the row asks (``GAM`` = the paper form; ``GAM_Attention`` /
   ``GAMAttention`` = the form YOLO forks trained with, as :mod:`gam_viewer.models.builder`
   reads them).

The model's ``yaml`` keeps the rows as written (``GAM``, args ``[]``), so a checkpoint says
what it is; the pickled blocks are ``gam_viewer.nn.gam.GAM``, which gam-viewer's safe
checkpoint reader accepts (it reads the block settings from the pickled attributes).

The trainer rebuilds its model from the YAML in every process, so registration must happen
wherever a model is built: importing :mod:`gam_viewer.train.trainer` (the trainer class's
module, which Ultralytics' multi-GPU launcher imports in each worker) registers it.
"""

from copy import deepcopy
from typing import Any, Dict, List, Tuple

from torch import nn

from ..models.builder import GAM_NAMES
from ..models.builder import gam_kwargs as _builder_gam_kwargs
from ..nn import GAM

__all__ = ["register", "unregister", "is_registered", "parse_model_with_gam", "GAM_ROW_NAMES", "gam_kwargs"]

#: Row names that mean a GAM block (the same table the viewer's builder uses).
GAM_ROW_NAMES = tuple(GAM_NAMES)

# the name the rewritten rows use in ultralytics.nn.tasks' namespace (never a public name,
# so it cannot shadow anything Ultralytics defines)
_ALIAS = "_gam_viewer_GAM"
_STAND_IN = "nn.BatchNorm2d"  # Ultralytics gives BatchNorm2d its input channels as its only arg
_MARK = "_gam_viewer_wrapper"


def gam_kwargs(name: str, args: List[Any], index: int) -> Dict[str, Any]:
    """GAM keyword arguments for a YAML row ``[from, n, name, args]`` (channels excluded).

    Same reading as the viewer's model builder: literal channel numbers are ignored (the
    graph gives them); ``[c1, c2, group, rate]`` may switch grouping and the rate.
    """
    return _builder_gam_kwargs(name, list(args or []))


def _tasks():
    from ultralytics.nn import tasks

    return tasks


def _original(fn):
    while getattr(fn, _MARK, False):
        fn = fn.__wrapped__
    return fn


def _rows(d: Dict[str, Any]) -> List[list]:
    return list(d.get("backbone") or []) + list(d.get("head") or [])


def _split(d: Dict[str, Any], rows: List[list]) -> None:
    nb = len(d["backbone"])
    d["backbone"], d["head"] = rows[:nb], rows[nb:]


def _gam_row_indices(d: Dict[str, Any]) -> List[int]:
    return [i for i, r in enumerate(_rows(d)) if isinstance(r, (list, tuple)) and len(r) == 4 and r[2] in GAM_NAMES]


def _input_channels(parse, d: Dict[str, Any], ch: int, gam_rows: List[int]) -> Dict[int, int]:
    """Channel count at the input of every GAM row, read off a stand-in build of the graph."""
    probe = deepcopy(d)
    rows = _rows(probe)
    for i in gam_rows:
        f, n = rows[i][0], rows[i][1]
        if not isinstance(f, int):
            raise ValueError(f"layer {i} ({rows[i][2]}): GAM takes one input, got from={f!r}")
        rows[i] = [f, n, _STAND_IN, []]
    _split(probe, rows)
    seq, _ = parse(probe, ch, verbose=False)
    out = {}
    for i in gam_rows:
        m = seq[i]
        first = m[0] if isinstance(m, nn.Sequential) else m
        out[i] = int(first.num_features)
    return out


def parse_model_with_gam(d, ch, verbose=True):
    """``ultralytics.nn.tasks.parse_model`` that also understands GAM rows (see the module doc)."""
    parse = _original(_tasks().parse_model)
    gam_rows = _gam_row_indices(d)
    if not gam_rows:
        return parse(d, ch, verbose=verbose)
    channels = _input_channels(parse, d, ch, gam_rows)
    real = deepcopy(d)
    rows = _rows(real)
    configs: Dict[int, Tuple[int, int, Dict[str, Any]]] = {}
    for i in gam_rows:
        f, n, name, args = rows[i]
        try:
            kw = gam_kwargs(str(name), args, i)
            GAM(channels[i], **kw)  # validate here, so an error names the layer
        except ValueError as exc:
            raise ValueError(f"layer {i} ({name}) with {channels[i]} input channels: {exc}") from None
        configs[i] = (channels[i], n, kw)
        rows[i] = [f, n, _ALIAS, [channels[i]]]
    _split(real, rows)
    seq, save = parse(real, ch, verbose=verbose)
    for i, (c1, n, kw) in configs.items():
        old = seq[i]
        reps = len(old) if isinstance(old, nn.Sequential) else 1  # Ultralytics applied the depth gain
        new = nn.Sequential(*(GAM(c1, **kw) for _ in range(reps))) if reps > 1 else GAM(c1, **kw)
        for attr in ("i", "f", "type"):
            setattr(new, attr, getattr(old, attr))
        new.np = sum(p.numel() for p in new.parameters())
        seq[i] = new
    return seq, save


parse_model_with_gam.__dict__[_MARK] = True


def register() -> None:
    """Make GAM rows buildable by Ultralytics in this process (idempotent)."""
    tasks = _tasks()
    setattr(tasks, _ALIAS, GAM)
    if not getattr(tasks.parse_model, _MARK, False):
        original = tasks.parse_model

        def wrapper(d, ch, verbose=True):
            return parse_model_with_gam(d, ch, verbose=verbose)

        wrapper.__wrapped__ = original
        wrapper.__doc__ = parse_model_with_gam.__doc__
        setattr(wrapper, _MARK, True)
        tasks.parse_model = wrapper


def unregister() -> None:
    """Undo :func:`register` (for tests)."""
    tasks = _tasks()
    tasks.parse_model = _original(tasks.parse_model)
    if hasattr(tasks, _ALIAS):
        delattr(tasks, _ALIAS)


def is_registered() -> bool:
    tasks = _tasks()
    return bool(getattr(tasks.parse_model, _MARK, False)) and getattr(tasks, _ALIAS, None) is GAM
