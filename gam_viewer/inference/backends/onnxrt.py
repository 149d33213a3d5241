"""ONNX Runtime backend: the fused model exported once, with every GAM gate as a graph output.

The export (``torch.onnx.export(..., dynamo=False)``, the TorchScript-based exporter) is
taken from the very model the PyTorch path runs (fused, float32), wrapped so that its outputs
are the head's raw maps *and*, for every GAM layer the attention taps show (the last repeat
of a repeated block), the channel gate and the spatial gate of the same pass. Input height
and width are dynamic: every letterbox shape runs on the one graph.

Output names: ``raw.<level>`` for the head maps, ``gam.<layer index>.channel`` and
``gam.<layer index>.spatial`` for the gates (an ablated block has only the one it keeps), and
``cam.<layer index>`` for the output of every layer offered for CAM
(:func:`gam_viewer.inference.cam.cam_layers`): EigenCAM needs only those activations, so it
runs on ONNX Runtime too (measured under heavy load: a PyTorch EigenCAM pass cost 4-14x an
ONNX Runtime frame; benchmarks/backend_memory.py).
ONNX Runtime computes them in every pass anyway; they are copied out only when asked for.

Exports are cached in ``cache_root()/onnx`` (:mod:`gam_viewer.cachedir`), one ``.onnx`` and
one ``.json`` per key; the key is the SHA-256 of (model file SHA-256 — or of the weights
themselves for a YAML / in-memory model —, the GAM semantics chosen for every layer, whether
the model is fused, the opset, this exporter's version, torch's and onnxruntime's versions).
A cache entry is trusted only when its bytes match the SHA-256 recorded next to it, it loads,
and its outputs are the ones this model must have; otherwise it is exported again. Files are
written atomically (temp file + rename), so a crash never leaves half an entry.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ...fsutil import sha256_file
from ...nn import gates_kept

__all__ = ["OrtEngine", "ExportError", "onnxruntime_available", "open_onnx", "gate_outputs", "cache_key",
           "OPSET", "EXPORT_VERSION", "default_threads"]

OPSET = 17
EXPORT_VERSION = 2      # bump when the graph's outputs or the export recipe change


class ExportError(RuntimeError):
    """The model could not be exported to (or run by) ONNX Runtime; the message is one line."""


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def default_threads() -> int:
    """Intra-op threads for a session: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class GateOutput:
    index: int                  # model layer index
    module: nn.Module           # the GAM block whose gates are exported (last repeat)
    channel: Optional[str]      # output name, None for a block without that gate
    spatial: Optional[str]


def gate_outputs(model) -> List[GateOutput]:
    """The gates the attention taps show, in layer order, with their output names."""
    out = []
    for info in model.gam_layers():
        m = model.model[info.index]
        block = list(m)[-1] if isinstance(m, nn.Sequential) else m
        out.append(GateOutput(info.index, block,
                              f"gam.{info.index}.channel" if block.channel_attention is not None else None,
                              f"gam.{info.index}.spatial" if block.spatial_attention is not None else None))
    return out


def cam_output_layers(model) -> List[int]:
    """Indices of the layers whose outputs are exported for CAM (the ones CAM offers)."""
    from ..layer_choice import cam_layer_reasons

    return list(cam_layer_reasons(model))


def output_names(model) -> Tuple[List[str], List[str], List[str]]:
    raw = [f"raw.{i}" for i in range(int(model.head.nl))]
    gates = []
    for g in gate_outputs(model):
        gates += [n for n in (g.channel, g.spatial) if n]
    return raw, gates, [f"cam.{i}" for i in cam_output_layers(model)]


class _WithGates(nn.Module):
    """The model, returning (raw maps..., gates..., CAM layer outputs...) as one flat tuple
    (what the exporter traces)."""

    def __init__(self, model, gates: Sequence[GateOutput], cam_layers: Sequence[int]):
        super().__init__()
        self.model = model
        self.gates = list(gates)
        self.cam_layers = list(cam_layers)

    def forward(self, x):
        seen = {}
        hooks = [self.model.model[i].register_forward_hook(lambda m, a, out, i=i: seen.__setitem__(i, out))
                 for i in self.cam_layers]
        try:
            outs = list(self.model(x))
        finally:
            for h in hooks:
                h.remove()
        for g in self.gates:
            if g.channel:
                outs.append(g.module.channel_gate)
            if g.spatial:
                outs.append(g.module.spatial_gate)
        outs += [seen[i] for i in self.cam_layers]
        return tuple(outs)


