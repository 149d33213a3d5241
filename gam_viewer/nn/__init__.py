"""Pure-PyTorch building blocks: the GAM block and the YOLO layers. No Qt here."""

from .gam import GAM, ChannelGate, SpatialGate, channel_shuffle, gates_kept

__all__ = ["GAM", "ChannelGate", "SpatialGate", "channel_shuffle", "gates_kept"]
