"""What the attention views show, as plain data: the view state and the pure functions over it.

:class:`AttentionState` holds every choice of the window's Attention panel (overlay mode, gate,
reduction, per-layer channel, selected layer, clicked point, colour map, opacity, range, the
channel chart's options, CAM layers and Grad-CAM targets). The functions below turn (state,
one model's result) into what is drawn and what is exported:

* :func:`gate_view` / :func:`cam_view` - a map over the image (:class:`MapView`: values,
  range, caption words);
* :func:`chart_view` - the channel chart (:class:`ChartView`: the vector, title, marked bar,
  clicked cell);
* :func:`export_map` / :func:`export_chart` - (file name, figure) pairs.

The panel mirrors the state in widgets; the window's exporter and ``gam-viewer export`` call
the same functions, so both write the same names, colours and captions. No Qt here.
"""

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple, Union

import numpy as np

from . import captions as C
from . import figures as F
from .colormaps import DEFAULT_COLORMAP, check_cmap

__all__ = ["AttentionState", "MapView", "ChartView", "MODES", "REDUCE_KINDS", "RANGE_MODES", "gate_view",
           "cam_view", "chart_view", "export_map", "export_chart"]

MODES = ("off", "gate", "eigen", "grad")     # nothing; the selected GAM layer's gate; EigenCAM; Grad-CAM
REDUCE_KINDS = ("mean", "max", "channel")
RANGE_MODES = ("frame", "fixed")
GATES = ("spatial", "channel")
Range = Tuple[float, float]
Reduction = Union[str, int]
LayerKey = Tuple[str, int]                   # (side, layer index)


@dataclass
class AttentionState:
    mode: str = "off"
    gate: str = "spatial"                    # the heatmaps' gate
    reduce: str = "mean"                     # over channels: "mean", "max" or "channel" (``channels``)
    channels: Dict[LayerKey, int] = field(default_factory=dict)
    selected: Optional[LayerKey] = None
    point: Optional[Tuple[float, float]] = None  # clicked pixel (original image): the chart's cell
    cmap: str = DEFAULT_COLORMAP
    opacity: float = 0.5
    range_mode: str = "frame"                # "frame": each map's own min..max; "fixed": ``fixed``
    fixed: Range = (0.0, 1.0)
    chart_reduce: str = "mean"               # the chart: over H x W
    chart_sort: bool = False
    chart_top_k: Optional[int] = None
    cam_layers: Dict[str, Optional[Tuple[int, ...]]] = field(default_factory=dict)   # None: the default
    grad_targets: Dict[str, Tuple[Tuple[float, ...], int, str]] = field(default_factory=dict)  # box, cls, label

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """ValueError naming the first field that holds an unknown value."""
        for name, value, allowed in (("mode", self.mode, MODES), ("gate", self.gate, GATES),
                                     ("reduce", self.reduce, REDUCE_KINDS),
                                     ("range_mode", self.range_mode, RANGE_MODES),
                                     ("chart_reduce", self.chart_reduce, ("mean", "max"))):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        check_cmap(self.cmap)
        if not 0.0 <= float(self.opacity) <= 1.0:
            raise ValueError(f"opacity must be in [0, 1], got {self.opacity}")

    def reduction(self, side: str, amap) -> Reduction:
        """The reduction over channels for layer ``amap`` of ``side``: "mean", "max" or a channel."""
        if self.reduce != "channel":
            return self.reduce
        return min(max(int(self.channels.get((side, amap.index), 0)), 0), amap.channels - 1)

    def vrange(self, values: np.ndarray) -> Range:
        """The colour range of ``values``: its own (per frame) or the fixed one."""
        return F.value_range(values, self.range_mode, self.fixed if self.range_mode == "fixed" else None)

    def forget(self, side: str) -> None:
        """Drop what belongs to ``side``'s model (a new model was opened there)."""
        self.grad_targets.pop(side, None)
        for key in [k for k in self.channels if k[0] == side]:
            del self.channels[key]


@dataclass
class MapView:
    """One map over the image as shown and exported (a gate heatmap or a CAM)."""

    side: str
    kind: str                           # "gate", "eigen" or "grad"
    model: str                          # the model's label (file name)
    layer: str                          # "23 head/P4 (40x30)" or the CAM's layer names
    what: str                           # "spatial gate, mean over channels", "EigenCAM", "Grad-CAM of cat 0.90"
    label: str                          # colour-bar label: "spatial gate" or "CAM (relative)"
    values: np.ndarray                  # the map on the image (at ``out_hw`` when one was given)
    vrange: Range
    clipped: Tuple[bool, bool]
    full: Callable[[], np.ndarray]      # the same map at the source's resolution
    layer_index: Optional[int] = None   # gate: the GAM layer
    reduction: Optional[Reduction] = None  # gate: the reduction over channels
    gate: Optional[str] = None
    box: Optional[int] = None           # Grad-CAM: the detection's index
    boxes: Optional[np.ndarray] = None  # Grad-CAM: its box (1 x 4), drawn in exports
    box_labels: List[str] = field(default_factory=list)
    box_classes: List[int] = field(default_factory=list)

    def file_name(self, stem: str) -> str:
        if self.kind == "gate":
            return C.heatmap_name(stem, self.side, self.layer_index, self.gate, self.reduction)
        return C.cam_name(stem, self.side, self.kind, self.box)


