"""Frame sources: one image, a folder or list of images, a video file, a webcam, a stream URL.

Every source is a reader with the same small API (no Qt here; the viewer drives it from a
thread of its own)::

    with open_source("clip.mp4") as src:      # or a folder, an image, 0 (webcam), "rtsp://..."
        for frame in src:                      # Frame: BGR image + index + where it came from
            ...
        src.seek(120); frame = src.read()      # random access where the source has it
        frame = src.step(-1)                   # the frame before the last one read

``read()`` returns the next :class:`Frame`, or ``None`` at the end of a finite source. Problems
raise :class:`SourceError` (a ``ValueError``) whose message names the file or device and the
problem: an unreadable image, a video that ends before its header says it should (truncated),
a camera that stops delivering frames (unplugged). After a ``SourceError`` from one image of a
list, ``read()`` goes on with the next image.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

__all__ = [
    "Frame", "FrameSource", "SourceError", "ImageListSource", "VideoSource", "CameraSource",
    "StreamSource", "open_source", "open_paths", "classify", "list_images", "camera_devices",
    "IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS", "natural_key",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".jp2", ".pbm", ".pgm",
                    ".ppm", ".pnm", ".sr", ".ras", ".exr", ".hdr", ".pic", ".avif")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".wmv", ".flv", ".mpg", ".mpeg",
                    ".ts", ".mts", ".m2ts", ".3gp", ".ogv", ".gif", ".mjpeg", ".mjpg", ".asf")
_STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "mms", "hls")


class SourceError(ValueError):
    """A frame source that cannot be opened or read; ``str(err)`` is one line naming it."""


@dataclass
class Frame:
    """One decoded picture and where it came from."""

    image: np.ndarray                 # H x W x 3 BGR uint8, C-contiguous
    index: int                        # image number in a list, frame number in a video, counter for live sources
    source: str                       # display name: file name, "camera 0", the URL
    path: Optional[str] = None        # the file this frame was read from (images, videos)
    count: Optional[int] = None       # frames (or images) in the source, when known
    time_s: Optional[float] = None    # media time of a video frame (index / fps)
    warning: Optional[str] = None     # decoded, but something is off (e.g. a truncated JPEG)

    @property
    def shape(self) -> Tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])


# ---------------------------------------------------------------------------------------- base
class FrameSource:
    """The reader API every source implements. Finite sources count frames from 0."""

    kind = "source"          # image | folder | images | video | camera | stream
    live = False             # camera / stream: no seek, no known length
    seekable = False

    def __init__(self, name: str):
        self.name = name
        self._pos = 0          # index of the frame read() returns next
        self._last = -1        # index of the frame read() returned last
        self._closed = False

    # -- what every source says about itself
    @property
    def count(self) -> Optional[int]:
        """Number of frames when known (None for live sources)."""
        return None

    @property
    def fps(self) -> Optional[float]:
        """Frames per second of a video or live source; None for still images."""
        return None

    @property
    def position(self) -> int:
        """Index of the frame the next ``read()`` returns."""
        return self._pos

    @property
    def last_index(self) -> int:
        """Index of the frame returned last (-1 before the first read)."""
        return self._last

    def __len__(self) -> int:
        if self.count is None:
            raise TypeError(f"{self.name}: a live source has no length")
        return self.count

    # -- reading
    def read(self) -> Optional[Frame]:
        raise NotImplementedError

    def seek(self, index: int) -> None:
        """Make ``index`` the next frame ``read()`` returns (clamped to the source)."""
        if not self.seekable:
            raise SourceError(f"{self.name}: a {self.kind} cannot seek")
        self._seek(self._clamp(index))

    def _seek(self, index: int) -> None:
        self._pos = index

    def read_at(self, index: int) -> Optional[Frame]:
        self.seek(index)
        return self.read()

    def step(self, n: int = 1) -> Optional[Frame]:
        """The frame ``n`` after (or before, n < 0) the last one read; clamped at both ends."""
        if n == 1 or self.live:
            return self.read()
        return self.read_at(max(0, self._last + n))

    def skip(self, n: int) -> int:
        """Move ``n`` frames forward without decoding them where possible; returns how many moved."""
        moved = 0
        for _ in range(max(0, n)):
            if self.count is not None and self._pos >= self.count:
                break
            self._pos += 1
            moved += 1
        return moved

    def _clamp(self, index: int) -> int:
        index = int(index)
        n = self.count
        if n is not None:
            index = min(index, max(0, n - 1))
        return max(0, index)

    # -- lifetime
    def close(self) -> None:
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame

    def __repr__(self) -> str:
        n = self.count
        return f"<{type(self).__name__} {self.name!r} {'live' if self.live else f'{n} frames'}>"


# ---------------------------------------------------------------------------------------- images
def natural_key(name: str):
    """Sort key for natural order: 'img2' before 'img10' (digit runs compare as numbers), case-blind."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def list_images(folder: Union[str, Path]) -> List[Path]:
    """Image files directly inside ``folder``, in natural order (img2 before img10)."""
    folder = Path(folder)
    try:
        entries = list(folder.iterdir())
    except OSError as exc:
        raise SourceError(f"{folder}: cannot list the folder ({exc.strerror or exc})") from None
    files = [p for p in entries if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
    return sorted(files, key=lambda p: natural_key(p.name))


def _truncation_warning(path: Path, data: bytes) -> Optional[str]:
    tail = data[-64:].rstrip(b"\x00\r\n ")
    if data[:2] == b"\xff\xd8" and not tail.endswith(b"\xff\xd9"):
        return f"{path.name}: the JPEG file is truncated; the missing part shows grey"
    return None


def read_image(path: Union[str, Path]) -> Tuple[np.ndarray, Optional[str]]:
    """Decode an image file to BGR uint8; returns (image, warning or None). Raises SourceError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a folder, not an image") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise SourceError(f"{path.name}: the file is empty")
    warning = _truncation_warning(path, data)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None and warning:  # a cut-off JPEG: close it so the decoder shows what is there
        img = cv2.imdecode(np.frombuffer(data + b"\xff\xd9", np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.ndim != 3 or img.size == 0:
        raise SourceError(f"{path.name}: cannot decode this image (not an image, unsupported format or damaged)")
    # any size that decodes is an image (a valid 1 x 1 PNG too): the detector's letterbox pads it
    return np.ascontiguousarray(img), warning


class ImageListSource(FrameSource):
    """Still images from a list of files (a folder's images, files dropped together, one image)."""

    seekable = True

    def __init__(self, paths: Sequence[Union[str, Path]], name: Optional[str] = None, kind: str = "images"):
        paths = [Path(p) for p in paths]
        if not paths:
            raise SourceError(f"{name or 'image list'}: no images to show")
        super().__init__(name or (paths[0].name if len(paths) == 1 else f"{len(paths)} images"))
        self.paths = paths
        self.kind = kind

    @classmethod
    def from_folder(cls, folder: Union[str, Path]) -> "ImageListSource":
        folder = Path(folder)
        files = list_images(folder)
        if not files:
            raise SourceError(f"{folder}: the folder has no images "
                              f"(looked for {', '.join(IMAGE_EXTENSIONS[:5])}, ...)")
        return cls(files, name=f"{folder.name or folder}/", kind="folder")

    @property
    def count(self) -> int:
        return len(self.paths)

    def read(self) -> Optional[Frame]:
        if self._closed or self._pos >= len(self.paths):
            return None
        i = self._pos
        self._pos += 1
        self._last = i
        path = self.paths[i]
        img, warning = read_image(path)  # a SourceError leaves the position on the next image
        return Frame(img, i, path.name, str(path), len(self.paths), None, warning)


# ---------------------------------------------------------------------------------------- video
def _capture_fps(cap) -> Optional[float]:
    fps = cap.get(cv2.CAP_PROP_FPS)
    return float(fps) if fps and 0 < fps <= 1000 else None


class VideoSource(FrameSource):
    """A video file, decoded with OpenCV (FFmpeg); seekable, with truncation detected on read."""

    kind = "video"
    seekable = True
    DEFAULT_FPS = 25.0

    def __init__(self, path: Union[str, Path]):
        path = Path(path)
        super().__init__(path.name)
        self.path = path
        if not path.exists():
            raise SourceError(f"{path}: no such file")
        if path.is_dir():
            raise SourceError(f"{path}: is a folder, not a video")
        if path.stat().st_size == 0:
            raise SourceError(f"{path.name}: the file is empty")
        self._cap = cv2.VideoCapture(str(path))
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceError(f"{path.name}: cannot open this video (not a video, unsupported codec, "
                              "or damaged/truncated: a cut-off MP4 loses its index)")
        n = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self._count = n if n > 0 else None
        self._fps = _capture_fps(self._cap)
        self.notes: List[str] = []
        if self._fps is None:
            self.notes.append(f"{path.name}: no frame rate in the file; playing at {self.DEFAULT_FPS:g} fps")

    @property
    def count(self) -> Optional[int]:
        return self._count

    @property
    def fps(self) -> float:
        return self._fps or self.DEFAULT_FPS

    def _truncated(self, at: int) -> SourceError:
        # the header promised more frames than the file holds: remember the real length
        promised = self._count
        self._count = at if at > 0 else self._count
        return SourceError(f"{self.path.name}: the video stops at frame {at} of {promised} "
                           "(file truncated or damaged); frames before it still play")

    def read(self) -> Optional[Frame]:
        if self._closed or (self._count is not None and self._pos >= self._count):
            return None
        ok, img = self._cap.read()
        if not ok or img is None:
            at = self._pos
            if self._count is not None and self._count - at > 1:
                raise self._truncated(at)
            if self._count is None or self._count != at:
                self._count = at  # the real length (headers are sometimes off by one)
            return None
        i = self._pos
        self._pos += 1
        self._last = i
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        return Frame(np.ascontiguousarray(img), i, self.name, str(self.path), self._count, i / self.fps)

    def _seek(self, index: int) -> None:
        if index == self._pos:
            return
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        got = int(round(self._cap.get(cv2.CAP_PROP_POS_FRAMES)))
        if got != index:  # the container cannot seek exactly: start over and walk forward
            self._cap.release()
            self._cap = cv2.VideoCapture(str(self.path))
            for k in range(index):
                if not self._cap.grab():
                    raise self._truncated(k)
        self._pos = index

    def skip(self, n: int) -> int:
        moved = 0
        for _ in range(max(0, n)):
            if self._count is not None and self._pos >= self._count:
                break
            if not self._cap.grab():
                if self._count is not None and self._count - self._pos > 1:
                    raise self._truncated(self._pos)
                self._count = self._pos
                break
            self._pos += 1
            moved += 1
        return moved

    def close(self) -> None:
        if not self._closed:
            self._cap.release()
        super().close()


# ---------------------------------------------------------------------------------------- live
class _LiveSource(FrameSource):
    """A capture that delivers frames until it stops; reading blocks until the next frame."""

    live = True
    MAX_FAILURES = 5

    def __init__(self, name: str, cap):
        super().__init__(name)
        self._cap = cap
        self._fps = _capture_fps(cap)

    @property
    def fps(self) -> Optional[float]:
        return self._fps

    def _lost(self) -> SourceError:
        raise NotImplementedError

    def read(self) -> Optional[Frame]:
        if self._closed:
            return None
        for attempt in range(self.MAX_FAILURES):
            ok, img = self._cap.read()
            if ok and img is not None and img.size:
                break
            time.sleep(0.02 * (attempt + 1))
        else:
            raise self._lost()
        i = self._pos
        self._pos += 1
        self._last = i
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        return Frame(np.ascontiguousarray(img[:, :, :3]), i, self.name, None, None, None)

    def close(self) -> None:
        if not self._closed:
            self._cap.release()
        super().close()


class CameraSource(_LiveSource):
    """A webcam by OpenCV device index (0 = the first camera)."""

    kind = "camera"

    def __init__(self, index: int, width: Optional[int] = None, height: Optional[int] = None):
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
            raise SourceError(f"camera index must be a non-negative integer, got {index!r}")
        cap = cv2.VideoCapture(int(index))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"camera {index}: cannot open it (no such device, or in use by another program)")
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self.device = int(index)
        super().__init__(f"camera {index}", cap)

    def _lost(self) -> SourceError:
        return SourceError(f"{self.name}: stopped delivering frames (unplugged or taken by another program?)")


class StreamSource(_LiveSource):
    """A network stream (rtsp://, http(s)://, udp://, ...) read with OpenCV's FFmpeg backend."""

    kind = "stream"
    OPEN_TIMEOUT_MS = 8000
    READ_TIMEOUT_MS = 8000

    def __init__(self, url: str):
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, self.OPEN_TIMEOUT_MS,
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, self.READ_TIMEOUT_MS]
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{url}: cannot open the stream (wrong address, server down, "
                              f"no network, or no answer within {self.OPEN_TIMEOUT_MS // 1000} s)")
        self.url = url
        super().__init__(url, cap)

    def _lost(self) -> SourceError:
        return SourceError(f"{self.url}: the stream stopped (connection lost or the stream ended)")


