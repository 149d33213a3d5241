"""Screenshot of the real viewer window (X11, not offscreen) on the embedded demo.

    python scripts/screenshot.py [--out docs/screenshot-viewer.png] [--size 1600x1000]
                                 [--source PATH] [--model M --baseline B] [--imgsz 640]

Starts Xvfb when there is no $DISPLAY (Debian: apt-get install xvfb libxcb-icccm4
libxcb-keysyms1), opens the window with a throw-away settings file, waits until both panes
show results from both models, grabs the X screen and writes the PNG (temp file + rename).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def start_xvfb(size: str) -> subprocess.Popen:
    if shutil.which("Xvfb") is None:
        sys.exit("screenshot: Xvfb is not installed (apt-get install -y xvfb libxcb-icccm4 libxcb-keysyms1)")
    for num in range(99, 120):
        if not Path(f"/tmp/.X11-unix/X{num}").exists() and not Path(f"/tmp/.X{num}-lock").exists():
            break
    proc = subprocess.Popen(["Xvfb", f":{num}", "-screen", "0", f"{size}x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if Path(f"/tmp/.X11-unix/X{num}").exists():
            break
        time.sleep(0.05)
    os.environ["DISPLAY"] = f":{num}"
    return proc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshot-viewer.png"))
    ap.add_argument("--size", default="1600x1000", help="screen (and window) size WxH")
    ap.add_argument("--source", help="image, folder or video to show (default: the demo images)")
    ap.add_argument("--model", help="GAM-YOLO model (default: the demo pair)")
    ap.add_argument("--baseline", help="baseline model (default: the demo pair)")
    ap.add_argument("--imgsz", type=int, help="inference size")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for results")
    args = ap.parse_args()

    xvfb = start_xvfb(args.size) if not os.environ.get("DISPLAY") else None
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    tmp = tempfile.TemporaryDirectory(prefix="gam-viewer-shot-")
    os.environ["GAM_VIEWER_SETTINGS"] = str(Path(tmp.name) / "settings.ini")
    try:
        from PySide6.QtCore import QTimer

        from gam_viewer.ui.app import make_app
        from gam_viewer.ui.main_window import MainWindow
        from gam_viewer.ui.model_spec import InferenceParams
        from gam_viewer.ui.settings import Settings

        app = make_app()
        win = MainWindow(Settings())
        w, h = (int(v) for v in args.size.split("x"))
        win.setGeometry(0, 0, w, h)
        win.show()
        if args.imgsz:
            win.controls.set_inference_params(InferenceParams(imgsz=args.imgsz))
        win.start([args.source] if args.source else [], model=args.model, baseline=args.baseline)
        state = {"shot": None, "t0": time.time()}

        def grab():
            state["shot"] = app.primaryScreen().grabWindow(0)
            app.quit()

        def ready(result):
            loaded = all(win.pipeline.model_info(s) is not None for s in ("gam", "baseline"))
            if loaded and not win.pipeline.loading and all(d is not None for d in result.detections.values()):
                win.frame_result.disconnect(ready)
                QTimer.singleShot(2000, grab)  # let the window paint everything first

        win.frame_result.connect(ready)
        QTimer.singleShot(int(args.timeout * 1000), app.quit)
        app.exec()
        shot = state["shot"]
        if shot is None:
            print(f"screenshot: no result from both models within {args.timeout:g} s; messages: {win.messages}",
                  file=sys.stderr)
            return 1
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        part = out.with_name(out.name + ".part.png")
        if not shot.save(str(part), "PNG"):
            print(f"screenshot: cannot write {part}", file=sys.stderr)
            return 1
        os.replace(part, out)
        print(f"wrote {out} ({shot.width()}x{shot.height()}) after {time.time() - state['t0']:.1f} s")
        win.close()
        return 0
    finally:
        tmp.cleanup()
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(5)


if __name__ == "__main__":
    sys.exit(main())
