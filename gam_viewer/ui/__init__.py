"""The Qt window (PySide6 + pyqtgraph). Nothing below this package imports Qt; no model maths here.

Start it with :func:`gam_viewer.ui.app.run_gui`; the window and its hooks for add-on views are
described in :mod:`gam_viewer.ui.main_window`.
"""