# ---------------------------------------------------------------------------------------- opening
def _is_url(spec: str) -> bool:
    m = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", spec)
    return bool(m) and m.group(1).lower() in _STREAM_SCHEMES


def _file_url_path(spec: str) -> Optional[str]:
    if spec.lower().startswith("file://"):
        from urllib.parse import unquote, urlparse

        return unquote(urlparse(spec).path)
    return None


def classify(spec: Union[str, int, Path]) -> str:
    """What ``spec`` names: 'camera', 'stream', 'folder', 'image', 'video', 'missing' or 'unknown'.

    Looks at the text and the file system only (extensions; no decoding)."""
    if isinstance(spec, bool):
        return "unknown"
    if isinstance(spec, (int, np.integer)):
        return "camera"
    s = str(spec).strip()
    if s.isdigit():
        return "camera"
    local = _file_url_path(s)
    if local is not None:
        s = local
    elif _is_url(s):
        return "stream"
    p = Path(os.path.expanduser(s))
    if p.is_dir():
        return "folder"
    if not p.exists():
        return "missing"
    ext = p.suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    return "unknown"


def open_source(spec: Union[str, int, Path]) -> FrameSource:
    """Open one thing to read frames from: a path (image, folder, video), a camera index, a URL."""
    kind = classify(spec)
    if kind == "camera":
        return CameraSource(int(str(spec).strip()))
    if kind == "stream":
        return StreamSource(str(spec).strip())
    s = str(spec).strip()
    path = Path(os.path.expanduser(_file_url_path(s) or s))
    if kind == "missing":
        raise SourceError(f"{path}: no such file or folder")
    if kind == "folder":
        return ImageListSource.from_folder(path)
    if kind == "image":
        return ImageListSource([path], kind="image")
    if kind == "video":
        return VideoSource(path)
    # no known extension: look at the content
    try:
        read_image(path)
        return ImageListSource([path], kind="image")
    except SourceError:
        pass
    try:
        return VideoSource(path)
    except SourceError:
        raise SourceError(f"{path.name}: neither an image nor a video OpenCV can read") from None


