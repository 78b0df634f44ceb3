"""A multi-process run (``training.nproc > 1``) followed from the window.

The processes are started by the same launch the CLI uses (ftgui.core.launch.Launch:
torchrun, or accelerate launch), as a child of the window; only rank 0 reports, into the
run's ``events.jsonl``. ``LaunchWorker`` reads that file as it grows and re-emits each
event as the Qt signal ``RunWorker`` would, so plots, progress, Stop and Resume work as
for a run in this process. The launcher's own output goes to ``launcher.log`` in the
run folder.
"""

from __future__ import annotations

import atexit
import json
import shlex
import subprocess
from collections import deque
from pathlib import Path

from PySide6.QtCore import Slot

from ftgui.core import events as ev
from ftgui.core.errors import FtguiError
from ftgui.gui.workers.run_worker import RunWorker

LOG_NAME = "launcher.log"
POLL_S = 0.25
ENDINGS = (ev.RunFinished, ev.RunFailed)


class EventsTail:
    """New events appended to an events.jsonl since the last read; a line still being
    written is left for the next read."""

    def __init__(self, path: Path, from_end: bool = True):
        self.path = path
        self.offset = path.stat().st_size if from_end and path.exists() else 0
        self._ino = path.stat().st_ino if path.exists() else None

    def read(self) -> list[ev.Event]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return []
        if st.st_ino != self._ino or st.st_size < self.offset:
            # replaced or cut by something else (a resume's tidy-up is done before the
            # launch, tidy_events_for_resume, so it is not): read it again from the start
            self._ino, self.offset = st.st_ino, 0
        if st.st_size == self.offset:
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read()
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        out = []
        for line in chunk[:end].splitlines():
            try:
                out.append(ev.event_from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                continue  # not an event (a line torn by a crash before this launch)
        return out


class LaunchWorker(RunWorker):
    """Same signals and run() / request_stop() / done contract as RunWorker."""

    def __init__(self, config=None, *, resume_dir: str | None = None, new_run: bool = False):
        super().__init__(config, resume_dir=resume_dir, new_run=new_run)
        self.launch = None
        self.log_path: Path | None = None
        self._ended = False
        # PySide6 (6.8.3 to 6.12.0 checked) runs a subclass's override of an inherited
        # slot (RunWorker.run) on the GUI thread, not the thread the worker was moved to
        # (the window froze in RunController.finish); a slot of its own name, bound as
        # `run`, runs there. tests/gui/test_pyside_canaries.py says when a release fixes it.
        self.run = self.follow

    def request_stop(self) -> None:
        """Like Ctrl-C for `ftgui train`: every process checkpoints after the same step."""
        self._stop_early = True
        if self.launch is not None:
            self.launch.stop()

    @Slot()
    def follow(self) -> None:
        self._reporting(self._run)

    def _run(self) -> None:
        from ftgui.core.config import RunConfig
        from ftgui.core.launch import Launch, tidy_events_for_resume
        from ftgui.core.runs import RunDir

        if self.resume_dir:
            note = tidy_events_for_resume(self.resume_dir)
            cfg = RunDir(self.resume_dir).load_config()
            launch = Launch(cfg, resume_dir=self.resume_dir)
        else:
            note = None
            # Launch writes the chosen folder into the config: keep the caller's intact
            cfg = RunConfig.from_dict(self.config.to_dict())
            launch = Launch(cfg, new_run=self.new_run)
        run = launch.run
        tail = EventsTail(run.events_path)
        if note:
            self._sink(note)
        t = cfg.training
        how = "accelerate launch" if t.accelerate_config else "torchrun"
        self._sink(ev.Progress(f"Starting {t.nproc} training processes ({how})", 0, 0))
        self.log_path = run.path / LOG_NAME
        with open(self.log_path, "ab") as out:
            # what ran, so a person can run it again in a terminal
            out.write(f"$ {shlex.join(launch.command)}\n".encode())
            out.flush()
            self.launch = launch
            if self._stop_early:
                launch.stop()
            proc = launch.start(die_with_parent=True, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=_child_env())
            atexit.register(launch.kill)  # the window quits while it runs: no orphans
            try:
                rc = self._follow(proc, tail)
            finally:
                atexit.unregister(launch.kill)
        if not self._ended:
            self._sink(ev.RunFailed(
                message=f"the training processes ended (exit code {rc}) without finishing "
                        f"the run; last output: {_last_lines(self.log_path)}",
                user_error=False, log_path=str(self.log_path)))
        launch.finish(rc)

    def _follow(self, proc: subprocess.Popen, tail: EventsTail) -> int:
        while True:
            try:
                rc = proc.wait(timeout=POLL_S)
            except subprocess.TimeoutExpired:
                rc = None
            for event in tail.read():
                self._ended = self._ended or isinstance(event, ENDINGS)
                self._sink(event)
            if rc is not None:
                return rc


def worker_for(config, new_run: bool = False, live=None) -> RunWorker:
    """The worker for a new run of ``config``: in this process (using ``live``, the
    window's model kept in memory), or launched."""
    from ftgui.core.launch import needs_launch
    if needs_launch(config):
        return LaunchWorker(config, new_run=new_run)
    return RunWorker(config, new_run=new_run, live=live)


def resume_worker_for(run_dir: str, live=None) -> RunWorker:
    """The worker that resumes ``run_dir`` the way it was trained (its saved nproc)."""
    from ftgui.core.launch import needs_launch
    from ftgui.core.runs import RunDir
    try:
        launched = needs_launch(RunDir(run_dir).load_config())
    except FtguiError:
        launched = False  # the RunWorker's resume reports what is wrong with the run
    if launched:
        return LaunchWorker(resume_dir=run_dir)
    return RunWorker(resume_dir=run_dir, live=live)


def _child_env() -> dict:
    from ftgui.threads import child_env
    # live log lines; the children must not try to draw on the window's display, and
    # they train at full speed, without the window's threading policy
    return {**child_env(), "PYTHONUNBUFFERED": "1", "QT_QPA_PLATFORM": "offscreen"}


def _last_lines(path: Path, n: int = 3) -> str:
    try:
        with open(path, "rb") as fh:
            lines = deque((ln for ln in fh if ln.strip()), maxlen=n)
    except OSError:
        return "(none)"
    text = " / ".join(ln.decode("utf-8", errors="replace").strip() for ln in lines)
    return text or "(none)"
