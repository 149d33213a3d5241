"""The command line's progress bar, one for every sub-command: tqdm on stderr (stdout keeps the
results), or a bar that does nothing with ``--quiet`` or without tqdm."""

import sys
from typing import Optional

__all__ = ["progress_bar"]


class _NoBar:
    n = 0

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: Optional[int], quiet: bool, unit: str = "frame", desc: str = "export"):
    """A tqdm bar on stderr for ``total`` steps (None: unknown), or a silent one when ``quiet``."""
    if quiet:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm comes with grad-cam; stay useful without it
        return _NoBar()
    return tqdm(total=total, file=sys.stderr, unit=unit, desc=desc, dynamic_ncols=True)
