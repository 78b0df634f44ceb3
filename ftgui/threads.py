"""The OpenMP threading policy, chosen per process (bench/NOTES.md, "Threads").

Only the window's process changes it: there the GUI thread shares the cores with torch's
OpenMP threads, and threads that spin while waiting for work starve it. The CLI, torchrun
workers and every process the window launches keep the library defaults and train at
full speed. OpenMP reads these variables once, when torch first loads it, so
``use_window_policy`` must run before torch is imported. A value the user set wins.
"""

from __future__ import annotations

import os

# GNU OpenMP: a waiting thread spins this many times before it sleeps. The default
# (variable unset) is 300,000 (~0.3 ms), PASSIVE is 0; both were measured beside the
# window, with the steps/s and the GUI timer lateness in bench/NOTES.md.
WINDOW_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}

_SET_BY_US = "FTGUI_WINDOW_THREADS"  # names the variables the window set, for children


def use_window_policy(environ=os.environ) -> dict:
    """Set the window's policy in ``environ`` (the ones the user has not set); returns
    what was set."""
    chosen = {k: v for k, v in WINDOW_ENV.items() if k not in environ}
    environ.update(chosen)
    if chosen:
        environ[_SET_BY_US] = ",".join(chosen)
    return chosen


def child_env(environ=os.environ) -> dict:
    """A copy of ``environ`` for a training process started from the window: without what
    ``use_window_policy`` set, so that it trains at full speed."""
    env = dict(environ)
    for name in env.pop(_SET_BY_US, "").split(","):
        if name:
            env.pop(name, None)
    return env
