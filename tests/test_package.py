"""The PyInstaller app builds from build.spec and passes its self-test offscreen.

Slow (minutes, about a gigabyte written), so it runs in CI (CI=true) or when
FTGUI_TEST_PACKAGE=1, and is skipped otherwise."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (os.environ.get("CI") or os.environ.get("FTGUI_TEST_PACKAGE")),
    reason="packaging test: set FTGUI_TEST_PACKAGE=1 (CI runs it)")]


def test_build_and_self_test(tmp_path):
    pytest.importorskip("PyInstaller")
    dist, work = tmp_path / "dist", tmp_path / "build"
    build = subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--distpath",
                            str(dist), "--workpath", str(work), str(ROOT / "build.spec")],
                           cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    app = dist / "ftgui" / ("ftgui.exe" if sys.platform == "win32" else "ftgui")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FTGUI_")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    run = subprocess.run([str(app), "--self-test"], capture_output=True, text=True,
                         timeout=600, env=env)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    assert "self-test: OK" in out
    shutil.rmtree(dist, ignore_errors=True)
