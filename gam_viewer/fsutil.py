"""File-system helpers shared by every layer (no Qt, no torch)."""
from __future__ import annotations

import os


def _read_umask() -> int:
    # os.umask can only be read by setting it; do it once, at import (single-threaded then)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def give_default_mode(path) -> None:
    """Give a file made by ``tempfile.mkstemp`` (mode 0600) the mode an ordinary new file
    gets (0666 minus the umask), so atomically written exports are readable like any other."""
    try:
        os.chmod(path, 0o666 & ~_UMASK)
    except OSError:  # file systems without POSIX modes
        pass
