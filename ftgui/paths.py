"""Where ftgui finds its bundled resources and writes its logs."""

from __future__ import annotations

import sys
import time
from pathlib import Path


def resources_dir() -> Path:
    """resources/ beside the package (source checkout, editable install) or inside a
    PyInstaller bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def demo_config_path() -> Path:
    return resources_dir() / "demo" / "demo.yaml"


def log_dir() -> Path:
    import platformdirs
    folder = Path(platformdirs.user_log_dir("ftgui"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def crash_log_path() -> Path:
    """A new, empty crash log file of its own: the second, the pid and a counter in its
    name, made with O_EXCL, so two crashes in one second never share (overwrite) one."""
    import os

    folder = log_dir()
    stem = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    for n in range(1, 10_000):
        path = folder / (f"{stem}.log" if n == 1 else f"{stem}-{n}.log")
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free crash log name in {folder}")
