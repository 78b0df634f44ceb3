"""Playground: one prompt, the base model and the fine-tuned one side by side, streaming.

The models load and generate in a ``GenerationWorker`` on its own thread; its signals land
in the slots here. Loaded models stay cached (those of the selected run only) until the
run changes. The prompt and the generation settings are kept in the window's QSettings as
they change, and are there again at the next start.

A preference run (DPO, KTO, ORPO) also offers its validation examples, read off the GUI
thread: picking one puts its prompt to both models and shows its chosen and rejected
answers (KTO: its completion and label) above their generations, with the log-probability
margin each model gives the pair.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (QApplication, QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout,
                               QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar,
                               QPushButton, QSpinBox,
                               QSplitter, QTextEdit, QToolButton, QVBoxLayout, QWidget)

from ftgui.core import history
from ftgui.core.errors import FtguiError
from ftgui.core.inference import trained_on_chat
from ftgui.core.playground import (GenerationSettings, ModelCache, ValidationExample,
                                   message_text, source_name)
from ftgui.core.runs import RunDir, default_runs_dir, list_runs
from ftgui.gui.workers.generation import GenerationWorker
from ftgui.gui.widgets.common import ErrorBanner
from ftgui.gui.workers.run_worker import RunController, heavy_imports, run_task

SETTINGS_GROUP = "playground"
CHAT_RUN_KEY = "chat_run"   # the run the Chat template tick was left at

EXAMPLE_PROMPT = "The capital of France is"
CHAT_TIP = ("Send the prompt as a user turn through the chat template, the way the run's "
            "training examples were rendered (ticked by default for runs trained on "
            "instruction, chat or prompt/completion data). Untick it to let the models simply "
            "continue your text; a plain-text run has no template to use.")


class OutputPane(QFrame):
    """One model's text: a heading, the prompt (grey) then the streamed text, and a line
    for what it is doing or how fast it went."""

    def __init__(self, heading: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.heading = heading
        self.title = QLabel(heading)
        f = self.title.font()
        f.setBold(True)
        self.title.setFont(f)
        self.view = QTextEdit(readOnly=True)
        self.view.setAcceptRichText(False)
        self.view.setPlaceholderText("Its text appears here")
        self.stats = QLabel(" ", wordWrap=True)
        self.stats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.loading = QProgressBar(textVisible=False, visible=False)   # while it loads
        self.loading.setMaximumHeight(8)
        col = QVBoxLayout(self)
        col.setContentsMargins(6, 6, 6, 6)
        col.addWidget(self.title)
        col.addWidget(self.view, 1)
        col.addWidget(self.loading)
        col.addWidget(self.stats)
        self.text = ""   # what the model wrote, without the prompt
        self._load: dict[str, float] = {}   # loading stage -> its start, then its seconds

    def set_model(self, name: str | None) -> None:
        self.title.setText(f"{self.heading} · {name}" if name else self.heading)
        self.title.setToolTip(name or "")

    def begin(self, prompt: str | None) -> None:
        self.text = ""
        self.view.clear()
        if prompt:
            grey = QTextCharFormat()
            grey.setForeground(QColor(128, 128, 128))
            self.view.textCursor().insertText(prompt, grey)
        self.set_status("Waiting…")

    def set_status(self, text: str, error: bool = False) -> None:
        self.loading.hide()
        self.stats.setStyleSheet("color: rgb(200, 60, 55);" if error else "")
        self.stats.setText(text)

    def set_loading(self, name: str, stage: str, done: int, total: int, detail: str) -> None:
        """What is loading, stage by stage: 'Loading tiny-gpt2: ✓ tokenizer 0.1 s ·
        model 12/30 tensors of 1.2 MB… · ready', with a bar for the stage in progress."""
        now = time.monotonic()
        if stage == "memory":
            self.set_status(f"{name}: the model trained in this window, still in memory "
                            f"(nothing to load)")
            return
        if stage == "loaded":
            self.set_status(f"{name}: loaded already")
            return
        if stage == "tokenizer" and done == 0:
            self._load = {"tokenizer": now}
        for earlier in ("tokenizer", "model"):
            if earlier == stage:
                break
            if self._load.get(f"{earlier}.done") is None and earlier in self._load:
                self._load[f"{earlier}.done"] = now - self._load[earlier]
        self._load.setdefault(stage, now)
        parts = []
        for step in ("tokenizer", "model"):
            took = self._load.get(f"{step}.done")
            if took is not None:
                parts.append(f"✓ {step} {took:.1f} s")
            elif step == stage:
                count = f" {done:,}/{total:,}" if total else ""
                parts.append(f"{step}{count}{' ' + detail if detail else ''}…")
            else:
                parts.append(step)
        if stage == "ready":
            self.set_status(f"Loaded {name}: {' · '.join(parts)} · ready")
            return
        self.stats.setStyleSheet("")
        self.stats.setText(f"Loading {name}: {' · '.join(parts)} · ready")
        self.loading.setRange(0, total if stage == "model" and total else 0)
        if total:
            self.loading.setValue(done)
        self.loading.show()

    def append(self, text: str) -> None:
        self.text += text
        cursor = self.view.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(text, QTextCharFormat())
        self.view.setTextCursor(cursor)
        self.view.ensureCursorVisible()

    def clear(self) -> None:
        self.text = ""
        self.view.clear()
        self.set_status(" ")

    def show_text(self, text: str) -> None:
        """A fixed text (an answer from the data) rather than a streamed one."""
        self.text = text
        self.view.setPlainText(text)


