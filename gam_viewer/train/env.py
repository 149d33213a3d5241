"""Run Ultralytics offline, with its settings and files kept in a folder the user chose.

Call :func:`prepare` *before* ``ultralytics`` is first imported: Ultralytics reads
``YOLO_CONFIG_DIR`` once, at import, and writes its settings file there straight away.

What it sets (only where the user has not set it already):

* ``YOLO_CONFIG_DIR`` -> ``<project>/.ultralytics`` (settings.json, fonts, multi-GPU launch
  files), instead of ``~/.config/Ultralytics``;
* ``YOLO_OFFLINE=1``: no connectivity checks, no analytics, no hub;
* ``YOLO_AUTOINSTALL=false``: a missing package is an error, never a pip install.

Ultralytics' plots ask for ``Arial.ttf`` and download it when it is not in its config folder;
:func:`install_font` puts matplotlib's DejaVu Sans there under that name (and as
``Arial.Unicode.ttf``, used for non-Latin class names) so that nothing is fetched.
"""

import os
import shutil
import sys
from pathlib import Path
from typing import Dict, Optional, Union

__all__ = ["prepare", "install_font", "config_dir", "OFFLINE_ENV"]

OFFLINE_ENV: Dict[str, str] = {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "false"}
_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")


def _dejavu() -> Path:
    import matplotlib

    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    if not font.is_file():
        raise FileNotFoundError(f"matplotlib's DejaVuSans.ttf is missing ({font}); it stands in for Arial.ttf")
    return font


def config_dir() -> Path:
    """The folder Ultralytics keeps its settings and fonts in (``$YOLO_CONFIG_DIR/Ultralytics``).

    When ``ultralytics`` is already imported this is the folder it actually uses.
    """
    utils = sys.modules.get("ultralytics.utils")
    if utils is not None and hasattr(utils, "USER_CONFIG_DIR"):
        return Path(utils.USER_CONFIG_DIR)
    base = os.environ.get("YOLO_CONFIG_DIR")
    if not base:
        raise RuntimeError("YOLO_CONFIG_DIR is not set; call gam_viewer.train.env.prepare() first")
    return Path(base).expanduser() / "Ultralytics"


def install_font(target: Optional[Path] = None) -> Path:
    """Copy DejaVu Sans to ``<config>/Arial.ttf`` (and ``Arial.Unicode.ttf``) unless present."""
    target = Path(target) if target is not None else config_dir()
    target.mkdir(parents=True, exist_ok=True)
    src = _dejavu()
    for name in _FONT_NAMES:
        dst = target / name
        if not dst.is_file():
            tmp = dst.with_name(f".{name}.tmp{os.getpid()}")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
    return target / _FONT_NAMES[0]


def prepare(project: Union[str, Path], *, environ=None, font: bool = True) -> Dict[str, str]:
    """Set the offline environment for a run whose outputs go under ``project``.

    Returns the variables it set. Safe to call more than once. When Ultralytics is already
    imported its config folder can no longer move; the font then goes to the folder it uses.
    ``font=False`` leaves the font for a later :func:`install_font` (just before training).
    """
    env = os.environ if environ is None else environ
    project = Path(project).expanduser().resolve()
    changed: Dict[str, str] = {}
    for key, value in OFFLINE_ENV.items():
        if key not in env:
            env[key] = value
            changed[key] = value
    if "YOLO_CONFIG_DIR" not in env and "ultralytics" not in sys.modules:
        env["YOLO_CONFIG_DIR"] = str(project / ".ultralytics")
        changed["YOLO_CONFIG_DIR"] = env["YOLO_CONFIG_DIR"]
    if font and environ is None:
        install_font()
    return changed
