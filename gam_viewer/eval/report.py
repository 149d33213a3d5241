"""The report files of an evaluation: report.json, per_class.csv, per_image.csv, report.html.

Every file is written to a temporary name and moved into place (``fsutil.write_atomic``), so an
interrupted run leaves complete files or none; :func:`check_outputs` refuses existing ones
before any work unless ``force``. The HTML is one self-contained file: figures are PNGs drawn
with matplotlib's Agg canvas and embedded as base64.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from ..fsutil import write_atomic
from .runner import EvalResult, signed

__all__ = ["OUTPUT_FILES", "check_outputs", "write_report", "summary_table", "per_image_csv", "per_class_csv"]

OUTPUT_FILES = ("report.json", "per_class.csv", "per_image.csv", "report.html")
TOP_IMAGES = 25


def check_outputs(out: Path, force: bool) -> None:
    """Refuse (FileExistsError, one line) when an output exists and ``force`` is not set."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out}: exists and is not a folder")
    if force:
        return
    existing = [n for n in OUTPUT_FILES if (out / n).exists()]
    if existing:
        raise FileExistsError(f"--out {out}: {', '.join(existing)} already exist(s); use --force to overwrite")


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (np.floating,)):
        return _clean(float(v))
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def _csv(rows: List[dict], columns: Optional[List[str]] = None) -> bytes:
    if columns is None:
        columns = []
        for r in rows:
            for k in r:
                if k not in columns:
                    columns.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else (round(r[k], 6) if isinstance(r.get(k), float) else r[k]))
                    for k in columns})
    return buf.getvalue().encode("utf-8")


PER_IMAGE_FIRST = ["image", "image_id", "width", "height", "objects", "classes", "tp_model", "fp_model", "fn_model",
                   "tp_baseline", "fp_baseline", "fn_baseline", "both", "only_model", "only_baseline", "neither",
                   "better_localised", "worse_localised", "disagreement"]


def per_image_csv(result: EvalResult) -> bytes:
    rows = sorted(result.per_image, key=lambda r: -(r.get("disagreement") or 0))
    cols = [c for c in PER_IMAGE_FIRST if any(c in r for r in rows)]
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    return _csv(rows, cols)


def per_class_csv(result: EvalResult) -> bytes:
    cols = ["class", "name", "objects", "images", "ap_model", "ap_baseline", "ap_difference", "ap50_model",
            "ap50_baseline", "ap50_difference"]
    return _csv(result.per_class, cols)


def report_json(result: EvalResult) -> bytes:
    return (json.dumps(_clean(result.to_json()), indent=2) + "\n").encode("utf-8")


# ------------------------------------------------------------------------------- text summary
def _pct(v) -> str:
    return "  -  " if v is None else f"{v * 100:5.1f}"


def summary_table(result: EvalResult) -> str:
    m, b = result.models["model"], result.models["baseline"]
    lines = [f"dataset  {result.dataset['source']} ({result.dataset['split'] or result.dataset['kind']}): "
             f"{result.dataset['images']} images, {result.dataset['objects']} objects"]
    if result.dataset["has_labels"]:
        lines.append(f"{'':22s}{'model':>9s}{'baseline':>10s}{'diff':>8s}")
        for key, label in (("map50_95", "mAP50-95"), ("map50", "mAP50"), ("map75", "mAP75"),
                           ("ap_small", "AP small"), ("ap_medium", "AP medium"), ("ap_large", "AP large"),
                           ("ar100", "AR@100")):
            d = None if m[key] is None or b[key] is None else m[key] - b[key]
            lines.append(f"  {label:20s}{_pct(m[key]):>9s}{_pct(b[key]):>10s}"
                         f"{('' if d is None else signed(d * 100)):>8s}")
        for key in ("map50_95", "map50"):
            lines.append("  " + result.difference[key]["verdict"])
        o = result.outcomes
        lines.append(f"  at conf {result.settings['operating_conf']:g}, IoU {result.settings['match_iou']:g}: "
                     f"{o['objects']} objects: both {o['both']}, only model {o['only_model']}, only baseline "
                     f"{o['only_baseline']}, neither {o['neither']}; FP model {o['fp_model']}, baseline "
                     f"{o['fp_baseline']}; better localised {o['better_localised']}, worse {o['worse_localised']}")
    else:
        o = result.outcomes
        lines.append(f"  no labels: at conf {result.settings['operating_conf']:g} the models agree on {o['agreed']} "
                     f"boxes; only model {o['only_model']}, only baseline {o['only_baseline']}")
    for role, x in (("model", m), ("baseline", b)):
        gf = "?" if x.get("gflops") is None else f"{x['gflops']:.1f}"
        lat = x["latency"]["median_ms"]
        lines.append(f"  {role:9s}{Path(x['spec']).name}: {x['params'] / 1e6:.2f} M params, {gf} GFLOPs at "
                     f"{x['gflops_imgsz']}, {lat:.1f} ms/image (median, this machine)")
    for role, layers in result.attention.items():
        for a in layers:
            r = a["on_objects_ratio_mean"]
            hr = a["pointing_hit_rate"]
            lines.append(f"  {role} GAM L{a['layer']} {a['position']}: attention-on-objects "
                         f"{'-' if r is None else f'{r:.2f}'}, pointing game "
                         f"{'-' if hr is None else f'{hr * 100:.0f} %'} ({a['images']} images)")
    if result.unreadable:
        lines.append(f"  {len(result.unreadable)} unreadable image(s) skipped (listed in report.json)")
    if result.missing_labels:
        lines.append(f"  {len(result.missing_labels)} image(s) without a label file, counted as empty "
                     f"(listed in report.json)")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- HTML
