"""Run a loaded YOLO / GAM-YOLO model on an image: boxes plus every GAM layer's gates.

``Detector.predict`` does letterbox -> forward -> decode -> NMS -> boxes in original pixels,
and returns the gates each GAM layer applied in *that same* forward pass (the blocks'
``keep_gates``), as :class:`~gam_viewer.inference.attention.AttentionMap` objects.
"""

import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from ..models import GamLayerReport, LoadedModel, YoloModel, read_model
from ..nn import GAM
from .attention import AttentionMap
from .backends import ExportError, check_backend, choose_backend, open_onnx
from .backends.onnxrt import gate_outputs
from .decode import GridCache, decode_candidates, decode_head, has_objectness, nms, scale_boxes
from .letterbox import Letterbox, check_imgsz, letterbox

__all__ = ["Detector", "Detections", "load_model", "to_image", "check_device"]


@dataclass
class Detections:
    """What one ``predict`` returns. Boxes are xyxy in original-image pixels."""

    boxes: np.ndarray            # (N, 4) float32
    scores: np.ndarray           # (N,) float32
    classes: np.ndarray          # (N,) int64
    names: List[str]
    letterbox: Letterbox
    timings: Dict[str, float]    # milliseconds: preprocess, forward, postprocess, taps, total
    attention: List[AttentionMap] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @property
    def image_hw(self):
        return self.letterbox.orig_hw

    def label(self, i: int) -> str:
        c = int(self.classes[i])
        name = self.names[c] if 0 <= c < len(self.names) else str(c)
        return f"{name} {self.scores[i]:.2f}"

    def attention_at(self, index: int) -> AttentionMap:
        for a in self.attention:
            if a.index == index:
                return a
        raise KeyError(f"no GAM layer {index} in this result (layers: {[a.index for a in self.attention]})")

    def as_records(self) -> List[dict]:
        return [{"cls": int(c), "name": self.names[int(c)] if int(c) < len(self.names) else str(int(c)),
                 "conf": float(s), "xyxy": [float(v) for v in b]}
                for b, s, c in zip(self.boxes, self.scores, self.classes)]


def to_image(image) -> np.ndarray:
    """A BGR uint8 H x W x 3 array from what the caller gave, each dtype scaled or refused explicitly.

    uint8 as is; uint16 scaled by 1/257 (65535 -> 255); float in [0, 1] scaled by 255, float in
    [0, 255] rounded; other integer types only when every value lies in [0, 255]. Refused:
    booleans, NaN / inf, complex, values out of range, shapes that are not a picture."""
    if isinstance(image, (str, Path)):
        import cv2

        img = cv2.imread(str(image), cv2.IMREAD_COLOR)
        if img is None:
            what = "no such file" if not Path(image).exists() else "cannot read this image (unsupported or damaged)"
            raise ValueError(f"{image}: {what}")
        return img
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a BGR numpy array or a path, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image must be H x W x 3 (BGR), H x W x 4 or H x W, got shape {image.shape}")
    if image.shape[2] == 4:
        image = image[:, :, :3]
    dt = image.dtype
    if dt == np.uint8:
        return image
    if dt == np.bool_:
        raise ValueError("image is boolean (a mask?): give a uint8 BGR picture, e.g. mask.astype(np.uint8) * 255")
    if dt == np.uint16:  # 16-bit PNG / TIFF: the full range maps onto 0..255
        return ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if np.issubdtype(dt, np.floating):
        if not np.isfinite(image).all():
            raise ValueError("image holds NaN or infinite values")
        lo, hi = float(image.min()), float(image.max())
        if lo < 0 or hi > 255:
            raise ValueError(f"float image values must lie in [0, 1] or [0, 255], got {lo:g}..{hi:g}")
        scale = 255.0 if hi <= 1.0 else 1.0
        return np.clip(np.rint(image * scale), 0, 255).astype(np.uint8)
    if np.issubdtype(dt, np.integer):
        lo, hi = int(image.min()), int(image.max())
        if lo < 0 or hi > 255:
            raise ValueError(f"{dt} image values must lie in 0..255 (scale it first), got {lo}..{hi}")
        return image.astype(np.uint8)
    raise ValueError(f"image dtype {dt} is not supported (give uint8 BGR)")


