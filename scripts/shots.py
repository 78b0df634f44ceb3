"""What the screenshot scripts share: their common options, an offscreen window with its own
settings and runs folder, waiting on the event loop, and saving a grab.

A script in scripts/ imports it as ``shots`` (its own folder is first on sys.path). Call
``offscreen()`` before anything imports Qt or ftgui: it sets the environment they read.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))   # run from a checkout without installing
DEMO = ROOT / "resources" / "demo" / "demo.yaml"

_app = None   # the QApplication, kept alive as long as the script runs


def parser(doc: str, *, out: str, width: int, height: int, timeout: float,
           pane: int | None = None) -> argparse.ArgumentParser:
    """--out (under docs/), --width, --height, --timeout and, with ``pane``, --pane."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / out))
    ap.add_argument("--width", type=int, default=width)
    ap.add_argument("--height", type=int, default=height)
    if pane is not None:
        ap.add_argument("--pane", type=int, default=pane, help="width of the settings pane")
    ap.add_argument("--timeout", type=float, default=timeout)
    return ap


def offscreen(*, own_cache: bool = False) -> Path:
    """Render offscreen, with the runs (and with ``own_cache`` the prepared-data cache) in a
    new temporary folder unless the environment names others; returns that folder."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="ftgui-shot-"))
    os.environ.setdefault("FTGUI_RUNS_DIR", str(tmp / "runs"))
    if own_cache:
        os.environ.setdefault("FTGUI_CACHE_DIR", str(tmp / "cache"))
    return tmp


def window(tmp: Path, width: int, height: int):
    """The app and its main window, ``width`` x ``height``, its settings kept in ``tmp``."""
    global _app
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from ftgui.gui.main_window import MainWindow

    _app = QApplication([sys.argv[0]])
    _app.setApplicationDisplayName("ftgui")
    win = MainWindow(settings=QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    win.resize(width, height)
    return win


def wait(cond, timeout_s: float) -> bool:
    """Run the event loop until ``cond()`` holds or ``timeout_s`` pass; returns ``cond()``."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    timer = QTimer(interval=100)
    timer.timeout.connect(lambda: cond() and loop.quit())
    timer.start()
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    timer.stop()
    return cond()


def wait_signal(signal, start, timeout_s: float) -> None:
    """Call ``start()`` and run the event loop until ``signal`` comes or ``timeout_s`` pass."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    start()
    loop.exec()
    signal.disconnect(loop.quit)


def save(widget, out: str | Path, settle_s: float = 0.5) -> Path:
    """Let the last paint land, then write ``widget`` as a PNG to ``out``."""
    wait(lambda: False, settle_s)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    widget.grab().save(str(out), "PNG")
    print(f"wrote {out}")
    return out


def finish(win, tasks_ms: int = 10000) -> int:
    """Let background reads end, then close the window; 0, for the script's exit code."""
    from ftgui.gui.workers.run_worker import wait_for_tasks

    wait_for_tasks(tasks_ms)
    win.close()
    return 0
