"""The official YOLOv5 COCO checkpoints as baselines: downloaded on request only, cached, checksummed.

    >>> from gam_viewer import hub as zoo
    >>> path = zoo.fetch("yolov5s")          # the network is touched here, and only here
    >>> det = load_model(path)               # read by the usual restricted unpickler

The five v7.0 detection checkpoints (yolov5n/s/m/l/x, 80 COCO classes) of the official
YOLOv5 release. A file is downloaded into a temporary file in the cache folder, its SHA-256
is checked, and only then is it renamed into place: a cancelled, broken or wrong download
leaves nothing behind. Where the hash of a file is published with this code (``OFFICIAL``)
that value is checked; for the others the hash seen at the first download is recorded in
``checksums.json`` in the cache folder (trust on first use) and every later use is checked
against it. A cached file is verified before it is handed out.

Where files go: ``weights/`` in gam-viewer's user cache folder (:mod:`gam_viewer.cachedir`:
``$GAM_VIEWER_CACHE`` when set, else the platform's, from platformdirs:
``~/.cache/gam-viewer/weights`` on Linux, ``~/Library/Caches/gam-viewer/weights`` on macOS,
``%LOCALAPPDATA%\\gam-viewer\\Cache\\weights`` on Windows). Where from: the GitHub release, or a mirror given as ``base_url`` or
``$GAM_VIEWER_ZOO_URL`` (``<base>/<name>.pt``).

Nothing here runs at import; no Qt.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional

from .cachedir import ENV_CACHE, cache_root  # noqa: F401  (ENV_CACHE: the variable's name, for callers)
from .fsutil import give_default_mode, sha256_file, write_atomic

__all__ = ["Checkpoint", "OFFICIAL", "RELEASE", "DEFAULT_BASE_URL", "ZooError", "FetchCancelled",
           "cache_dir", "base_url", "url_for", "checkpoint", "cached_path", "recorded_sha256",
           "expected_sha256", "verify", "fetch", "describe_size"]

RELEASE = "v7.0"
DEFAULT_BASE_URL = f"https://github.com/ultralytics/yolov5/releases/download/{RELEASE}"
ENV_URL = "GAM_VIEWER_ZOO_URL"
CHECKSUMS = "checksums.json"
CHUNK = 1 << 16
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Checkpoint:
    """One official checkpoint: its name, the published SHA-256 (None: trust on first use), and
    its approximate size in bytes (shown before a download; the server's length is used for
    the progress bar)."""

    name: str
    sha256: Optional[str]
    size: int

    @property
    def filename(self) -> str:
        return f"{self.name}.pt"


_MB = 1_000_000
OFFICIAL: Dict[str, Checkpoint] = {c.name: c for c in (
    Checkpoint("yolov5n", "4f180cf23ba0717ada0badd6c685026d73d48f184d00fc159c2641284b2ac0a3", 4_062_133),
    Checkpoint("yolov5s", None, 14 * _MB + 500_000),
    Checkpoint("yolov5m", None, 41 * _MB),
    Checkpoint("yolov5l", None, 89 * _MB),
    Checkpoint("yolov5x", None, 166 * _MB),
)}


class ZooError(Exception):
    """A checkpoint that cannot be fetched or trusted; ``str(err)`` is one line saying why."""


class FetchCancelled(ZooError):
    """The download was cancelled; nothing was kept."""


# ----------------------------------------------------------------------------- where
def cache_dir() -> Path:
    """The folder downloaded checkpoints live in (not created here): ``weights/`` in gam-viewer's
    user cache folder (:func:`gam_viewer.cachedir.cache_root`: ``$GAM_VIEWER_CACHE``, else the
    platform's, from platformdirs)."""
    return cache_root() / "weights"


def base_url(override: Optional[str] = None) -> str:
    """Where checkpoints are downloaded from: ``override``, else ``$GAM_VIEWER_ZOO_URL``, else GitHub."""
    url = (override or os.environ.get(ENV_URL, "") or DEFAULT_BASE_URL).strip()
    return url.rstrip("/")


def checkpoint(name: str) -> Checkpoint:
    """The official checkpoint called ``name`` ("yolov5s" or "yolov5s.pt")."""
    key = str(name).strip()
    if key.lower().endswith(".pt"):
        key = key[:-3]
    key = key.lower()
    if key not in OFFICIAL:
        raise ZooError(f"unknown official checkpoint {name!r}; choose one of {', '.join(OFFICIAL)}")
    return OFFICIAL[key]


def url_for(name: str, base: Optional[str] = None) -> str:
    return f"{base_url(base)}/{checkpoint(name).filename}"


def describe_size(nbytes: int) -> str:
    """'4 MB', '166 MB' (decimal megabytes, rounded)."""
    mb = nbytes / _MB
    return f"{mb:.0f} MB" if mb >= 1 else f"{max(nbytes, 0) / 1000:.0f} kB"


def cached_path(name: str, cache: Optional[Path] = None) -> Optional[Path]:
    """The cached file of ``name`` if there is one (not verified here; ``verify`` does that)."""
    path = Path(cache or cache_dir()) / checkpoint(name).filename
    return path if path.is_file() else None


# ----------------------------------------------------------------------------- checksums
def _sha256_file(path: Path, cancel: Optional[Callable[[], bool]] = None) -> str:
    def check() -> None:
        if cancel is not None and cancel():
            raise FetchCancelled(f"checking {path.name} was cancelled")

    return sha256_file(path, check)


def _read_records(cache: Path) -> Dict[str, str]:
    path = cache / CHECKSUMS
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ZooError(f"{path}: cannot read the recorded checksums ({exc}); delete it and the "
                       "checkpoints next to it to download them again") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ZooError(f"{path}: not a table of file name -> sha256; delete it and the checkpoints next to it "
                       "to download them again")
    return data


def recorded_sha256(name: str, cache: Optional[Path] = None) -> Optional[str]:
    """The hash recorded in ``checksums.json`` for ``name`` (None if none was recorded)."""
    return _read_records(Path(cache or cache_dir())).get(checkpoint(name).filename)


def expected_sha256(name: str, cache: Optional[Path] = None) -> "tuple[Optional[str], str]":
    """(hash, where it comes from): the published one, else the recorded one, else (None, '')."""
    ck = checkpoint(name)
    if ck.sha256:
        return ck.sha256, f"published for {RELEASE}"
    recorded = recorded_sha256(name, cache)
    if recorded:
        return recorded, f"recorded at the first download in {Path(cache or cache_dir()) / CHECKSUMS}"
    return None, ""


def _record(cache: Path, filename: str, digest: str) -> None:
    """Add ``filename: digest`` to checksums.json, written to a temp file and renamed into place."""
    records = _read_records(cache)
    if records.get(filename) == digest:
        return
    records[filename] = digest
    text = json.dumps(records, indent=1, sort_keys=True) + "\n"
    write_atomic(cache / CHECKSUMS, text.encode("utf-8"), overwrite=True)


def _remove(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def verify(name: str, cache: Optional[Path] = None, cancel: Optional[Callable[[], bool]] = None) -> Path:
    """Check the cached file of ``name`` against its published or recorded hash and return its
    path. A file copied into the cache by hand, with no hash known yet, is recorded now (trust on
    first use). Raises ZooError when it is missing or does not match."""
    cache = Path(cache or cache_dir())
    ck = checkpoint(name)
    path = cache / ck.filename
    if not path.is_file():
        raise ZooError(f"{ck.filename} is not in the cache ({cache})")
    want, origin = expected_sha256(name, cache)
    try:
        got = _sha256_file(path, cancel)
    except OSError as exc:
        raise ZooError(f"{path}: cannot read it ({exc})") from None
    if want is None:
        _record(cache, ck.filename, got)
    elif got != want:
        raise ZooError(f"{path}: sha256 {got} does not match {want} ({origin}); the file was changed or is "
                       "damaged: delete it to download it again")
    return path


# ----------------------------------------------------------------------------- download
def _why(exc: BaseException, url: str, timeout: float) -> str:
    """Why a download failed, in a few words."""
    host = urllib.parse.urlsplit(url).netloc or url
    if isinstance(exc, urllib.error.HTTPError):
        return f"the server answered HTTP {exc.code} {exc.reason} for {url}"
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, socket.gaierror):
        return f"no network connection ({host} unreachable: {reason.strerror or reason})"
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return f"{host} did not answer within {timeout:g} s"
    if isinstance(reason, ssl.SSLError):
        return f"secure connection to {host} failed ({reason})"
    if isinstance(reason, ConnectionRefusedError):
        return f"{host} unreachable (connection refused)"
    if isinstance(reason, OSError):
        return f"{host} unreachable ({reason.strerror or reason})"
    if isinstance(reason, http.client.IncompleteRead):
        return "the server closed the connection early"
    return f"{host} unreachable ({type(reason).__name__}: {reason})"


def _is_checkpoint_head(head: bytes) -> bool:
    # torch.save writes a zip archive; old checkpoints are a bare pickle (protocol 2+: 0x80)
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def fetch(name: str, progress: Optional[Callable[[int, int], None]] = None,
          cancel: Optional[Callable[[], bool]] = None, base_url: Optional[str] = None,
          timeout: float = DEFAULT_TIMEOUT, cache: Optional[Path] = None) -> Path:
    """The path of official checkpoint ``name``, downloaded first if it is not cached.

    A cached file is verified and returned without touching the network. Otherwise the file is
    downloaded from ``base_url`` (default ``$GAM_VIEWER_ZOO_URL`` or the GitHub release) to a
    temporary file in the cache folder, checked, and renamed into place; its hash is recorded.

    ``progress(done, total)`` is called as bytes arrive (total 0 when the server does not say);
    ``cancel()`` returning True stops the download (FetchCancelled). Every failure raises
    ZooError with one line saying why; no partial file is ever left behind.
    """
    ck = checkpoint(name)
    cache = Path(cache or cache_dir())
    if (cache / ck.filename).is_file():
        return verify(name, cache, cancel)
    url = url_for(name, base_url)
    fallback = (f"; copy {ck.filename} into {cache} or open a local checkpoint with File > Open")
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ZooError(f"cannot download {ck.filename}: cannot create the cache folder {cache} ({exc})") from None
    want, origin = expected_sha256(name, cache)   # before the download: a broken record fails fast

    fd, tmp = tempfile.mkstemp(dir=cache, prefix=f".{ck.filename}.", suffix=".part")
    try:
        digest = _download(url, fd, ck, progress, cancel, timeout, fallback)
        if want is not None and digest != want:
            raise ZooError(f"{ck.filename} from {url}: sha256 {digest} does not match {want} ({origin}); "
                           "the download was not kept")
        give_default_mode(tmp)
        _record(cache, ck.filename, digest)   # before the rename: a file in place always has a record
        os.replace(tmp, cache / ck.filename)
    except BaseException:
        _remove(tmp)
        raise
    return cache / ck.filename


def _download(url: str, fd: int, ck: Checkpoint, progress, cancel, timeout: float, fallback: str) -> str:
    """Stream ``url`` into the open file ``fd`` (closed here); returns the SHA-256 of what came."""
    from . import __version__

    h = hashlib.sha256()
    done = 0
    with os.fdopen(fd, "wb") as out:
        request = urllib.request.Request(url, headers={"User-Agent": f"gam-viewer/{__version__}"})
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            if isinstance(exc, ValueError):   # a malformed base URL
                raise ZooError(f"cannot download {ck.filename}: bad URL {url!r} ({exc})") from None
            raise ZooError(f"cannot download {ck.filename}: {_why(exc, url, timeout)}{fallback}") from None
        with response:
            try:
                total = int(response.headers.get("Content-Length") or 0)
            except ValueError:
                total = 0
            if progress is not None:
                progress(0, total)
            head = b""
            while True:
                if cancel is not None and cancel():
                    raise FetchCancelled(f"download of {ck.filename} cancelled; nothing was kept")
                try:
                    block = response.read(CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    raise ZooError(f"cannot download {ck.filename}: the connection broke after {done} bytes "
                                   f"({_why(exc, url, timeout)}){fallback}") from None
                if not block:
                    break
                if len(head) < 4:
                    head += block[:4]
                out.write(block)
                h.update(block)
                done += len(block)
                if progress is not None:
                    progress(done, total)
    if total and done != total:
        raise ZooError(f"cannot download {ck.filename}: the connection ended after {done} of {total} bytes{fallback}")
    if not _is_checkpoint_head(head):
        raise ZooError(f"cannot download {ck.filename}: {url} did not send a checkpoint (a login page or proxy "
                       f"answered instead?){fallback}")
    return h.hexdigest()