def open_paths(paths: Sequence[Union[str, Path, int]]) -> FrameSource:
    """One source for several paths: images and folders become one image list; a video, a
    camera or a stream must come alone."""
    paths = list(paths)
    if not paths:
        raise SourceError("nothing to open: no paths given")
    if len(paths) == 1:
        return open_source(paths[0])
    images: List[Path] = []
    for spec in paths:
        kind = classify(spec)
        p = Path(os.path.expanduser(str(spec)))
        if kind == "image":
            images.append(p)
        elif kind == "folder":
            images.extend(list_images(p))
        elif kind == "missing":
            raise SourceError(f"{p}: no such file or folder")
        else:
            raise SourceError(f"{spec}: a {kind} can only be opened on its own, not together with other paths")
    if not images:
        raise SourceError(f"the {len(paths)} paths hold no images")
    return ImageListSource(images, name=f"{len(images)} images")


def camera_devices(max_probe: int = 4) -> List[Tuple[int, str]]:
    """(index, name) of the cameras OpenCV can open by index.

    On Linux the names come from ``/sys/class/video4linux`` (exact index mapping, nothing is
    opened). Elsewhere indices ``0..max_probe-1`` are probed by opening them (an absent device
    fails at once), named "camera N"."""
    sys_dir = Path("/sys/class/video4linux")
    if sys_dir.is_dir():
        found = []
        for dev in sys_dir.iterdir():
            m = re.fullmatch(r"video(\d+)", dev.name)
            if not m:
                continue
            try:
                name = (dev / "name").read_text().strip()
            except OSError:
                name = ""
            try:  # a camera exposes several nodes; index 0 of each is the capture one
                if (dev / "index").read_text().strip() not in ("0", ""):
                    continue
            except OSError:
                pass
            found.append((int(m.group(1)), name or f"camera {m.group(1)}"))
        return sorted(found)
    found = []
    for i in range(max_probe):
        cap = cv2.VideoCapture(i)
        if cap.isOpened():
            found.append((i, f"camera {i}"))
        cap.release()
    return found
