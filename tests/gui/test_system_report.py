"""Help ▸ System report…: ftgui doctor's report in the window, made off the GUI thread,
copied to the clipboard."""

import socket

import torch
from huggingface_hub import constants
from PySide6.QtGui import QGuiApplication


def test_system_report_dialog_shows_and_copies_the_doctor_report(window, qtbot, monkeypatch):
    with socket.socket() as s:  # a Hub address where nothing listens: answered at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    help_menu = next(a for a in window.menuBar().actions() if a.text() == "&Help").menu()
    item = next(a for a in help_menu.actions() if a.text() == "&System report…")
    item.trigger()
    dialog = window.system_report
    assert dialog.isVisible()
    # the slow parts run on a worker: the dialog is up before the report is made
    assert dialog.text.toPlainText().startswith("Gathering")
    assert not dialog.copy_button.isEnabled()
    with qtbot.waitSignal(dialog.ready, timeout=60000):
        pass
    text = dialog.text.toPlainText()
    assert f"torch {torch.__version__}" in text
    assert f"Qt platform in use: {QGuiApplication.platformName()}" in text
    assert "Hugging Face Hub http://127.0.0.1" in text and "not reachable" in text
    assert "Optional packages: " in text
    dialog.copy_button.click()
    assert QGuiApplication.clipboard().text() == text
    # asked again: a fresh report in a new dialog, the old one closed
    item.trigger()
    assert window.system_report is not dialog and not dialog.isVisible()
    with qtbot.waitSignal(window.system_report.ready, timeout=60000):
        pass
