"""Run view: Train / Stop / Resume, progress, live curves and the run's log."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont, QTextCursor
from PySide6.QtWidgets import (QComboBox, QFrame, QHBoxLayout, QLabel, QPlainTextEdit,
                               QProgressBar, QPushButton, QSplitter,
                               QStackedWidget, QVBoxLayout, QWidget)

from ftgui.core import events as ev
from ftgui.core.evaluate import perplexity_text
from ftgui.core.hub import progress_text
from ftgui.core.resumable import NOT_RESUMABLE, ResumeOption, resume_option
from ftgui.core.runs import RunDir, default_runs_dir, list_runs
from ftgui.core.wording import describe_error, duration
from ftgui.gui.widgets.plots import TrainingPlots
from ftgui.gui.widgets.result_card import ResultCard
from ftgui.gui.workers.run_worker import run_task
from ftgui.gui.widgets.common import WrapLabel


def _run_entries(select: str | None) -> list[tuple[str, str]]:
    """(label, path) of the newest 50 runs, ``select`` included (on a worker thread)."""
    runs = list_runs(default_runs_dir())
    if select and all(str(r.path) != str(Path(select).resolve()) for r in runs):
        runs.insert(0, RunDir(select))
    rows = []
    for r in runs[:50]:
        s = r.summary()
        status = s.get("status") if isinstance(s.get("status"), str) else r.status()
        steps = s.get("steps") if isinstance(s.get("steps"), int) else None
        rows.append((f"{r.path.name} — {status}" + (f" @ {steps}" if steps else ""),
                     str(r.path)))
    return rows

class Welcome(QFrame):
    """The first screen: what to do first, in order, with what is done ticked off."""

    openConfig = Signal()
    loadDemo = Signal()
    showTab = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, objectName="welcome")
        title = QLabel("Fine-tune a language model on your own text")
        f = title.font()
        f.setPointSizeF(f.pointSizeF() * 1.5)
        f.setBold(True)
        title.setFont(f)
        self.steps = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(40, 30, 40, 30)
        layout.addStretch(1)
        layout.addWidget(title)
        layout.addSpacing(14)
        for i, (head, text) in enumerate((
                ("Choose a model", "Model tab: a Hub id such as HuggingFaceTB/SmolLM2-135M, a "
                 "model folder, or a .gguf file."),
                ("Choose your text", "Dataset tab: a .txt / .jsonl / .csv / .parquet file, a "
                 "folder, or a Hub dataset. Check the preview."),
                ("Check the settings", "Training and LoRA tabs: the defaults are sensible; "
                 "hover any field for what it does."),
                ("Press Train  (Ctrl+Return)", "Curves appear here live. Stop (Esc) saves a "
                 "checkpoint; Resume continues from it."))):
            lab = QLabel(wordWrap=True)
            lab.setTextFormat(Qt.TextFormat.RichText)
            lab.setProperty("head", head)
            lab.setProperty("body", text)
            lab.setCursor(Qt.CursorShape.PointingHandCursor if i < 3 else Qt.CursorShape.ArrowCursor)
            lab.mousePressEvent = (lambda _e, i=i: self.showTab.emit(i)) if i < 3 else lab.mousePressEvent
            self.steps.append(lab)
            layout.addWidget(lab)
            layout.addSpacing(6)
        row = QHBoxLayout()
        self.demo_button = QPushButton("Load the demo")
        self.demo_button.setToolTip("A tiny offline model and a WikiText excerpt: trains in "
                                    "about a minute on a CPU")
        self.demo_button.clicked.connect(self.loadDemo)
        self.open_button = QPushButton("Open config…")
        self.open_button.clicked.connect(self.openConfig)
        row.addWidget(self.demo_button)
        row.addWidget(self.open_button)
        row.addStretch(1)
        layout.addSpacing(10)
        layout.addLayout(row)
        layout.addStretch(2)
        self.update_steps([False, False, True, False])

    def update_steps(self, done: list[bool], details: list[str] | None = None) -> None:
        first_open = next((i for i, d in enumerate(done) if not d), len(done))
        for i, lab in enumerate(self.steps):
            mark = "✓" if done[i] else f"{i + 1}."
            body = (details or [""] * 4)[i] or lab.property("body")
            weight = "bold" if i == first_open else "normal"
            lab.setText(f"<span style='font-size:110%; font-weight:{weight}'>{mark} "
                        f"{lab.property('head')}</span><br><span style='opacity:0.8'>"
                        f"{body}</span>")
            lab.setEnabled(i <= first_open or done[i])


class RunPanel(QWidget):
    runsListed = Signal()      # the runs list shows the folder as last read
    resumeChecked = Signal()   # Resume shows what the rule says for the selected run

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._list_gen = self._resume_gen = 0
        self.train_button = QPushButton("▶  Train", objectName="trainButton")
        self.train_button.setToolTip("Start a new run with these settings (Ctrl+Return)")
        self.train_button.setDefault(True)
        f = self.train_button.font()
        f.setBold(True)
        self.train_button.setFont(f)
        self.train_button.setMinimumWidth(100)
        self.stop_button = QPushButton("■  Stop", objectName="stopButton")
        self.stop_button.setToolTip("Stop after the current step and save a checkpoint "
                                    "(Esc or Ctrl+.)")
        self.resume_button = QPushButton("⟳  Resume", objectName="resumeButton")
        self.resume_button.setToolTip("Continue the selected run from its last checkpoint")
        self.runs = QComboBox(objectName="runSelector")
        self.runs.setToolTip("Runs in the runs folder; Resume continues the selected one")
        self.runs.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.runs.setMinimumContentsLength(14)
        self.runs.currentIndexChanged.connect(self._update_resume)

        self.progress = QProgressBar(objectName="progressBar")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("Ready")
        self.progress.setTextVisible(True)
        self.progress.setMinimumWidth(120)
        self.stats = WrapLabel(" ", objectName="runStats")
        self.stats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # the stages of starting a run with their times: the wait is never silent
        self.stages = WrapLabel(objectName="runStages")
        self.stages.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stages.hide()
        self._stages: dict[str, tuple[str, float]] = {}   # stage -> (state, seconds)
        self._stage_t0 = 0.0
        self._started_in: float | None = None
        self._stage_timer = QTimer(self, interval=1000)   # the running stage's seconds
        self._stage_timer.timeout.connect(
            lambda: self.stages.setText(self.stages_text()))

        top = QHBoxLayout()
        top.addWidget(self.train_button)
        top.addWidget(self.stop_button)
        top.addWidget(self.resume_button)
        top.addSpacing(8)
        top.addWidget(self.progress, 1)
        stats_row = QHBoxLayout()
        stats_row.addWidget(self.stats, 1)
        run_label = QLabel("Run:")
        run_label.setBuddy(self.runs)
        stats_row.addWidget(run_label)
        stats_row.addWidget(self.runs)

        self.welcome = Welcome()
        self.plots = TrainingPlots()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.plots)

        self.log_pane = QPlainTextEdit(objectName="logPane")
        self.log_pane.setReadOnly(True)
        self.log_pane.setMaximumBlockCount(5000)
        self.log_pane.setPlaceholderText("The run's messages appear here.")
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        mono.setPointSizeF(max(self.font().pointSizeF() * 0.9, 7))
        self.log_pane.setFont(mono)
        self.splitter = QSplitter(Qt.Orientation.Vertical, objectName="runSplitter")
        self.splitter.addWidget(self.stack)
        self.splitter.addWidget(self.log_pane)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([600, 140])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addLayout(stats_row)
        layout.addWidget(self.stages)
        self.result_card = ResultCard()
        layout.addWidget(self.result_card)
        layout.addWidget(self.splitter, 1)

        self.total_steps = 0
        self.last_step: ev.StepLogged | None = None
        self.set_running(False)

    # ---- state -------------------------------------------------------------------------
    def set_running(self, running: bool) -> None:
        self.running = running
        self.train_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.stop_button.setText("■  Stop")
        self.runs.setEnabled(not running)
        self._update_resume()

    def _update_resume(self, *_):
        """Resume is offered when the rule says so for the selected run; the run folder is
        read off the GUI thread, Resume stays off meanwhile."""
        self._resume_gen += 1
        gen = self._resume_gen
        rd = self.selected_run()
        self.resume_button.setEnabled(False)
        if getattr(self, "running", False) or rd is None:
            self.resume_button.setToolTip(NOT_RESUMABLE)
            return
        self.resume_button.setToolTip(f"Checking {rd.path.name}…")
        run_task(lambda: resume_option(rd.path), lambda opt: self._resume_checked(gen, opt),
                 lambda e: self._resume_checked(gen, ResumeOption(False, None,
                                                                  describe_error(e))),
                 owner=self)

    def _resume_checked(self, gen: int, option: ResumeOption) -> None:
        if gen != self._resume_gen:
            return   # another run was selected meanwhile
        self.resume_button.setEnabled(option.ok and not self.running)
        self.resume_button.setToolTip(option.tip)
        self.resumeChecked.emit()

    def selected_run(self) -> RunDir | None:
        path = self.runs.currentData()
        return RunDir(path) if path else None

    def refresh_runs(self, select: str | None = None) -> None:
        """List the runs folder (read off the GUI thread), keeping or making ``select``
        the selected run."""
        self._list_gen += 1
        gen = self._list_gen
        current = select or self.runs.currentData()
        run_task(lambda: _run_entries(select), lambda rows: self._fill_runs(gen, rows, current),
                 owner=self)

    def _fill_runs(self, gen: int, rows: list[tuple[str, str]], current: str | None) -> None:
        if gen != self._list_gen:
            return
        self.runs.blockSignals(True)
        self.runs.clear()
        if not rows:
            self.runs.addItem("no runs yet", None)
        for label, path in rows:
            self.runs.addItem(label, path)
            self.runs.setItemData(self.runs.count() - 1, path, Qt.ItemDataRole.ToolTipRole)
        if current:
            i = self.runs.findData(str(Path(current).resolve()))
            if i >= 0:
                self.runs.setCurrentIndex(i)
        self.runs.blockSignals(False)
        self._update_resume()
        self.runsListed.emit()

    # ---- events ------------------------------------------------------------------------
    def begin(self, text: str) -> None:
        self.last_step = None
        self._stages = {}
        self._stage_t0 = time.monotonic()
        self._started_in = None
        self.stages.clear()
        self.stages.hide()
        self.plots.set_waiting(f"{text.rstrip('…')}: the curves start with the first step.")
        self.stack.setCurrentWidget(self.plots)
        self.result_card.clear()
        self.progress.setRange(0, 0)
        self.progress.setFormat(text)
        self.stats.setText(text)
        self.set_running(True)

    def log(self, text: str, level: str = "info") -> None:
        stamp = time.strftime("%H:%M:%S")
        prefix = {"warning": "⚠ ", "error": "✖ "}.get(level, "")
        self.log_pane.appendPlainText(f"{stamp}  {prefix}{text}")
        self.log_pane.moveCursor(QTextCursor.MoveOperation.End)

    def on_progress(self, e: ev.Progress) -> None:
        text = e.stage + (f" {e.current:,}/{e.total:,}" if e.total else "…")
        bar = text
        if e.unit == "bytes":   # a download: bytes as MB; the file, speed and ETA below
            text = f"{e.stage}: {progress_text(e)}"
            bar = f"{e.stage.split(' ')[0]} {progress_text(e, short=True)}"
        if e.total:
            if e.unit == "bytes":   # a progress bar counts in int: KB keeps GBs in range
                self.progress.setRange(0, max(e.total // 1024, 1))
                self.progress.setValue(e.current // 1024)
            else:
                self.progress.setRange(0, e.total)
                self.progress.setValue(e.current)
        else:
            self.progress.setRange(0, 0)
        self.progress.setFormat(bar)
        self.stats.setText(text)

    def on_stage(self, e: ev.Stage) -> None:
        """A stage of starting began or ended: the list of stages and what the plots wait
        for follow."""
        if e.state == "started":
            self._stages[e.stage] = ("started", time.monotonic())
        else:
            self._stages[e.stage] = (e.state, e.seconds)
        if e.stage == "download" and self.stop_button.isEnabled():
            # Stop during the download cancels it; finished files stay in the cache
            self.stop_button.setText("■  Cancel download" if e.state == "started"
                                     else "■  Stop")
        if e.stage == "first_step" and e.state == "done":
            self._started_in = time.monotonic() - self._stage_t0
            self._stage_timer.stop()
        elif not self._stage_timer.isActive():
            self._stage_timer.start()
        self.stages.setText(self.stages_text())
        self.stages.show()
        running = [s for s, (state, _) in self._stages.items() if state == "started"]
        if running:
            self.plots.set_waiting(f"Waiting for the first training step: "
                                   f"{ev.ALL_STAGES[running[-1]]}…")

    def stages_text(self) -> str:
        """'Starting: ✓ tokenizer 0.2 s · ✓ reading data 1.1 s · ◌ model… · base
        evaluation · first step', then 'Started in 9.8 s: …' once the first step is done."""
        parts = []
        for stage, label in ev.ALL_STAGES.items():
            if stage not in ev.STAGES and stage not in self._stages:
                continue   # the download: only for a Hub model
            state, value = self._stages.get(stage, ("waiting", 0.0))
            if state == "done":
                parts.append(f"✓ {label} {value:.1f} s")
            elif state == "started":
                parts.append(f"<b>◌ {label} {time.monotonic() - value:.0f} s…</b>")
            elif state == "skipped":
                parts.append(f"<span style='color:gray'><s>{label}</s></span>")
            else:
                parts.append(f"<span style='color:gray'>{label}</span>")
        head = (f"Started in {self._started_in:.1f} s" if self._started_in is not None
                else "Starting")
        return f"{head}: " + " · ".join(parts)

    def on_started(self, e: ev.RunStarted) -> None:
        self.total_steps = e.total_steps
        self.progress.setRange(0, max(e.total_steps, 1))
        self.progress.setValue(e.start_step)
        self.progress.setFormat("step %v / %m")
        where = "Resumed" if e.start_step else "Started"
        self.log(f"{where} {Path(e.run_dir).name}: {e.total_steps:,} steps on {e.device} "
                 f"({e.precision}); {e.trainable_params:,} of {e.total_params:,} parameters "
                 f"trainable; {e.train_blocks:,} training blocks.")
        self.stats.setText(f"step {e.start_step:,} / {e.total_steps:,}")

    def on_step(self, e: ev.StepLogged) -> None:
        self.last_step = e
        if self.progress.maximum() != e.total_steps and e.total_steps:
            self.progress.setRange(0, e.total_steps)
            self.progress.setFormat("step %v / %m")
        self.progress.setValue(min(e.step, self.progress.maximum()))
        pct = 100 * e.step / max(e.total_steps, 1)
        self.stats.setText(
            f"step <b>{e.step:,}</b> / {e.total_steps:,} ({pct:.0f} %) · loss <b>{e.loss:.4f}</b>"
            f" · elapsed {duration(e.elapsed)} · ETA {duration(e.eta)} · "
            f"{e.tokens_per_second:,.0f} tokens/s"
            + (f" ({e.trained_tokens_per_second:,.0f} trained on)"
               if e.trained_tokens_per_second is not None else "")
            + f" · lr {e.learning_rate:.2e}")

    def on_eval(self, e: ev.EvalLogged) -> None:
        what = "base model" if e.step == 0 else f"step {e.step}"
        m = getattr(e, "metrics", None) or {}
        if m:   # a preference run: its loss is not a language model's, no perplexity
            acc = m.get("rewards/accuracies")
            self.log(f"Validation loss at {what}: {e.loss:.4f}"
                     + (f"; reward accuracy {acc:.0%}" if acc is not None else "")
                     + (f", margin {m['rewards/margins']:+.3f}"
                        if "rewards/margins" in m else "") + ".")
            return
        self.log(f"Validation loss at {what}: {e.loss:.4f} (perplexity {e.perplexity:,.1f}).")

    def on_checkpoint(self, e: ev.CheckpointSaved) -> None:
        self.log(f"Checkpoint saved at step {e.step}: {e.path}")

    def on_finished(self, e: ev.RunFinished) -> None:
        self._stage_timer.stop()
        self.plots.set_waiting(None)
        s = e.summary
        if e.status == "finished":
            self.progress.setRange(0, max(self.total_steps, s.get("total_steps") or 1, 1))
            self.progress.setValue(self.progress.maximum())
            self.progress.setFormat("Finished: step %v / %m")
            ppl = ""
            if s.get("perplexity_before") and s.get("perplexity_after"):
                ppl = (f" Perplexity base → result: "
                       f"{perplexity_text(s['perplexity_before'], s['perplexity_after'])}.")
            self.log(f"Finished in {duration(s.get('duration_s'))}.{ppl} Model saved to "
                     f"{Path(e.run_dir) / 'model'}.")
            self.result_card.show_run(e.run_dir, s)
            self.stats.setText(self._final_stats("Finished", s))
        elif e.status == "diverged":
            self.result_card.clear()
            self.progress.setFormat("Diverged at step %v / %m — lower the learning rate")
            self.log(s.get("error") or "Training diverged.", level="error")
            self.stats.setText(self._final_stats("Diverged", s))
        else:
            # the core's own message ("Stopped at step N; checkpoint … saved") is in the log
            self.progress.setFormat("Stopped at step %v / %m — Resume to continue")
            self.stats.setText(self._final_stats("Stopped", s) + " · Resume continues "
                               "from the checkpoint")

    def _final_stats(self, what: str, s: dict) -> str:
        """The stats line once a run has ended: where it ended, no ETA or speed."""
        step = s.get("steps") or (self.last_step.step if self.last_step else 0)
        total = s.get("total_steps") or self.total_steps
        parts = [f"{what} at step <b>{step:,}</b> / {total:,}"]
        loss = s.get("final_train_loss")
        if loss is None and self.last_step is not None:
            loss = self.last_step.loss
        if loss is not None:
            parts.append(f"loss <b>{loss:.4f}</b>")
        if self.last_step is not None:
            parts.append(f"elapsed {duration(self.last_step.elapsed)}")
        return " · ".join(parts)

    def on_failed(self, e: ev.RunFailed) -> None:
        self._stage_timer.stop()
        self.plots.set_waiting(None)
        self.result_card.clear()
        self.stats.setText("Failed — see the message above")
        self.progress.setRange(0, max(self.progress.maximum(), 1))
        self.progress.setFormat("Failed — see the message above")
        self.log(e.message, "error")
        if e.log_path and not e.user_error:
            self.log(f"Details in {e.log_path}")
