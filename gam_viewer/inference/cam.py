"""Class-activation maps (CAM) for any loaded detector, GAM-YOLO or baseline, via ``grad-cam``.

Two methods, both placed on the original image through the letterbox exactly like the GAM
heatmaps (:func:`gam_viewer.inference.attention.warp_to_image`):

``eigen_cam``
    EigenCAM (Muhammad & Yeasin, 2020): the first principal component of a layer's
    activations. Gradient-free and class-agnostic, so it works the same way on the GAM
    model and on the baseline and the two panes can be compared.
``grad_cam``
    Grad-CAM (Selvaraju et al., 2017) for *one detection*: the target is that box's class
    score, i.e. the number the detector reports as its confidence (objectness x class
    probability for YOLOv5 heads, class probability for anchor-free heads), taken at the
    very candidate that survived NMS.

Which layers are offered (:func:`cam_layers`) and why:

* the layers feeding Detect (the default, all of them averaged): the last features each
  scale's predictions are computed from, present in every YOLO, so GAM and baseline are
  compared at the same places. In the shipped GAM models these *are* the GAM outputs;
* every GAM layer: the CAM of the gated features, next to the gates themselves;
* the last backbone layer (SPPF in YOLOv5/v8): the coarsest, most semantic map before
  the neck mixes scales.

Any other layer with a 4-D tensor output can be asked for by index (``layers=[i]``);
Concat and Upsample work but add nothing over their inputs, and the head itself is refused.

Implementation notes (the traps the design notes warn about):

* the model returns a list of per-level maps; grad-cam needs a tensor, so it is wrapped in
  a module that returns the decoded predictions ``(B, N, 5 + nc)`` (no grid cache: the
  detector's cached grids were made under ``inference_mode`` and cannot join autograd);
* models are fused by default and fused weights have ``requires_grad=False``; the input
  is made to require gradients instead, which makes every activation differentiable (all
  weights are frozen for the pass, so no ``.grad`` is computed or left on the model). The
  fused model is the unfused one in eval mode, so Grad-CAM is unaffected (tested: same map);
* no layer here works in place, and the GAM blocks stop storing gates during a CAM pass
  (so the attention taps of the last ``predict`` are left as they were);
* grad-cam 1.5.7's EigenCAM computes a full ``U`` in its SVD (seconds at P3 on a CPU); the
  projection is recomputed here from the top eigenvector of the C x C scatter matrix (the
  same first right singular vector, ~50x faster), and its arbitrary sign is oriented so that the strongest response is positive
  (grad-cam's Seg-Eigen-CAM rule), otherwise the ReLU that follows may keep the background.

Maps are normalised to [0, 1] per image by grad-cam (min-max after a ReLU, on the network
input, padding included): CAM values are relative, not comparable between frames.
"""

from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from ..nn import gates_kept
from .attention import warp_to_image
from .decode import decode_head, has_objectness
from .layer_choice import cam_layer_reasons, head_sources
from .letterbox import Letterbox

__all__ = ["CamLayer", "CamMap", "cam_layers", "default_cam_layers", "check_cam_layers", "eigen_cam", "grad_cam"]


@dataclass(frozen=True)
class CamLayer:
    """A layer offered for CAM."""

    index: int
    type: str
    position: str        # e.g. "head/P3"
    stride: int
    reasons: Tuple[str, ...]   # "feeds Detect", "GAM", "last backbone layer"

    @property
    def name(self) -> str:
        return f"{self.index} {self.type} {self.position} (stride {self.stride})"

    def describe(self) -> str:
        return f"{self.name}: {', '.join(self.reasons)}"