class PlaygroundPanel(QWidget):
    generationFinished = Signal()   # both panes are done (finished, stopped or failed)
    paneLoading = Signal(str, str, int, int, str)   # as GenerationWorker.paneLoading
    chunkStreamed = Signal(str, str)  # pane ("base" / "tuned"), new text

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None,
                 live=None):
        super().__init__(parent, objectName="playground")
        self.qsettings = settings   # None: nothing is remembered between sessions
        # live: the window's core.live_model.LiveModel, the model its last run trained
        self.live = live
        self.cache = ModelCache(live=live)
        self.controller = RunController(self)
        self.worker: GenerationWorker | None = None
        self._shown_run: str | None | bool = False   # the run the panes are titled for
        self._discard = False   # the running generation is for a run no longer shown
        self._example_prompt: str | None = None   # the prompt text a picked example put in
        self._scores: dict[str, float] = {}   # pane → the picked example's score
        self._has_examples = False   # the run's validation examples are in the picker
        self._build()
        self._restore_fields()
        self._remember_changes()
        self.refresh_runs()
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    def _build(self) -> None:
        self.runs = QComboBox(objectName="playgroundRuns")
        self.runs.setToolTip("Finished runs in the runs folder: the fine-tuned model is the "
                             "run's final model, the base is the model it started from")
        self.runs.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.runs.setMinimumContentsLength(24)
        self.runs.currentIndexChanged.connect(self._run_changed)
        refresh = QToolButton(text="⟳")
        refresh.setToolTip("List the runs again")
        refresh.clicked.connect(lambda: self.refresh_runs())
        top = QHBoxLayout()
        run_label = QLabel("Run:")
        run_label.setBuddy(self.runs)
        top.addWidget(run_label)
        top.addWidget(self.runs, 1)
        top.addWidget(refresh)

        self.examples = QComboBox(objectName="playgroundExamples")
        self.examples.setToolTip("The run's validation examples, read from its data as it "
                                 "read them: pick one to put its prompt to both models and "
                                 "see its answers from the data beside theirs")
        self.examples.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.examples.setMinimumContentsLength(24)
        self.examples.currentIndexChanged.connect(self._example_changed)
        self.example_row = QWidget(visible=False)
        row = QHBoxLayout(self.example_row)
        row.setContentsMargins(0, 0, 0, 0)
        example_label = QLabel("Validation example:")
        example_label.setBuddy(self.examples)
        row.addWidget(example_label)
        row.addWidget(self.examples, 1)

        self.prompt = QPlainTextEdit(objectName="playgroundPrompt")
        self.prompt.setPlaceholderText("A prompt for both models")
        self.prompt.setToolTip("Both models continue this text (or answer it, with Chat "
                               "template ticked). The last prompt comes back next time.")
        self.prompt.setMaximumHeight(140)
        self.prompt.textChanged.connect(self._prompt_edited)

        self.max_tokens = _spin(QSpinBox(), 1, 8192, 100)
        self.max_tokens.setToolTip("The most tokens each model writes (fewer when the model "
                                   "ends its answer, or its context length is reached)")
        self.temperature = _spin(QDoubleSpinBox(singleStep=0.1, decimals=2), 0.0, 2.0, 0.7)
        self.temperature.setToolTip("0 = greedy: always the most likely token, the same text "
                                    "every time. Higher = more varied.")
        self.top_p = _spin(QDoubleSpinBox(singleStep=0.05, decimals=2), 0.05, 1.0, 0.9)
        self.top_p.setToolTip("Sample only from the most likely tokens that together hold "
                              "this much probability (not used when temperature is 0)")
        self.seed = _spin(QSpinBox(), 0, 2**31 - 1, 0)
        self.seed.setToolTip("Both models are seeded with it before generating: the same "
                             "seed and settings give the same text")
        self.temperature.valueChanged.connect(lambda v: self.top_p.setEnabled(v > 0))
        self.chat = QCheckBox("Chat template")
        self.chat.setToolTip(CHAT_TIP)
        # beside the prompt, not in a row under it: the tab stays narrow enough to share
        # the window with the settings pane
        settings = QFormLayout()
        settings.setContentsMargins(0, 0, 0, 0)
        settings.setVerticalSpacing(3)
        for text, w in (("Max new tokens:", self.max_tokens), ("Temperature:", self.temperature),
                        ("Top-p:", self.top_p), ("Seed:", self.seed)):
            lab = QLabel(text)
            lab.setBuddy(w)
            lab.setToolTip(w.toolTip())
            w.setMaximumWidth(110)
            settings.addRow(lab, w)
        settings.addRow("", self.chat)
        prompt_row = QHBoxLayout()
        prompt_row.addWidget(self.prompt, 1)
        prompt_row.addLayout(settings)

        self.generate_button = QPushButton("Generate")
        self.generate_button.setDefault(True)
        self.generate_button.clicked.connect(self.generate)
        self.stop_button = QPushButton("Stop", enabled=False)
        self.stop_button.setToolTip("End generation now, keeping the text so far")
        self.stop_button.clicked.connect(self.stop)
        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)

        self.banner = ErrorBanner()
        self.base_pane = OutputPane("Base model")
        self.tuned_pane = OutputPane("Fine-tuned")
        self.panes = {"base": self.base_pane, "tuned": self.tuned_pane}
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.base_pane)
        self.splitter.addWidget(self.tuned_pane)
        # a picked validation example's answers, above the models' (same columns)
        self.chosen_pane = OutputPane("Chosen (from the data)")
        self.rejected_pane = OutputPane("Rejected (from the data)")
        for pane in (self.chosen_pane, self.rejected_pane):
            pane.view.setPlaceholderText("")
            pane.stats.hide()   # nothing generated: no speed to report
        self.data_splitter = QSplitter(Qt.Orientation.Horizontal, visible=False)
        self.data_splitter.addWidget(self.chosen_pane)
        self.data_splitter.addWidget(self.rejected_pane)
        self.data_splitter.splitterMoved.connect(
            lambda *_: self.splitter.setSizes(self.data_splitter.sizes()))
        self.splitter.splitterMoved.connect(
            lambda *_: self.data_splitter.setSizes(self.splitter.sizes()))
        self.scores = QLabel(objectName="playgroundScores", visible=False, wordWrap=True)
        self.scores.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.panes_splitter = QSplitter(Qt.Orientation.Vertical)
        self.panes_splitter.addWidget(self.data_splitter)
        self.panes_splitter.addWidget(self.splitter)
        self.panes_splitter.setChildrenCollapsible(False)

        col = QVBoxLayout(self)
        col.setContentsMargins(8, 8, 8, 8)
        col.addLayout(top)
        col.addWidget(self.example_row)
        col.addLayout(prompt_row)
        col.addLayout(buttons)
        col.addWidget(self.banner)
        col.addWidget(self.scores)
        col.addWidget(self.panes_splitter, 1)

    # ---- remembered between sessions -----------------------------------------------------
    def _fields(self) -> dict:
        return {"max_new_tokens": self.max_tokens, "temperature": self.temperature,
                "top_p": self.top_p, "seed": self.seed}

    def _saved(self, key: str):
        if self.qsettings is None:
            return None
        return self.qsettings.value(f"{SETTINGS_GROUP}/{key}")

    def _save(self, key: str, value) -> None:
        if self.qsettings is not None:
            self.qsettings.setValue(f"{SETTINGS_GROUP}/{key}", value)

    def _restore_fields(self) -> None:
        prompt = self._saved("prompt")
        # the last prompt, or an example to start from rather than an empty box
        self.prompt.setPlainText(prompt if isinstance(prompt, str) and prompt.strip()
                                 else EXAMPLE_PROMPT)
        for key, box in self._fields().items():
            try:   # an ini file edited by hand: a bad value keeps the default
                box.setValue(type(box.value())(self._saved(key)))
            except (TypeError, ValueError):
                pass

    def _chat_for(self, run: str) -> bool:
        """Chat template for ``run``: ticked or not as it was last left, when that was for
        this run; else the run's default (from its data format), since a tick left for a
        chat run would fail on a run whose tokenizer has no template."""
        saved = self._saved("chat")
        if saved is not None and self._saved(CHAT_RUN_KEY) == run:
            return str(saved).lower() == "true"
        return self._chat_default(run)

    def _remember_changes(self) -> None:
        self.prompt.textChanged.connect(
            lambda: self._save("prompt", self.prompt.toPlainText()))
        for key, box in self._fields().items():
            box.valueChanged.connect(lambda value, key=key: self._save(key, value))
        self.chat.toggled.connect(self._save_chat)

    @Slot(bool)
    def _save_chat(self, checked: bool) -> None:
        self._save("chat", checked)
        self._save(CHAT_RUN_KEY, self.run_dir() or "")

    # ---- runs -----------------------------------------------------------------------------
    @property
    def generating(self) -> bool:
        return self.controller.running

    def run_dir(self) -> str | None:
        return self.runs.currentData()

    def refresh_runs(self, select: str | None = None) -> None:
        """List the runs that have a final model, keeping (or moving to) the selection."""
        current = str(Path(select).expanduser().resolve()) if select else self.run_dir()
        runs = [r for r in list_runs(default_runs_dir()) if r.model_dir.is_dir()]
        if current and all(str(r.path) != current for r in runs) and RunDir(current).is_run():
            runs.insert(0, RunDir(current))   # a run kept outside the runs folder
        self.runs.blockSignals(True)
        self.runs.clear()
        for r in runs[:50]:
            row = history.run_row(r.path)
            model = f" — {row['model']}" if row.get("model") else ""
            self.runs.addItem(f"{r.path.name}{model}", str(r.path))
            self.runs.setItemData(self.runs.count() - 1, str(r.path),
                                  Qt.ItemDataRole.ToolTipRole)
        if not runs:
            self.runs.addItem("no finished runs yet: train one first", None)
        i = self.runs.findData(current) if current else -1
        self.runs.setCurrentIndex(max(i, 0))
        self.runs.blockSignals(False)
        if self.run_dir() != self._shown_run:
            self._run_changed()
        self._update_buttons()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh_runs()   # runs may have been added or deleted elsewhere meanwhile

    def set_run(self, run_dir: str) -> bool:
        """Select ``run_dir`` (listed or not); False, with a message in the tab, when it is
        not a run."""
        rd = RunDir(run_dir)
        if not rd.config_path.exists():
            self.banner.show_message(f"{rd.path} is not an ftgui run (no config.yaml); "
                                     f"choose a run folder.", level="warning")
            return False
        self.refresh_runs(select=str(rd.path))
        return True

    @Slot()
    def _run_changed(self, *_) -> None:
        run = self.run_dir()
        self._shown_run = run
        self.banner.clear()
        if self.generating:
            self.stop()   # its models are no longer the ones shown
            self._discard = True   # nor is its text, still on its way here
        else:
            self.cache.clear()
        if self.live is not None and self.live.status == "finished" and \
                not (run and self.live.holds(run)):
            self.live.clear()   # a finished run's model serves only its own Playground
        for pane in self.panes.values():
            pane.clear()
        base_name = None
        if run:
            try:
                base_name = source_name(RunDir(run).load_config().model.source)
            except FtguiError as e:
                self.banner.show_message(e.message)
            self.chat.setChecked(self._chat_for(run))
        self.base_pane.set_model(base_name)
        self.tuned_pane.set_model(Path(run).name if run else None)
        self._read_examples(run)
        self._update_buttons()

    # ---- a preference run's validation examples -------------------------------------------
    def _read_examples(self, run: str | None) -> None:
        """Offer a preference run's validation examples (read off the GUI thread); hide
        the picker for any other run."""
        self.examples.blockSignals(True)
        self.examples.clear()
        self.examples.blockSignals(False)
        self._has_examples = False
        self._show_example(None)
        objective = "sft"
        if run:
            try:
                objective = RunDir(run).load_config().training.objective
            except FtguiError:
                pass
        self.example_row.setVisible(objective != "sft")
        if objective == "sft":
            return
        self.examples.addItem("Reading the validation examples…", None)
        self._update_buttons()

        def read():
            heavy_imports()
            from ftgui.core import models, playground
            from ftgui.core.inference import run_model_configs
            tok = models.load_tokenizer(run_model_configs(run)[1])
            return playground.validation_examples(run, tok)

        run_task(read, lambda found: self._examples_read(run, found),
                 lambda e: self._examples_failed(run, e), owner=self)

    def _examples_read(self, run: str, found: list) -> None:
        if run != self.run_dir():
            return   # the run changed while they were read
        self.examples.blockSignals(True)
        self.examples.clear()
        self.examples.addItem("Your own prompt" if found else
                              "Your own prompt (the run has no validation examples)", None)
        for ex in found:
            self.examples.addItem(ex.title(), ex)
            self.examples.setItemData(self.examples.count() - 1, ex.prompt_text(),
                                      Qt.ItemDataRole.ToolTipRole)
        self.examples.blockSignals(False)
        self._has_examples = bool(found)
        self._update_buttons()

    def _examples_failed(self, run: str, e: BaseException) -> None:
        if run != self.run_dir():
            return
        self.examples.clear()
        self.examples.addItem("Your own prompt (validation examples not readable)", None)
        self._has_examples = False
        self._update_buttons()
        text = e.message if isinstance(e, FtguiError) else str(e)
        self.banner.show_message(f"The run's validation examples could not be read: {text}",
                                 level="warning")

    def example(self) -> ValidationExample | None:
        return self.examples.currentData()

    def pick_example(self, number: int) -> bool:
        """Pick the validation example with this number; False when it is not offered."""
        for i in range(self.examples.count()):
            ex = self.examples.itemData(i)
            if ex is not None and ex.number == number:
                self.examples.setCurrentIndex(i)
                return True
        return False

    @Slot()
    def _example_changed(self, *_) -> None:
        ex = self.example()
        if ex is not None:
            self._example_prompt = ex.prompt_text()
            self.prompt.blockSignals(True)   # the person's own prompt stays remembered
            self.prompt.setPlainText(self._example_prompt)
            self.prompt.blockSignals(False)
        self._show_example(ex)

    @Slot()
    def _prompt_edited(self) -> None:
        """An edited prompt is the person's own: the example is no longer the one asked."""
        if self.example() is not None and self.prompt.toPlainText() != self._example_prompt:
            self.examples.setCurrentIndex(0)

    def _show_example(self, ex: ValidationExample | None) -> None:
        self._scores = {}
        self.data_splitter.setVisible(ex is not None)
        self.scores.setVisible(ex is not None)
        # an example's prompt is always sent as its messages, through the template
        self.chat.setEnabled(ex is None)
        if ex is None:
            self._example_prompt = None
            return
        for pane in self.panes.values():
            pane.clear()
        if ex.paired:
            self.chosen_pane.heading = "Chosen (from the data)"
            self.chosen_pane.show_text(message_text(ex.chosen))
            self.rejected_pane.show_text(message_text(ex.rejected))
            self.rejected_pane.show()
        else:
            kind = "desirable" if ex.label else "undesirable"
            self.chosen_pane.heading = f"Completion (from the data) · label " \
                                       f"{str(ex.label).lower()}, {kind}"
            self.chosen_pane.show_text(message_text(ex.completion))
            self.rejected_pane.hide()
        self.chosen_pane.set_model(None)
        self.data_splitter.setSizes(self.splitter.sizes())
        self._show_scores()

    def _show_scores(self) -> None:
        ex = self.example()
        if ex is None:
            return
        if ex.paired:
            what = "Log-probability margin for this pair (chosen − rejected; above 0: " \
                   "chosen preferred)"
        else:
            what = f"Log-probability of this completion (label {str(ex.label).lower()})"
        if not self._scores:
            self.scores.setText(f"{what}: Generate to compute it for both models.")
            return
        parts = [f"{name} {self._scores[pane]:+.3f}" if pane in self._scores else
                 f"{name} …" for pane, name in (("base", "base model"),
                                                 ("tuned", "fine-tuned"))]
        self.scores.setText(f"{what}: {' · '.join(parts)}")

    @Slot(str, float)
    def _on_scored(self, pane: str, value: float) -> None:
        if self._discard:
            return
        self._scores[pane] = value
        self._show_scores()

    @staticmethod
    def _chat_default(run: str) -> bool:
        try:
            return trained_on_chat(run)
        except FtguiError:
            return False

    # ---- generation -----------------------------------------------------------------------
    def settings(self) -> GenerationSettings:
        return GenerationSettings(max_new_tokens=self.max_tokens.value(),
                                  temperature=self.temperature.value(),
                                  top_p=self.top_p.value(), seed=self.seed.value(),
                                  chat=self.chat.isChecked())

    @Slot()
    def generate(self) -> None:
        run = self.run_dir()
        if self.generating or not run:
            return
        prompt = self.prompt.toPlainText()
        if not prompt.strip():
            self.banner.show_message("Type a prompt first.", level="warning")
            self.prompt.setFocus()
            return
        self.banner.clear()
        from ftgui.gui.dialogs.questions import approve_run_code
        if not approve_run_code(self, run):
            self.banner.show_message("Not generated: this run's model needs its own code, "
                                     "which was not approved.", level="warning")
            return
        settings = self.settings()
        example = self.example()
        for pane in self.panes.values():
            pane.begin(None if settings.chat or example is not None else prompt)
        self._scores = {}
        self._show_scores()
        w = GenerationWorker(self.cache, run, prompt, settings, example)
        w.paneScored.connect(self._on_scored)
        w.paneStatus.connect(self._on_status)
        w.paneLoading.connect(self._on_loading)
        w.paneStarted.connect(self._on_started)
        w.chunk.connect(self._on_chunk)
        w.paneFinished.connect(self._on_pane_finished)
        w.paneFailed.connect(self._on_pane_failed)
        w.done.connect(self._on_done)
        self.worker = w
        self.controller.start(w)
        self._update_buttons()

    @Slot()
    def stop(self) -> None:
        if self.generating:
            self.controller.stop()
            self.stop_button.setEnabled(False)
            self.stop_button.setText("Stopping…")

    def shutdown(self, ms: int = 30000) -> None:
        """Stop and wait, so the app never quits under a generating thread."""
        self.controller.stop()
        self.controller.wait(ms)

    @Slot(str, str)
    def _on_status(self, pane: str, text: str) -> None:
        if not self._discard:
            self.panes[pane].set_status(text)

    @Slot(str, str, int, int, str)
    def _on_loading(self, pane: str, stage: str, done: int, total: int, detail: str) -> None:
        if self._discard:
            return
        p = self.panes[pane]
        name = p.title.toolTip() or p.heading
        p.set_loading(name, stage, done, total, detail)
        self.paneLoading.emit(pane, stage, done, total, detail)

    @Slot(str)
    def _on_started(self, pane: str) -> None:
        self._on_status(pane, "Generating…")

    @Slot(str, str)
    def _on_chunk(self, pane: str, text: str) -> None:
        if self._discard:
            return
        self.panes[pane].append(text)
        self.chunkStreamed.emit(pane, text)

    @Slot(str, object)
    def _on_pane_finished(self, pane: str, result) -> None:
        self._on_status(pane, result.describe())

    @Slot(str, str)
    def _on_pane_failed(self, pane: str, text: str) -> None:
        if self._discard:
            return
        self.panes[pane].set_status(text, error=True)
        if self.banner.text() != text:
            shown = self.banner.text()
            self.banner.show_message(f"{shown}\n{text}" if shown else text)

    @Slot()
    def _on_done(self) -> None:
        self.controller.finish()
        self.worker = None
        discarded, self._discard = self._discard, False
        for pane in () if discarded else self.panes.values():
            if pane.stats.text() in ("Waiting…", "Generating…") or \
                    pane.stats.text().startswith("Loading"):
                pane.set_status("Stopped before it started." if pane.text == "" else "Stopped.")
        if self.cache.run_dir and self.cache.run_dir != self.run_dir():
            self.cache.clear()   # the run changed while this generation was going
        self._update_buttons()
        self.generationFinished.emit()

    def _update_buttons(self) -> None:
        busy = self.generating
        has_run = bool(self.run_dir())
        self.generate_button.setEnabled(not busy and has_run)
        self.generate_button.setToolTip("" if has_run else "Train a run first: the "
                                        "playground compares a run's result with its base")
        self.stop_button.setEnabled(busy)
        self.stop_button.setText("Stop")
        # another example mid-generation would clear the panes being written to
        self.examples.setEnabled(self._has_examples and not busy)


def _spin(box, low, high, value):
    box.setRange(low, high)   # before the value, which the default range would clamp
    box.setValue(value)
    return box
