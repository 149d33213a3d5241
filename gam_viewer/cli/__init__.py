"""The headless sub-commands of ``gam-viewer`` (``gam_viewer.app`` is the entry point)."""
