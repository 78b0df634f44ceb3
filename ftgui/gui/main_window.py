"""The main window: settings panels on the left, the run on the right.

All panels edit one RunConfig (``self.model.config``). What the window does is split by
responsibility: the config file behind the settings (``config_files``), training runs
(``run_control``) and the saved window layout (``window_state``); this module builds the
window and ties the panels, the device badge, exports and closing together.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (QLabel, QMainWindow, QMessageBox, QScrollArea, QSplitter,
                               QTabWidget, QVBoxLayout, QWidget)

from ftgui.core.live_model import LiveModel
from ftgui.core.wording import describe_error
from ftgui.gui.workers import inspect
from ftgui.gui.config_files import ConfigFiles
from ftgui.gui.widgets.fields import ConfigField, ConfigModel
from ftgui.gui.panels.data import DataPanel
from ftgui.gui.panels.history import HistoryPanel
from ftgui.gui.panels.model import ModelPanel
from ftgui.gui.panels.playground import PlaygroundPanel
from ftgui.gui.panels.run import RunPanel
from ftgui.gui.panels.training import LoraPanel, TrainingPanel
from ftgui.gui.dialogs.questions import ask_yes_no
from ftgui.gui.run_control import RunControl
from ftgui.gui.widgets.common import DeviceBadge, ErrorBanner
from ftgui.gui.window_state import WindowState
from ftgui.gui.workers.run_worker import error_field, run_task

TAB_OF_SECTION = {"model": 0, "data": 1, "training": 2, "lora": 3}
DEVICE_KEYS = ("*", "training.device", "training.precision")   # changes that redetect


class MainWindow(ConfigFiles, RunControl, WindowState, QMainWindow):
    runFinished = Signal(str)   # the run directory (finished or stopped)
    runFailed = Signal(str)     # the message shown

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings or QSettings()
        self.model = ConfigModel(parent=self)
        # the model the last run trained, kept for the Playground and a Resume
        self.live = LiveModel()
        self.device_choice = None
        self._device_gen = 0
        self.system_report = None   # Help ▸ System report…, made afresh each time
        self.hub_dialog = None      # Help ▸ Hugging Face sign-in… / cache…
        self._closing = False   # asked to close: closes once the run and exports have ended
        self._init_run_control()

        self.setWindowTitle("ftgui")
        self.resize(1320, 820)
        self._build()
        self._build_menus()
        self._restore_state()
        self._side_tab_changed(self.side_tabs.currentIndex())   # a pane saved collapsed

        self._device_timer = QTimer(self, singleShot=True, interval=300)
        self._device_timer.timeout.connect(self.detect_device)
        self.model.changed.connect(self._config_changed)
        self.model.changed.connect(self._model_changed)
        self.model.changed.connect(self._device_setting_changed)
        self.model.problemsChanged.connect(self._update_welcome)
        self.model.changed.connect(self._banner_field_changed)
        self.model.problemsChanged.connect(self._banner_field_changed)
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
            # a pane narrower than its form scrolls rather than cutting the form off
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
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
        # the width the forms need; resizeEvent keeps the pane at least that wide while
        # the window has room (narrower, the pane scrolls sideways)
        self._pane_needs = 40 + max(p.minimumSizeHint().width() for p in (
            self.model_panel, self.data_panel, self.training_panel, self.lora_panel))
        self.splitter = QSplitter(Qt.Orientation.Horizontal, objectName="mainSplitter")
        # the right side: the run being trained, then what to do with runs afterwards
        self.side_tabs = QTabWidget(objectName="sideTabs")
        self.side_tabs.setDocumentMode(True)
        self.side_tabs.addTab(rp, "Train")
        self.playground = PlaygroundPanel(self.settings, live=self.live)
        self.side_tabs.addTab(self.playground, "Playground")
        self.history = HistoryPanel(self.settings)
        self.side_tabs.addTab(self.history, "History")
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.side_tabs)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([470, 850])
        self.splitter.setCollapsible(0, True)
        self.splitter.setCollapsible(1, False)
        self._pane_width = 470
        self.side_tabs.currentChanged.connect(self._side_tab_changed)
        self.splitter.splitterMoved.connect(self._pane_moved)

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
        self._wire_run_actions()

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
        self.clear_caches_action = action(
            m, "C&lear caches…", self.clear_caches,
            tip="Delete the dequantised GGUF models, tokenized data and base-model "
                "evaluations ftgui keeps to start runs faster (ftgui cache --clear)")
        m.addSeparator()
        self.quit_action = action(m, "&Quit", self.quit_asking,
                                  [QKeySequence.StandardKey.Quit])

        r = self.menuBar().addMenu("&Run")
        self.train_action = action(r, "&Train", self.train, ["Ctrl+Return", "Ctrl+Enter"])
        self.stop_action = action(r, "&Stop (save a checkpoint)", self.stop,
                                  ["Esc", "Ctrl+."])
        self.resume_action = action(r, "&Resume selected run", self.resume, ["Ctrl+Shift+R"])
        r.addSeparator()
        action(r, "Open run &folder", self.open_run_folder)
        action(r, "&Export the selected run…", self.export_selected_run, ["Ctrl+E"],
               "Save the selected run's model as a folder, an adapter, GGUF or a script")

        v = self.menuBar().addMenu("&View")
        self.pane_action = action(v, "&Settings pane", self.toggle_pane, ["Ctrl+\\"],
                                  "Show or hide the settings beside this tab (remembered "
                                  "per tab)")
        self.pane_action.setCheckable(True)
        self.pane_action.setChecked(True)
        self.pane_action.triggered.disconnect()
        self.pane_action.toggled.connect(self.toggle_pane)

        h = self.menuBar().addMenu("&Help")
        self.system_report_action = action(
            h, "&System report…", self.show_system_report,
            tip="Python, torch, GPUs, Qt, free disk, the Hugging Face cache and Hub "
                "(ftgui doctor), to copy into a bug report")
        action(h, "Hugging Face &sign-in…", lambda: self.show_hub_dialog("SignInDialog"),
               tip="Sign in to the Hub for gated and private models (huggingface_hub's "
                   "own token store, shared with its tools)")
        action(h, "Hugging Face &cache…", lambda: self.show_hub_dialog("CacheDialog"),
               tip="Models and datasets downloaded from the Hub, their sizes and last use; "
                   "delete what you no longer need")
        action(h, "&About ftgui", lambda: QMessageBox.about(
            self, "About ftgui", "<b>ftgui</b><br>Point-and-click fine-tuning of causal "
            "language models on your own machine.<br>The same run works headless: "
            "<code>ftgui train config.yaml</code>."))
        self._fill_recent()

    def show_system_report(self) -> None:
        from ftgui.gui.dialogs.system_report import SystemReportDialog
        if self.system_report is not None:
            self.system_report.close()
            self.system_report.deleteLater()
        self.system_report = SystemReportDialog(self)
        self.system_report.show()

    def show_hub_dialog(self, name: str):
        """Help ▸ Hugging Face sign-in… / cache… (gui/dialogs/hub_dialogs.py), made afresh."""
        from ftgui.gui.dialogs import hub_dialogs
        old = self.hub_dialog
        if old is not None:
            old.close()
            old.deleteLater()
        self.hub_dialog = getattr(hub_dialogs, name)(self)
        self.hub_dialog.show()
        return self.hub_dialog

    # ---- the settings pane: shown where it does something -------------------------------
    def pane_wanted(self, tab: int) -> bool:
        """Whether the settings pane shows beside side tab ``tab``: on Train by default,
        collapsed on Playground and History (where it does nothing), as last left."""
        value = self.settings.value(f"settings_pane/{tab}")
        if value is None:
            return tab == 0
        return str(value).lower() == "true"

    def pane_shown(self) -> bool:
        return self.splitter.sizes()[0] > 0

    def set_pane_shown(self, shown: bool) -> None:
        sizes = self.splitter.sizes()
        total = sum(sizes)
        if shown == (sizes[0] > 0):
            return
        if not shown:
            self._pane_width = sizes[0]
            self.splitter.setSizes([0, total])
        else:
            width = min(max(self._pane_width, 300), max(total - 400, 200))
            self.splitter.setSizes([width, total - width])

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        sizes = self.splitter.sizes()
        total = sum(sizes)
        if 0 < sizes[0] < self._pane_needs and total - self._pane_needs >= 560:
            self.splitter.setSizes([self._pane_needs, total - self._pane_needs])

    def _side_tab_changed(self, tab: int) -> None:
        self.set_pane_shown(self.pane_wanted(tab))
        self.pane_action.setChecked(self.pane_shown())

    def _pane_moved(self, *_) -> None:
        """Dragged open or shut by hand: remembered for this tab."""
        shown = self.pane_shown()
        if shown:
            self._pane_width = self.splitter.sizes()[0]
        self.settings.setValue(f"settings_pane/{self.side_tabs.currentIndex()}", shown)
        self.pane_action.setChecked(shown)

    def toggle_pane(self, shown: bool) -> None:
        self.set_pane_shown(shown)
        self.settings.setValue(f"settings_pane/{self.side_tabs.currentIndex()}", shown)

    def _wire_run_actions(self) -> None:
        """The History tab and the result card offer the same things to do with a run."""
        h, card = self.history, self.run_panel.result_card
        for signal in (h.openInPlayground, card.tryIt):
            signal.connect(self.try_in_playground)
        for signal in (h.exportRequested, card.exportRequested):
            signal.connect(self.export_run)
        h.resumeRequested.connect(self._history_resume)
        h.newRunFromConfig.connect(self.new_run_from_config)
        h.runsChanged.connect(self._runs_changed)
        card.evaluated.connect(lambda _: self.history.refresh())

    # ---- device ---------------------------------------------------------------------------
    def detect_device(self) -> None:
        t = self.model.config.training
        self._device_gen += 1
        gen = self._device_gen
        run_task(lambda: inspect.device_choice(t.device, t.precision),
                 lambda c: self._device_found(gen, c), lambda e: self._device_failed(gen, e),
                 owner=self)

    def _device_setting_changed(self, key: str) -> None:
        if key in DEVICE_KEYS:
            self._device_timer.start()   # a burst of changes detects once

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
        self._banner_field_changed()

    def _banner_field_changed(self, key: str = "") -> None:
        """A message about a setting goes once that setting is changed or no longer has
        a problem: the banner never shows an error the settings no longer have."""
        field = self.banner.field
        if not field or self.banner.isHidden():
            return
        if field in self.model.problems():
            self.banner.field_was_problem = True
        if key in (field, "*") or field not in self.model.problems() and \
                self.banner.field_was_problem:
            self.banner.clear()

    @Slot(str)
    def focus_field(self, key: str) -> None:
        section = key.split(".", 1)[0]
        if section in TAB_OF_SECTION:
            self.tabs.setCurrentIndex(TAB_OF_SECTION[section])
        if key == "data.text_column":
            self.data_panel.column.setFocus()
        elif key in self.fields:
            self.fields[key].editor.setFocus()

    # ---- runs and exports ----------------------------------------------------------------
    def _runs_changed(self) -> None:
        """Runs were deleted or the runs folder changed in the History tab."""
        if self.last_run_dir and not Path(self.last_run_dir).is_dir():
            self.last_run_dir = None   # Open run folder must not point at a deleted run
        self.run_panel.refresh_runs()

    def try_in_playground(self, run_dir: str) -> None:
        self.playground.set_run(run_dir)   # says in the tab when it is not a run
        self.side_tabs.setCurrentWidget(self.playground)

    def export_run(self, run_dir: str):
        """Open the export dialog for ``run_dir`` (non-modal: the window stays usable)."""
        from ftgui.gui.dialogs.export_dialog import ExportDialog

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

    def clear_caches(self) -> None:
        from ftgui.core import model_cache

        if self.running:
            self.show_error("A run is in progress: clear the caches when it has ended.",
                            level="warning")
            return
        if not ask_yes_no(self, "Clear caches",
                          f"Delete the dequantised GGUF models, tokenized data and kept "
                          f"base-model evaluations in {model_cache.cache_base()}? The next "
                          f"run makes them again (slower once). Runs and models you trained "
                          f"are kept."):
            return
        self.clear_caches_action.setEnabled(False)

        def done(freed) -> None:
            self.clear_caches_action.setEnabled(True)
            self.statusBar().showMessage(f"Caches cleared: {freed / 2**20:,.1f} MiB freed.",
                                         8000)

        def failed(e) -> None:
            self.clear_caches_action.setEnabled(True)
            self.show_error(f"Could not clear the caches: {describe_error(e)}")

        run_task(model_cache.clear, done, failed, owner=self)

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

    # ---- closing -------------------------------------------------------------------------
    def ask_close_during_export(self, dialogs: list) -> bool:
        what = "\n".join(f"Exporting {d.describe()}." for d in dialogs)
        them = "the export" if len(dialogs) == 1 else "the exports"
        return ask_yes_no(self, "An export is in progress",
                          f"{what}\n\nCancel {them} (the partial output is removed) and close?")

    def exports_in_progress(self) -> list:
        from ftgui.gui.dialogs.export_dialog import ExportDialog
        return [d for d in self.findChildren(ExportDialog) if d.busy]

    def quit_asking(self) -> None:
        """File ▸ Quit (Ctrl+Q): unsaved settings are offered for saving first."""
        if self._may_discard_on_quit():
            self._asked_unsaved = True
            self.close()

    def _may_discard_on_quit(self) -> bool:
        if not self.dirty or self._closing:
            return True
        if not self._may_discard():
            return False
        self.discarded = self.dirty   # Discard: the next start opens the saved file
        return True

    def _model_changed(self, key: str) -> None:
        """Another model chosen: the one kept in memory is of no more use."""
        if key == "*" or key.startswith("model."):
            self.live.clear()

    def closeEvent(self, event) -> None:
        # the window's close button asks about unsaved settings as Quit does
        if event.spontaneous() and not getattr(self, "_asked_unsaved", False) and \
                not self._may_discard_on_quit():
            event.ignore()
            return
        self._asked_unsaved = False
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
        self.playground.shutdown()
        self.live.clear()   # the kept model's memory goes back with the window
        event.accept()

    def _close_if_closing(self) -> None:
        """A run or an export has ended: close now if that was all the close waited for."""
        if self._closing:
            QTimer.singleShot(0, self.close)
