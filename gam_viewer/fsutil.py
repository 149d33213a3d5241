"""File-system helpers shared by every layer (no Qt, no torch)."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Optional, Union


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


def sha256_file(path: Union[str, Path], check: Optional[Callable[[], None]] = None) -> str:
    """The SHA-256 of a file's bytes (hex), read in 1 MiB blocks; ``check()`` runs before each
    block (it may raise to stop, e.g. on a user's cancel)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            if check is not None:
                check()
            h.update(block)
    return h.hexdigest()


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


# ----------------------------------------------------------------------------- output locations
class LocationError(ValueError):
    """An output location that cannot be used; ``str(err)`` is one line naming it and why."""


def os_error_text(exc: OSError) -> str:
    """An OSError in plain words: '<file>: <reason>' without the '[Errno N]' prefix."""
    reason = exc.strerror or str(exc)
    name = exc.filename
    if name is None:
        return reason[:1].lower() + reason[1:] if reason else type(exc).__name__
    text = f"{name}: {reason[:1].lower() + reason[1:]}"
    if exc.filename2 is not None:
        text += f" ({exc.filename2})"
    return text


def _existing_ancestor(path: Path) -> Path:
    p = path
    while not p.exists() and not p.is_symlink():
        if p.parent == p:
            break
        p = p.parent
    return p


def _probe_writable(folder: Path) -> Optional[str]:
    """None if a file can be created in ``folder``, else the reason in plain words."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".gam-viewer-probe-", dir=folder)
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()
    os.close(fd)
    os.unlink(tmp)
    return None


def folder_problem(path: Union[str, Path]) -> Optional[str]:
    """Why ``path`` cannot be (or become) a writable folder, in plain words; None if it can.
    Creates nothing (a probe file is made and removed in the nearest existing folder)."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        return "exists and is a file, not a folder"
    base = _existing_ancestor(path)
    if not base.is_dir():
        return f"{base} is a file, not a folder"
    why = _probe_writable(base)
    if why:
        return f"cannot write {'in it' if base == path else f'in {base}'} ({why})"
    return None


def check_output_folder(path: Union[str, Path], what: str = "--out") -> Path:
    """Check, without creating anything, that ``path`` is or can become a writable folder.

    Raises :class:`LocationError` with a message in the user's terms: a file in the way
    ("/etc/passwd is a file, not a folder"), no permission, a read-only file system."""
    why = folder_problem(path)
    if why:
        raise LocationError(f"{what} {path}: {why}")
    return Path(path).expanduser()


def check_output_file(path: Union[str, Path], what: str, overwrite: bool = False) -> Path:
    """Check that a file can be written at ``path`` (its folder exists or can be made, is
    writable, and no file would be replaced unless ``overwrite``). Creates nothing."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise LocationError(f"{what} {path}: is a folder")
    if p.exists() and not overwrite:
        raise LocationError(f"{what} {path}: already exists (not overwritten; use --force or another name)")
    base = _existing_ancestor(p.parent)
    if not base.is_dir():
        raise LocationError(f"{what} {path}: {base} is a file, not a folder")
    why = _probe_writable(base)
    if why:
        raise LocationError(f"{what} {path}: cannot write in {base} ({why})")
    return p
