"""Work off the GUI thread.

``RunWorker`` is a QObject moved to its own QThread; it drives the core runner and
re-emits each core event as a Qt signal (queued to the GUI thread, so widgets are only
touched in slots there). ``run_task`` runs a short function (model info, dataset
preview, device detection) on the thread pool and delivers its result the same way.

torch and transformers are imported here lazily, inside the threads, so the window
shows before they load.
"""

from __future__ import annotations

import logging
import threading
import traceback
from pathlib import Path
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QObject, QRunnable, Qt, QThread, QThreadPool, Signal, Slot

from ftgui.core import events as ev
from ftgui.core.errors import FtguiError

log = logging.getLogger("ftgui")

_IMPORT_LOCK = threading.Lock()
_imported = False


def heavy_imports() -> None:
    """Import torch / transformers / peft once, one thread at a time: transformers' lazy
    module is not safe to import from two threads at once (a name can come back missing)."""
    global _imported
    if _imported:
        return
    with _IMPORT_LOCK:
        if _imported:
            return
        # The GUI thread needs the GIL every few ms; two things held it for 0.1-0.4 s
        # at a time during these imports (bench/NOTES.md, cold start): the dlopen of
        # libtorch_cpu.so, done here first with the GIL released, and the cyclic garbage
        # collector, which the imports' millions of new objects trigger again and again,
        # each full pass longer. The imports make no garbage worth collecting: it is off
        # until they are done.
        from ftgui.core.startup import gc_paused
        with gc_paused():
            from ftgui.gui.preload import preload_torch_libraries
            preload_torch_libraries()
            import torch  # noqa: F401
            import transformers  # noqa: F401
            from transformers import (AutoConfig, AutoModelForCausalLM,  # noqa: F401
                                      AutoTokenizer, Trainer, TrainerCallback,
                                      TrainingArguments)
            import peft  # noqa: F401
            from ftgui.core import runner  # noqa: F401
        # (gc_paused ends with gc.freeze(): the libraries' long-lived objects go to the
        # permanent generation, so a full gc.collect() (the Trainer and the runner call it)
        # then takes microseconds instead of ~0.3 s with the GIL held, which the window
        # would feel as a freeze.)
        _imported = True


class RunWorker(QObject):
    """Runs one training (new or resumed) when its thread starts."""

    progress = Signal(object)          # events.Progress
    stage = Signal(object)             # events.Stage
    message = Signal(object)           # events.Message
    runStarted = Signal(object)        # events.RunStarted
    stepLogged = Signal(object)        # events.StepLogged
    evalLogged = Signal(object)        # events.EvalLogged
    checkpointSaved = Signal(object)   # events.CheckpointSaved
    runFinished = Signal(object)       # events.RunFinished
    runFailed = Signal(object)         # events.RunFailed
    done = Signal()                    # the runner has cleaned up; the thread may end

    _SIGNALS = {ev.Progress: "progress", ev.Stage: "stage", ev.Message: "message",
                ev.RunStarted: "runStarted",
                ev.StepLogged: "stepLogged", ev.EvalLogged: "evalLogged",
                ev.CheckpointSaved: "checkpointSaved", ev.RunFinished: "runFinished",
                ev.RunFailed: "runFailed"}

    def __init__(self, config=None, *, resume_dir: str | None = None, new_run: bool = False,
                 live=None):
        super().__init__()
        self.live = live   # core.live_model.LiveModel: the window's model kept in memory
        self.config = config
        self.resume_dir = resume_dir
        self.new_run = new_run
        self._runners: list = []
        self._stop_early = False
        self._failed = False

    # called from the GUI thread; Runner.request_stop is thread-safe
    def request_stop(self) -> None:
        self._stop_early = True
        for r in self._runners:
            r.request_stop()

    def _sink(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunFailed):
            self._failed = True
        name = self._SIGNALS.get(type(event))
        if name:
            getattr(self, name).emit(event)

    @Slot()
    def run(self) -> None:
        self._reporting(self._train)

    def _train(self) -> None:
        heavy_imports()
        from ftgui.core import runner as runner_mod

        if self.resume_dir:
            runner_mod.resume_run(self.resume_dir, [self._sink], runner_out=self._runners,
                                  live=self.live)
        else:
            runner_mod.run_config(self.config, [self._sink], new_run=self.new_run,
                                  runner_out=self._runners, live=self.live)

    def _reporting(self, work: Callable[[], None]) -> None:
        """Run ``work``; whatever it raises ends as one RunFailed (unless one was sent), and
        ``done`` always follows."""
        try:
            work()
        except FtguiError as e:
            if not self._failed:
                self._sink(ev.RunFailed(message=e.message, user_error=True, field=e.field))
        except BaseException as e:  # noqa: BLE001 - a bug: report it, keep the app alive
            log.error("run failed:\n%s", traceback.format_exc())
            if not self._failed:
                self._sink(ev.RunFailed(message=f"{type(e).__name__}: {e}", user_error=False))
        finally:
            self._runners.clear()
            self.done.emit()


