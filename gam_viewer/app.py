"""Entry points: ``gam-viewer`` (the window) and its headless sub-commands.

    gam-viewer [PATH ...] [--model M] [--baseline B]   open the viewer (demo when no PATH)
    gam-viewer info MODEL                               what a model file holds, GAM layers
    gam-viewer convert IN.pt OUT                        write gam-viewer's safe format
    gam-viewer export --model M --source S --out DIR    heatmap / CAM figures, headless
    gam-viewer data synth --out DIR                     a synthetic detection dataset
    gam-viewer train model=... data=...                 train a GAM-YOLO (needs the train extra)
    gam-viewer fetch yolov5s                            download an official YOLOv5 checkpoint (cached)

User errors print one line ``gam-viewer: error: ...`` and exit with status 2; nothing here
prints a traceback for them. Qt is imported only by the window.
"""

import sys
from typing import Callable, Dict, List, Optional

from .cli.args import Parser, positive_float
from .fsutil import os_error_text

__all__ = ["main", "UserError"]


class UserError(Exception):
    """A problem with what the user asked for; shown as one line, exit status 2."""


def _fail(msg: str) -> int:
    print(f"gam-viewer: error: {msg}", file=sys.stderr)
    return 2


# ----------------------------------------------------------------------------- info / convert
def _cmd_info(argv: List[str]) -> int:
    ap = Parser(prog="gam-viewer info", description="Describe a model file and its GAM layers.")
    ap.add_argument("model", help="a YOLO .pt, a gam-viewer .safetensors, a model YAML or a shipped model name")
    ap.add_argument("--channel-sigmoid", choices=("on", "off"), help="community GAM: sigmoid on the channel map")
    ap.add_argument("--shuffle", choices=("on", "off"), help="community GAM: shuffle the final spatial map")
    args = ap.parse_args(argv)
    from .models import read_model

    loaded = read_model(args.model, channel_sigmoid=_switch(args.channel_sigmoid), shuffle=_switch(args.shuffle))
    m = loaded.model
    print(f"{args.model}")
    print(f"  format   {loaded.format} ({m.schema} schema{', scale ' + m.scale if m.scale else ''})")
    print(f"  classes  {m.nc}: {', '.join(loaded.names[:8])}{' ...' if m.nc > 8 else ''}")
    print(f"  params   {m.count_params():,}")
    print(f"  strides  {[int(s) for s in m.stride]}, default imgsz {loaded.imgsz}")
    print(f"  GAM      {len(loaded.gam)} layer(s)")
    for r in loaded.gam:
        print(f"    {r.describe()}")
    for note in loaded.notes:
        print(f"  note     {note}")
    return 0


def _switch(value: Optional[str]) -> Optional[bool]:
    return None if value is None else value == "on"


def _cmd_convert(argv: List[str]) -> int:
    ap = Parser(prog="gam-viewer convert",
                                 description="Convert a checkpoint to gam-viewer's pickle-free format (.safetensors).")
    ap.add_argument("source", help="the checkpoint to read (read safely: no code runs)")
    ap.add_argument("out", help="output file (.safetensors is added when missing)")
    ap.add_argument("--float32", action="store_true", help="keep float32 weights (default: float16)")
    ap.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    ap.add_argument("--channel-sigmoid", choices=("on", "off"))
    ap.add_argument("--shuffle", choices=("on", "off"))
    args = ap.parse_args(argv)
    from .fsutil import check_output_file

    out = _convert_target(args.source, args.out)
    check_output_file(out, "OUT", overwrite=args.force)   # before the model is read
    from .models import read_model
    from .models.native import save_native

    loaded = read_model(args.source, channel_sigmoid=_switch(args.channel_sigmoid), shuffle=_switch(args.shuffle))
    try:
        out = save_native(loaded, out, half=not args.float32, overwrite=args.force)
    except FileExistsError as exc:
        raise UserError(str(exc)) from None
    print(f"wrote {out} ({len(loaded.gam)} GAM layers; {loaded.gam_summary()})")
    return 0


def _convert_target(source: str, out: str):
    """OUT as a file path: an existing folder (or a name ending in '/') gets SOURCE's stem inside it."""
    from pathlib import Path

    p = Path(out).expanduser()
    if p.is_dir() or out.endswith(("/", "\\")):
        p = p / Path(source).stem
    if p.suffix != ".safetensors":
        p = p.with_name(p.name + ".safetensors")
    return p


# ----------------------------------------------------------------------------- sub-command table
def _cmd_data(argv: List[str]) -> int:
    from .data import synth

    ap = Parser(prog="gam-viewer data", description="Dataset tools.")
    sub = ap.add_subparsers(dest="tool", required=True)
    synth.add_cli(sub)
    args = ap.parse_args(argv)
    return int(args.func(args))


