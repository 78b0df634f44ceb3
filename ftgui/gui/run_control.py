"""Training from the window: Train, Resume and Stop, and the run's events as they arrive.

``RunControl`` is mixed into MainWindow; it uses the window's ``model``, panels, plots,
``runFinished`` / ``runFailed`` signals and ``train_action`` / ``resume_action``. The run
itself goes on in a ``RunWorker`` on its own QThread; its signals arrive here, on the GUI
thread.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from ftgui.core import events as ev
from ftgui.core.config import RunConfig
from ftgui.core.errors import FtguiError
from ftgui.core.runs import RunDir
from ftgui.gui.widgets.fields import label_for, plain_problem
from ftgui.gui.dialogs.questions import ask_yes_no
from ftgui.gui.workers.run_worker import RunController, RunWorker

# fields named by failures that are about resources, not the setting being wrong (out of
# memory, disk full): marked as a hint, which the next Train or Resume clears
RESOURCE_FIELDS = ("training.batch_size", "training.output_dir")


class RunControl:
    # No @Slot on these methods: PySide6 (6.8.3 to 6.12.0 checked) runs a @Slot() that a
    # window inherits from a plain mixin on the emitting thread (the worker's) once the
    # window has other handlers on that signal; an undecorated method is queued to the GUI
    # thread as it should be. tests/gui/test_pyside_canaries.py says when a release fixes it.

    def _init_run_control(self) -> None:
        self.last_run_dir: str | None = None   # the run trained last (Open run folder, Export)
        self._finished_event: ev.RunFinished | None = None
        self._failed_event: ev.RunFailed | None = None
        self._resuming = False
        self._hints: dict[str, str] = {}   # field -> message marked by a resource failure

    # the run controller is created lazily so tests can build a window cheaply
    @property
    def controller(self) -> RunController:
        c = getattr(self, "_controller", None)
        if c is None:
            c = self._controller = RunController(self)
        return c

    @property
    def running(self) -> bool:
        return self.controller.running

    # ---- starting ---------------------------------------------------------------------------
    def train(self) -> None:
        if self.running:
            return
        self.banner.clear()
        self._clear_hints()
        problems = self.model.problems()
        if problems:
            key, msg = next(iter(problems.items()))
            more = f" (and {len(problems) - 1} more marked in red)" if len(problems) > 1 else ""
            self.show_error(f"Fix this setting first — {label_for(key)} ({key}): "
                            f"{plain_problem(key, msg)}{more}.", field=key)
            self.focus_field(key)
            return
        try:
            cfg = RunConfig.from_dict(self.model.config.to_dict())
        except FtguiError as e:
            self.show_error(e.message, field=e.field)
            if e.field:
                self.model.set_problem(e.field, e.message)
            return
        new_run = False
        out = cfg.training.output_dir
        if out and RunDir(out).is_run():
            choice = self.ask_existing_run(out)
            if choice == "resume":
                self._resume_dir(out)
                return
            if choice != "new":
                return
            new_run = True
        self.plots.reset()
        self.run_panel.log(f"Starting a run: {cfg.model.source} on {cfg.data.source} "
                           f"({cfg.model.method}).")
        from ftgui.gui.workers.launch_worker import worker_for  # nproc > 1: launched processes
        self._start(worker_for(cfg, new_run=new_run, live=self.live), "Starting…")

    def ask_existing_run(self, out: str) -> str:
        box = QMessageBox(QMessageBox.Icon.Question, "Output folder holds a run",
                          f"{out} already holds a run. Resume it, or start a new run in a "
                          f"folder beside it? Nothing in it will be overwritten.",
                          parent=self)
        resume = box.addButton("Resume it", QMessageBox.ButtonRole.AcceptRole)
        new = box.addButton("New run beside it", QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return {resume: "resume", new: "new"}.get(box.clickedButton(), "cancel")

    def resume(self) -> None:
        if self.running:
            return
        rd = self.run_panel.selected_run()
        if rd is None:
            self.show_error("Choose a stopped run to resume in the list beside Resume.",
                            level="warning")
            return
        self._resume_dir(str(rd.path))

    def _history_resume(self, run_dir: str) -> None:
        if self.running:
            self.show_error("A run is in progress: stop it or let it finish, then resume "
                            "another.", level="warning")
            return
        self._resume_dir(run_dir)

    def _resume_dir(self, run_dir: str) -> None:
        from ftgui.gui.dialogs.questions import approve_run_code
        if not approve_run_code(self, run_dir, resume=True):
            self.show_error("Not resumed: the run's model needs its own code, which was not "
                            "approved.", level="warning")
            return
        self.banner.clear()
        self._clear_hints()
        self.plots.reset()
        self.plots.load_events(ev.read_events(RunDir(run_dir).events_path))
        self.run_panel.log(f"Resuming {run_dir}")
        from ftgui.gui.workers.launch_worker import resume_worker_for
        self._start(resume_worker_for(run_dir, live=self.live), "Resuming…")
        self._resuming = True

    def _clear_hints(self) -> None:
        """Drop the marks an out-of-memory or disk-full failure left: they say what to
        change, but trying again as it is (after freeing memory or space) is allowed."""
        for key, msg in self._hints.items():
            if self.model._external.get(key) == msg:
                self.model.set_problem(key, None)
        self._hints.clear()

    def _start(self, worker: RunWorker, text: str) -> None:
        self._finished_event = self._failed_event = None
        self._resuming = False
        # a generation on the model kept in memory ends, so the run may take that model
        self.playground.stop()
        self.side_tabs.setCurrentWidget(self.run_panel)
        self.run_panel.begin(text)
        self._enable_starting(False)
        w = worker
        w.progress.connect(self.run_panel.on_progress)
        w.stage.connect(self.run_panel.on_stage)
        w.message.connect(self._on_message)
        w.runStarted.connect(self._on_started)
        w.stepLogged.connect(self._on_step)
        w.evalLogged.connect(self._on_eval)
        w.checkpointSaved.connect(self.run_panel.on_checkpoint)
        w.runFinished.connect(self._on_finished)
        w.runFailed.connect(self._on_failed)
        w.done.connect(self._on_done)
        self.controller.start(w)

    def _enable_starting(self, enabled: bool) -> None:
        self.train_action.setEnabled(enabled)
        self.resume_action.setEnabled(enabled)

    # ---- stopping ---------------------------------------------------------------------------
    def stop(self) -> None:
        if not self.running:
            return
        self.controller.stop()
        self.run_panel.stop_button.setEnabled(False)
        self.run_panel.stop_button.setText("Stopping…")
        self.run_panel.log("Stopping after the current step; a checkpoint will be saved.")

    def ask_close_during_run(self) -> bool:
        return ask_yes_no(self, "A run is in progress",
                          "Stop the run (saving a checkpoint you can resume) and close?")

    # ---- the worker's events ----------------------------------------------------------------
    def _on_message(self, e: ev.Message) -> None:
        self.run_panel.log(e.text, e.level)

    def _on_started(self, e: ev.RunStarted) -> None:
        self.last_run_dir = e.run_dir
        if e.start_step:
            self.plots.trim_after(e.start_step)   # the steps after the checkpoint are redone
        elif self._resuming:
            self.plots.reset()   # no complete checkpoint: the resume trains from step 0
            self.run_panel.log("No complete checkpoint: training again from step 0.",
                               "warning")
        self.run_panel.on_started(e)
        self.run_panel.refresh_runs(select=e.run_dir)
        self.setWindowTitle(f"Training {Path(e.run_dir).name} — ftgui")

    def _on_step(self, e: ev.StepLogged) -> None:
        self.plots.add_step(e)
        self.run_panel.on_step(e)

    def _on_eval(self, e: ev.EvalLogged) -> None:
        self.plots.add_eval(e)
        self.run_panel.on_eval(e)

    def _on_finished(self, e: ev.RunFinished) -> None:
        self._finished_event = e
        self.last_run_dir = e.run_dir
        self.plots.flush()
        self.run_panel.on_finished(e)

    def _on_failed(self, e: ev.RunFailed) -> None:
        self._failed_event = e
        self.plots.flush()
        self.run_panel.on_failed(e)

    def _on_done(self) -> None:
        """The worker has cleaned up: the window is idle again, then it reports."""
        self.controller.finish()
        self.run_panel.set_running(False)
        self._enable_starting(True)
        self.plots.flush()
        self._update_title()
        self.run_panel.refresh_runs(select=self.last_run_dir)
        self.history.refresh()
        failed, finished = self._failed_event, self._finished_event
        if failed is not None:
            self._report_failure(failed)
        elif finished is not None:
            if finished.status == "stopped":
                self.statusBar().showMessage("Stopped. Resume continues from the checkpoint.",
                                             8000)
            if finished.status == "finished":
                self.playground.set_run(finished.run_dir)   # ready to try the result
            if finished.status == "diverged":
                self.show_error(finished.summary.get("error") or "Training diverged.",
                                field="training.learning_rate")
            self.runFinished.emit(finished.run_dir)
        else:
            msg = "The run ended without reporting a result; see the log."
            self.show_error(msg)
            self.runFailed.emit(msg)
        self._close_if_closing()

    def _report_failure(self, failed: ev.RunFailed) -> None:
        """In the banner, and on the field it names (a resource one only as a hint)."""
        text = failed.message
        if not failed.user_error:
            text = f"The run failed: {text}. The app is fine; details are in the log."
        self.show_error(text, field=failed.field, log_path=failed.log_path)
        if failed.field and failed.field in self.fields or failed.field == "data.text_column":
            self.model.set_problem(failed.field, failed.message)
            if failed.user_error and failed.field in RESOURCE_FIELDS:
                self._hints[failed.field] = failed.message
        self.runFailed.emit(failed.message)
