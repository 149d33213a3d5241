"""``gam-viewer data``: dataset tools (``data synth``: a synthetic detection dataset, offline)."""

from typing import List

from .args import Parser

__all__ = ["run"]


def run(argv: List[str]) -> int:
    """``gam-viewer data TOOL``: dataset tools (``synth``)."""
    from ..data import synth

    ap = Parser(prog="gam-viewer data", description="Dataset tools.")
    sub = ap.add_subparsers(dest="tool", required=True)
    synth.add_cli(sub)
    args = ap.parse_args(argv)
    return int(args.func(args))