def _finish(state: AttentionState, view: MapView) -> MapView:
    view.vrange = state.vrange(view.values)
    view.clipped = F.out_of_range(view.values, view.vrange)
    return view


def gate_view(state: AttentionState, side: str, amap, model: str,
              out_hw: Optional[Tuple[int, int]] = None) -> MapView:
    """Layer ``amap``'s gate (``state.gate``, reduced as ``state.reduction``) on the image, at
    ``out_hw`` (None: the source's size). ValueError when the block has no such gate."""
    red, gate = state.reduction(side, amap), state.gate
    values = amap.image_map(red, gate, out_hw)
    full = (lambda: values) if out_hw is None else (lambda: amap.image_map(red, gate))
    return _finish(state, MapView(side, "gate", model, f"{amap.index} {amap.name}", C.reduction_text(gate, red),
                                  f"{gate} gate", values, (0.0, 1.0), (False, False), full,
                                  layer_index=amap.index, reduction=red, gate=gate))


def cam_view(state: AttentionState, side: str, cam, det, model: str,
             out_hw: Optional[Tuple[int, int]] = None) -> MapView:
    """A CAM (``inference.cam.CamMap``) on the image; ``det``: the detections its box indexes."""
    box_label = det.label(cam.box) if cam.box is not None and det is not None else None
    values = cam.image_map(out_hw)
    full = (lambda: values) if out_hw is None else cam.image_map
    view = MapView(side, cam.method, model, ", ".join(cam.layer_names), C.cam_what(cam.method, box_label),
                   "CAM (relative)", values, (0.0, 1.0), (False, False), full,
                   box=cam.box if cam.method == "grad" else None)
    if cam.box is not None and det is not None:
        view.boxes = np.asarray(det.boxes[cam.box:cam.box + 1], dtype=np.float32)
        view.box_labels = [box_label]
        view.box_classes = [int(det.classes[cam.box])]
    return _finish(state, view)


@dataclass
class ChartView:
    """The channel chart of one GAM layer."""

    side: str
    layer_index: int
    model: str
    values: np.ndarray                  # (C,) in channel order
    gate: str
    reduction: Optional[str]            # "mean" / "max" over H x W, None: at the clicked cell
    title: str
    where: str                          # "at x 100, y 30: cell (3, 1) of 16x12" or ""
    marked: Optional[int]               # the heatmap's channel, highlighted
    cell: Optional[Tuple[float, float, float, float]] = None   # the clicked cell on the image

    @property
    def ylabel(self) -> str:
        return f"{self.gate} gate"

    def bars(self, state: AttentionState) -> Tuple[np.ndarray, np.ndarray]:
        """(channel ids, values) in the chart's order (as is, sorted, top k)."""
        return F.channel_bars(self.values, state.chart_sort, state.chart_top_k)


def chart_view(state: AttentionState, side: str, amap, model: str) -> ChartView:
    """The chart of layer ``amap``: its channel gate over H x W (``state.chart_reduce``), or at
    ``state.point``; the heatmap's channel is marked when the heatmap shows one channel."""
    gate = C.chart_gate(amap)
    where, cell = "", None
    if state.point is not None:
        x, y = state.point
        col, row = amap.cell_at(x, y)
        vec = amap.channel_vector(at=(x, y), gate=gate)
        h, w = amap.grid_hw
        where = f"at x {x:.0f}, y {y:.0f}: cell ({col}, {row}) of {w}x{h}"
        cell = tuple(float(v) for v in amap.cell_rect(col, row))
        reduction = None
    else:
        reduction = state.chart_reduce
        vec = amap.channel_vector(reduction, gate=gate)
    marked = state.reduction(side, amap) if state.reduce == "channel" else None
    title = C.chart_title(side, amap.index, amap.name, C.chart_what(gate, reduction))
    return ChartView(side, amap.index, model, vec, gate, reduction, title, where, marked, cell)


def export_map(state: AttentionState, view: MapView, image_bgr: np.ndarray, stem: str,
               frame: str) -> Tuple[str, np.ndarray]:
    """(file name, RGB figure) of ``view`` over ``image_bgr`` at the source's resolution."""
    values = view.full()
    cap = C.caption_text(view.model, view.layer, view.what, frame)
    fig = F.heatmap_figure(image_bgr, values, cmap=state.cmap, vrange=state.vrange(values),
                           range_mode=state.range_mode, alpha=state.opacity, caption=cap, label=view.label,
                           boxes=view.boxes, box_labels=view.box_labels or None,
                           box_classes=view.box_classes or None)
    return view.file_name(stem), fig


def export_chart(state: AttentionState, chart: ChartView, stem: str, frame: str) -> List[Tuple[str, object]]:
    """[(PNG name, RGB figure), (CSV name, text)] of the channel chart."""
    cap = C.chart_caption(chart.model, frame, chart.where)
    png = F.channel_chart_figure(chart.values, sort=state.chart_sort, top_k=state.chart_top_k, title=chart.title,
                                 caption=cap, ylabel=chart.ylabel, marked=chart.marked)
    ids, vals = chart.bars(state)
    csv = F.channel_csv(ids, vals, f"{chart.gate}_gate_{chart.reduction or 'cell'}")
    return [(C.chart_name(stem, chart.side, chart.layer_index, chart.reduction, ".png"), png),
            (C.chart_name(stem, chart.side, chart.layer_index, chart.reduction, ".csv"), csv)]
