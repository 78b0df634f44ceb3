"""Fixtures for the GUI tests: a real window, offscreen, on a tiny model
(``tiny_model_dir`` and the isolated runs/cache folders come from tests/conftest.py)."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WIKI = ROOT / "tests" / "fixtures" / "wiki-small.txt"


@pytest.fixture
def make_config(tmp_path, tiny_model_dir):
    """Write a small, fast run config (tiny GPT-2, WikiText excerpt) with overrides."""
    def make(name="run.yaml", **sections):
        raw = {"model": {"source": str(tiny_model_dir), "method": "full"},
               "data": {"source": str(WIKI), "block_size": 32, "validation": 0.1},
               "training": {"max_steps": 20, "batch_size": 4, "logging_steps": 1,
                            "save_steps": 1000, "learning_rate": 1e-3, "eval_steps": 10}}
        for section, values in sections.items():
            raw.setdefault(section, {}).update(values)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(raw), encoding="utf-8")
        return path
    return make


@pytest.fixture
def window(qtbot, tmp_path):
    """The main window; on teardown it must leave no thread running and no top-level
    window behind (napari's leaked-widget check)."""
    from PySide6.QtCore import QSettings, QThread
    from PySide6.QtWidgets import QApplication

    from ftgui.gui.main_window import MainWindow
    from ftgui.gui.workers.run_worker import wait_for_tasks

    before = set(QApplication.topLevelWidgets())
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings)
    win.show()
    qtbot.waitExposed(win)
    yield win
    if win.running:  # a failed test must not leave a training thread behind
        win.stop()
        qtbot.waitUntil(lambda: not win.running, timeout=60000)
    assert wait_for_tasks(30000), "background tasks still running after the test"
    threads = [t.objectName() or repr(t) for t in win.findChildren(QThread) if t.isRunning()]
    assert not threads, f"threads left running: {threads}"
    win.close()
    with qtbot.waitSignal(win.destroyed, timeout=10000):
        win.deleteLater()
    # windows still open once the main window has gone (a dialog or message box a test or
    # the app forgot). Hidden parentless ones are not counted: pyqtgraph makes its menus
    # without a parent and they go when pytest drops the test's objects.
    leaked = [f"{type(w).__name__} {w.windowTitle()!r}" for w in QApplication.topLevelWidgets()
              if w not in before and w.isVisible()]
    assert not leaked, f"windows left open after the main window closed: {leaked}"
