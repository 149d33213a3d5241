"""Entry points: ``gam-viewer`` (the window) and its headless sub-commands.

    gam-viewer [PATH ...] [--model M] [--baseline B]   open the viewer (demo when no PATH)
    gam-viewer info MODEL                               what a model file holds, GAM layers
    gam-viewer convert IN.pt OUT                        write gam-viewer's safe format
    gam-viewer export --model M --source S --out DIR    heatmap / CAM figures, headless
    gam-viewer figure --model M --source IMGS --out F   a paper figure grid (+ JSON sidecar)
    gam-viewer data synth --out DIR                     a synthetic detection dataset
    gam-viewer train model=... data=...                 train a GAM-YOLO (needs the train extra)
    gam-viewer fetch yolov5s                            download an official YOLOv5 checkpoint (cached)

User errors print one line ``gam-viewer: error: ...`` and exit with status 2; nothing here
prints a traceback for them. Qt is imported only by the window.
"""

import sys
from typing import Callable, Dict, List, Optional

from .cli.args import Parser, UsageError
from .fsutil import os_error_text

__all__ = ["main", "UserError"]


UserError = UsageError   # a problem with what the user asked for: one line, exit status 2


def _fail(msg: str) -> int:
    print(f"gam-viewer: error: {msg}", file=sys.stderr)
    return 2


# ----------------------------------------------------------------------------- sub-command table
def _lazy(module: str) -> Callable[[List[str]], int]:
    """A sub-command whose module (``gam_viewer.<module>``, with its heavy imports) loads only when run."""
    def run(argv: List[str]) -> int:
        import importlib

        return int(importlib.import_module(f"{__package__}.{module}").run(argv))

    run.__name__ = f"run_{module.replace('.', '_')}"
    return run


def _cmd_train(argv: List[str]) -> int:
    try:
        from .train.cli import run as run_train
    except ImportError as exc:
        raise UserError(f"training needs the train extra ({exc}); install it with `make train-deps`, or: "
                        "pip install 'gam-viewer[train]' && pip install --no-deps ultralytics==8.4.190") from None
    return int(run_train(argv))


SUBCOMMANDS: Dict[str, Callable[[List[str]], int]] = {
    "info": _lazy("cli.info"),
    "convert": _lazy("cli.convert"),
    "export": _lazy("cli.export"),
    "figure": _lazy("cli.figure"),
    "eval": _lazy("cli.eval"),
    "data": _lazy("cli.data"),
    "train": _cmd_train,          # the optional extra: a missing package is said in the user's terms
    "fetch": _lazy("cli.fetch"),
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
