"""Help ▸ System report…: what `ftgui doctor` prints, gathered off the GUI thread (torch,
the disk and the Hub take seconds), with a button that copies it for a bug report."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QLabel, QPlainTextEdit,
                               QPushButton, QVBoxLayout)

from ftgui.core.wording import describe_error
from ftgui.gui.workers.run_worker import run_task


class SystemReportDialog(QDialog):
    ready = Signal()   # the report is shown (or why it could not be made)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("System report")
        self.resize(760, 520)
        self.report: dict | None = None
        self.text = QPlainTextEdit(readOnly=True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setPlainText("Gathering the report (torch, GPUs, disk, the Hugging Face "
                               "Hub: a few seconds)…")
        note = QLabel("The same as <code>ftgui doctor</code> on the command line "
                      "(<code>--json</code> for a bug report).")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("&Copy")
        self.copy_button.setToolTip("Copy the report to the clipboard")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        from ftgui.core.doctor import collect
        run_task(collect, self._show, self._failed, owner=self)

    def _show(self, report: dict) -> None:
        from ftgui.core.doctor import format_text
        report["qt"]["in_use"] = QGuiApplication.platformName()
        self.report = report
        self.text.setPlainText(format_text(report))
        self.copy_button.setEnabled(True)
        self.ready.emit()

    def _failed(self, error: BaseException) -> None:
        self.text.setPlainText(f"The report could not be made: {describe_error(error)}")
        self.ready.emit()

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text.toPlainText())