def _png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figures(result: EvalResult) -> Dict[str, str]:
    from matplotlib.figure import Figure

    figs = {}
    rows = [r for r in result.per_class if r["ap_difference"] is not None]
    if rows:
        rows = sorted(rows, key=lambda r: r["ap_difference"])
        fig = Figure(figsize=(8, max(2.5, 0.18 * len(rows) + 1)))
        ax = fig.add_subplot(111)
        vals = [r["ap_difference"] * 100 for r in rows]
        ax.barh(range(len(rows)), vals, color=["#2166ac" if v >= 0 else "#b2182b" for v in vals])
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([r["name"] for r in rows], fontsize=7)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_xlabel("AP50-95 difference, model - baseline (points)")
        ax.set_title("Per-class AP difference (blue: model better)")
        figs["per_class"] = _png(fig)
    for role, layers in result.attention.items():
        for a in layers:
            prof = a.get("class_channel_profile")
            if not prof:
                continue
            names = list(prof)
            mat = np.array([prof[n] for n in names], np.float64)
            fig = Figure(figsize=(8, max(2.0, 0.2 * len(names) + 1.2)))
            ax = fig.add_subplot(111)
            im = ax.imshow(mat, aspect="auto", cmap="viridis", interpolation="nearest")
            ax.set_yticks(range(len(names)))
            ax.set_yticklabels(names, fontsize=7)
            ax.set_xlabel("channel")
            ax.set_title(f"{role} layer {a['layer']} ({a['position']}): mean channel gate inside each class's "
                         f"boxes", fontsize=9)
            fig.colorbar(im, ax=ax, label="channel gate (raw values, not clipped)")
            figs[f"profile_{role}_{a['layer']}"] = _png(fig)
    return figs


