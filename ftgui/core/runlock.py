"""One writer per run folder: an OS file lock on RUN/.lock, held for the writer's life.

    lock = RunLock(run_path)
    lock.acquire()          # RunDirError naming the holder (pid, host, since) when taken
    ...                     # train / resume
    lock.release()

The operating system drops the lock when the process ends, however it ends (a kill, a
crash, a power cut), so a run whose lock is held is running and one whose lock is free
is not: no pid guessing. The holder writes its pid, host and start time into the file for
the message the loser shows. ``fcntl.flock`` on POSIX (on Linux also across machines on
NFS, where it is mapped to a POSIX lock), ``msvcrt.locking`` on Windows.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from ftgui.core.errors import RunDirError

LOCK_NAME = ".lock"
_WIN_OFFSET = 1 << 20  # Windows locks a byte range: lock one byte past the holder's text


class RunLock:
    def __init__(self, run_path: str | Path):
        self.path = Path(run_path) / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self, shared: bool = False) -> bool:
        """Take the lock if it is free; False when another process (or another RunLock in
        this one) holds it. ``shared``: a reader's probe, which does not keep out other
        probes."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if not _lock(fd, shared):
            os.close(fd)
            return False
        self._fd = fd
        return True

    def acquire(self) -> None:
        # a reader's probe (is_locked, from a listing) holds the lock for microseconds:
        # a few tries over a quarter second tell it from a writer
        for _ in range(5):
            if self.try_acquire():
                break
            time.sleep(0.05)
        else:
            raise busy_error(self.path.parent)
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, json.dumps(info).encode())

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            _unlock(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        try:
            self.release()  # a lock dropped without release() (an error path) is let go
        except OSError:
            pass

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def is_locked(run_path: str | Path) -> bool:
    """A process holds the run's lock now (the run is being written)."""
    lock_file = Path(run_path) / LOCK_NAME
    if not lock_file.exists():
        return False
    probe = RunLock(run_path)
    try:
        if probe.try_acquire(shared=True):
            probe.release()
            return False
    except OSError:
        return False  # cannot open it (read-only copy of a run): nobody writes here
    return True


def holder(run_path: str | Path) -> dict:
    """What the holder wrote into the lock file: pid, host, since ({} when unreadable)."""
    try:
        info = json.loads((Path(run_path) / LOCK_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def busy_error(run_path: str | Path) -> RunDirError:
    """The error for a run folder another process writes, naming that process."""
    return RunDirError(f"{run_path} is being written by {describe_holder(run_path)}; two "
                       f"processes must not write one run. Wait for it to end or stop it "
                       f"(Ctrl-C or Stop), or choose another folder.")


def describe_holder(run_path: str | Path) -> str:
    h = holder(run_path)
    if not h:
        return "another process"
    return f"process {h.get('pid')} on {h.get('host')} (since {h.get('since')})"


if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(fd: int, shared: bool = False) -> bool:
        os.lseek(fd, _WIN_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _WIN_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock(fd: int, shared: bool = False) -> bool:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
