#!/usr/bin/env python
"""Regenerate the demo media in resources/samples/ from the synthetic scene generator.

Writes six JPEG stills (synth_01.jpg .. synth_06.jpg; landscape, portrait, wide
and square sizes) and one short MJPG video (demo.avi, 640x360, 4 s at 15 fps)
with moving objects. Everything comes from ``gam_viewer.data.synth`` with a fixed
seed, so rerunning the script reproduces the same pictures (the video bytes may
differ between OpenCV/FFmpeg builds).

Usage (from the repository root)::

    python scripts/make_demo_media.py            # writes resources/samples/
    python scripts/make_demo_media.py --out DIR --seed 7
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from gam_viewer.data.synth import animate_scene, render_scene  # noqa: E402

# (file name, width, height)
IMAGES = (
    ("synth_01.jpg", 640, 480),
    ("synth_02.jpg", 640, 480),
    ("synth_03.jpg", 640, 480),
    ("synth_04.jpg", 480, 640),  # portrait
    ("synth_05.jpg", 800, 450),  # 16:9
    ("synth_06.jpg", 512, 512),
)
IMAGE_OBJECTS = (3, 8)
JPEG_QUALITY = 90
MAX_IMAGE_BYTES = 150 * 1024

VIDEO_NAME = "demo.avi"
VIDEO_SIZE = (640, 360)
VIDEO_FPS = 15.0
VIDEO_FRAMES = 60  # 4 s
VIDEO_OBJECTS = (4, 7)
MAX_VIDEO_BYTES = 3 * 1024 * 1024

DEFAULT_SEED = 7


def encode_jpeg(img: np.ndarray) -> tuple[bytes, int]:
    """JPEG bytes at JPEG_QUALITY, stepping the quality down if the file gets too big."""
    for quality in range(JPEG_QUALITY, 59, -5):
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        if buf.size <= MAX_IMAGE_BYTES:
            break
    return buf.tobytes(), quality


def write_images(out: Path, seed: int) -> None:
    for k, (name, w, h) in enumerate(IMAGES):
        rng = np.random.default_rng([seed, k])
        img, labels = render_scene(rng, w, h, n_objects=IMAGE_OBJECTS)
        data, quality = encode_jpeg(img)
        tmp = out / f".{name}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, out / name)
        print(f"{name}: {w}x{h}, {len(labels)} labelled objects, q={quality}, {len(data) / 1024:.0f} KiB")


def write_video(out: Path, seed: int) -> None:
    w, h = VIDEO_SIZE
    rng = np.random.default_rng([seed, 1000])
    tmp = out / f".{VIDEO_NAME}.tmp.avi"
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), VIDEO_FPS, (w, h))
    if not writer.isOpened():
        raise RuntimeError("could not open an MJPG video writer (OpenCV without video support?)")
    try:
        for frame in animate_scene(rng, w, h, VIDEO_FRAMES, VIDEO_FPS, n_objects=VIDEO_OBJECTS):
            writer.write(frame)
    finally:
        writer.release()
    # check that it reads back
    cap = cv2.VideoCapture(str(tmp))
    n = 0
    while True:
        ok, _ = cap.read()
        if not ok:
            break
        n += 1
    cap.release()
    if n != VIDEO_FRAMES:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"video reads back {n} frames, expected {VIDEO_FRAMES}")
    size = tmp.stat().st_size
    if size > MAX_VIDEO_BYTES:
        print(f"warning: {VIDEO_NAME} is {size / 2**20:.1f} MiB (> 3 MiB)", file=sys.stderr)
    os.replace(tmp, out / VIDEO_NAME)
    print(f"{VIDEO_NAME}: {w}x{h}, {VIDEO_FRAMES} frames at {VIDEO_FPS:g} fps, MJPG, {size / 1024:.0f} KiB")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "resources" / "samples",
                    help="output directory (default: resources/samples)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seed (default: {DEFAULT_SEED})")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    write_images(args.out, args.seed)
    write_video(args.out, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
