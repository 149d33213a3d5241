"""Fail the install when both OpenCV wheels are present: they share cv2/ and break each other
(and opencv-python's bundled Qt plugins break PySide6)."""

import importlib.metadata as md
import sys

present = []
for dist in ("opencv-python", "opencv-contrib-python"):
    try:
        md.version(dist)
        present.append(dist)
    except md.PackageNotFoundError:
        pass
if present:
    sys.exit(f"error: {', '.join(present)} is installed next to opencv-python-headless; "
             f"run: {sys.executable} -m pip uninstall -y {' '.join(present)} && "
             f"{sys.executable} -m pip install --force-reinstall opencv-python-headless")
print("environment ok: opencv-python-headless only")
