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
    from PySide6.QtCore import QSettings

    from ftgui.gui.main_window import MainWindow
    from ftgui.gui.worker import wait_for_tasks

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    if win.running:  # a failed test must not leave a training thread behind
        win.stop()
        qtbot.waitUntil(lambda: not win.running, timeout=60000)
    wait_for_tasks(30000)
