"""``gam-viewer export --video``: side-by-side frames, codec choice with a fallback, frame count,
size and rate of the written file, no overwrites, no partial files."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from gam_viewer.app import main
from gam_viewer.render import video as V

ROOT = Path(__file__).resolve().parents[1]
GAM_DEMO = ROOT / "resources" / "demo" / "gam-yolov5n.safetensors"
BASE_DEMO = ROOT / "resources" / "demo" / "yolov5n.safetensors"


@pytest.fixture()
def clip(tmp_path):
    """A 5-frame 160x96 Motion-JPEG clip at 12 fps with a moving square."""
    path = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 12.0, (160, 96))
    assert w.isOpened()
    for k in range(5):
        f = np.full((96, 160, 3), 90, np.uint8)
        cv2.rectangle(f, (10 + 15 * k, 20), (50 + 15 * k, 60), (40, 200, 240), -1)
        w.write(f)
    w.release()
    return path


def _decode(path):
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), f"{path} does not open"
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames, fps


def test_compose_frame_puts_panes_side_by_side_under_a_title_strip():
    a = np.full((60, 80, 3), 200, np.uint8)
    b = np.full((60, 80, 3), 50, np.uint8)
    f = V.compose_frame([V.Pane(a, "GAM: m"), V.Pane(b, "baseline: b")], "overlay: layer 19", "viridis")
    W, H = V.frame_size((60, 80), 2)
    assert f.shape == (H, W, 3) and W == 164
    strip = H - 60
    assert np.all(f[strip:, :80] == 200) and np.all(f[strip:, 84:] == 50)     # panes pixel for pixel
    assert f[:strip].max() == 255, "caption text drawn in the strip"
    bar = f[strip // 2 + strip // 8, W - 40:W - 8].astype(int)
    assert np.abs(np.diff(bar, axis=0)).sum() > 20, "a colour bar in the strip"


def test_video_out_never_overwrites_and_refuses_unknown_containers(tmp_path):
    taken = tmp_path / "taken.mp4"
    taken.write_bytes(b"mine")
    with pytest.raises(FileExistsError, match="taken.mp4"):
        V.VideoOut(taken, 25, (64, 48))
    assert taken.read_bytes() == b"mine"
    with pytest.raises(V.VideoError, match="gif"):
        V.VideoOut(tmp_path / "x.gif", 25, (64, 48))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.mp4"]


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_video_out_picks_a_codec_and_writes_atomically(tmp_path, suffix):
    out = tmp_path / f"v{suffix}"
    w = V.VideoOut(out, 10.0, (65, 47))          # odd sizes are padded to even ones
    assert w.size == (66, 48)
    assert not out.exists(), "nothing under the final name before close()"
    probed = V.probe_codecs(suffix)
    first_ok = next(fcc for fcc, _, ok in probed if ok)
    assert w.fourcc == first_ok and (w.fallback == (first_ok != probed[0][0]))
    if w.fallback:
        assert "not available" in w.message and probed[0][1] in w.message
    for k in range(4):
        w.write(np.full((47, 65, 3), 60 * k, np.uint8))
    w.close()
    frames, fps = _decode(out)
    assert len(frames) == 4 and frames[0].shape == (48, 66, 3) and fps == pytest.approx(10.0)
    assert [p.name for p in tmp_path.iterdir()] == [out.name], "no temporary file left"


@pytest.mark.slow
def test_export_video_has_every_frame_at_the_source_rate(clip, tmp_path, capsys):
    out = tmp_path / "side.mp4"
    rc = main(["export", "--model", str(GAM_DEMO), "--baseline", str(BASE_DEMO), "--source", str(clip),
               "--video", str(out), "--imgsz", "64", "--layers", "19", "--quiet"])
    _, err = capsys.readouterr()
    assert rc == 0, err
    frames, fps = _decode(out)
    W, H = V.frame_size((96, 160), 2)
    assert len(frames) == 5 and fps == pytest.approx(12.0)
    assert frames[0].shape == (H + H % 2, W + W % 2, 3)
    assert float(frames[2][H // 2:, :160].std()) > 5, "the left pane holds the frame"
    # never overwrites: a second run is a one-line error and leaves the file alone
    before = out.read_bytes()
    rc = main(["export", "--model", str(GAM_DEMO), "--source", str(clip), "--video", str(out), "--quiet"])
    _, err = capsys.readouterr()
    assert rc == 2 and "already exists" in err and len(err.strip().splitlines()) == 1
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi", "side.mp4"]


def test_export_video_errors_are_one_line(clip, tmp_path, capsys):
    rc = main(["export", "--model", str(GAM_DEMO), "--source", str(tmp_path / "none.mp4"), "--video",
               str(tmp_path / "o.mp4"), "--quiet"])
    _, err = capsys.readouterr()
    assert rc == 2 and "none.mp4" in err and len(err.strip().splitlines()) == 1
    rc = main(["export", "--model", str(GAM_DEMO), "--source", str(clip), "--video", str(tmp_path / "o.mp4"),
               "--layers", "5", "--imgsz", "64", "--quiet"])
    _, err = capsys.readouterr()
    assert rc == 2 and "--layers: 5" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi"]
