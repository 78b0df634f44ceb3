"""The window as the user left it: geometry, splitters, settings tab, curve smoothing, and
the settings themselves, kept in QSettings and restored on the next start.

``WindowState`` is mixed into MainWindow.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray


class WindowState:
    def _splitters(self) -> dict:
        return {"main_splitter": self.splitter, "run_splitter": self.run_panel.splitter}

    def _restore_state(self) -> None:
        s = self.settings
        geo = s.value("geometry")
        if isinstance(geo, QByteArray) and not geo.isEmpty():
            self.restoreGeometry(geo)
        for key, splitter in self._splitters().items():
            state = s.value(key)
            if isinstance(state, QByteArray) and not state.isEmpty():
                splitter.restoreState(state)
        tab = s.value("tab")
        if tab is not None:
            self.tabs.setCurrentIndex(int(tab))
        smoothing = s.value("smoothing")
        if smoothing is not None:
            self.plots.smoothing.setValue(int(smoothing))

    def save_state(self) -> None:
        s = self.settings
        s.setValue("geometry", self.saveGeometry())
        for key, splitter in self._splitters().items():
            s.setValue(key, splitter.saveState())
        s.setValue("tab", self.tabs.currentIndex())
        s.setValue("smoothing", self.plots.smoothing.value())
        self._remember_config()
        s.sync()