@dataclass
class CamMap:
    """One CAM result. ``input_map`` is on the network input (letterboxed), values in [0, 1]."""

    method: str                       # "eigen" or "grad"
    layers: Tuple[int, ...]
    input_map: np.ndarray             # (H_in, W_in) float32
    letterbox: Letterbox
    box: Optional[int] = None         # Grad-CAM: index of the detection
    target_class: Optional[int] = None
    target_score: Optional[float] = None   # the box's score recomputed in the CAM pass
    grad_abs_mean: Optional[float] = None  # mean |d score / d activation| at the target layers
    layer_names: Tuple[str, ...] = field(default_factory=tuple)

    @property
    def label(self) -> str:
        """``EigenCAM`` or ``Grad-CAM box 3``."""
        return "EigenCAM" if self.method == "eigen" else f"Grad-CAM box {self.box}"

    @property
    def title(self) -> str:
        """The label and the layers, e.g. ``EigenCAM, layers 17, 20, 23``."""
        return f"{self.label}, layer{'s' if len(self.layers) > 1 else ''} {', '.join(map(str, self.layers))}"

    def image_map(self, out_hw: Optional[Tuple[int, int]] = None) -> np.ndarray:
        """The map on the original image (H0, W0), or resampled to ``out_hw``."""
        return warp_to_image(self.input_map, self.letterbox, 1, out_hw)


# ----------------------------------------------------------------------------- layer choice
def cam_layers(detector) -> List[CamLayer]:
    """The layers offered for CAM, in model order (see the module docstring for why)."""
    model = detector.model
    reasons = cam_layer_reasons(model)
    out = []
    for i in reasons:
        info = model.layers[i]
        out.append(CamLayer(i, info.type, info.position, int(info.stride or 0), tuple(reasons[i])))
    return out


def default_cam_layers(detector) -> List[int]:
    """The layers feeding Detect (one per output scale)."""
    return head_sources(detector.model)


def check_cam_layers(detector, layers: Union[None, int, Sequence[int]]) -> List[int]:
    """Validated CAM layer indices (None -> the default ones); ValueError naming a bad index."""
    model = detector.model
    n = len(model.layers)
    if layers is None:
        return default_cam_layers(detector)
    if isinstance(layers, (int, np.integer)) and not isinstance(layers, bool):
        layers = [int(layers)]
    layers = list(layers)
    if not layers:
        raise ValueError("CAM needs at least one layer")
    out = []
    for i in layers:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise ValueError(f"CAM layer must be an integer layer index, got {i!r}")
        i = int(i)
        if not 0 <= i < n - 1:
            offered = ", ".join(str(c.index) for c in cam_layers(detector))
            raise ValueError(f"CAM layer {i} is out of range: the model has layers 0..{n - 2} before its "
                             f"head (offered: {offered})")
        if model.layers[i].stride is None:
            raise ValueError(f"CAM layer {i} ({model.layers[i].type}) has no spatial output")
        if i not in out:
            out.append(i)
    return out


# ----------------------------------------------------------------------------- grad-cam glue
class _DecodedOutput(nn.Module):
    """The detector as grad-cam wants it: one tensor out, (B, N, no) decoded predictions."""

    def __init__(self, detector):
        super().__init__()
        self.net = detector.model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and not x.requires_grad:
            x = x.detach().requires_grad_(True)  # fused weights are frozen: grads flow via the input
        return decode_head(self.net.head, self.net(x))


@lru_cache(maxsize=1)
def _eigen_class():
    from pytorch_grad_cam import EigenCAM

    class _EigenCAM(EigenCAM):
        """grad-cam's EigenCAM with an economical SVD and a deterministic sign."""

        def get_cam_image(self, input_tensor, target_layer, target_category, activations, grads, eigen_smooth):
            return _first_component(activations)

    return _EigenCAM


def _eigen_from_activations(acts: Sequence[np.ndarray], target_wh: Tuple[int, int]) -> np.ndarray:
    """EigenCAM of batch element 0 from layer activations, combined across layers exactly as
    grad-cam's base class does it (per layer: ReLU, min-max, resize; then mean, min-max)."""
    from pytorch_grad_cam.utils.image import scale_cam_image

    per_layer = [scale_cam_image(np.maximum(_first_component(a), 0), target_wh)[:, None, :] for a in acts]
    stacked = np.maximum(np.concatenate(per_layer, axis=1), 0)
    return np.ascontiguousarray(scale_cam_image(np.mean(stacked, axis=1))[0], dtype=np.float32)


