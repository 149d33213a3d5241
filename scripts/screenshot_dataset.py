"""Screenshot of the window with the Dataset dock showing a ``gam-viewer eval`` report and the
image the two models disagree on most, open in both panes with its ground truth.

    python scripts/screenshot_dataset.py --report REPORT_DIR --data data.yaml --model M --baseline B
                                         [--row 0] [--out docs/screenshot-dataset-dock.png] [--size 1700x950]

REPORT_DIR is the ``--out`` folder of a ``gam-viewer eval`` run with the same models and data
(its report.json and per_image.csv are shown as the dock's result: no second evaluation).
Runs offscreen (QT_QPA_PLATFORM=offscreen) with a throw-away settings file and grabs the
window; the PNG is written atomically.
"""

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _num(v: str):
    if v == "":
        return None
    try:
        f = float(v)
    except ValueError:
        return v
    return int(f) if f.is_integer() and "." not in v else f


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--report", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--baseline", required=True)
    ap.add_argument("--row", type=int, default=0, help="which row (by disagreement) to open")
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshot-dataset-dock.png"))
    ap.add_argument("--size", default="1700x950")
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    settings_file = Path(tempfile.mkdtemp()) / "settings.ini"
    os.environ["GAM_VIEWER_SETTINGS"] = str(settings_file)

    from PySide6.QtWidgets import QApplication

    from gam_viewer.eval.datasets import open_dataset
    from gam_viewer.fsutil import write_atomic
    from gam_viewer.ui.main_window import MainWindow
    from gam_viewer.ui.settings import Settings

    app = QApplication.instance() or QApplication(sys.argv)
    win = MainWindow(Settings(settings_file))   # the bundled demo stays the demo: no demo notice for other models
    w, h = (int(v) for v in args.size.split("x"))
    win.resize(w, h)
    win.show()
    win.start(model=args.model, baseline=args.baseline, demo=False)

    def wait(cond, what):
        t0 = time.time()
        while not cond():
            app.processEvents()
            time.sleep(0.02)
            if time.time() - t0 > args.timeout:
                sys.exit(f"screenshot: timed out waiting for {what}")

    wait(lambda: win.pipeline.model_info("gam") and win.pipeline.model_info("baseline")
         and not win.pipeline.loading, "the models")
    report = json.loads((Path(args.report) / "report.json").read_text())
    with (Path(args.report) / "per_image.csv").open() as f:
        report["per_image"] = [{k: (v if k in ("image", "classes") else _num(v)) for k, v in r.items()}
                               for r in csv.DictReader(f)]
    dock = win.dataset_dock
    dock.open_dataset(args.data, run=False)
    dock.show_report(open_dataset(args.data), report, cached=True)
    win.panels_dock.hide()
    from PySide6.QtCore import Qt

    win.resizeDocks([dock], [int(w * 0.36)], Qt.Orientation.Horizontal)
    rec = dock.proxy.index(args.row, 0).data(256)   # Qt.UserRole: the row's record
    dock.table.selectRow(args.row)
    dock.show_record(rec)
    wait(lambda: dock.gt_boxes_shown > 0 and not win.pipeline.busy and win.current_result is not None
         and all(win.current_result.detections.get(s) is not None for s in ("gam", "baseline")), "the image")
    for _ in range(20):
        app.processEvents()
        time.sleep(0.05)
    png = win.grab().toImage()
    tmp = Path(tempfile.mkdtemp()) / "shot.png"
    png.save(str(tmp))
    write_atomic(Path(args.out), tmp.read_bytes(), overwrite=True)
    print(f"wrote {args.out} ({rec.get('image')}: disagreement {rec.get('disagreement')})")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
