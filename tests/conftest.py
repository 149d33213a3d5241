"""Shared test fixtures. Qt runs offscreen; the window tests use a temporary settings file."""

import os
import time

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# load_model(backend="auto") would export every model to ONNX (seconds each); the suite runs
# PyTorch unless a test asks for a backend (tests/test_backends.py), and never writes the
# user's cache folder
os.environ.setdefault("GAM_VIEWER_BACKEND", "torch")
if not os.environ.get("GAM_VIEWER_CACHE"):
    import tempfile

    os.environ["GAM_VIEWER_CACHE"] = tempfile.mkdtemp(prefix="gam-viewer-test-cache-")

import shared_data  # noqa: E402  (tests/shared_data.py)


def pytest_configure(config):
    config.addinivalue_line("markers", "shared(*paths): needs these files under ../shared (skip when absent, "
                                       "fail when GAM_VIEWER_REQUIRE_SHARED=1)")


def pytest_runtest_setup(item):
    for mark in item.iter_markers("shared"):
        gone = shared_data.missing(*mark.args)
        if gone:
            where = ", ".join(f"../shared/{g}" for g in gone)
            if shared_data.required():
                pytest.fail(f"{where} absent, and {shared_data.REQUIRE_ENV}=1 makes the shared reference "
                            "checks mandatory", pytrace=False)
            pytest.skip(f"{where} absent (the shared reference data is not on this machine)")


@pytest.fixture
def shared_root():
    """The ../shared folder (use with @pytest.mark.shared(...) naming the files a test reads)."""
    return shared_data.SHARED


class FakeDetector:
    """A test double with the Detector interface (names, predict -> Detections, gam, ...).

    Each call returns ``boxes`` (rows x1, y1, x2, y2, score, class) kept at ``score >= conf``,
    after sleeping ``delay`` seconds; ``fail`` makes predict raise it. ``level_step`` adds one
    box whose class is the frame's grey level // level_step (frames that tell their index).
    Every call is recorded in ``calls`` as (frame mean, thread name).

    ``gam_layers`` [(index, position, stride, channels), ...] makes it a fake GAM-YOLO: the image
    is letterboxed for real (``imgsz``, minimal padding, or ``square``) and each layer gets
    seeded random C x h x w gates, signed and outside [0, 1] like community gates (channel gate
    in [-1, 3], spatial gate in [-0.5, 2]), returned as ``Detections.attention``.
    """

    def __init__(self, names=("cat", "dog", "bird"), boxes=(), delay=0.0, fail=None, has_gam=False,
                 level_step=None, source="fake.pt", gam_layers=(), square=False, seed=0):
        import threading

        self.names = list(names)
        self.nc = len(self.names)
        self.boxes = [tuple(b) for b in boxes]
        self.delay, self.fail, self.has_gam, self.level_step = delay, fail, has_gam, level_step
        self.source, self.format, self.default_imgsz = source, "fake", 640
        self.gam = []
        self.gam_layers = [tuple(g) for g in gam_layers]
        self.has_gam = has_gam or bool(self.gam_layers)
        self.square, self.seed = square, seed
        self.calls = []
        self.sizes = []          # the imgsz of every predict call
        self._threading = threading

    def describe(self):
        return f"{self.source}: fake, {self.nc} classes"

    def predict(self, image, conf=0.25, iou=0.45, imgsz=640, classes=None, **kw):
        from gam_viewer.inference.detector import Detections
        from gam_viewer.inference.letterbox import Letterbox

        self.calls.append((float(image.mean()), self._threading.current_thread().name))
        self.sizes.append(imgsz)
        if self.delay:
            time.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        rows = [b for b in self.boxes if b[4] >= conf]
        if self.level_step:
            rows.append((1, 1, 10, 10, 0.9, int(round(float(image.mean()) / self.level_step))))
        a = np.array(rows, np.float32).reshape(-1, 6)
        h, w = image.shape[:2]
        lb = Letterbox((h, w), (h, w), (h, w), (0, 0), 1.0)
        maps = []
        if self.gam_layers:
            maps, lb = self._gates(image, imgsz)
        return Detections(a[:, :4].copy(), a[:, 4].copy(), a[:, 5].astype(np.int64), self.names, lb,
                          {"total": self.delay * 1e3}, maps)

    def _gates(self, image, imgsz):
        import torch

        from gam_viewer.inference.attention import AttentionMap
        from gam_viewer.inference.letterbox import letterbox

        stride = max(g[2] for g in self.gam_layers)
        _, lb = letterbox(image, imgsz, stride, auto=not self.square)
        rng = np.random.default_rng(self.seed)
        maps = []
        for index, position, s, c in self.gam_layers:
            gh, gw = lb.input_hw[0] // s, lb.input_hw[1] // s
            cg = torch.from_numpy(rng.uniform(-1.0, 3.0, (c, gh, gw)).astype(np.float32))
            sg = torch.from_numpy(rng.uniform(-0.5, 2.0, (c, gh, gw)).astype(np.float32))
            maps.append(AttentionMap(index, position, s, cg, sg, lb))
        return maps, lb


@pytest.fixture()
def fake_detector():
    return FakeDetector


@pytest.fixture()
def settings_file(tmp_path):
    return tmp_path / "gam-viewer-settings.ini"


@pytest.fixture()
def make_window(qtbot, settings_file, monkeypatch):
    """A MainWindow on a temporary settings file, closed (threads stopped) after the test."""
    monkeypatch.setenv("GAM_VIEWER_SETTINGS", str(settings_file))

    def make(**kwargs):
        from gam_viewer.ui.main_window import MainWindow
        from gam_viewer.ui.settings import Settings

        kwargs.setdefault("demo_models", ("demo-gam", "demo-base"))
        win = MainWindow(Settings(settings_file), **kwargs)
        qtbot.addWidget(win)
        win.show()
        return win

    return make


@pytest.fixture()
def make_video(tmp_path):
    """Write an MJPG .avi whose frame i is a flat grey of level i * step (a frame tells its index)."""
    import cv2

    def make(name="clip.avi", n=20, fps=10.0, size=(64, 48), step=8):
        path = tmp_path / name
        w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
        for i in range(n):
            w.write(np.full((size[1], size[0], 3), i * step, np.uint8))
        w.release()
        return path

    return make


@pytest.fixture(scope="module")
def ul(tmp_path_factory):
    """Ultralytics (the train extra), imported offline with its config in a temp folder (unless it is
    already imported), GAM registered the way gam-viewer's trainer does it; skipped when absent."""
    import sys

    pytest.importorskip("ultralytics", reason="the train extra (ultralytics) is not installed")
    saved = {k: os.environ.get(k) for k in ("YOLO_CONFIG_DIR", "YOLO_OFFLINE", "YOLO_AUTOINSTALL")}
    if "ultralytics" not in sys.modules:
        os.environ["YOLO_CONFIG_DIR"] = str(tmp_path_factory.mktemp("ultralytics-config"))
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    from gam_viewer.train import trainer  # registers GAM

    yield trainer
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(autouse=True)
def _collect_garbage_in_the_main_thread():
    """Once a window has turned automatic garbage collection off (gam_viewer.ui.gc_guard), collect
    between tests here in the main thread too, as the window's timer does while an event loop runs."""
    yield
    import sys

    guard = sys.modules.get("gam_viewer.ui.gc_guard")
    if guard is not None and guard.collector() is not None:
        guard.collector().check()
