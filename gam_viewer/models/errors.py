"""The one exception type the model layer raises for user-facing problems."""


class ModelLoadError(ValueError):
    """A model file or config that gam-viewer cannot open. ``str(err)`` is one line that
    names the file, layer or argument at fault; the UI and CLI show it as is."""
