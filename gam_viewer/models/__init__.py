"""Models: YAML -> model builder, one reader per file format (a table in :mod:`.read`), the
loaded-model record, gam-viewer's own format, shipped YAMLs. No Qt here.

Imports lazily (like the root package), so that ``gam_viewer.models.errors`` can be used by the
command line without loading PyTorch.
"""

_LAZY = {
    "YoloModel": ".builder", "build_model": ".builder",
    "ModelLoadError": ".errors",
    "GamLayerReport": ".loaded", "LoadedModel": ".loaded",
    "read_model": ".read", "sniff_format": ".read",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gam_viewer.models' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
