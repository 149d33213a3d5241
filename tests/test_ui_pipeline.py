"""The frame pipeline without the window: mailbox, rate meter, the reader thread, scheduling."""

import os
import threading
import time

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from gam_viewer.ui.pipeline import Pipeline, RateMeter  # noqa: E402
from gam_viewer.ui.reader import LatestSlot  # noqa: E402


def test_latest_slot_keeps_only_the_newest_and_counts_drops():
    slot = LatestSlot()
    assert slot.take() is None
    assert slot.put(1) is True          # was empty: the consumer needs a nudge
    assert slot.put(2) is False and slot.put(3) is False
    assert slot.dropped == 2 and slot.take() == 3 and slot.take() is None


def test_latest_slot_under_a_fast_producer_stays_one_deep():
    slot = LatestSlot()
    taken = []

    def produce():
        for i in range(5000):
            slot.put(i)

    t = threading.Thread(target=produce)
    t.start()
    while t.is_alive():
        item = slot.take()
        if item is not None:
            taken.append(item)
    last = slot.take()
    if last is not None:
        taken.append(last)
    assert taken == sorted(taken) and taken[-1] == 4999
    assert slot.dropped + len(taken) == 5000


def test_rate_meter():
    m = RateMeter(window=2.0)
    for k in range(11):
        m.tick(100.0 + k * 0.1)     # 10 per second
    assert m.rate(now=101.0) == pytest.approx(10.0)
    assert m.rate(now=104.0) == 0.0  # nothing for a whole window


@pytest.fixture()
def pipeline(qtbot):
    p = Pipeline()
    yield p
    p.shutdown()


def test_reader_plays_in_real_time_and_loops(qtbot, pipeline, make_video):
    indices = []
    pipeline.position_changed.connect(lambda i, n: indices.append((time.perf_counter(), i)))
    pipeline.set_loop(True)
    with qtbot.waitSignal(pipeline.source_opened, timeout=5000) as opened:
        pipeline.open(str(make_video(n=10, fps=20.0)))
    assert opened.args[0].kind == "video" and opened.args[0].count == 10
    qtbot.waitUntil(lambda: len(indices) >= 25, timeout=8000)
    pipeline.pause()
    seq = [i for _, i in indices]
    wraps = [k for k in range(1, len(seq)) if seq[k] < seq[k - 1]]
    assert seq[0] == 0 and wraps, seq                            # looped back to the start
    first_pass = seq[: wraps[0]]
    assert first_pass == sorted(first_pass) and len(set(first_pass)) == len(first_pass)   # in order
    # paced by the clock: 24 frames at 20 fps take about 1.2 s (not as fast as decoding allows)
    assert indices[24][0] - indices[0][0] > 0.8


def test_results_pair_both_sides_and_a_missing_model_gives_none(qtbot, pipeline, fake_detector, tmp_path):
    import cv2

    img = tmp_path / "x.png"
    cv2.imwrite(str(img), np.full((30, 40, 3), 200, np.uint8))
    pipeline.set_detector("gam", fake_detector(boxes=[(1, 1, 5, 5, 0.9, 0)]))
    qtbot.waitUntil(lambda: pipeline.model_info("gam") is not None, timeout=5000)
    with qtbot.waitSignal(pipeline.result_ready, timeout=5000) as got:
        pipeline.open(str(img))
    r = got.args[0]
    assert len(r.gam) == 1 and r.baseline is None and r.errors == {}
    assert r.frame.index == 0 and r.rgb.shape == (30, 40, 3) and r.latency_ms >= 0
    assert r.models["gam"].label == "fake.pt" and r.models["baseline"] is None
    # a model arriving later re-runs the frame on screen
    with qtbot.waitSignal(pipeline.result_ready, timeout=5000) as again:
        pipeline.set_detector("baseline", fake_detector(boxes=[(2, 2, 6, 6, 0.8, 1)]))
    assert len(again.args[0].baseline) == 1 and again.args[0].seq > r.seq


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="per-thread nice is POSIX only")
def test_inference_threads_run_below_the_gui_thread(qtbot, pipeline, fake_detector, tmp_path):
    """Workers lower their own priority when their thread starts, so a busy CPU delays
    inference, not drawing. The GUI thread keeps its priority."""
    import cv2

    from gam_viewer.ui.worker import WORKER_NICENESS

    seen = {}

    class Recording(fake_detector):
        def predict(self, image, **kw):
            seen[self.source] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            return super().predict(image, **kw)

    gui = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    img = tmp_path / "x.png"
    cv2.imwrite(str(img), np.full((30, 40, 3), 100, np.uint8))
    pipeline.set_detector("gam", Recording(source="g.pt"))
    pipeline.set_detector("baseline", Recording(source="b.pt"))
    qtbot.waitUntil(lambda: pipeline.model_info("baseline") is not None, timeout=5000)
    with qtbot.waitSignal(pipeline.result_ready, timeout=5000):
        pipeline.open(str(img))
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == gui
    assert seen == {"g.pt": min(gui + WORKER_NICENESS, 19), "b.pt": min(gui + WORKER_NICENESS, 19)}


def test_cpu_models_take_turns_and_gpu_ones_do_not_wait(qtbot, pipeline, fake_detector, tmp_path):
    """Two CPU models run one after the other (their thread pools would preempt each other),
    each frame still gets both results; a model that is not on the CPU runs at once."""
    import cv2

    spans = []

    class OnCpu(fake_detector):
        backend = "onnxruntime"

        def predict(self, image, **kw):
            t0 = time.perf_counter()
            out = super().predict(image, **kw)
            spans.append((self.source, t0, time.perf_counter()))
            return out

    class OnGpu(OnCpu):
        backend = "torch"
        device = type("Dev", (), {"type": "cuda"})()

    def run_pair(gam, base):
        spans.clear()
        pipeline.set_detector("gam", gam)
        pipeline.set_detector("baseline", base)
        qtbot.waitUntil(lambda: (pipeline.model_info("baseline") or 0) and
                        pipeline.model_info("baseline").label == base.source, timeout=5000)
        qtbot.waitUntil(lambda: not pipeline.busy, timeout=5000)
        spans.clear()
        with qtbot.waitSignal(pipeline.result_ready, timeout=5000) as got:
            pipeline.rerun()
        assert got.args[0].gam is not None and got.args[0].baseline is not None
        (_, a0, a1), (_, b0, b1) = sorted(spans, key=lambda s: s[1])
        return a0, a1, b0, b1

    img = tmp_path / "x.png"
    cv2.imwrite(str(img), np.full((30, 40, 3), 100, np.uint8))
    pipeline.set_detector("gam", OnCpu(source="g0.pt"))
    qtbot.waitUntil(lambda: pipeline.model_info("gam") is not None, timeout=5000)
    with qtbot.waitSignal(pipeline.result_ready, timeout=5000):
        pipeline.open(str(img))
    a0, a1, b0, b1 = run_pair(OnCpu(source="g.pt", delay=0.15), OnCpu(source="b.pt", delay=0.15))
    assert b0 >= a1 - 1e-3                               # the second started after the first ended
    a0, a1, b0, b1 = run_pair(OnCpu(source="g2.pt", delay=0.3), OnGpu(source="b2.pt", delay=0.3))
    assert b0 < a1                                       # the GPU model did not wait for the CPU one
