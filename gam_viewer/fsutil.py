"""File-system helpers shared by every layer (no Qt, no torch)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Union


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


def write_atomic(path: Union[str, Path], data: bytes, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` all at once: temp file in the same folder, fsync, then move.

    ``overwrite=False``: never replaces an existing file (FileExistsError naming it), even
    one that appears while writing (the final step is a hard link, which cannot clobber).
    A failure leaves no partial file behind.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path.parent}: no such folder")
    if not overwrite and path.exists():
        raise FileExistsError(f"{path}: already exists (not overwritten)")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        give_default_mode(tmp)
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)       # atomic and refuses an existing name
            except FileExistsError:
                raise FileExistsError(f"{path}: already exists (not overwritten)") from None
            except OSError:              # file systems without hard links
                if path.exists():
                    raise FileExistsError(f"{path}: already exists (not overwritten)") from None
                os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
