"""Small reusable widgets: the error banner, the device badge, a busy line."""

from __future__ import annotations

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QToolButton, QWidget)


class ErrorBanner(QFrame):
    """A non-modal message strip above the window's content. Never a traceback: a
    message a person can act on, a button to the field at fault, and the log for bugs."""

    showField = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, objectName="errorBanner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self._field: str | None = None
        self.field_was_problem = False   # the window clears the message once it is not
        self._log: str | None = None
        self.icon = QLabel("⚠")
        self.icon.setStyleSheet("font-size: 16px; border: none; background: transparent;")
        self.label = QLabel(objectName="errorText")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setStyleSheet("border: none; background: transparent;")
        self.field_button = QPushButton("Show setting")
        self.field_button.clicked.connect(lambda: self._field and self.showField.emit(self._field))
        self.log_button = QPushButton("Open log")
        self.log_button.clicked.connect(self._open_log)
        close = QToolButton(text="✕")
        close.setToolTip("Dismiss")
        close.setAutoRaise(True)
        close.clicked.connect(self.clear)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 6, 6)
        row.addWidget(self.icon)
        row.addWidget(self.label, 1)
        row.addWidget(self.field_button)
        row.addWidget(self.log_button)
        row.addWidget(close)
        self.set_level("error")
        self.hide()

    def set_level(self, level: str) -> None:
        color = {"error": "217, 83, 79", "warning": "240, 173, 78",
                 "info": "59, 130, 246"}[level]
        self.setStyleSheet(f"#errorBanner {{ background: rgba({color}, 0.16); "
                           f"border: 1px solid rgba({color}, 0.8); border-radius: 4px; }}")

    def show_message(self, text: str, *, field: str | None = None, log_path: str | None = None,
                     level: str = "error") -> None:
        self._field, self._log = field, log_path
        self.field_was_problem = False
        self.set_level(level)
        self.label.setText(text)
        self.field_button.setVisible(bool(field))
        self.log_button.setVisible(bool(log_path))
        self.show()

    @property
    def field(self) -> str | None:
        """The setting the message is about, if any."""
        return self._field

    def clear(self) -> None:
        self.label.clear()
        self._field = self._log = None
        self.hide()

    def text(self) -> str:
        return self.label.text() if not self.isHidden() else ""

    def _open_log(self) -> None:
        if self._log:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self._log))


class WrapLabel(QLabel):
    """A word-wrapped label that keeps the height its text needs at its width (Qt does not
    pass a label's height-for-width up through tab and stacked widgets, so a second line
    would be cut off)."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.setWordWrap(True)

    def setText(self, text: str) -> None:
        super().setText(text)
        self._fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        need = self.heightForWidth(max(self.width(), 50))
        if need > 0 and need != self.minimumHeight():
            self.setMinimumHeight(need)


class DeviceBadge(QLabel):
    """What a run will use: 'CPU, 8 threads, fp32', 'CUDA: NVIDIA … 24 GB, bf16'."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Device: detecting…", parent, objectName="deviceBadge")
        self.setToolTip("The device and number format a run will use")
        self.set_state("pending")

    def set_state(self, state: str) -> None:
        color = {"pending": "128, 128, 128", "ok": "16, 185, 129",
                 "error": "217, 83, 79"}[state]
        self.setStyleSheet(f"QLabel#deviceBadge {{ padding: 3px 10px; border-radius: 10px; "
                           f"background: rgba({color}, 0.18); border: 1px solid rgba({color}, 0.7); }}")


class BusyLine(QWidget):
    """An indeterminate bar with a status line, shown while background work runs."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.bar.setMaximumHeight(6)
        self.bar.setTextVisible(False)
        self.bar.setMaximumWidth(90)
        self.label = QLabel()
        self.label.setWordWrap(True)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar)
        row.addWidget(self.label, 1)
        self.stop()

    def start(self, text: str) -> None:
        self.label.setText(text)
        self.label.setStyleSheet("")
        self.bar.show()
        self.show()

    def stop(self, text: str = "", error: bool = False) -> None:
        self.bar.hide()
        self.label.setText(text)
        self.label.setStyleSheet("color: #d9534f;" if error else "")
        self.setVisible(bool(text))

    @property
    def busy(self) -> bool:
        return not self.bar.isHidden()
