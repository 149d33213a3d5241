"""Where gam-viewer keeps files it can rebuild (ONNX exports, ...): the user cache folder.

``$GAM_VIEWER_CACHE`` when set (tests point it at a temporary folder), else the platform's
user cache folder for "gam-viewer" (platformdirs: ``~/.cache/gam-viewer`` on Linux,
``~/Library/Caches/gam-viewer`` on macOS, ``%LOCALAPPDATA%\\gam-viewer\\Cache`` on Windows).
Nothing here is precious: every entry can be deleted and is made again on the next use.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ENV_CACHE", "cache_root", "cache_subdir"]

ENV_CACHE = "GAM_VIEWER_CACHE"


def cache_root() -> Path:
    """The cache folder (not created here)."""
    env = os.environ.get(ENV_CACHE, "").strip()
    if env:
        return Path(env).expanduser()
    try:
        import platformdirs
    except ImportError:  # a minimal install: the XDG rule, which is platformdirs' on Linux
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
        return base / "gam-viewer"
    return Path(platformdirs.user_cache_dir("gam-viewer", appauthor=False))


def cache_subdir(name: str) -> Path:
    """``cache_root() / name``, created if missing."""
    path = cache_root() / name
    path.mkdir(parents=True, exist_ok=True)
    return path