def _first_component(batch: np.ndarray) -> np.ndarray:
    """(B, C, h, w) -> (B, h, w): projection on the first principal component over positions."""
    out = []
    for a in np.asarray(batch, dtype=np.float32):
        a = np.nan_to_num(a)
        flat = a.reshape(a.shape[0], -1).T
        flat = (flat - flat.mean(axis=0)).astype(np.float64)
        # first right singular vector of ``flat`` = top eigenvector of its C x C scatter matrix
        _, vecs = np.linalg.eigh(flat.T @ flat)
        p = (flat @ vecs[:, -1]).astype(np.float32)
        if abs(p.min()) > abs(p.max()):
            p = -p
        out.append(p.reshape(a.shape[1:]))
    return np.asarray(out, dtype=np.float32)


class _BoxScore:
    """grad-cam target: the class score of the candidate that became detection ``box``."""

    def __init__(self, box_input_xyxy: np.ndarray, cls: int, score: float, objectness: bool,
                 clip_xyxy: Tuple[float, float, float, float]):
        self.box = torch.as_tensor(box_input_xyxy, dtype=torch.float32)
        self.clip = clip_xyxy  # the image content in input pixels: detections were clipped to it
        self.cls = int(cls)
        self.score = float(score)
        self.objectness = objectness
        self.matched: Optional[int] = None
        self.iou: float = 0.0
        self.value: Optional[float] = None

    def _scores(self, pred: torch.Tensor) -> torch.Tensor:
        if self.objectness:
            return pred[:, 4] * pred[:, 5 + self.cls]
        return pred[:, 4 + self.cls]

    def __call__(self, pred: torch.Tensor) -> torch.Tensor:
        scores = self._scores(pred)
        if self.matched is None:
            with torch.no_grad():
                xywh = pred[:, :4].detach().float()
                xyxy = torch.cat((xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2), 1)
                cx1, cy1, cx2, cy2 = self.clip
                xyxy[:, 0::2] = xyxy[:, 0::2].clamp(cx1, cx2)
                xyxy[:, 1::2] = xyxy[:, 1::2].clamp(cy1, cy2)
                b = self.box.to(xyxy.device)
                lt = torch.maximum(xyxy[:, :2], b[:2])
                rb = torch.minimum(xyxy[:, 2:], b[2:])
                inter = (rb - lt).clamp(min=0).prod(1)
                area = (xyxy[:, 2:] - xyxy[:, :2]).clamp(min=0).prod(1) + (b[2:] - b[:2]).clamp(min=0).prod()
                iou = inter / (area - inter).clamp(min=1e-9)
                cost = (scores.detach().float() - self.score).abs() + (1 - iou)
                k = int(cost.argmin())
                self.matched, self.iou = k, float(iou[k])
        value = scores[self.matched]
        self.value = float(value.detach())
        return value


def _prepare(detector, image, imgsz: int, auto: bool):
    from .detector import to_image

    img = to_image(image)
    x, lb = detector.preprocess(img, imgsz, auto)
    return img, x, lb


def _run_cam(detector, cam_cls, layers: List[int], x: torch.Tensor, targets, grad: bool):
    """Run a grad-cam class on ``x`` with the GAM blocks' gate storage switched off."""
    model = detector.model
    lock = getattr(detector, "_lock", None) or nullcontext()
    with lock, gates_kept(model.gam_modules(), False), torch.inference_mode(False), \
            torch.enable_grad() if grad else torch.no_grad():
        x = x.clone()  # a normal tensor even when the caller made it under inference_mode
        # gradients are wanted w.r.t. activations only: freeze every weight for the pass (the
        # input carries requires_grad), so no .grad is left on the model and none is computed
        trainable = [p for p in model.parameters() if p.requires_grad]
        for p in trainable:
            p.requires_grad_(False)
        cam = cam_cls(_DecodedOutput(detector), [model.model[i] for i in layers])
        try:
            out = cam(x, targets=targets)
            grads = [g.abs().mean().item() for g in cam.activations_and_grads.gradients]
        finally:
            cam.activations_and_grads.release()
            cam.outputs = None
            for p in trainable:
                p.requires_grad_(True)
    return np.ascontiguousarray(out[0], dtype=np.float32), grads


