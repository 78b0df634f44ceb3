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


def crash_log_path() -> Path:
    import platformdirs
    folder = Path(platformdirs.user_log_dir("ftgui"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}.log"
