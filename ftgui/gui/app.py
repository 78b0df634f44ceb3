"""Start the desktop app: ``ftgui`` with no arguments, or ``python -m ftgui.gui.app``.

Only Qt and pyqtgraph load before the window shows; torch and transformers load on
worker threads when they are first needed.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Open the window. ``argv`` may hold one config path to load; without it the last
    session's config comes back, or the offline demo on first start."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from ftgui.core.qt_platform import platform_problem
    problem = platform_problem(sys.argv)  # before Qt aborts with a misleading message
    if problem:
        print(f"ftgui: error: {problem}", file=sys.stderr)
        return 2
    from ftgui.threads import use_window_policy
    use_window_policy()  # before anything loads torch (and its OpenMP)
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    QCoreApplication.setOrganizationName("ftgui")
    QCoreApplication.setApplicationName("ftgui")
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "ftgui"])
    app.setApplicationDisplayName("ftgui")

    from ftgui.gui.main_window import MainWindow
    from ftgui.gui.config_files import demo_config_path
    from ftgui.gui.workers.run_worker import wait_for_tasks

    win = MainWindow()
    paths = [a for a in argv if not a.startswith("-")]
    if paths:
        win.load_config(Path(paths[0]))
    elif not win.restore_last_config():
        demo = demo_config_path()
        if demo is not None:
            win.load_config(demo)
    win.show()
    rc = app.exec()
    # a background read may still be importing torch; let it end before Python does
    wait_for_tasks(60000)
    return int(rc)


if __name__ == "__main__":
    sys.exit(main())