def _layer_names(detector, layers: List[int]) -> Tuple[str, ...]:
    infos = detector.model.layers
    return tuple(f"{i} {infos[i].type} {infos[i].position}" for i in layers)


# ----------------------------------------------------------------------------- public API
def eigen_cam(detector, image, layers: Union[None, int, Sequence[int]] = None, *,
              imgsz: Optional[int] = None, auto: bool = True) -> CamMap:
    """EigenCAM of ``image`` (BGR array or path) at ``layers`` (None: the layers feeding Detect).

    ``imgsz`` / ``auto`` must match the ``predict`` call the map is shown with (default:
    the detector's default size, minimal padding), so that both use the same letterbox.
    Raises ValueError for a bad layer index.
    """
    idx = check_cam_layers(detector, layers)
    _, x, lb = _prepare(detector, image, imgsz or detector.default_imgsz, auto)
    # ONNX Runtime exports the offered CAM layers' outputs: no PyTorch pass needed for those
    acts = detector.layer_outputs(x, idx) if hasattr(detector, "layer_outputs") else None
    if acts is not None:
        out = _eigen_from_activations(acts, (int(x.shape[3]), int(x.shape[2])))
    else:
        out, _ = _run_cam(detector, _eigen_class(), idx, x, None, grad=False)
    return CamMap("eigen", tuple(idx), out, lb, layer_names=_layer_names(detector, idx))


def grad_cam(detector, image, detections, box: int,
             layers: Union[None, int, Sequence[int]] = None) -> CamMap:
    """Grad-CAM for detection ``box`` of ``detections`` (the result of ``detector.predict(image)``).

    The target is the box's class score at the candidate that survived NMS. The letterbox
    (size, padding mode) is taken from ``detections`` so the pass sees the same input.
    Raises ValueError for a bad box or layer index, or detections from another image.
    """
    from pytorch_grad_cam import GradCAM  # slow to import (scikit-learn, scipy): only when used

    n = len(detections)
    if isinstance(box, bool) or not isinstance(box, (int, np.integer)):
        raise ValueError(f"box must be an integer detection index, got {box!r}")
    if not 0 <= int(box) < n:
        raise ValueError(f"box {box} is out of range: there are {n} detections"
                         + (f" (0..{n - 1})" if n else ""))
    box = int(box)
    idx = check_cam_layers(detector, layers)
    lb0: Letterbox = detections.letterbox
    imgsz = max(lb0.input_hw)
    auto = tuple(lb0.input_hw) != (imgsz, imgsz)
    img, x, lb = _prepare(detector, image, imgsz, auto)
    if lb != lb0:
        raise ValueError(f"these detections were computed on another image or size "
                         f"({lb0.orig_hw[1]}x{lb0.orig_hw[0]} -> {lb0.input_hw[1]}x{lb0.input_hw[0]}), "
                         f"not this {img.shape[1]}x{img.shape[0]} image")
    x1, y1, x2, y2 = (float(v) for v in detections.boxes[box])
    bx1, by1 = lb.orig_to_input(x1, y1)
    bx2, by2 = lb.orig_to_input(x2, y2)
    h0, w0 = lb.orig_hw
    content = (*lb.orig_to_input(0, 0), *lb.orig_to_input(w0, h0))
    target = _BoxScore(np.array([bx1, by1, bx2, by2]), int(detections.classes[box]), float(detections.scores[box]),
                       objectness=has_objectness(detector.model.head), clip_xyxy=content)
    out, grads = _run_cam(detector, GradCAM, idx, x, [target], grad=True)
    if target.iou < 0.5:
        raise ValueError(f"box {box} does not match any prediction of this model on this image "
                         f"(best IoU {target.iou:.2f}): were the detections made by another model?")
    return CamMap("grad", tuple(idx), out, lb, box=box, target_class=target.cls, target_score=target.value,
                  grad_abs_mean=float(np.mean(grads)) if grads else 0.0, layer_names=_layer_names(detector, idx))
