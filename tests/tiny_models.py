"""The smallest GAM-YOLO the builder accepts, for plumbing tests (not accuracy): one stride-16
patchify conv, one GAM block, an anchor Detect head; random weights unless a test sets them."""

TINY_GAM_YAML = """
nc: {nc}
anchors:
  - [16, 16, 32, 32, 64, 64]
backbone:
  - [-1, 1, Conv, [8, 16, 16, 0]]
  - [-1, 1, GAM, []]
head:
  - [[1], 1, Detect, [nc, anchors]]
"""


def tiny_gam_yaml(nc: int = 1) -> str:
    return TINY_GAM_YAML.format(nc=int(nc))
