"""The PySide6 face of ftgui. Importing this package starts nothing heavy."""
