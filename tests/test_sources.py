"""Frame sources (gam_viewer.media.sources): images, folders, videos, cameras, streams. No Qt."""

import functools
import http.server
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from gam_viewer.media.sources import (
    CameraSource, Frame, SourceError, StreamSource, VideoSource, classify, list_images,
    open_paths, open_source,
)


def write_video(path: Path, n: int = 20, size=(64, 48), fps: float = 10.0, step: int = 12) -> Path:
    """An MJPG .avi whose frame i is a flat grey of level i*step (so a frame tells its index)."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(n):
        w.write(np.full((size[1], size[0], 3), i * step, np.uint8))
    w.release()
    return path


def level(frame: Frame, step: int = 12) -> int:
    return int(round(float(frame.image.mean()) / step))


@pytest.fixture()
def images(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in (10, 2, 1):
        cv2.imwrite(str(folder / f"img{i}.png"), np.full((30, 40, 3), i * 20, np.uint8))
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_folder_is_natural_order_and_images_only(images):
    src = open_source(images)
    assert src.kind == "folder" and src.count == 3 and src.seekable and not src.live
    frames = list(src)
    assert [f.source for f in frames] == ["img1.png", "img2.png", "img10.png"]
    assert [f.index for f in frames] == [0, 1, 2]
    assert frames[2].image.shape == (30, 40, 3) and frames[2].image.dtype == np.uint8
    assert frames[2].image.flags["C_CONTIGUOUS"]
    assert src.read() is None  # the end


def test_folder_seek_and_step(images):
    src = open_source(images)
    assert src.read_at(2).source == "img10.png"
    assert src.step(-1).source == "img2.png"
    assert src.step(-5).index == 0  # clamped at the start
    src.seek(99)                     # clamped at the end
    assert src.read().index == 2


def test_empty_folder_and_missing_paths(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="empty: the folder has no images"):
        open_source(tmp_path / "empty")
    with pytest.raises(SourceError, match="nope.jpg: no such file or folder"):
        open_source(tmp_path / "nope.jpg")


def test_unreadable_image_in_a_list_names_it_and_reading_goes_on(images):
    (images / "img3.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    src = open_source(images)
    assert src.read().source == "img1.png"
    assert src.read().source == "img2.png"
    with pytest.raises(SourceError, match=r"img3\.png: cannot decode"):
        src.read()
    assert src.read().source == "img10.png"


def test_empty_and_truncated_jpeg(tmp_path):
    (tmp_path / "zero.jpg").write_bytes(b"")
    with pytest.raises(SourceError, match="zero.jpg: the file is empty"):
        open_source(tmp_path / "zero.jpg").read()
    ramp = np.tile(np.arange(256, dtype=np.uint8)[None, :, None], (128, 1, 3))
    ok, buf = cv2.imencode(".jpg", ramp)
    data = buf.tobytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) * 2 // 3])
    frame = open_source(tmp_path / "cut.jpg").read()
    assert frame.image.shape == (128, 256, 3)
    assert frame.warning and "cut.jpg" in frame.warning and "truncated" in frame.warning
    (tmp_path / "whole.jpg").write_bytes(data)
    assert open_source(tmp_path / "whole.jpg").read().warning is None


def test_image_without_extension_is_sniffed(tmp_path):
    ok, buf = cv2.imencode(".png", np.zeros((8, 9, 3), np.uint8))
    (tmp_path / "picture").write_bytes(buf.tobytes())
    src = open_source(tmp_path / "picture")
    assert src.kind == "image" and src.read().image.shape == (8, 9, 3)
    (tmp_path / "blob").write_bytes(b"hello world" * 10)
    with pytest.raises(SourceError, match="blob: neither an image nor a video"):
        open_source(tmp_path / "blob")


def test_video_reads_every_frame_in_order(tmp_path):
    src = open_source(write_video(tmp_path / "v.avi", n=20, fps=10))
    assert isinstance(src, VideoSource) and src.count == 20 and src.fps == pytest.approx(10)
    frames = list(src)
    assert [f.index for f in frames] == list(range(20))
    assert [level(f) for f in frames] == list(range(20))
    assert frames[5].time_s == pytest.approx(0.5)
    assert src.read() is None


def test_video_seek_step_and_skip(tmp_path):
    src = open_source(write_video(tmp_path / "v.avi"))
    f = src.read_at(13)
    assert f.index == 13 and level(f) == 13
    f = src.step(-3)
    assert f.index == 10 and level(f) == 10
    f = src.step(1)
    assert f.index == 11 and level(f) == 11
    assert src.skip(4) == 4
    f = src.read()
    assert f.index == 16 and level(f) == 16
    src.seek(100)
    assert src.read().index == 19


def test_truncated_video_plays_what_it_has_then_says_so(tmp_path):
    data = write_video(tmp_path / "v.avi", n=20).read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 6 // 10])
    src = open_source(cut)
    got = []
    with pytest.raises(SourceError, match=r"cut\.avi: the video stops at frame \d+ of 20 \(file truncated"):
        for frame in src:
            got.append(level(frame))
    assert 0 < len(got) < 20 and got == list(range(len(got)))
    assert src.count == len(got)  # the real length from now on
    assert level(src.read_at(0)) == 0  # still usable


def test_unopenable_video(tmp_path):
    (tmp_path / "junk.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(300))
    with pytest.raises(SourceError, match="junk.mp4: cannot open this video"):
        open_source(tmp_path / "junk.mp4")


def test_classify_and_open_paths(images, tmp_path):
    video = write_video(tmp_path / "v.avi")
    assert classify(0) == "camera" and classify("1") == "camera"
    assert classify("rtsp://host/x") == "stream" and classify("https://a/b.mp4") == "stream"
    assert classify(images) == "folder" and classify(video) == "video"
    assert classify(images / "img1.png") == "image" and classify(tmp_path / "x.png") == "missing"
    assert classify(f"file://{images / 'img1.png'}") == "image"
    src = open_paths([images / "img2.png", images])
    assert src.count == 4 and [f.source for f in src][0] == "img2.png"
    with pytest.raises(SourceError, match="v.avi: a video can only be opened on its own"):
        open_paths([images, video])
    assert [p.name for p in list_images(images)] == ["img1.png", "img2.png", "img10.png"]


def test_camera_errors_name_the_device():
    with pytest.raises(SourceError, match="camera 97: cannot open it"):
        CameraSource(97)
    with pytest.raises(SourceError, match="camera index must be a non-negative integer"):
        CameraSource(-1)


class _FakeCapture:
    """A capture that delivers ``n`` frames and then nothing, like an unplugged webcam."""

    def __init__(self, n):
        self.n = n
        self.released = False

    def read(self):
        if self.n <= 0:
            return False, None
        self.n -= 1
        return True, np.zeros((4, 5, 3), np.uint8)

    def get(self, prop):
        return 30.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self):
        self.released = True


def test_unplugged_camera_raises_a_clear_error(monkeypatch):
    cap = _FakeCapture(3)
    monkeypatch.setattr(cv2, "VideoCapture", lambda *a, **k: type("C", (), {
        "isOpened": lambda self: True, "read": lambda self: cap.read(), "get": lambda self, p: cap.get(p),
        "set": lambda self, *a: True, "release": lambda self: cap.release()})())
    monkeypatch.setattr("gam_viewer.media.sources._LiveSource.MAX_FAILURES", 2)
    src = CameraSource(0)
    assert src.live and src.count is None and src.fps == 30.0
    assert [f.index for f in (src.read(), src.read(), src.read())] == [0, 1, 2]
    with pytest.raises(SourceError, match="camera 0: stopped delivering frames"):
        src.read()
    with pytest.raises(SourceError, match="cannot seek"):
        src.seek(0)
    src.close()
    assert cap.released


def test_stream_from_a_local_http_server(tmp_path):
    write_video(tmp_path / "v.avi", n=8)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v.avi"
        try:
            src = open_source(url)
        except SourceError as exc:  # an OpenCV build without network support
            pytest.skip(f"this OpenCV cannot read HTTP streams: {exc}")
        assert isinstance(src, StreamSource) and src.live
        assert level(src.read()) == 0 and src.read().index == 1
        src.close()
        with pytest.raises(SourceError, match=r"127\.0\.0\.1:1/x: cannot open the stream"):
            open_source("rtsp://127.0.0.1:1/x")
    finally:
        server.shutdown()
        server.server_close()
