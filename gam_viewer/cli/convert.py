"""``gam-viewer convert``: write gam-viewer's own pickle-free format (.safetensors)."""

from typing import List

from .args import Parser, UsageError, on_off

__all__ = ["run", "convert_target"]


def run(argv: List[str]) -> int:
    """``gam-viewer convert IN OUT``: gam-viewer's pickle-free .safetensors from any checkpoint it opens."""
    ap = Parser(prog="gam-viewer convert",
                description="Convert a checkpoint to gam-viewer's pickle-free format (.safetensors).")
    ap.add_argument("source", help="the checkpoint to read (read safely: no code runs)")
    ap.add_argument("out", help="output file (.safetensors is added when missing)")
    ap.add_argument("--float32", action="store_true", help="keep float32 weights (default: float16)")
    ap.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    ap.add_argument("--channel-sigmoid", choices=("on", "off"))
    ap.add_argument("--shuffle", choices=("on", "off"))
    args = ap.parse_args(argv)
    from ..fsutil import check_output_file

    out = convert_target(args.source, args.out)
    check_output_file(out, "OUT", overwrite=args.force)   # before the model is read
    from ..models import read_model
    from ..models.native import save_native

    loaded = read_model(args.source, channel_sigmoid=on_off(args.channel_sigmoid), shuffle=on_off(args.shuffle))
    try:
        out = save_native(loaded, out, half=not args.float32, overwrite=args.force)
    except FileExistsError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {out} ({len(loaded.gam)} GAM layers; {loaded.gam_summary()})")
    return 0


def convert_target(source: str, out: str):
    """OUT as a file path: an existing folder (or a name ending in '/') gets SOURCE's stem inside it."""
    from pathlib import Path

    p = Path(out).expanduser()
    if p.is_dir() or out.endswith(("/", "\\")):
        p = p / Path(source).stem
    if p.suffix != ".safetensors":
        p = p.with_name(p.name + ".safetensors")
    return p
