"""``gam-viewer info``: describe a model file and its GAM layers (what was decided, and why)."""

from typing import List

from .args import Parser, on_off

__all__ = ["run"]


def run(argv: List[str]) -> int:
    """``gam-viewer info MODEL``: what a model file holds and how its GAM layers are read."""
    ap = Parser(prog="gam-viewer info", description="Describe a model file and its GAM layers.")
    ap.add_argument("model", help="a YOLO .pt, a gam-viewer .safetensors, a model YAML or a shipped model name")
    ap.add_argument("--channel-sigmoid", choices=("on", "off"), help="community GAM: sigmoid on the channel map")
    ap.add_argument("--shuffle", choices=("on", "off"), help="community GAM: shuffle the final spatial map")
    ap.add_argument("--backend", choices=("auto", "torch", "onnxruntime"),
                    help="also open the model for inference with this backend and say which one runs it "
                         "(ONNX Runtime: the export, or its cached copy, and how long it took)")
    args = ap.parse_args(argv)
    from ..models import read_model

    loaded = read_model(args.model, channel_sigmoid=on_off(args.channel_sigmoid), shuffle=on_off(args.shuffle))
    m = loaded.model
    print(f"{args.model}")
    print(f"  format   {loaded.format} ({m.schema} schema{', scale ' + m.scale if m.scale else ''})")
    print(f"  classes  {m.nc}: {', '.join(loaded.names[:8])}{' ...' if m.nc > 8 else ''}")
    print(f"  params   {m.count_params():,}")
    print(f"  strides  {[int(s) for s in m.stride]}, default imgsz {loaded.imgsz}")
    print(f"  GAM      {len(loaded.gam)} layer(s)")
    for r in loaded.gam:
        print(f"    {r.describe()}")
    det = None
    if args.backend:   # after the description: the detector fuses the model (fewer parameters)
        import warnings

        from ..inference.detector import Detector

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # the fallback is printed below as a note
            det = Detector(loaded, backend=args.backend)
    if det is not None:
        line = det.backend_label
        rep = det.onnx_report
        if det.backend == "onnxruntime" and rep is not None:
            how = (f"exported in {rep.export_ms:.0f} ms" if rep.exported else "from the cache") + \
                f", session {rep.open_ms:.0f} ms"
            line += f"; {how}; {rep.path or 'not cached'}"
        print(f"  backend  {line}")
    for note in loaded.notes + (det.notes if det is not None else []):
        print(f"  note     {note}")
    return 0