# ----------------------------------------------------------------------------- cache key
def _weights_sha256(model: nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        a = t.detach().cpu().contiguous()
        h.update(str(tuple(a.shape)).encode() + str(a.dtype).encode())
        h.update(a.view(-1).view(torch.uint8).numpy().tobytes() if a.numel() else b"")
    return h.hexdigest()


def _semantics(loaded) -> List[list]:
    return [[r.index, r.variant, r.groups, r.rate, bool(r.channel_sigmoid), bool(r.shuffle)] for r in loaded.gam]


def cache_key(loaded, model, fused: bool, opset: int = OPSET, weights: Optional[str] = None) -> Dict[str, object]:
    """Everything an export depends on. ``weights``: the model file's SHA-256 when it is the
    source of the weights; for YAML models (random weights) the weights are hashed instead."""
    import onnxruntime

    if weights is None:
        src = Path(str(loaded.source))
        if loaded.format != "yaml" and src.is_file():
            weights = "file:" + sha256_file(src)
        else:
            weights = "weights:" + _weights_sha256(model)
    return {"weights": weights, "gam": _semantics(loaded), "fused": bool(fused), "opset": int(opset),
            "exporter": EXPORT_VERSION, "torch": torch.__version__, "onnxruntime": onnxruntime.__version__}


def _key_digest(key: Dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]


# ----------------------------------------------------------------------------- export
def export_bytes(model, opset: int = OPSET, imgsz: int = 640) -> bytes:
    """The ONNX graph of ``model`` (raw maps + gates), as bytes. Raises ExportError."""
    raw_names, gate_names, cam_names = output_names(model)
    gates = gate_outputs(model)
    wrapper = _WithGates(model, gates, cam_output_layers(model)).eval()
    p = next(model.parameters())
    x = torch.zeros(1, 3, imgsz, imgsz, device=p.device, dtype=torch.float32)
    dims = {"images": {0: "batch", 2: "height", 3: "width"}}
    for n in raw_names + gate_names + cam_names:
        dims[n] = {0: "batch", 2: f"{n}.h", 3: f"{n}.w"}
    blocks = [g.module for g in gates]
    buf = io.BytesIO()
    try:
        with gates_kept(blocks, True), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, (x,), buf, input_names=["images"],
                              output_names=raw_names + gate_names + cam_names,
                              dynamic_axes=dims, opset_version=opset, do_constant_folding=True, dynamo=False)
    except Exception as exc:  # noqa: BLE001 - any exporter failure is reported in one line
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ExportError(f"ONNX export failed ({type(exc).__name__}: {text[:200]})") from exc
    finally:
        for m in blocks:
            m.channel_gate = m.spatial_gate = None
    return buf.getvalue()


# ----------------------------------------------------------------------------- session
class OrtEngine:
    """An ONNX Runtime session for one exported model; ``run`` returns raw maps and gates."""

    def __init__(self, onnx: bytes, raw_names: List[str], gate_names: List[str], cam_names: List[str],
                 threads: Optional[int] = None, spinning: bool = False):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads or default_threads())
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # idle intra-op threads sleep instead of spinning: with two models taking turns (and a
        # GUI and a decoder beside them) a spinning pool steals the cores the other one needs
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(onnx, sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExportError(f"ONNX Runtime cannot load the exported model ({text[:200]})") from exc
        names = [o.name for o in self.session.get_outputs()]
        want = raw_names + gate_names + cam_names
        if names != want:
            raise ExportError(f"exported model has outputs {names[:4]}..., expected {want[:4]}...")
        self.raw_names, self.gate_names, self.cam_names = list(raw_names), list(gate_names), list(cam_names)
        self.threads = opts.intra_op_num_threads
        self.input_name = self.session.get_inputs()[0].name

    def run(self, x: np.ndarray, gates: bool = True) -> Tuple[List[np.ndarray], Dict[str, np.ndarray]]:
        names = self.raw_names + self.gate_names if gates else self.raw_names
        outs = self.session.run(names, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})
        n = len(self.raw_names)
        return outs[:n], dict(zip(names[n:], outs[n:]))

    def layer_outputs(self, x: np.ndarray, layers: Sequence[int]) -> Optional[List[np.ndarray]]:
        """Outputs of model layers ``layers`` (exported CAM layers only; None if one is not)."""
        names = [f"cam.{i}" for i in layers]
        if any(n not in self.cam_names for n in names):
            return None
        return self.session.run(names, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})


