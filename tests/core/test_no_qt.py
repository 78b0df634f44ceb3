import subprocess
import sys


def test_core_imports_no_qt():
    code = ("import sys, ftgui.core, ftgui.core.runner, ftgui.core.inference, ftgui.cli, "
            "ftgui.console\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('PySide6', 'PyQt5', 'PyQt6', 'shiboken6', 'pyqtgraph'))\n"
            "print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
