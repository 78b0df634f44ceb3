"""The result card: what a finished run achieved, and what to do with it next.

Shown on the Train tab when a run finishes: validation perplexity of the base model and of
the result, final loss, steps and duration, and buttons to try, export or open the run.
A run without a validation split gets "Evaluate…", which measures both models on a file
the user picks, off the GUI thread, and keeps the figures in the run's summary.json.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QFileDialog, QFrame, QHBoxLayout, QLabel, QProgressBar,
                               QPushButton, QToolButton, QVBoxLayout, QWidget)

from ftgui.core import events as ev
from ftgui.core.errors import FtguiError
from ftgui.core.evaluate import evaluate_run, perplexity_text
from ftgui.core.runs import RunDir
from ftgui.core.wording import describe_error, duration
from ftgui.gui.workers.run_worker import heavy_imports, run_task


class ResultCard(QFrame):
    tryIt = Signal(str)             # the run directory
    exportRequested = Signal(str)   # the run directory
    evaluated = Signal(str)         # summary.json of the run now holds perplexities

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, objectName="resultCard")
        self.run_dir: str | None = None
        self._eval_run: str | None = None   # the run being measured, which may not be shown
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("#resultCard { background: rgba(92, 184, 92, 0.10); "
                           "border: 1px solid rgba(92, 184, 92, 0.7); border-radius: 4px; }"
                           "#resultCard QLabel { background: transparent; border: none; }")
        self.title = QLabel(objectName="resultTitle")
        f = self.title.font()
        f.setBold(True)
        self.title.setFont(f)
        self.perplexity = QLabel(objectName="resultPerplexity")
        self.perplexity.setTextFormat(Qt.TextFormat.RichText)
        self.perplexity.setWordWrap(True)
        self.perplexity.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # preference runs: how often the validation pairs' chosen answer wins
        self.preference = QLabel(objectName="resultPreference")
        self.preference.setTextFormat(Qt.TextFormat.RichText)
        self.preference.setWordWrap(True)
        self.preference.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.preference.setToolTip("Share of the validation pairs whose chosen answer has a "
                                   "higher log-probability than the rejected one, and the "
                                   "mean difference: higher is better")
        self.details = QLabel(objectName="resultDetails")
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.eval_button = QPushButton("Evaluate…", objectName="evaluateButton")
        self.eval_button.setToolTip("Measure the perplexity of the base model and of the "
                                    "result on a text file you choose")
        self.eval_button.clicked.connect(self.ask_evaluate)
        self.eval_progress = QProgressBar(objectName="evaluateProgress")
        self.eval_progress.setTextVisible(True)
        self.eval_progress.hide()
        self.try_button = QPushButton("Try it in the Playground", objectName="tryButton")
        self.try_button.setToolTip("Generate with the base model and the result side by side")
        self.try_button.clicked.connect(lambda: self.run_dir and self.tryIt.emit(self.run_dir))
        self.export_button = QPushButton("Export…", objectName="exportButton")
        self.export_button.setToolTip("Save the model as a folder, an adapter, a GGUF file "
                                      "or a Python script")
        self.export_button.clicked.connect(
            lambda: self.run_dir and self.exportRequested.emit(self.run_dir))
        self.folder_button = QPushButton("Open folder", objectName="openFolderButton")
        self.folder_button.clicked.connect(self.open_folder)
        close = QToolButton(text="✕")
        close.setToolTip("Hide this card")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)

        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(close)
        ppl_row = QHBoxLayout()
        ppl_row.addWidget(self.perplexity, 1)
        ppl_row.addWidget(self.eval_progress)
        ppl_row.addWidget(self.eval_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.try_button)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.folder_button)
        buttons.addStretch(1)
        col = QVBoxLayout(self)
        col.setContentsMargins(10, 6, 6, 8)
        col.setSpacing(4)
        col.addLayout(head)
        col.addLayout(ppl_row)
        col.addWidget(self.preference)
        col.addWidget(self.details)
        col.addLayout(buttons)
        self.hide()

    # ---- content -------------------------------------------------------------------------
    def show_run(self, run_dir: str, summary: dict | None = None) -> None:
        """Fill the card from the run's summary (the RunFinished one, or summary.json)."""

        self.run_dir = str(run_dir)
        s = summary if summary is not None else RunDir(run_dir).summary()
        name = Path(run_dir).name
        self.title.setText(f"✓  {name} finished")
        self.title.setToolTip(str(run_dir))
        loss = s.get("final_train_loss")
        parts = [f"{s.get('steps', 0):,} steps in {duration(s.get('duration_s'))}"]
        if loss is not None:
            parts.insert(0, f"Final training loss {loss:.4f}")
        self.details.setText(" · ".join(parts))
        self._show_perplexity(s)
        self._show_preference(s)
        self.show()

    def _show_preference(self, s: dict) -> None:
        before, after = s.get("preference_accuracy_before"), s.get("preference_accuracy_after")
        if before is None or after is None:
            self.preference.hide()
            return
        margins = (s.get("preference_margin_before"), s.get("preference_margin_after"))
        margin = (f" (mean margin {margins[0]:+.2f} → {margins[1]:+.2f})"
                  if None not in margins else "")
        self.preference.setText(
            f"{str(s.get('objective', '')).upper()}: validation pairs ranked right, base → "
            f"result: <b>{before:.0%} → {after:.0%}</b> of {s.get('preference_pairs', 0)}"
            f"{margin}")
        self.preference.show()

    def _show_perplexity(self, s: dict) -> None:
        before, after = s.get("perplexity_before"), s.get("perplexity_after")
        if before and after:
            what = (f"Perplexity on {Path(s['perplexity_data']).name}"
                    if s.get("perplexity_data") else "Validation perplexity")
            self.perplexity.setText(f"{what}, base → result: "
                                    f"<b>{perplexity_text(before, after)}</b>")
            self.perplexity.setToolTip("exp(mean loss per token): lower is better")
            self.eval_button.setVisible(False)
        else:
            why = ("This run had no validation split, so its perplexity was not measured."
                   if not self._had_validation() else
                   "The perplexity of this run was not measured.")
            self.perplexity.setText(f"{why} Evaluate… measures the base model and the "
                                    f"result on a text file you choose.")
            self.perplexity.setToolTip("")
            self.eval_button.setVisible(not self.evaluating)
        self.eval_progress.setVisible(self.evaluating and self._eval_run == self.run_dir)

    @property
    def evaluating(self) -> bool:
        return self._eval_run is not None

    def _refresh(self) -> None:
        """The figures of the run shown, as summary.json now has them."""
        if self.run_dir:
            self._show_perplexity(RunDir(self.run_dir).summary())
        else:
            self.eval_progress.hide()

    def _had_validation(self) -> bool:
        try:
            return bool(RunDir(self.run_dir).load_config().data.validation)
        except Exception:  # noqa: BLE001 - only picks the wording; an unreadable config says "no"
            return False

    def clear(self) -> None:
        self.run_dir = None
        self.hide()

    def open_folder(self) -> None:
        if self.run_dir:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.run_dir))

    # ---- evaluate on demand --------------------------------------------------------------
    def ask_evaluate(self) -> None:
        if not self.run_dir or self.evaluating:
            return
        rd = RunDir(self.run_dir)
        start = ""
        try:
            source = Path(rd.load_config().data.source)
            start = str(source.parent if source.is_file() else source)
        except Exception:  # noqa: BLE001 - only a starting folder for the file dialog
            pass
        path, _ = QFileDialog.getOpenFileName(
            self, "Evaluate on a text file", start,
            "Text data (*.txt *.jsonl *.json *.csv *.parquet);;All files (*)")
        if path:
            self.evaluate(path)

    def evaluate(self, data_file: str) -> None:
        """Measure base and result on ``data_file`` off the GUI thread."""
        run_dir = self.run_dir
        from ftgui.gui.dialogs.questions import approve_run_code
        if not approve_run_code(self, run_dir):
            self.perplexity.setText("Not evaluated: this run's model needs its own code, "
                                    "which was not approved.")
            return

        def work(report):
            heavy_imports()
            return evaluate_run(run_dir, data_file, progress=report)

        self._eval_run = run_dir
        self.eval_button.hide()
        self.eval_progress.setRange(0, 0)
        self.eval_progress.setFormat("Evaluating…")
        self.eval_progress.show()
        self.perplexity.setText(f"Measuring the perplexity on {Path(data_file).name}…")
        run_task(work, lambda _: self._evaluated(run_dir),
                 lambda e: self._evaluate_failed(run_dir, e), self._eval_progress, owner=self)

    def _eval_progress(self, p: ev.Progress) -> None:
        if p.total:
            self.eval_progress.setRange(0, p.total)
            self.eval_progress.setValue(p.current)
        else:
            self.eval_progress.setRange(0, 0)
        self.eval_progress.setFormat(p.stage + (" %v/%m" if p.total else "…"))

    def _evaluated(self, run_dir: str) -> None:
        self._eval_run = None
        self._refresh()
        self.evaluated.emit(run_dir)

    def _evaluate_failed(self, run_dir: str, e: BaseException) -> None:
        self._eval_run = None
        self._refresh()
        if run_dir != self.run_dir:
            return
        more = "" if isinstance(e, FtguiError) else " (details are in the log)"
        self.perplexity.setText(f"<span style='color:#d9534f'>Could not evaluate: "
                                f"{escape(describe_error(e))}{more}</span>")
        self.eval_button.setVisible(True)
