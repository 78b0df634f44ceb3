"""The main window: settings panels on the left, the run on the right.

All panels edit one RunConfig (``self.model.config``). Train hands a validated copy to a
``RunWorker`` in its own QThread; the worker's signals arrive here, on the GUI thread.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (QApplication, QFileDialog, QLabel, QMainWindow, QMessageBox,
                               QScrollArea, QSplitter, QTabWidget, QVBoxLayout, QWidget)

from ftgui.core import events as ev
from ftgui.core.config import RunConfig
from ftgui.core.errors import FtguiError
from ftgui.core.runs import RunDir
from ftgui.gui import inspect
from ftgui.gui.fields import ConfigField, ConfigModel, label_for
from ftgui.gui.panels.data import DataPanel
from ftgui.gui.panels.history import HistoryPanel
from ftgui.gui.panels.model import ModelPanel
from ftgui.gui.panels.playground import PlaygroundPanel
from ftgui.gui.panels.run import RunPanel
from ftgui.gui.panels.training import LoraPanel, TrainingPanel
from ftgui.gui.questions import ask_yes_no
from ftgui.gui.widgets import DeviceBadge, ErrorBanner
from ftgui.gui.worker import RunController, RunWorker, describe_error, error_field, run_task

MAX_RECENT = 8
# fields named by failures that are about resources, not the setting being wrong (out of
# memory, disk full): marked as a hint, which the next Train or Resume clears
RESOURCE_FIELDS = ("training.batch_size", "training.output_dir")
TAB_OF_SECTION = {"model": 0, "data": 1, "training": 2, "lora": 3}


def demo_config_path() -> Path | None:
    """resources/demo/demo.yaml of a source checkout, or next to a frozen app."""
    import sys
    here = Path(__file__).resolve()
    for base in (here.parents[2], Path(getattr(sys, "_MEIPASS", here.parents[2]))):
        p = base / "resources" / "demo" / "demo.yaml"
        if p.is_file():
            return p
    return None


class MainWindow(QMainWindow):
    runFinished = Signal(str)   # the run directory (finished or stopped)
    runFailed = Signal(str)     # the message shown

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings or QSettings()
        self.model = ConfigModel(parent=self)
        self.config_path: Path | None = None
        self.dirty = False
        self.device_choice = None
        self.last_run_dir: str | None = None
        self._finished_event: ev.RunFinished | None = None
        self._failed_event: ev.RunFailed | None = None
        self._closing = False   # asked to close: closes once the run and exports have ended
        self._device_gen = 0
        self._resuming = False
        self._hints: dict[str, str] = {}   # field -> message marked by a resource failure

        self.setWindowTitle("ftgui")
        self.resize(1320, 820)
        self._build()
        self._build_menus()
        self._restore_state()

        self.model.changed.connect(self._config_changed)
        self.model.problemsChanged.connect(self._update_welcome)
        self._device_timer = QTimer(self, singleShot=True, interval=300)
        self._device_timer.timeout.connect(self.detect_device)
        # after the window is up: torch loads on a worker thread, never before showing
        QTimer.singleShot(0, self.detect_device)
        self._update_welcome()
        self._update_title()

    # ---- layout --------------------------------------------------------------------------
    def _build(self) -> None:
        self.banner = ErrorBanner()
        self.banner.showField.connect(self.focus_field)
        self.badge = DeviceBadge()

        self.model_panel = ModelPanel(self.model)
        self.data_panel = DataPanel(self.model)
        self.training_panel = TrainingPanel(self.model)
        self.lora_panel = LoraPanel(self.model)
        self.tabs = QTabWidget(objectName="settingsTabs")
        for panel, title in ((self.model_panel, "Model"), (self.data_panel, "Dataset"),
                             (self.training_panel, "Training"), (self.lora_panel, "LoRA")):
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QScrollArea.Shape.NoFrame)
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            scroll.setWidget(panel)
            self.tabs.addTab(scroll, title)
        self.fields: dict[str, ConfigField] = {}
        for panel in (self.model_panel, self.data_panel, self.training_panel, self.lora_panel):
            self.fields.update(panel.fields)
        self.model_panel.infoChanged.connect(lambda _: self._update_welcome())
        self.data_panel.previewChanged.connect(lambda _: self._update_welcome())

        self.run_panel = RunPanel()
        rp = self.run_panel
        rp.train_button.clicked.connect(self.train)
        rp.stop_button.clicked.connect(self.stop)
        rp.resume_button.clicked.connect(self.resume)
        rp.welcome.openConfig.connect(self.open_config_dialog)
        rp.welcome.loadDemo.connect(self.load_demo)
        rp.welcome.showTab.connect(self.tabs.setCurrentIndex)
        self.plots = rp.plots

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(6, 6, 0, 6)
        left_layout.addWidget(self.tabs)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, objectName="mainSplitter")
        # the right side: the run being trained, then what to do with runs afterwards
        self.side_tabs = QTabWidget(objectName="sideTabs")
        self.side_tabs.setDocumentMode(True)
        self.side_tabs.addTab(rp, "Train")
        self.playground = PlaygroundPanel()
        self.side_tabs.addTab(self.playground, "Playground")
        self.history = HistoryPanel(self.settings)
        self.side_tabs.addTab(self.history, "History")
        self._wire_history()
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.side_tabs)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([470, 850])

        central = QWidget()
        col = QVBoxLayout(central)
        col.setContentsMargins(6, 6, 6, 0)
        col.setSpacing(4)
        col.addWidget(self.banner)
        col.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

        self.path_label = QLabel()
        self.statusBar().addWidget(self.path_label, 1)
        self.statusBar().addPermanentWidget(self.badge)
        self.setTabOrder(self.tabs, rp.train_button)
        self.run_panel.refresh_runs()
        self._wire_results()

    def _build_menus(self) -> None:
        def action(menu, text, slot, shortcuts=(), tip=""):
            a = QAction(text, self)
            a.triggered.connect(slot)
            if shortcuts:
                a.setShortcuts([QKeySequence(s) for s in shortcuts])
            if tip:
                a.setStatusTip(tip)
            menu.addAction(a)
            return a

        m = self.menuBar().addMenu("&File")
        action(m, "&New config", self.new_config, [QKeySequence.StandardKey.New])
        action(m, "&Open config…", self.open_config_dialog, [QKeySequence.StandardKey.Open])
        self.recent_menu = m.addMenu("Open &recent")
        action(m, "Load the &demo", self.load_demo)
        m.addSeparator()
        action(m, "&Save config", self.save_config, [QKeySequence.StandardKey.Save])
        action(m, "Save config &as…", self.save_config_as, [QKeySequence.StandardKey.SaveAs])
        m.addSeparator()
        action(m, "Export plots as &PNG…", self.plots._ask_png)
        action(m, "Export curve data as &CSV…", self.plots._ask_csv)
        m.addSeparator()
        action(m, "&Quit", self.close, [QKeySequence.StandardKey.Quit])

        r = self.menuBar().addMenu("&Run")
        self.train_action = action(r, "&Train", self.train, ["Ctrl+Return", "Ctrl+Enter"])
        self.stop_action = action(r, "&Stop (save a checkpoint)", self.stop,
                                  ["Esc", "Ctrl+."])
        self.resume_action = action(r, "&Resume selected run", self.resume, ["Ctrl+Shift+R"])
        r.addSeparator()
        action(r, "Open run &folder", self.open_run_folder)
        action(r, "&Export the selected run…", self.export_selected_run, ["Ctrl+E"],
               "Save the selected run's model as a folder, an adapter, GGUF or a script")

        h = self.menuBar().addMenu("&Help")
        action(h, "&About ftgui", lambda: QMessageBox.about(
            self, "About ftgui", "<b>ftgui</b><br>Point-and-click fine-tuning of causal "
            "language models on your own machine.<br>The same run works headless: "
            "<code>ftgui train config.yaml</code>."))
        self._fill_recent()

    # ---- config files --------------------------------------------------------------------
    def load_config(self, path: str | Path) -> bool:
        """Load a YAML config into every panel (what File > Open calls)."""
        path = Path(path).expanduser()
        try:
            cfg = RunConfig.load(path)
        except FtguiError as e:
            self.show_error(e.message, field=None)
            return False
        self.banner.clear()
        refused = not self.confirm_trust(cfg)
        self.model.replace(cfg)
        self.config_path = path.resolve()
        self.dirty = refused   # the settings now differ from the file
        self._add_recent(self.config_path)
        self.settings.setValue("last_config_path", str(self.config_path))
        self._update_title()
        self.run_panel.log(f"Loaded {self.config_path}")
        return True

    def confirm_trust(self, cfg: RunConfig) -> bool:
        """A config that turns on trust_remote_code: ask before anything loads it. On No
        the setting is turned off in ``cfg``; returns False then."""
        if not cfg.model.trust_remote_code:
            return True
        if self.model_panel.ask_trust(cfg.model.source):
            return True
        cfg.model.trust_remote_code = False
        self.run_panel.log(f"Not running code shipped with {cfg.model.source or 'the model'}:"
                           f" model.trust_remote_code turned off.", "warning")
        return False

    def set_config(self, cfg: RunConfig, path: Path | None = None) -> None:
        self.model.replace(cfg)
        self.config_path = path
        self.dirty = False
        self._update_title()

    def new_config(self) -> None:
        if not self._may_discard():
            return
        self.set_config(RunConfig())
        self.banner.clear()

    def load_demo(self) -> None:
        p = demo_config_path()
        if p is None:
            self.show_error("The demo config (resources/demo/demo.yaml) is not part of this "
                            "installation.", level="warning")
            return
        self.load_config(p)

    def open_config_dialog(self) -> None:
        if not self._may_discard():
            return
        start = str(self.config_path.parent) if self.config_path else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open config", start,
                                              "Run configs (*.yaml *.yml);;All files (*)")
        if path:
            self.load_config(path)

    def save_config(self) -> bool:
        if self.config_path is None or self._is_demo(self.config_path):
            return self.save_config_as()
        return self._write_config(self.config_path)

    def save_config_as(self) -> bool:
        start = str(self.config_path.parent / "run.yaml") if self.config_path and not \
            self._is_demo(self.config_path) else str(Path.home() / "run.yaml")
        path, _ = QFileDialog.getSaveFileName(self, "Save config", start,
                                              "Run configs (*.yaml *.yml)")
        return self._write_config(Path(path)) if path else False

    def _write_config(self, path: Path) -> bool:
        try:
            self.model.config.save(path)
        except OSError as e:
            self.show_error(f"Could not save {path}: {e.strerror or e}.")
            return False
        self.config_path = path.resolve()
        self.dirty = False
        self._add_recent(self.config_path)
        self.settings.setValue("last_config_path", str(self.config_path))
        self._update_title()
        problems = self.model.problems()
        if problems:
            key, msg = next(iter(problems.items()))
            self.show_error(f"Saved {path.name}, but '{key}' needs fixing before it can "
                            f"train: {msg}.", field=key, level="warning")
        else:
            self.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    @staticmethod
    def _is_demo(path: Path) -> bool:
        demo = demo_config_path()
        return demo is not None and Path(path).resolve() == demo.resolve()

    def _may_discard(self) -> bool:
        if not self.dirty:
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes", "The current settings have unsaved changes. Save them?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Save:
            return self.save_config()
        return answer == QMessageBox.StandardButton.Discard

    def _add_recent(self, path: Path) -> None:
        recent = [p for p in self.recent_files() if p != str(path)]
        self.settings.setValue("recent_files", [str(path)] + recent[:MAX_RECENT - 1])
        self._fill_recent()

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent_files", []) or []
        return [value] if isinstance(value, str) else list(value)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        for p in files:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _=False, p=p: self._may_discard() and self.load_config(p))
        self.recent_menu.setEnabled(bool(files))

    def _config_changed(self, key: str) -> None:
        if key != "*":
            self.dirty = True
            self._update_title()
        if key in ("*", "training.device", "training.precision"):
            self._device_timer.start()

    def _update_title(self) -> None:
        name = self.config_path.name if self.config_path else "untitled"
        self.setWindowTitle(f"{name}{' *' if self.dirty else ''} — ftgui")
        self.path_label.setText(str(self.config_path) if self.config_path else
                                "Unsaved config (File ▸ Save config… to keep it)")

    # ---- device ---------------------------------------------------------------------------
    def detect_device(self) -> None:
        t = self.model.config.training
        self._device_gen += 1
        gen = self._device_gen
        run_task(lambda: inspect.device_choice(t.device, t.precision),
                 lambda c: self._device_found(gen, c), lambda e: self._device_failed(gen, e),
                 owner=self)

    def _device_found(self, gen: int, choice) -> None:
        if gen != self._device_gen:
            return
        self.device_choice = choice
        self.badge.setText(choice.description)
        self.badge.setToolTip(f"{choice.description}\nWhy: {choice.reason}")
        self.badge.set_state("ok")
        for key in ("training.device", "training.precision"):
            if key in self.model._external:
                self.model.set_problem(key, None)
        self.model_panel.set_device(choice)
        self.training_panel.set_device(choice)

    def _device_failed(self, gen: int, e: BaseException) -> None:
        if gen != self._device_gen:
            return
        self.device_choice = None
        self.badge.setText("Device: not available")
        self.badge.setToolTip(describe_error(e))
        self.badge.set_state("error")
        self.model.set_problem(error_field(e) or "training.device", describe_error(e))

    # ---- errors ---------------------------------------------------------------------------
    def show_error(self, text: str, *, field: str | None = None, log_path: str | None = None,
                   level: str = "error") -> None:
        self.banner.show_message(text, field=field, log_path=log_path, level=level)

    @Slot(str)
    def focus_field(self, key: str) -> None:
        section = key.split(".", 1)[0]
        if section in TAB_OF_SECTION:
            self.tabs.setCurrentIndex(TAB_OF_SECTION[section])
        if key == "data.text_column":
            self.data_panel.column.setFocus()
        elif key in self.fields:
            self.fields[key].editor.setFocus()

    # ---- runs -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.controller.running

    @Slot()
    def train(self) -> None:
        if self.running:
            return
        self.banner.clear()
        self._clear_hints()
        problems = self.model.problems()
        if problems:
            key, msg = next(iter(problems.items()))
            more = f" (and {len(problems) - 1} more marked in red)" if len(problems) > 1 else ""
            self.show_error(f"Fix this setting first — {label_for(key)} ({key}): {msg}{more}.",
                            field=key)
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
        from ftgui.gui.launch_worker import worker_for  # nproc > 1: launched processes
        self._start(worker_for(cfg, new_run=new_run), "Starting…")

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

    @Slot()
    def resume(self) -> None:
        if self.running:
            return
        rd = self.run_panel.selected_run()
        if rd is None:
            self.show_error("Choose a stopped run to resume in the list beside Resume.",
                            level="warning")
            return
        self._resume_dir(str(rd.path))

    def _clear_hints(self) -> None:
        """Drop the marks an out-of-memory or disk-full failure left: they say what to
        change, but trying again as it is (after freeing memory or space) is allowed."""
        for key, msg in self._hints.items():
            if self.model._external.get(key) == msg:
                self.model.set_problem(key, None)
        self._hints.clear()

    def _resume_dir(self, run_dir: str) -> None:
        self.banner.clear()
        self._clear_hints()
        self.plots.reset()
        self.plots.load_events(ev.read_events(RunDir(run_dir).events_path))
        self.run_panel.log(f"Resuming {run_dir}")
        from ftgui.gui.launch_worker import resume_worker_for
        self._start(resume_worker_for(run_dir), "Resuming…")
        self._resuming = True

    def _start(self, worker: RunWorker, text: str) -> None:
        self._finished_event = self._failed_event = None
        self._resuming = False
        self.side_tabs.setCurrentWidget(self.run_panel)
        self.run_panel.begin(text)
        self.train_action.setEnabled(False)
        self.resume_action.setEnabled(False)
        w = worker
        w.progress.connect(self.run_panel.on_progress)
        w.message.connect(self._on_message)
        w.runStarted.connect(self._on_started)
        w.stepLogged.connect(self._on_step)
        w.evalLogged.connect(self._on_eval)
        w.checkpointSaved.connect(self.run_panel.on_checkpoint)
        w.runFinished.connect(self._on_finished)
        w.runFailed.connect(self._on_failed)
        w.done.connect(self._on_done)
        self.controller.start(w)

    @Slot()
    def stop(self) -> None:
        if not self.running:
            return
        self.controller.stop()
        self.run_panel.stop_button.setEnabled(False)
        self.run_panel.stop_button.setText("Stopping…")
        self.run_panel.log("Stopping after the current step; a checkpoint will be saved.")

    @Slot(object)
    def _on_message(self, e: ev.Message) -> None:
        self.run_panel.log(e.text, e.level)

    @Slot(object)
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

    @Slot(object)
    def _on_step(self, e: ev.StepLogged) -> None:
        self.plots.add_step(e)
        self.run_panel.on_step(e)

    @Slot(object)
    def _on_eval(self, e: ev.EvalLogged) -> None:
        self.plots.add_eval(e)
        self.run_panel.on_eval(e)

    @Slot(object)
    def _on_finished(self, e: ev.RunFinished) -> None:
        self._finished_event = e
        self.last_run_dir = e.run_dir
        self.plots.flush()
        self.run_panel.on_finished(e)

    @Slot(object)
    def _on_failed(self, e: ev.RunFailed) -> None:
        self._failed_event = e
        self.plots.flush()
        self.run_panel.on_failed(e)

    @Slot()
    def _on_done(self) -> None:
        """The worker has cleaned up: the window is idle again, then it reports."""
        self.controller.finish()
        self.run_panel.set_running(False)
        self.train_action.setEnabled(True)
        self.resume_action.setEnabled(True)
        self.plots.flush()
        self._update_title()
        self.run_panel.refresh_runs(select=self.last_run_dir)
        self.history.refresh()
        failed, finished = self._failed_event, self._finished_event
        if failed is not None:
            text = failed.message
            if not failed.user_error:
                text = f"The run failed: {text}. The app is fine; details are in the log."
            self.show_error(text, field=failed.field, log_path=failed.log_path)
            if failed.field and failed.field in self.fields or failed.field == "data.text_column":
                self.model.set_problem(failed.field, failed.message)
                if failed.user_error and failed.field in RESOURCE_FIELDS:
                    self._hints[failed.field] = failed.message
            self.runFailed.emit(failed.message)
        elif finished is not None:
            if finished.status == "stopped":
                self.statusBar().showMessage("Stopped. Resume continues from the checkpoint.",
                                             8000)
            if finished.status == "finished":
                self.playground.set_run(finished.run_dir)   # ready to try the result
            self.runFinished.emit(finished.run_dir)
        else:
            msg = "The run ended without reporting a result; see the log."
            self.show_error(msg)
            self.runFailed.emit(msg)
        self._close_if_closing()

    # ---- history --------------------------------------------------------------------------
    def _wire_history(self) -> None:
        h = self.history
        h.resumeRequested.connect(self._history_resume)
        h.newRunFromConfig.connect(self.new_run_from_config)
        h.openInPlayground.connect(self.try_in_playground)
        h.exportRequested.connect(self.export_run)
        h.runsChanged.connect(self._runs_changed)

    def _runs_changed(self) -> None:
        """Runs were deleted or the runs folder changed in the History tab."""
        if self.last_run_dir and not Path(self.last_run_dir).is_dir():
            self.last_run_dir = None   # Open run folder must not point at a deleted run
        self.run_panel.refresh_runs()

    def _history_resume(self, run_dir: str) -> None:
        if self.running:
            self.show_error("A run is in progress: stop it or let it finish, then resume "
                            "another.", level="warning")
            return
        self._resume_dir(run_dir)

    def new_run_from_config(self, config_path: str) -> None:
        """A run's settings, to train again: the new run gets a fresh folder in the runs
        folder, and Save asks for a file name (the run's own config.yaml stays its record)."""
        if not self._may_discard() or not self.load_config(config_path):
            return
        self.config_path = None
        self.model.set("training.output_dir", "")
        # the run's config.yaml is its record, not a file to reopen from the recent list
        self.settings.setValue("recent_files", [p for p in self.recent_files()
                                                if p != str(Path(config_path).resolve())])
        self.settings.setValue("last_config_path", "")
        self._fill_recent()
        self._update_title()
        self.side_tabs.setCurrentWidget(self.run_panel)
        self.run_panel.log(f"Settings of {Path(config_path).parent.name} loaded: Train starts "
                           f"a new run in a new folder.")

    # ---- results -------------------------------------------------------------------------
    def _wire_results(self) -> None:
        card = self.run_panel.result_card
        card.tryIt.connect(self.try_in_playground)
        card.exportRequested.connect(self.export_run)
        card.evaluated.connect(lambda _: self.history.refresh())

    def try_in_playground(self, run_dir: str) -> None:
        self.playground.set_run(run_dir)   # says in the tab when it is not a run
        self.side_tabs.setCurrentWidget(self.playground)

    def export_run(self, run_dir: str):
        """Open the export dialog for ``run_dir`` (non-modal: the window stays usable)."""
        from ftgui.gui.export_dialog import ExportDialog

        dialog = ExportDialog(run_dir, self.settings, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.exported.connect(lambda path: self.run_panel.log(f"Exported to {path}"))
        dialog.exportFailed.connect(lambda text: self.run_panel.log(text, "error"))
        dialog.exportEnded.connect(self._close_if_closing)
        dialog.show()
        dialog.raise_()
        return dialog

    def export_selected_run(self) -> None:
        rd = self.run_panel.selected_run()
        target = str(rd.path) if rd is not None else self.last_run_dir
        if not target:
            self.show_error("No run to export yet: train one, or choose one in the list "
                            "beside Resume.", level="warning")
            return
        self.export_run(target)

    def open_run_folder(self) -> None:
        target = self.last_run_dir or self.run_panel.runs.currentData()
        if target:
            QDesktopServices.openUrl(QUrl.fromLocalFile(target))

    # ---- welcome --------------------------------------------------------------------------
    def _update_welcome(self) -> None:
        cfg, problems = self.model.config, self.model.problems()
        model_ok = bool(cfg.model.source) and "model.source" not in problems
        data_ok = bool(cfg.data.source) and not any(k.startswith("data.") for k in problems)
        settings_ok = not any(k.startswith(("training.", "lora.")) for k in problems)
        details = ["", "", "", ""]
        if model_ok:
            info = self.model_panel.info
            details[0] = f"{cfg.model.source}" + (f" — {info.architecture}, "
                                                  f"{info.total_params:,} parameters"
                                                  if info else "")
        if data_ok:
            p = self.data_panel.preview
            details[1] = f"{cfg.data.source}" + (f" — {p.train_rows:,} rows" if p else "")
        self.run_panel.welcome.update_steps([model_ok, data_ok, settings_ok, False], details)

    # ---- persistence ------------------------------------------------------------------------
    def _restore_state(self) -> None:
        s = self.settings
        geo = s.value("geometry")
        if isinstance(geo, QByteArray) and not geo.isEmpty():
            self.restoreGeometry(geo)
        for key, splitter in (("main_splitter", self.splitter),
                              ("run_splitter", self.run_panel.splitter)):
            state = s.value(key)
            if isinstance(state, QByteArray) and not state.isEmpty():
                splitter.restoreState(state)
        tab = s.value("tab")
        if tab is not None:
            self.tabs.setCurrentIndex(int(tab))
        smoothing = s.value("smoothing")
        if smoothing is not None:
            self.plots.smoothing.setValue(int(smoothing))

    def save_state(self) -> None:
        s = self.settings
        s.setValue("geometry", self.saveGeometry())
        s.setValue("main_splitter", self.splitter.saveState())
        s.setValue("run_splitter", self.run_panel.splitter.saveState())
        s.setValue("tab", self.tabs.currentIndex())
        s.setValue("smoothing", self.plots.smoothing.value())
        s.setValue("last_config_yaml", self.model.config.to_yaml())
        s.setValue("last_config_path", str(self.config_path) if self.config_path else "")
        s.setValue("last_config_dirty", self.dirty)
        s.sync()

    def restore_last_config(self) -> bool:
        """The settings as they were when the window last closed; False if none."""
        text = self.settings.value("last_config_yaml")
        if not text:
            return False
        try:
            cfg = RunConfig.from_dict(yaml.safe_load(text), where="last session")
        except (FtguiError, yaml.YAMLError):
            return False
        path = self.settings.value("last_config_path") or None
        refused = not self.confirm_trust(cfg)
        self.set_config(cfg, Path(path) if path else None)
        self.dirty = refused or \
            str(self.settings.value("last_config_dirty", "false")).lower() == "true"
        self._update_title()
        return True

    def ask_close_during_run(self) -> bool:
        return ask_yes_no(self, "A run is in progress",
                          "Stop the run (saving a checkpoint you can resume) and close?")

    def ask_close_during_export(self, dialogs: list) -> bool:
        what = "\n".join(f"Exporting {d.describe()}." for d in dialogs)
        them = "the export" if len(dialogs) == 1 else "the exports"
        return ask_yes_no(self, "An export is in progress",
                          f"{what}\n\nCancel {them} (the partial output is removed) and close?")

    def exports_in_progress(self) -> list:
        from ftgui.gui.export_dialog import ExportDialog
        return [d for d in self.findChildren(ExportDialog) if d.busy]

    def closeEvent(self, event) -> None:
        exports = self.exports_in_progress()
        if self.running or exports:
            # ask about everything first: a No to either leaves both going
            event.ignore()
            if not self._closing and (not self.running or self.ask_close_during_run()) \
                    and (not exports or self.ask_close_during_export(exports)):
                self._closing = True
                self.stop()
                for dialog in exports:
                    dialog.cancel()
            return
        self.save_state()
        event.accept()

    def _close_if_closing(self) -> None:
        """A run or an export has ended: close now if that was all the close waited for."""
        if self._closing:
            QTimer.singleShot(0, self.close)

    # the run controller is created lazily so tests can build a window cheaply
    @property
    def controller(self) -> RunController:
        c = getattr(self, "_controller", None)
        if c is None:
            c = self._controller = RunController(self)
        return c
