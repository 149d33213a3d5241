"""Models: YAML -> model builder, one reader per file format (a table in :mod:`.read`), the
loaded-model record, gam-viewer's own format, shipped YAMLs. No Qt here."""

from .builder import YoloModel, build_model
from .errors import ModelLoadError
from .loaded import GamLayerReport, LoadedModel
from .read import read_model, sniff_format

__all__ = ["YoloModel", "build_model", "LoadedModel", "GamLayerReport", "read_model", "sniff_format", "ModelLoadError"]