def _check_number(name: str, value, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number in [{lo:g}, {hi:g}], got {value!r}")
    if not lo <= float(value) <= hi:   # NaN fails here too
        raise ValueError(f"{name} must be in [{lo:g}, {hi:g}], got {value}")
    return float(value)


def check_device(device: Union[str, torch.device]) -> torch.device:
    """``device`` as a torch.device that exists here, or a ValueError naming it."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device {device!r}: not a device name (use cpu, cuda, cuda:0 or mps)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: no CUDA GPU is available (use cpu)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: there are {torch.cuda.device_count()} CUDA GPU(s) "
                             f"(0..{torch.cuda.device_count() - 1})")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ValueError(f"device {device!r}: MPS is not available here (use cpu)")
    elif dev.type != "cpu":
        raise ValueError(f"device {device!r}: gam-viewer runs on cpu, cuda or mps")
    return dev


class Detector:
    """A model ready for inference (eval, fused, on ``device``), thread-confined by a lock.

    ``backend``: what runs the forward pass (see :mod:`.backends`): "torch", "onnxruntime"
    (CPU, the fused model exported once to ONNX, cached) or "auto" (ONNX Runtime on the CPU
    when it is installed and the export works, else PyTorch). ``self.backend`` is the one in
    use; when ONNX Runtime was asked for (or chosen) but cannot run this model, the detector
    runs PyTorch and says why in one line (``notes`` and a RuntimeWarning). The PyTorch model
    (``self.model``) is always kept: CAM needs it, and its weights are small next to a frame's
    activations.
    """

    def __init__(self, loaded: LoadedModel, device: Union[str, torch.device] = "cpu", half: bool = False,
                 fuse: bool = True, cuda_graph: bool = False, channels_last: bool = True,
                 backend: Optional[str] = "auto", onnx_cache: bool = True, threads: Optional[int] = None):
        if not isinstance(loaded, LoadedModel):
            raise TypeError(f"Detector needs a LoadedModel (from gam_viewer.models.read_model), got "
                            f"{type(loaded).__name__}; gam_viewer.load_model already returns a Detector")
        self.loaded = loaded
        self.model: YoloModel = loaded.model
        self.device = check_device(device)
        if half and self.device.type != "cuda":
            raise ValueError("half precision needs a CUDA device (half=True with device='cpu')")
        self.half = bool(half)
        self.fused = False
        if fuse:
            self.model.fuse()
            self.fused = True
        self.model.eval().to(self.device)
        if self.half:
            self.model.half()
        # channels_last weights make every convolution (and what follows it) run in NHWC:
        # oneDNN on the CPU and cuDNN's tensor-core kernels are faster that way (on a 2-core
        # CPU, yolov5nu at 640: ~115 ms instead of ~145 ms per frame). Outputs are unchanged.
        self.channels_last = bool(channels_last)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.cuda_graph = bool(cuda_graph) and self.device.type == "cuda"
        self.notes: List[str] = []
        if cuda_graph and not self.cuda_graph:
            self.notes.append("CUDA graphs need a CUDA device; running eager")
        self._gams: List[GAM] = self.model.gam_modules()
        self._gam_layers = self.model.gam_layers()
        self._grids = GridCache()
        self._graphs: Dict[tuple, tuple] = {}
        self._lock = threading.Lock()
        self.backend_requested = check_backend(backend)
        if self.backend_requested == "onnxruntime" and (self.device.type != "cpu" or self.half):
            raise ValueError(f"backend='onnxruntime' runs float32 on the CPU; use device='cpu' without half, "
                             f"or backend='torch' for {self.device.type}{' fp16' if self.half else ''}")
        self.backend = "torch"
        self.onnx_report = None          # backends.onnxrt.OpenReport when ONNX Runtime was set up
        self._ort = None
        self._gate_outputs = gate_outputs(self.model)
        chosen = choose_backend(self.backend_requested, self.device.type, self.half, self.cuda_graph)
        if chosen == "onnxruntime":
            self.use_backend("onnxruntime", cache=onnx_cache, threads=threads)

    def use_backend(self, backend: str, *, cache: bool = True, threads: Optional[int] = None) -> str:
        """Switch what runs the forward pass ("torch" or "onnxruntime"); returns the one in use.

        ONNX Runtime exports the model as it is *now* (call this again after changing weights
        in memory, with ``cache=False``). A failure falls back to PyTorch with a one-line note.
        """
        name = check_backend(backend)
        with self._lock:
            if name != "onnxruntime":
                self._ort, self.backend = None, "torch"
                return self.backend
            try:
                if self.device.type != "cpu" or self.half:
                    raise ExportError(f"ONNX Runtime runs float32 on the CPU, this model is on {self.device.type}")
                self._ort, self.onnx_report = open_onnx(self.loaded, self.model, fused=self.fused, threads=threads,
                                                        cache=cache)
                self.backend = "onnxruntime"
                self.notes.extend(self.onnx_report.notes)
            except ExportError as exc:
                self._ort, self.backend = None, "torch"
                note = f"{Path(str(self.source)).name}: running PyTorch, not ONNX Runtime: {exc}"
                self.notes.append(note)
                warnings.warn(note, RuntimeWarning, stacklevel=3)
        return self.backend

    # ------------------------------------------------------------------ description
    @property
    def names(self) -> List[str]:
        return self.loaded.names

    @property
    def nc(self) -> int:
        return self.model.nc

    @property
    def stride(self) -> int:
        return int(self.model.stride.max())

    @property
    def source(self) -> str:
        return self.loaded.source

    @property
    def format(self) -> str:
        return self.loaded.format

    @property
    def gam(self) -> List[GamLayerReport]:
        return self.loaded.gam

    @property
    def has_gam(self) -> bool:
        return bool(self._gams)

    @property
    def default_imgsz(self) -> int:
        return self.loaded.imgsz

    def describe(self) -> str:
        name = Path(self.source).name
        kind = "GAM-YOLO" if self.has_gam else "YOLO"
        return (f"{name}: {kind}, {self.loaded.format}, {self.nc} classes, {len(self._gams)} GAM layers, "
                f"{self.backend_label}")

    @property
    def backend_label(self) -> str:
        """e.g. "ONNX Runtime (CPU, 2 threads)" or "PyTorch (cpu)"."""
        if self._ort is not None:
            return f"ONNX Runtime (CPU, {self._ort.threads} threads)"
        return f"PyTorch ({self.device.type}{', fp16' if self.half else ''})"

    # ------------------------------------------------------------------ pipeline steps
    def preprocess(self, image: np.ndarray, imgsz: int = 640, auto: bool = True):
        img, lb = letterbox(image, check_imgsz(imgsz, self.stride), self.stride, auto=auto)
        return self.to_input(img), lb

    def to_input(self, img: np.ndarray) -> torch.Tensor:
        """A letterboxed BGR image (H x W x 3 uint8) -> the network input (1, 3, H, W), RGB in [0, 1]."""
        rgb_chw = img[:, :, ::-1].transpose(2, 0, 1)   # a view
        if self._ort is not None:
            # numpy, one thread: a large torch op here would wake PyTorch's OpenMP pool, whose
            # threads then spin on the cores ONNX Runtime is about to use (measured: the
            # session run took ~30 ms after torch ops, ~20 ms without, yolov5n at 640);
            # one pass from the view into the contiguous input
            x = np.empty((1, *rgb_chw.shape), np.float32)
            np.divide(rgb_chw, np.float32(255.0), out=x[0])
            return torch.from_numpy(x)
        t = torch.from_numpy(np.ascontiguousarray(rgb_chw)).to(self.device)
        t = t.half() if self.half else t.float()   # a new tensor (from uint8): scaled in place, not copied again
        return t.div_(255.0).unsqueeze(0)

    def forward(self, x: torch.Tensor, keep_gates: bool = True) -> List[torch.Tensor]:
        """Raw head maps for a preprocessed batch; GAM blocks keep their gates if asked."""
        if self._ort is not None:
            return self._ort_forward(x, keep_gates)
        for m in self._gams:
            m.keep_gates = keep_gates or self.cuda_graph
        if self.cuda_graph:
            return self._graph_forward(x)
        return self.model(x)

    def _ort_forward(self, x: torch.Tensor, keep_gates: bool) -> List[torch.Tensor]:
        raw, gates = self._ort.run(x.detach().cpu().numpy(), gates=keep_gates)
        for m in self._gams:
            m.channel_gate = m.spatial_gate = None
        if keep_gates:   # the taps read them where the PyTorch pass leaves them
            for g in self._gate_outputs:
                g.module.channel_gate = torch.from_numpy(gates[g.channel]) if g.channel else None
                g.module.spatial_gate = torch.from_numpy(gates[g.spatial]) if g.spatial else None
        return [torch.from_numpy(r) for r in raw]

    def layer_outputs(self, x: torch.Tensor, layers: Sequence[int]) -> Optional[List[np.ndarray]]:
        """Outputs of model layers ``layers`` for a preprocessed batch, from the ONNX Runtime
        graph (the layers CAM offers are exported); None when this backend cannot give them
        (PyTorch, or a layer that is not exported): then run the PyTorch model."""
        if self._ort is None:
            return None
        with self._lock:
            return self._ort.layer_outputs(x.detach().cpu().numpy(), layers)

    def decode(self, raw: Sequence[torch.Tensor]) -> torch.Tensor:
        return decode_head(self.model.head, raw, self._grids)

    def _graph_forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        key = (tuple(x.shape), x.dtype)
        entry = self._graphs.get(key)
        if entry is None:
            if len(self._graphs) >= 4:
                self._graphs.clear()
            static_in = x.clone()
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    self.model(static_in)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self.model(static_in)
            gates = [(m.channel_gate, m.spatial_gate) for m in self._gams]
            entry = (graph, static_in, static_out, gates)
            self._graphs[key] = entry
        graph, static_in, static_out, gates = entry
        static_in.copy_(x)
        graph.replay()
        for m, (cg, sg) in zip(self._gams, gates):
            m.channel_gate, m.spatial_gate = cg, sg
        return static_out

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def taps(self, lb: Letterbox, batch_index: int = 0) -> List[AttentionMap]:
        """The gates of every GAM layer from the last forward, copied to the CPU."""
        out = []
        for info in self._gam_layers:
            m = self.model.gam_block(info.index)  # a repeated block: the last repeat
            # C x h x w contiguous while still on the device, then one transfer that also casts
            cg = _to_host(m.channel_gate[batch_index]) if m.channel_gate is not None else None
            sg = _to_host(m.spatial_gate[batch_index]) if m.spatial_gate is not None else None
            out.append(AttentionMap(info.index, info.position, int(info.stride or 0), cg, sg, lb))
        return out

    # ------------------------------------------------------------------ the one call
    def predict(self, image, conf: float = 0.25, iou: float = 0.45, imgsz: int = 640,
                classes: Optional[Sequence[int]] = None, *, auto: bool = True, max_det: int = 1000,
                agnostic: bool = False, attention: bool = True) -> Detections:
        """Detect objects in a BGR image (numpy array or path); see :class:`Detections`."""
        _check_number("conf", conf, 0, 1)
        _check_number("iou", iou, 0, 1)
        if isinstance(max_det, bool) or not isinstance(max_det, (int, np.integer)) or max_det < 1:
            raise ValueError(f"max_det must be a positive integer, got {max_det!r}")
        if classes is not None:
            if isinstance(classes, (int, np.integer)):
                classes = [classes]
            if any(isinstance(c, bool) or not isinstance(c, (int, np.integer)) for c in classes):
                raise ValueError(f"classes must be integer class ids, got {list(classes)!r}")
            classes = [int(c) for c in classes]
            bad = [c for c in classes if not 0 <= c < self.nc]
            if bad:
                raise ValueError(f"classes {bad} out of range: the model has {self.nc} classes (0..{self.nc - 1})")
        image = to_image(image)
        with self._lock, torch.inference_mode() if not self.cuda_graph else torch.no_grad():
            t0 = time.perf_counter()
            x, lb = self.preprocess(image, imgsz, auto)
            self._sync()
            t1 = time.perf_counter()
            raw = self.forward(x, keep_gates=attention)
            self._sync()
            t2 = time.perf_counter()
            det = nms(decode_candidates(self.model.head, raw, conf), conf, iou, classes, agnostic, max_det,
                      objectness=has_objectness(self.model.head))[0]
            boxes = scale_boxes(det[:, :4], lb).cpu().numpy().astype(np.float32) if det.shape[0] else \
                np.zeros((0, 4), np.float32)
            scores = det[:, 4].float().cpu().numpy()
            cls = det[:, 5].long().cpu().numpy()
            t3 = time.perf_counter()
            maps = self.taps(lb) if attention else []
            t4 = time.perf_counter()
        timings = {"preprocess": (t1 - t0) * 1e3, "forward": (t2 - t1) * 1e3, "postprocess": (t3 - t2) * 1e3,
                   "taps": (t4 - t3) * 1e3, "total": (t4 - t0) * 1e3}
        return Detections(boxes, scores, cls, self.names, lb, timings, maps)

    __call__ = predict


def _to_host(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().to("cpu", torch.float32)


_BUILD_LOCK = threading.RLock()


def load_model(source: Union[str, Path], *, device: Union[str, torch.device] = "cpu",
               channel_sigmoid: Optional[bool] = None, shuffle: Optional[bool] = None,
               half: bool = False, fuse: bool = True, cuda_graph: bool = False,
               channels_last: bool = True, backend: Optional[str] = "auto", onnx_cache: bool = True,
               threads: Optional[int] = None) -> Detector:
    """Open a checkpoint, gam-viewer file or YAML safely and return a ready :class:`Detector`.

    ``channel_sigmoid`` / ``shuffle`` override the community GAM semantics that a checkpoint
    cannot show (None = documented defaults; the choice is in ``detector.gam``).
    ``backend``: "auto" (ONNX Runtime on the CPU when installed and the export works, else
    PyTorch), "torch" or "onnxruntime" (see :class:`Detector`; ``detector.backend`` says which
    runs, ``detector.notes`` why ONNX Runtime is not used when it was wanted). ``onnx_cache``:
    reuse / keep exports in the user cache folder. ``threads``: ONNX Runtime intra-op threads
    (default: the cores this process may use).
    Raises :class:`gam_viewer.models.errors.ModelLoadError` with a one-line reason.
    """
    backend = check_backend(backend)   # a bad name fails before the (slow) model read
    # One model is built at a time in a process: the window loads both panes' models from two
    # worker threads, and building (module init from the global RNG, BN folding, the ONNX
    # export) is not worth racing; a load is rare and short next to inference.
    with _BUILD_LOCK:
        loaded = read_model(source, channel_sigmoid=channel_sigmoid, shuffle=shuffle)
        return Detector(loaded, device=device, half=half, fuse=fuse, cuda_graph=cuda_graph,
                        channels_last=channels_last, backend=backend, onnx_cache=onnx_cache, threads=threads)
