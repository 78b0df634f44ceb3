"""Can Qt's platform plugin load on this machine? Asked before a QApplication exists.

When a system library the platform plugin links against is missing, Qt prints a
misleading line ("xcb-cursor0 or libxcb-cursor0 is needed...", even when it is there)
and aborts. `ldd` on the plugin names the libraries that are really missing; this module
maps them to the Debian/Ubuntu and Fedora packages that ship them. Linux only: elsewhere
(and without `ldd`) nothing is checked. No Qt import here: the check must run before Qt
loads anything.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

# soname: (Debian / Ubuntu package, Fedora package). The xcb set is what PySide6's
# libqxcb.so and libQt6XcbQpa.so link against (checked with ldd on PySide6 6.12.0);
# the rest are the libraries libQt6Gui and the other platforms need.
PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libXau.so.6": ("libxau6", "libXau"),
    "libXdmcp.so.6": ("libxdmcp6", "libXdmcp"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libGLX.so.0": ("libglx0", "libglvnd-glx"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libGLdispatch.so.0": ("libglvnd0", "libglvnd"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libwayland-client.so.0": ("libwayland-client0", "libwayland-client"),
    "libwayland-cursor.so.0": ("libwayland-cursor0", "libwayland-cursor"),
    "libwayland-egl.so.1": ("libwayland-egl1", "libwayland-egl"),
}

# Libraries that ship inside the PySide6 wheel: missing means a broken install.
_WHEEL_LIBRARY = re.compile(r"^lib(Qt6|icu|pyside6|shiboken6)")
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$")


def missing_from_ldd(text: str) -> list[str]:
    """The sonames `ldd` printed as "not found", in order, each once."""
    seen: list[str] = []
    for line in text.splitlines():
        m = _NOT_FOUND.match(line)
        if m and m.group(1) not in seen:
            seen.append(m.group(1))
    return seen


def install_hint(missing: list[str]) -> str:
    """What to run to get the missing libraries, one sentence."""
    wheel = [n for n in missing if _WHEEL_LIBRARY.match(n)]
    system = [n for n in missing if n not in wheel]
    known = [PACKAGES[n] for n in system if n in PACKAGES]
    unknown = [n for n in system if n not in PACKAGES]
    parts = []
    if known:
        deb = " ".join(dict.fromkeys(d for d, _ in known))
        rpm = " ".join(dict.fromkeys(f for _, f in known))
        parts.append(f"install them with: sudo apt install {deb} (Debian/Ubuntu) or "
                     f"sudo dnf install {rpm} (Fedora)")
    if unknown:
        parts.append("find the package shipping " + ", ".join(unknown) +
                     " with apt-file search or dnf provides")
    if wheel:
        parts.append("the PySide6 install is incomplete: "
                     "pip install --force-reinstall PySide6-Essentials")
    return "; ".join(parts)


@dataclass
class PlatformCheck:
    """The outcome for one platform plugin."""

    name: str
    plugin: Path | None = None          # None: no such plugin in the PySide6 install
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.plugin is not None and not self.missing

    def message(self) -> str:
        if self.plugin is None:
            return f'the Qt platform "{self.name}" has no plugin in this PySide6 install'
        if not self.missing:
            return f'the Qt platform "{self.name}" can load'
        return (f'the Qt platform "{self.name}" cannot load: missing '
                f'{", ".join(self.missing)}; {install_hint(self.missing)}')


def plugin_folders() -> list[Path]:
    """Where Qt looks for platform plugins, in its order: $QT_QPA_PLATFORM_PLUGIN_PATH,
    then the PySide6 package's own plugins/platforms."""
    folders = [Path(p) for p in os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH", "").split(
        os.pathsep) if p]
    spec = importlib.util.find_spec("PySide6")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            folders.append(Path(loc) / "Qt" / "plugins" / "platforms")
    return folders


def requested_platforms(argv: list[str] | None = None) -> list[str]:
    """The platform names Qt will try, in order: `-platform NAME` on the command line,
    else $QT_QPA_PLATFORM (';' separates fallbacks, ':' starts options), else Qt's
    Linux default (wayland first in a Wayland session, then xcb)."""
    argv = argv or []
    value = ""
    for i, arg in enumerate(argv[:-1]):
        if arg in ("-platform", "--platform"):
            value = argv[i + 1]
    value = value or os.environ.get("QT_QPA_PLATFORM", "")
    if value:
        return [p.split(":", 1)[0] for p in value.split(";") if p.split(":", 1)[0]]
    if os.environ.get("XDG_SESSION_TYPE") == "wayland" and os.environ.get("WAYLAND_DISPLAY"):
        return ["wayland", "xcb"]
    return ["xcb"]


def check(name: str, timeout: float = 20) -> PlatformCheck:
    """ldd on each plugin Qt could load for ``name``: the first that has everything, else
    the first found (Linux only; elsewhere nothing is reported missing)."""
    plugins = [f / f"libq{name}.so" for f in plugin_folders() if (f / f"libq{name}.so").is_file()]
    ldd = shutil.which("ldd")
    if not plugins or not sys.platform.startswith("linux") or ldd is None:
        return PlatformCheck(name, plugins[0] if plugins else None)
    results = []
    for plugin in plugins:
        try:
            out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True,
                                 timeout=timeout)
        except (OSError, subprocess.SubprocessError):
            return PlatformCheck(name, plugin)  # ldd failing tells nothing about the plugin
        results.append(PlatformCheck(name, plugin, missing_from_ldd(out.stdout)))
        if results[-1].ok:
            return results[-1]
    return results[0]


def platform_problem(argv: list[str] | None = None) -> str | None:
    """One line saying why no requested Qt platform can load, or None when one can (or
    when this cannot be told: not Linux, no ldd, a platform this PySide6 lacks)."""
    widgets = sys.modules.get("PySide6.QtWidgets")
    if not sys.platform.startswith("linux") or (
            widgets is not None and widgets.QApplication.instance() is not None):
        return None  # nothing to check, or Qt's platform is already up in this process
    checks = [check(name) for name in requested_platforms(argv)]
    if not checks or any(c.ok or c.plugin is None for c in checks):
        return None
    return checks[0].message() + "."
