"""Python's cyclic garbage collector runs in whichever thread happens to allocate when a threshold
is crossed. When that is a worker thread (building a model allocates a lot), it finalizes Qt
wrappers left over from the GUI thread and destroys their QObjects there: Qt then deadlocks or
crashes (seen as a rare test-process crash while a worker loaded a model). So the window turns
automatic collection off and collects on a GUI-thread timer instead: pyqtgraph's
``GarbageCollector`` does exactly that. One per process, started by the first window.
"""

from typing import Optional

__all__ = ["collect_in_gui_thread", "collector"]

_COLLECTOR = None


def collect_in_gui_thread(interval: float = 0.5):
    """Start (once) GUI-thread-only garbage collection; call from the GUI thread."""
    global _COLLECTOR
    if _COLLECTOR is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _COLLECTOR = GarbageCollector(interval=interval)
    return _COLLECTOR


def collector() -> Optional[object]:
    """The running collector, or None before the first window."""
    return _COLLECTOR
