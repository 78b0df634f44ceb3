"""The check that Qt's platform plugin can load, made with ldd before Qt starts."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ftgui.core.qt_platform import (PACKAGES, check, install_hint, missing_from_ldd,
                                    requested_platforms)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REPO = Path(__file__).resolve().parents[2]
# ldd on PySide6 6.12.0's libqxcb.so on Debian 12 with libxcb-icccm4 and libxcb-keysyms1
# not installed (the machine of issue 16)
LDD = (FIXTURES / "ldd-libqxcb-debian12.txt").read_text(encoding="utf-8")
linux_ldd = pytest.mark.skipif(not sys.platform.startswith("linux") or not shutil.which("ldd"),
                               reason="the check uses ldd (Linux)")


def test_parser_finds_the_missing_libraries_in_real_ldd_output():
    assert missing_from_ldd(LDD) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    hint = install_hint(missing_from_ldd(LDD))
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in hint
    assert "sudo dnf install xcb-util-wm xcb-util-keysyms" in hint


def test_every_system_library_of_the_xcb_plugin_has_its_packages():
    linked = re.findall(r"^\s*(\S+\.so\.\d+) => (\S+)", LDD, re.M)
    system = {name for name, path in linked if "site-packages" not in path}
    glibc_and_compiler = {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1",
                          "libpthread.so.0", "libdl.so.2"}
    # the libraries of libraries (zlib, pcre, systemd...) come with the ones listed
    direct = {n for n in system - glibc_and_compiler if re.match(
        r"lib(xcb|X11|xkb|GL|EGL|OpenGL|fontconfig|freetype|dbus|glib|gthread)", n)}
    assert "libxcb-cursor.so.0" in direct and "libxkbcommon-x11.so.0" in direct
    assert direct <= set(PACKAGES), direct - set(PACKAGES)


def test_libraries_of_the_wheel_and_unknown_ones_get_their_own_advice():
    hint = install_hint(["libQt6XcbQpa.so.6", "libfoo.so.3"])
    assert "pip install --force-reinstall PySide6-Essentials" in hint
    assert "libfoo.so.3" in hint and "apt install" not in hint


def test_requested_platforms_follow_qt(monkeypatch):
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
    assert requested_platforms([]) == ["xcb"]
    monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert requested_platforms([]) == ["wayland", "xcb"]
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb:dpi=96;offscreen")
    assert requested_platforms([]) == ["xcb", "offscreen"]
    assert requested_platforms(["ftgui", "-platform", "minimal"]) == ["minimal"]


@linux_ldd
def test_the_platform_the_tests_use_can_load():
    c = check("offscreen")
    assert c.plugin is not None and c.plugin.name == "libqoffscreen.so"
    assert c.ok, c.message()


def _pyside_with_a_library_removed(root: Path, removed: str) -> Path:
    """A PySide6 made of symlinks to the installed one, without one of its Qt libraries:
    the plugins' $ORIGIN-relative search then really cannot find it."""
    real = Path(importlib.util.find_spec("PySide6").origin).parent
    site = root / "site"
    keep = {real / "Qt", real / "Qt" / "lib", real / "Qt" / "plugins",
            real / "Qt" / "plugins" / "platforms"}

    def mirror(src: Path, dst: Path):
        dst.mkdir(parents=True)
        for entry in src.iterdir():
            if entry in keep:
                mirror(entry, dst / entry.name)
            elif entry.name != removed:
                (dst / entry.name).symlink_to(entry)

    mirror(real, site / "PySide6")
    (site / "shiboken6").symlink_to(real.parent / "shiboken6")
    return site


@linux_ldd
def test_ftgui_names_the_missing_library_instead_of_qt_aborting(tmp_path):
    site = _pyside_with_a_library_removed(tmp_path, "libQt6XcbQpa.so.6")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
           "QT_QPA_PLATFORM": "xcb"}
    # Qt itself, on this PySide6: its misleading line and an abort (SIGABRT)
    qt = subprocess.run([sys.executable, "-c", "from PySide6.QtWidgets import QApplication;"
                         "QApplication([])"], env=env, capture_output=True, text=True,
                        timeout=120, cwd=tmp_path)
    assert qt.returncode != 0 and "libQt6XcbQpa" not in qt.stderr
    # ftgui: one line naming it and what to do, exit 2
    run = subprocess.run([sys.executable, "-m", "ftgui"], env=env, capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith('ftgui: error: the Qt platform "xcb" cannot load: missing ')
    assert "libQt6XcbQpa.so.6" in lines[0]
    assert "pip install --force-reinstall PySide6-Essentials" in lines[0]