@dataclass
class OpenReport:
    """How a session came to be: from the cache or a fresh export, and how long it took."""

    path: Optional[Path]
    exported: bool
    export_ms: float = 0.0
    open_ms: float = 0.0
    notes: List[str] = field(default_factory=list)


def _read_entry(onnx_path: Path, meta_path: Path, key: Dict[str, object]) -> Optional[bytes]:
    """The cached graph's bytes if the entry is whole and for this key, else None."""
    try:
        meta = json.loads(meta_path.read_text())
        data = onnx_path.read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("key") != key or meta.get("sha256") != hashlib.sha256(data).hexdigest():
        return None
    return data


def open_onnx(loaded, model, *, fused: bool = True, threads: Optional[int] = None, cache: bool = True,
              opset: int = OPSET, weights: Optional[str] = None,
              spinning: bool = False) -> Tuple[OrtEngine, OpenReport]:
    """An :class:`OrtEngine` for ``model`` (a cached export when there is a good one).

    Raises ExportError (one line) when onnxruntime is missing, the export fails, or the
    session cannot be made.
    """
    if not onnxruntime_available():
        raise ExportError("onnxruntime is not installed")
    from ...cachedir import cache_subdir
    from ...fsutil import write_atomic

    raw_names, gate_names, cam_names = output_names(model)
    report = OpenReport(None, False)
    onnx_path = meta_path = None
    key = None
    if cache:
        key = cache_key(loaded, model, fused, opset, weights)
        try:
            folder = cache_subdir("onnx")
            digest = _key_digest(key)
            onnx_path, meta_path = folder / f"{digest}.onnx", folder / f"{digest}.json"
        except OSError as exc:
            report.notes.append(f"ONNX cache folder unusable ({exc}); exporting in memory")
        if onnx_path is not None and onnx_path.exists():
            t0 = time.perf_counter()
            data = _read_entry(onnx_path, meta_path, key)
            if data is not None:
                try:
                    engine = OrtEngine(data, raw_names, gate_names, cam_names, threads, spinning)
                    report.path, report.open_ms = onnx_path, (time.perf_counter() - t0) * 1e3
                    return engine, report
                except ExportError:
                    pass
            report.notes.append(f"ONNX cache entry {onnx_path.name} was damaged or stale; exported again")
    t0 = time.perf_counter()
    data = export_bytes(model, opset, getattr(loaded, "imgsz", 640) or 640)
    report.exported, report.export_ms = True, (time.perf_counter() - t0) * 1e3
    t1 = time.perf_counter()
    engine = OrtEngine(data, raw_names, gate_names, cam_names, threads, spinning)
    report.open_ms = (time.perf_counter() - t1) * 1e3
    if onnx_path is not None:
        try:
            write_atomic(onnx_path, data, overwrite=True)
            meta = {"key": key, "sha256": hashlib.sha256(data).hexdigest(),
                    "outputs": raw_names + gate_names + cam_names,
                    "source": str(loaded.source)}
            write_atomic(meta_path, json.dumps(meta, indent=1).encode(), overwrite=True)
            report.path = onnx_path
        except OSError as exc:
            report.notes.append(f"could not cache the ONNX export in {onnx_path.parent} ({exc})")
    return engine, report
