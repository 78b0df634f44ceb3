"""Load torch's big shared libraries without holding the GIL, before ``import torch``.

Importing torch's C extension dlopens libtorch_cpu.so (~430 MB: mapping, relocations and
its static initializers, which register thousands of operators): 0.2-0.3 s during which
CPython holds the GIL, so the GUI thread's timers, paints and input handlers all wait.
``ctypes.CDLL`` holds the GIL around dlopen as well (measured: the stall moves, it does
not shrink), but a *foreign call* through ctypes releases it, so calling libc's
``dlopen`` that way does the same work while the GUI keeps running. ``import torch``
then finds the library loaded and only initialises its Python module.

Linux only (the only platform measured); elsewhere, or when the files are not where
expected (a source checkout, a wheel, or the PyInstaller bundle's ``torch/lib``), it
does nothing and ``import torch`` loads the libraries as usual.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from pathlib import Path

# libtorch_cpu pulls in libc10 and libgomp; libtorch_cuda (a CUDA build) is as big again.
# Not libtorch_python: it calls into Python and must load under the GIL.
LIBRARIES = ("libtorch_cpu.so", "libtorch_cuda.so")


def torch_lib_dir() -> Path | None:
    """torch/lib without importing torch (find_spec of a top-level package only locates
    it); in the PyInstaller bundle, under sys._MEIPASS."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        d = Path(bundle) / "torch" / "lib"
        return d if d.is_dir() else None
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "lib"
    return d if d.is_dir() else None


def preload_torch_libraries() -> list[str]:
    """dlopen torch's large libraries with the GIL released; returns the ones loaded.
    Harmless when torch is already imported (dlopen of a loaded library is a lookup)."""
    if not sys.platform.startswith("linux") or "torch" in sys.modules:
        return []
    lib_dir = torch_lib_dir()
    if lib_dir is None:
        return []
    try:
        libc = ctypes.CDLL(None)
        dlopen = libc.dlopen
    except (OSError, AttributeError):
        return []
    dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    dlopen.restype = ctypes.c_void_p
    loaded = []
    for name in LIBRARIES:
        path = lib_dir / name
        # RTLD_LOCAL: the same symbol scope torch's own import gives them; RTLD_NOW: bind
        # every symbol here, off the GIL, rather than lazily at first calls under it
        if path.is_file() and dlopen(os.fsencode(path), os.RTLD_NOW | os.RTLD_LOCAL):
            loaded.append(name)
        # a failed dlopen leaves nothing behind: import torch then reports the real error
    return loaded
