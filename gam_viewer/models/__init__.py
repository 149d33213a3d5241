"""Model construction and safe checkpoint reading. No Qt here."""

from .builder import YoloModel, build_model
from .checkpoint import LoadedModel, read_model
from .errors import ModelLoadError

__all__ = ["YoloModel", "build_model", "LoadedModel", "read_model", "ModelLoadError"]
