"""The PySide6 face of ftgui. Importing this package starts nothing heavy."""

from ftgui.gui import _refcount_guard

_refcount_guard.install()
