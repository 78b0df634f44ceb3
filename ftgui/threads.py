"""The OpenMP threading policy, chosen per process (bench/NOTES.md, "Threads").

The window's process always waits passively: there the GUI thread shares the cores with
torch's OpenMP threads, and threads that spin while waiting for work starve it. The CLI
(and so torchrun workers and every process the window launches) keeps the library
defaults, which train fastest on cores it has to itself, unless the load average at its
start already fills the cores: then spinning threads wait for threads that are not
running and training is 10-60x slower, so it waits passively too and says so
(``use_cli_policy``). OpenMP reads these variables once, when torch first loads it, so
both must run before torch is imported. A value the user set wins.
"""

from __future__ import annotations

import os

# GNU OpenMP: a waiting thread spins this many times before it sleeps. The default
# (variable unset) is 300,000 (~0.3 ms), PASSIVE is 0; both were measured beside the
# window, with the steps/s and the GUI timer lateness in bench/NOTES.md.
WINDOW_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}

_SET_BY_US = "FTGUI_WINDOW_THREADS"  # names the variables the window set, for children
# a person who set either has chosen how threads wait: the CLI leaves it to them
USER_CHOICE = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


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


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):   # macOS, Windows
        return os.cpu_count() or 1


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):   # Windows has none
        return None


def cli_policy(load: float | None, cores: int, environ=os.environ) -> dict:
    """What a CLI process sets: PASSIVE when the 1-minute load average already fills the
    cores (and the person chose nothing), else nothing (the library defaults)."""
    if any(k in environ for k in USER_CHOICE) or load is None or load < cores:
        return {}
    return {"OMP_WAIT_POLICY": "PASSIVE"}


def use_cli_policy(environ=os.environ, say=None) -> dict:
    """Apply ``cli_policy`` for this machine now; says in one line what it chose."""
    load, cores = load_average(), usable_cores()
    chosen = cli_policy(load, cores, environ)
    environ.update(chosen)
    if chosen and say is not None:
        say(f"The load average ({load:.1f}) already fills the {cores} cores: torch's "
            f"threads wait passively (OMP_WAIT_POLICY=PASSIVE), which is much faster "
            f"when cores are shared. Set OMP_WAIT_POLICY yourself to choose.")
    return chosen