class RunController(QObject):
    """Owns the QThread of the current run and its worker."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.thread: QThread | None = None
        self.worker: RunWorker | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None

    def start(self, worker: RunWorker) -> RunWorker:
        assert self.thread is None, "a run is already going"
        thread = QThread()
        thread.setObjectName("ftgui-run")
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # quit from the worker thread itself, so the thread ends as soon as run() returns
        worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self.finish)
        self.thread, self.worker = thread, worker
        thread.start()
        return worker

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.request_stop()

    @Slot()
    def finish(self) -> None:
        """Join the finished thread and drop it (idempotent). Called when the worker
        reports done, so the window can start the next run at once."""
        if self.thread is not None:
            self.thread.wait()
            self.thread.deleteLater()
            self.worker.deleteLater()
        self.thread = self.worker = None

    def wait(self, ms: int = 60000) -> bool:
        return self.thread.wait(ms) if self.thread is not None else True


# ---- short background tasks -------------------------------------------------------------
class _TaskSignals(QObject):
    result = Signal(object)
    error = Signal(object)      # an exception
    progress = Signal(object)   # whatever the function reports


class _Task(QRunnable):
    def __init__(self, fn: Callable[..., Any], with_progress: bool):
        super().__init__()
        self.fn = fn
        self.with_progress = with_progress
        self.signals = _TaskSignals()
        self.setAutoDelete(False)  # Python keeps it in _LIVE until it reports

    def _emit(self, signal: str, value) -> None:
        # at exit Qt may delete the signals' object before a task ends: nobody listens then
        if shiboken6.isValid(self.signals):
            getattr(self.signals, signal).emit(value)

    def run(self) -> None:
        try:
            out = self.fn(lambda p: self._emit("progress", p)) if self.with_progress \
                else self.fn()
        except BaseException as e:  # noqa: BLE001
            if not isinstance(e, FtguiError):
                log.error("background task failed:\n%s", traceback.format_exc())
            self._emit("error", e)
        else:
            self._emit("result", out)


_LIVE: set[_Task] = set()


def run_task(fn: Callable[..., Any], on_result: Callable[[Any], None],
             on_error: Callable[[BaseException], None] | None = None,
             on_progress: Callable[[Any], None] | None = None,
             owner: QObject | None = None) -> _Task:
    """Run ``fn`` on the thread pool; the callbacks run on the GUI thread, and not at all
    once ``owner`` (the widget that asked) is gone. With ``on_progress``, ``fn`` receives
    a function to report progress with."""
    task = _Task(fn, on_progress is not None)

    def guard(cb):
        def call(value):
            if owner is None or shiboken6.isValid(owner):
                cb(value)
        return call

    task.signals.result.connect(guard(on_result))
    if on_error:
        task.signals.error.connect(guard(on_error))
    if on_progress:
        task.signals.progress.connect(guard(on_progress))
    task.signals.result.connect(lambda _: _LIVE.discard(task))
    task.signals.error.connect(lambda _: _LIVE.discard(task))
    _LIVE.add(task)
    QThreadPool.globalInstance().start(task)
    return task


def wait_for_tasks(ms: int = 30000) -> bool:
    return QThreadPool.globalInstance().waitForDone(ms)


def error_field(e: BaseException) -> str | None:
    return getattr(e, "field", None) if isinstance(e, FtguiError) else None


def run_events(run_dir: str | Path) -> list[ev.Event]:
    return ev.read_events(Path(run_dir) / "events.jsonl")
