"""Guard against an over-release of None / True / False in PySide6 6.12 on CPython < 3.12.

Returning from a Python override of a virtual method (``paintEvent``, pyqtgraph's
``itemChange`` …) drops one reference too many to the returned singleton. On Python
3.12+ these objects are immortal and nothing happens; on 3.11 their counts drift down
with every repaint until the interpreter aborts ("Fatal Python error: none_dealloc"),
typically at exit after a run with live plots. The singletons are never freed in a
healthy process, so giving them a large head-room of references is exactly what 3.12
does for them, and costs nothing. Measured by tests/gui/test_refcount_guard.py.
"""

from __future__ import annotations

import ctypes
import platform
import sys

HEADROOM = 1 << 40
_done = False


def install() -> bool:
    global _done
    if _done or platform.python_implementation() != "CPython" or sys.version_info >= (3, 12):
        return False
    for obj in (None, True, False):
        # ob_refcnt is the first field of every object in a release build of CPython
        ctypes.c_ssize_t.from_address(id(obj)).value += HEADROOM
    _done = True
    return True
