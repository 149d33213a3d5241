"""``gam-viewer fetch``: an official YOLOv5 v7.0 baseline, downloaded on request, cached, SHA-256 checked."""

import sys
from typing import List

from .args import Parser, UsageError, positive_float

__all__ = ["run"]


def run(argv: List[str]) -> int:
    """``gam-viewer fetch NAME``: an official checkpoint into the cache (SHA-256 checked); prints its path."""
    from .. import hub as zoo

    ap = Parser(prog="gam-viewer fetch",
                description="Download an official YOLOv5 v7.0 COCO checkpoint into the cache (checked by SHA-256) "
                            "and print its path; a cached one is only verified.")
    ap.add_argument("name", nargs="?", help="one of " + ", ".join(zoo.OFFICIAL))
    ap.add_argument("--list", action="store_true", help="list the checkpoints and which are cached")
    ap.add_argument("--url", help=f"download from this base URL (default: ${zoo.ENV_URL} or the GitHub release)")
    ap.add_argument("--timeout", type=positive_float, default=zoo.DEFAULT_TIMEOUT, help="network timeout in seconds")
    args = ap.parse_args(argv)
    if args.list or not args.name:
        if not args.list:
            raise UsageError("name a checkpoint: " + ", ".join(zoo.OFFICIAL) + " (or --list)")
        for name, ck in zoo.OFFICIAL.items():
            path = zoo.cached_path(name)
            print(f"{name:8s} {'cached ' + str(path) if path else 'about ' + zoo.describe_size(ck.size)}")
        print(f"cache: {zoo.cache_dir()}")
        return 0
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be positive, got {args.timeout:g}")
    from tqdm import tqdm

    # a progress bar on stderr, on a terminal only (tqdm's disable=None); stdout keeps just the path
    with tqdm(desc=args.name, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr, disable=None,
              leave=False) as bar:
        def progress(done: int, total: int) -> None:
            if total and bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

        try:
            path = zoo.fetch(args.name, progress=progress, base_url=args.url, timeout=args.timeout)
        except zoo.ZooError as exc:
            raise UsageError(str(exc)) from None
    print(path)
    return 0