def _table(headers: List[str], rows: List[List[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def report_html(result: EvalResult) -> bytes:
    e = html.escape
    m, b = result.models["model"], result.models["baseline"]
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>gam-viewer eval report</title><style>",
             "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;"
             "text-align:right}th{background:#f0f0f0}td:first-child{text-align:left}.v{font-weight:bold}"
             "img{max-width:100%}</style></head><body>",
             "<h1>Model vs baseline</h1>",
             f"<p>model <code>{e(m['spec'])}</code><br>baseline <code>{e(b['spec'])}</code><br>dataset "
             f"<code>{e(result.dataset['source'])}</code> ({e(str(result.dataset['split'] or result.dataset['kind']))}"
             f"): {result.dataset['images']} images, {result.dataset['objects']} objects</p>"]
    if result.dataset["has_labels"]:
        rows = []
        for key, label in (("map50_95", "mAP50-95"), ("map50", "mAP50"), ("map75", "mAP75"),
                           ("ap_small", "AP small"), ("ap_medium", "AP medium"), ("ap_large", "AP large"),
                           ("ar100", "AR@100")):
            d = result.difference.get(key, {})
            ci = d.get("ci95")
            rows.append([label, _pct(m[key]), _pct(b[key]),
                         "" if d.get("value") is None else signed(d['value'] * 100, 2),
                         "" if not ci or ci[0] is None else f"[{signed(ci[0] * 100, 2)}, {signed(ci[1] * 100, 2)}]"])
        evaluator = result.models.get("model", {}).get("evaluator", "COCO API")
        parts.append(f"<h2>COCO metrics ({e(evaluator)})</h2>")
        parts.append(_table(["metric", "model", "baseline", "difference", "95 % CI (paired bootstrap)"], rows))
        for key in ("map50_95", "map50"):
            parts.append(f"<p class='v'>{e(result.difference[key]['verdict'])}</p>")
        o = result.outcomes
        parts.append(f"<h2>Where they differ (conf &ge; {result.settings['operating_conf']:g}, IoU "
                     f"{result.settings['match_iou']:g})</h2>")
        parts.append(_table(["objects", "found by both", "only model", "only baseline", "neither", "FP model",
                             "FP baseline", "better localised", "worse localised"],
                            [[str(o[k]) for k in ("objects", "both", "only_model", "only_baseline", "neither",
                                                  "fp_model", "fp_baseline", "better_localised",
                                                  "worse_localised")]]))
    else:
        o = result.outcomes
        parts.append("<p>No labels: only the agreement of the two models.</p>")
        parts.append(_table(["model boxes", "baseline boxes", "agreed", "only model", "only baseline"],
                            [[str(o[k]) for k in ("model", "baseline", "agreed", "only_model", "only_baseline")]]))
    top = sorted(result.per_image, key=lambda r: -(r.get("disagreement") or 0))[:TOP_IMAGES]
    cols = [c for c in ("image", "objects", "only_model", "only_baseline", "fp_model", "fp_baseline",
                        "better_localised", "worse_localised", "model_boxes", "baseline_boxes", "agreed",
                        "disagreement") if any(c in r for r in top)]
    parts.append(f"<h2>The {len(top)} images where they disagree most</h2>")
    parts.append(_table(cols, [[e(str(r.get(c, ""))) for c in cols] for r in top]))
    parts.append("<h2>Cost</h2>")
    parts.append(_table(["", "params", "GFLOPs", "latency (median ms, this machine)"],
                        [[role, f"{x['params']:,}", "?" if x.get("gflops") is None else f"{x['gflops']:.2f}",
                          "?" if x["latency"]["median_ms"] is None else f"{x['latency']['median_ms']:.1f}"]
                         for role, x in (("model", m), ("baseline", b))]))
    if result.attention:
        parts.append("<h2>Where GAM looks</h2><p>attention-on-objects = (share of the spatial gate's mass inside "
                     "ground-truth boxes) / (share of the image they cover); &gt; 1: the gate concentrates on "
                     "objects. Pointing game: the gate's maximum lies inside a box.</p>")
        rows = []
        for role, layers in result.attention.items():
            for a in layers:
                r = a["on_objects_ratio_mean"]
                rows.append([f"{role} L{a['layer']}", e(a["position"]), str(a["images"]),
                             "-" if r is None else f"{r:.3f}",
                             "-" if a["on_objects_ratio_pooled"] is None else f"{a['on_objects_ratio_pooled']:.3f}",
                             "-" if a["pointing_hit_rate"] is None else f"{a['pointing_hit_rate'] * 100:.1f} %"])
        parts.append(_table(["layer", "position", "images", "ratio (mean)", "ratio (pooled)", "pointing game"],
                            rows))
    figs = _figures(result)
    for key, uri in figs.items():
        parts.append(f"<p><img alt='{e(key)}' src='{uri}'></p>")
    if result.per_class:
        parts.append("<h2>Per class</h2>")
        parts.append(_table(["class", "objects", "AP model", "AP baseline", "diff"],
                            [[e(r["name"]), str(r["objects"]), _pct(r["ap_model"]), _pct(r["ap_baseline"]),
                              "" if r["ap_difference"] is None else signed(r['ap_difference'] * 100)]
                             for r in result.per_class if r["objects"]]))
    s = result.settings
    parts.append(f"<h2>Settings</h2><p>imgsz {e(str(s['imgsz_used']))}, conf {s['conf']:g}, NMS IoU {s['iou']:g}, "
                 f"max {s['max_det']} boxes, letterbox {e(s['letterbox'])}, bootstrap {s['resamples']} resamples "
                 f"(seed {s['seed']}).</p>")
    if result.notes or result.unreadable or result.missing_labels:
        items = [e(n) for n in result.notes] + [f"unreadable: {e(u)}" for u in result.unreadable[:50]]
        items += [f"no label file: {e(p)}" for p in result.missing_labels[:50]]
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
    parts.append("</body></html>\n")
    return "".join(parts).encode("utf-8")


def write_report(result: EvalResult, out: Path, force: bool = False) -> List[Path]:
    """Write the four report files into ``out`` (created); returns their paths."""
    out = Path(out)
    check_outputs(out, force)
    out.mkdir(parents=True, exist_ok=True)
    blobs = [("report.json", report_json(result)), ("per_class.csv", per_class_csv(result)),
             ("per_image.csv", per_image_csv(result)), ("report.html", report_html(result))]
    return [write_atomic(out / name, data, overwrite=force) for name, data in blobs]