def _cmd_export(argv: List[str]) -> int:
    from .cli.export import run as run_export

    return int(run_export(argv))


def _cmd_train(argv: List[str]) -> int:
    try:
        from .train.cli import run as run_train
    except ImportError as exc:
        raise UserError(f"training needs the train extra ({exc}); install it with `make train-deps`, or: "
                        "pip install 'gam-viewer[train]' && pip install --no-deps ultralytics==8.4.190") from None
    return int(run_train(argv))


def _cmd_fetch(argv: List[str]) -> int:
    from . import hub as zoo

    ap = Parser(prog="gam-viewer fetch",
                                 description="Download an official YOLOv5 v7.0 COCO checkpoint into the cache "
                                             "(checked by SHA-256) and print its path; a cached one is only "
                                             "verified.")
    ap.add_argument("name", nargs="?", help="one of " + ", ".join(zoo.OFFICIAL))
    ap.add_argument("--list", action="store_true", help="list the checkpoints and which are cached")
    ap.add_argument("--url", help=f"download from this base URL (default: ${zoo.ENV_URL} or the GitHub release)")
    ap.add_argument("--timeout", type=positive_float, default=zoo.DEFAULT_TIMEOUT, help="network timeout in seconds")
    args = ap.parse_args(argv)
    if args.list or not args.name:
        if not args.list:
            raise UserError("name a checkpoint: " + ", ".join(zoo.OFFICIAL) + " (or --list)")
        for name, ck in zoo.OFFICIAL.items():
            path = zoo.cached_path(name)
            print(f"{name:8s} {'cached ' + str(path) if path else 'about ' + zoo.describe_size(ck.size)}")
        print(f"cache: {zoo.cache_dir()}")
        return 0
    if args.timeout <= 0:
        raise UserError(f"--timeout must be positive, got {args.timeout:g}")
    shown = []   # a progress line is on stderr (a terminal only)

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            of = f" of {total / 1e6:.1f}" if total else ""
            print(f"\r{args.name}: {done / 1e6:.1f}{of} MB", end="", file=sys.stderr, flush=True)
            shown.append(True)

    try:
        path = zoo.fetch(args.name, progress=progress, base_url=args.url, timeout=args.timeout)
    except zoo.ZooError as exc:
        raise UserError(str(exc)) from None
    finally:
        if shown:
            print(file=sys.stderr)
    print(path)
    return 0


SUBCOMMANDS: Dict[str, Callable[[List[str]], int]] = {
    "info": _cmd_info,
    "convert": _cmd_convert,
    "export": _cmd_export,
    "data": _cmd_data,
    "train": _cmd_train,
    "fetch": _cmd_fetch,
}


def _gui(argv: List[str]) -> int:
    ap = Parser(prog="gam-viewer", description=__doc__.split("\n\n")[0],
                                 epilog="sub-commands: " + ", ".join(SUBCOMMANDS) + " (gam-viewer CMD --help)")
    ap.add_argument("paths", nargs="*", help="images, folders, videos or model files to open")
    ap.add_argument("--model", help="GAM-YOLO model for the left pane (default: the bundled demo)")
    ap.add_argument("--baseline", help="baseline model for the right pane (default: the bundled demo)")
    ap.add_argument("--no-demo", action="store_true", help="start empty instead of on the demo")
    ap.add_argument("--restore", action="store_true",
                    help="open the models of the last session instead of the demo pair")
    ap.add_argument("--version", action="version", version=_version())
    args = ap.parse_args(argv)
    try:
        from .ui.app import run_gui
    except ImportError as exc:
        raise UserError(f"the window needs PySide6 and pyqtgraph ({exc})") from None
    return int(run_gui(args))


def _version() -> str:
    from . import __version__

    return f"gam-viewer {__version__}"


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "failed (no reason given)"


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from .models.errors import ModelLoadError

    try:
        if argv and argv[0] in SUBCOMMANDS:
            return SUBCOMMANDS[argv[0]](argv[1:])
        return _gui(argv)
    except (UserError, ModelLoadError, ValueError) as exc:
        return _fail(_one_line(str(exc)))
    except OSError as exc:  # every file-system problem: in plain words, never a traceback
        return _fail(_one_line(os_error_text(exc) if exc.errno is not None else str(exc)))
    except MemoryError:
        return _fail("out of memory (for very large images: lower --max-edge, or leave out --full-res)")
    except KeyboardInterrupt:
        return _fail("interrupted")


if __name__ == "__main__":
    sys.exit(main())
