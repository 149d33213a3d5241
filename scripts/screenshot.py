"""Screenshot of the real viewer window (X11, not offscreen) on the embedded demo.

    python scripts/screenshot.py [--out docs/screenshot-viewer.png] [--size 1600x1000]
                                 [--source PATH] [--model M --baseline B] [--imgsz 640] [--conf C]
                                 [--attention [LAYER]] [--reduce mean|max|N] [--cam eigen]
                                 [--point X,Y] [--sort] [--top-k K] [--cmap NAME]

``--attention`` opens the Attention panel, selects the GAM layer with index LAYER (default:
the middle one) and overlays its gate; ``--point`` clicks that image pixel (channel chart at
that cell); ``--cam eigen`` shows EigenCAM on both panes instead. The default output is then
docs/screenshot-attention.png.

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
    ap.add_argument("--out", help="PNG to write (default docs/screenshot-viewer.png, or "
                                  "docs/screenshot-attention.png with --attention / --cam)")
    ap.add_argument("--size", default="1600x1000", help="screen (and window) size WxH")
    ap.add_argument("--source", help="image, folder or video to show (default: the demo images)")
    ap.add_argument("--model", help="GAM-YOLO model (default: the demo pair)")
    ap.add_argument("--baseline", help="baseline model (default: the demo pair)")
    ap.add_argument("--imgsz", type=int, help="inference size")
    ap.add_argument("--conf", type=float, help="confidence threshold")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for results")
    ap.add_argument("--attention", nargs="?", const="middle", metavar="LAYER",
                    help="select GAM layer LAYER (an index; default the middle one) and overlay its gate")
    ap.add_argument("--reduce", default="mean", help="mean, max or a channel number")
    ap.add_argument("--cam", choices=("eigen",), help="EigenCAM on both panes instead of the gate")
    ap.add_argument("--point", help="X,Y: click this image pixel (the chart shows that cell)")
    ap.add_argument("--sort", action="store_true", help="sort the channel chart")
    ap.add_argument("--top-k", type=int, default=0, help="channel chart: only the k largest")
    ap.add_argument("--cmap", help="colormap (the window's control)")
    args = ap.parse_args()
    attention = args.attention is not None or args.cam is not None
    if args.out is None:
        args.out = str(ROOT / "docs" / ("screenshot-attention.png" if attention else "screenshot-viewer.png"))

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
        if args.imgsz or args.conf is not None:
            p = win.controls.inference_params()
            win.controls.set_inference_params(InferenceParams(conf=p.conf if args.conf is None else args.conf,
                                                              iou=p.iou, imgsz=args.imgsz or p.imgsz))
        if args.cmap:
            win.controls.colormap.setCurrentText(args.cmap)
        win.start([args.source] if args.source else [], model=args.model, baseline=args.baseline)
        state = {"shot": None, "t0": time.time()}

        def grab():
            state["shot"] = app.primaryScreen().grabWindow(0)
            app.quit()

        def ready(result):
            loaded = all(win.pipeline.model_info(s) is not None for s in ("gam", "baseline"))
            if loaded and not win.pipeline.loading and all(d is not None for d in result.detections.values()):
                win.frame_result.disconnect(ready)
                if attention:
                    show_attention(win, args)
                    if args.cam:
                        win.frame_result.connect(cam_ready)
                        return
                QTimer.singleShot(2000, grab)  # let the window paint everything first

        def cam_ready(result):
            if all(s in result.cams or s in result.cam_errors for s in ("gam", "baseline")):
                win.frame_result.disconnect(cam_ready)
                QTimer.singleShot(2000, grab)

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


def show_attention(win, args) -> None:
    """Select a layer (or EigenCAM), the reduction, the chart options and a clicked pixel."""
    panel = win.attention
    win.panel_tabs.setCurrentWidget(panel)
    maps = panel.maps("gam")
    if args.cam:
        panel.set_mode(args.cam)
    elif maps:
        if args.attention in (None, "middle"):
            index = maps[len(maps) // 2].index
        else:
            index = int(args.attention)
            if index not in [a.index for a in maps]:
                sys.exit(f"screenshot: no GAM layer {index} (layers: {[a.index for a in maps]})")
        panel.select_layer("gam", index)
    if args.reduce.isdigit():
        panel.set_channel(int(args.reduce))
    else:
        panel.reduce_box.setCurrentIndex(panel.reduce_box.findData(args.reduce))
    panel.chart.sort.setChecked(args.sort)
    panel.chart.top_k.setValue(args.top_k)
    if args.point:
        x, y = (float(v) for v in args.point.split(","))
        win.image_clicked.emit("gam", x, y)


if __name__ == "__main__":
    sys.exit(main())
