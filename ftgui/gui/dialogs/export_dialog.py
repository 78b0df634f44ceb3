"""Export a finished run from the window: merged model, LoRA adapter, GGUF file or script.

A thin face on ``ftgui.core.export``: the dialog picks the format and the destination,
asks before replacing anything, and runs the export on the thread pool with the core's
progress events. The core writes under a temporary name and renames at the end; Cancel
raises from the progress callback, so the core removes the partial export and the
destination is left as it was.
"""

from __future__ import annotations

import threading
from html import escape
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton,
                               QRadioButton, QVBoxLayout, QWidget)

from ftgui.core import events as ev
from ftgui.core.errors import FtguiError
from ftgui.core.export import DESCRIPTIONS, FORMATS, IS_FILE, check_replace, default_name
from ftgui.core.export.quantize import TYPES as GGUF_TYPE_INFO, human_size
from ftgui.core.runs import RunDir
from ftgui.core.wording import describe_error
from ftgui.gui.dialogs.questions import ask_yes_no
from ftgui.gui.workers.run_worker import heavy_imports, run_task

TITLES = {"merged": "Merged model folder", "adapter": "LoRA adapter folder",
          "gguf": "GGUF file", "ollama": "Ollama model folder", "script": "Python script"}
QUANTISED = ("gguf", "ollama")   # the formats the precision choice applies to
FILTERS = {"gguf": "GGUF files (*.gguf)", "script": "Python scripts (*.py)"}
SUFFIX = {"gguf": ".gguf", "script": ".py"}
GGUF_TYPES = tuple((k, f"{k} — {v[2]}") for k, v in GGUF_TYPE_INFO.items())
LAST_DIR_KEY = "export/last_dir"
CHECKING = "checking"   # a reason not known yet: the core's check runs in the background
CHECK_TEXT = {"gguf": "Checking whether the GGUF writer supports this model's architecture",
              "ollama": "Checking whether the GGUF writer supports this model's architecture",
              "script": "Checking that the run's data and model can be found"}


def default_export_dir() -> Path:
    return Path.home() / "ftgui-exports"


class ExportCancelled(Exception):
    """Raised from the progress callback: the core then removes its partial export."""


class ExportDialog(QDialog):
    exported = Signal(str)       # the path written
    exportFailed = Signal(str)   # the message shown
    exportEnded = Signal()       # after either of those, or after a cancelled export
    pushed = Signal(str)         # the Hub repo's URL, after a push

    def __init__(self, run_dir: str | Path, settings: QSettings | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent, objectName="exportDialog")
        self.rd = RunDir(run_dir)
        self.settings = settings or QSettings()
        self.busy = False
        self._cancel = threading.Event()
        self._close_when_done = False
        self._out: Path | None = None
        self._fmt: str | None = None   # what is being (or was last) exported
        self.setWindowTitle(f"Export {self.rd.path.name}")
        self.setMinimumWidth(560)

        status = self.rd.status()
        head = QLabel(f"<b>{self.rd.path.name}</b> — {status}<br>"
                      f"<span style='color:gray'>{self.rd.path}</span>")
        head.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.group = QButtonGroup(self)
        self.format_buttons: dict[str, QRadioButton] = {}
        self.format_notes: dict[str, QLabel] = {}
        self.reasons = self._reasons(status)
        formats = QVBoxLayout()
        formats.setSpacing(2)
        for fmt in FORMATS:
            button = QRadioButton(TITLES[fmt], objectName=f"format_{fmt}")
            note = QLabel(wordWrap=True)
            note.setContentsMargins(24, 0, 0, 6)
            self.group.addButton(button)
            self.format_buttons[fmt], self.format_notes[fmt] = button, note
            button.toggled.connect(lambda on, fmt=fmt: on and self._format_chosen(fmt))
            formats.addWidget(button)
            formats.addWidget(note)
            if fmt == "gguf":
                self.gguf_type = QComboBox(objectName="ggufType")
                for value, text in GGUF_TYPES:
                    self.gguf_type.addItem(text, value)
                self.gguf_type.setToolTip("How the weight matrices are stored in the file")
                row = QHBoxLayout()
                row.setContentsMargins(24, 0, 0, 6)
                row.addWidget(QLabel("Precision:"))
                row.addWidget(self.gguf_type, 1)
                formats.addLayout(row)
            self._show_reason(fmt)

        self.dest = QLineEdit(objectName="exportDestination")
        self.dest.setToolTip("Where the export goes; it is written under a temporary name "
                             "and renamed when complete")
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self.choose_destination)
        dest_row = QHBoxLayout()
        dest_row.addWidget(self.dest, 1)
        dest_row.addWidget(self.browse)
        form = QFormLayout()
        form.addRow("Save to:", dest_row)
        # or publish: merged / adapter with the model card to a Hub repo (core/export/push.py)
        self.push_repo = QLineEdit(objectName="pushRepo")
        self.push_repo.setPlaceholderText("ORG/NAME on the Hugging Face Hub")
        self.push_private = QCheckBox("private", objectName="pushPrivate")
        self.push_button = QPushButton("Push…", objectName="pushButton")
        self.push_button.setToolTip("Export the merged model or the adapter with its model "
                                    "card and upload it to this Hub repo (sign in first: "
                                    "Help ▸ Hugging Face sign-in)")
        self.push_button.clicked.connect(self.start_push)
        push_row = QHBoxLayout()
        push_row.addWidget(self.push_repo, 1)
        push_row.addWidget(self.push_private)
        push_row.addWidget(self.push_button)
        form.addRow("Push to:", push_row)

        self.progress = QProgressBar(objectName="exportProgress")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("Ready")
        self.stage = QLabel(" ", objectName="exportStage")
        self.message = QLabel(objectName="exportMessage", wordWrap=True)
        self.message.setTextFormat(Qt.TextFormat.RichText)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        self.open_button = QPushButton("Open folder", objectName="openExportFolder")
        self.open_button.clicked.connect(self.open_folder)
        self.open_button.hide()
        self.export_button = QPushButton("Export", objectName="exportButton")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start_export)
        self.close_button = QPushButton("Close", objectName="closeButton")
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.close_button)

        col = QVBoxLayout(self)
        col.addWidget(head)
        col.addSpacing(6)
        col.addLayout(formats)
        col.addLayout(form)
        col.addWidget(self.progress)
        col.addWidget(self.stage)
        col.addWidget(self.message)
        col.addLayout(buttons)

        first = next((f for f in FORMATS if self.reasons[f] is None), None)
        if first:
            self.format_buttons[first].setChecked(True)
        else:
            self.export_button.setEnabled(False)
        for fmt in ("gguf", "script"):
            if self.reasons[fmt] == CHECKING:
                self._check(fmt)

    # ---- which formats this run allows ------------------------------------------------------
    def _reasons(self, status: str) -> dict[str, str | None]:
        """Per format: None when it can be exported, else why not (shown beside it)."""
        reasons: dict[str, str | None] = dict.fromkeys(FORMATS)
        cfg = None
        try:
            cfg = self.rd.load_config()
        except FtguiError as e:
            reasons = dict.fromkeys(FORMATS, e.message)
            return reasons
        if status != "finished" or not self.rd.model_dir.is_dir():
            why = (f"This run has no final model (status: {status}); resume it to the end "
                   f"first.")
            reasons.update(merged=why, adapter=why, gguf=why, ollama=why)
        else:
            reasons["gguf"] = reasons["ollama"] = CHECKING
        method = self.rd.summary().get("method") or cfg.model.method
        if reasons["adapter"] is None and (method != "lora" or not self.rd.adapter_dir.is_dir()):
            reasons["adapter"] = (f"A full fine-tune ({method}) has no LoRA adapter; "
                                  f"export the merged model instead.")
        reasons["script"] = CHECKING   # the core's check: e.g. its data file may be gone
        return reasons

    def _show_reason(self, fmt: str) -> None:
        reason = self.reasons[fmt]
        button, note = self.format_buttons[fmt], self.format_notes[fmt]
        button.setEnabled(reason is None)
        if reason == CHECKING:
            note.setText(f"<span style='color:gray'>{CHECK_TEXT[fmt]}…</span>")
            button.setToolTip(CHECK_TEXT[fmt])
        elif reason:
            note.setText(f"<span style='color:gray'>Not available: {escape(reason)}</span>")
            button.setToolTip(reason)
        else:
            text = DESCRIPTIONS[fmt]
            note.setText(f"<span style='color:gray'>{escape(text[:1].upper() + text[1:])}."
                         f"</span>")
            button.setToolTip(DESCRIPTIONS[fmt])
        if fmt in QUANTISED:
            self.gguf_type.setEnabled(self.selected_format() in QUANTISED
                                      and self.reasons[self.selected_format()] is None)

    def _check(self, fmt: str) -> None:
        """The core's own checks, off the GUI thread (they read the model's config)."""
        rd = self.rd

        def check():
            heavy_imports()
            if fmt == "gguf":
                from ftgui.core.export.to_gguf import expected_size
                # the size of each type, from the safetensors headers (checks support too)
                return {t: expected_size(rd.model_dir, t) for t, _ in GGUF_TYPES}
            from ftgui.core.export.script import script_config
            script_config(rd.load_config(), rd.summary())
            return None

        def checked(sizes):
            if sizes:
                self._show_sizes(sizes)
            self._checked(fmt, None)

        run_task(check, checked, lambda e: self._checked(fmt, describe_error(e)), owner=self)

    def _show_sizes(self, sizes: dict[str, int]) -> None:
        for i, (value, text) in enumerate(GGUF_TYPES):
            self.gguf_type.setItemText(i, f"{text}  (about {human_size(sizes[value])})")
            self.gguf_type.setItemData(i, sizes[value], Qt.ItemDataRole.UserRole + 1)

    def _checked(self, fmt: str, reason: str | None) -> None:
        for f in (QUANTISED if fmt == "gguf" else (fmt,)):   # one check serves both
            self.reasons[f] = reason
            self._show_reason(f)
        if self.group.checkedButton() is None and reason is None:
            self.format_buttons[fmt].setChecked(True)
        self._set_busy(self.busy)

    # ---- destination -----------------------------------------------------------------------
    def selected_format(self) -> str | None:
        return next((f for f, b in self.format_buttons.items() if b.isChecked()), None)

    def _format_chosen(self, fmt: str) -> None:
        current = self.dest.text().strip()
        folder = Path(current).expanduser().parent if current else Path(
            self.settings.value(LAST_DIR_KEY) or default_export_dir())
        self.dest.setText(str(folder / default_name(self.rd.path, fmt)))
        self.gguf_type.setEnabled(fmt in QUANTISED)
        self.export_button.setEnabled(not self.busy)

    def choose_destination(self) -> None:
        fmt = self.selected_format()
        if fmt is None:
            return
        current = Path(self.dest.text().strip() or default_export_dir()).expanduser()
        if IS_FILE[fmt]:
            # this dialog asks "Replace?" itself, once, when Export is pressed
            path, _ = QFileDialog.getSaveFileName(
                self, f"Export the {TITLES[fmt].lower()} as", str(current), FILTERS[fmt],
                options=QFileDialog.Option.DontConfirmOverwrite)
            if path:
                self.dest.setText(path)
        else:
            folder = QFileDialog.getExistingDirectory(
                self, f"Choose the folder to create {current.name} in", str(current.parent))
            if folder:
                self.dest.setText(str(Path(folder) / current.name))

    def destination(self, fmt: str) -> Path | None:
        text = self.dest.text().strip()
        if not text:
            return None
        out = Path(text).expanduser()
        if not out.is_absolute():
            out = Path(self.settings.value(LAST_DIR_KEY) or default_export_dir()) / out
        if IS_FILE[fmt] and out.is_dir():   # a folder typed or pasted: the file goes in it
            out = out / default_name(self.rd.path, fmt)
        elif IS_FILE[fmt] and not out.suffix:
            out = out.with_name(out.name + SUFFIX[fmt])
        return out

    # ---- export ------------------------------------------------------------------------------
    def start_export(self) -> None:
        fmt = self.selected_format()
        if self.busy or fmt is None or self.reasons[fmt] is not None:
            return
        out = self.destination(fmt)
        if out is None:
            self._show_message("Choose where to save the export (Save to).", error=True)
            self.dest.setFocus()
            return
        overwrite = False
        if out.exists() or out.is_symlink():
            try:  # the core decides what may be replaced; the question comes after
                check_replace(self.rd, fmt, out)
            except FtguiError as e:
                self._show_message(escape(e.message), error=True)
                return
            if not ask_yes_no(
                    self, "Replace?", f"{out} already exists. Replace it with this export?\n\n"
                    f"The existing {'file' if out.is_file() else 'folder'} is kept until the "
                    f"new export is complete."):
                self._show_message(f"Nothing was written; {escape(out.name)} is as it was. "
                                   f"Choose another name to keep both.")
                return
            overwrite = True
        self._out, self._fmt = out, fmt
        self._cancel.clear()
        cancel, run_dir, gguf_type = self._cancel, self.rd.path, self.gguf_type.currentData()
        loss_plot = _card_plot(run_dir) if fmt in ("merged", "adapter") else None
        final_stage = f"Exporting {fmt}"

        def work(report):
            from ftgui.core.export import export

            def progress(p: ev.Progress) -> None:
                # the core's last event comes after the rename: too late to cancel
                if cancel.is_set() and not (p.stage == final_stage and p.total):
                    raise ExportCancelled()
                report(p)

            heavy_imports()
            path = export(run_dir, fmt, out, overwrite, progress, gguf_type=gguf_type,
                          loss_plot=loss_plot)
            if fmt not in QUANTISED:
                return path, None
            gguf_file = path if fmt == "gguf" else next(Path(path).glob("*.gguf"))
            # the export is in place: from here a Cancel has nothing left to remove
            from ftgui.core.export.gguf_check import check_line
            return path, check_line(gguf_type, run_dir, gguf_file, progress=report)

        self.message.hide()
        self.open_button.hide()
        self.progress.setRange(0, 0)
        self.progress.setFormat(f"Exporting the {TITLES[fmt].lower()}…")
        self.stage.setText(str(out))
        self._set_busy(True)
        run_task(work, self._done, self._failed, self._on_progress, owner=self)

    def start_push(self) -> None:
        """Export to a temporary folder and upload it; an existing repo's files are replaced
        only after asking. The same checks as ftgui export --push, off the GUI thread."""
        fmt = self.selected_format()
        repo_id = self.push_repo.text().strip()
        if self.busy or fmt is None or self.reasons[fmt] is not None:
            return
        if fmt not in ("merged", "adapter"):
            self._show_message("Only the merged model or the adapter can be pushed to the "
                               "Hub; choose one of them.", error=True)
            return
        self._push_step(fmt, repo_id, force=False)

    def _push_step(self, fmt: str, repo_id: str, force: bool) -> None:
        self._out, self._fmt = None, fmt
        self._cancel.clear()
        cancel, run_dir, private = self._cancel, self.rd.path, self.push_private.isChecked()
        loss_plot = _card_plot(run_dir)

        def work(report):
            import tempfile

            from ftgui.core.export import export
            from ftgui.core.export.push import preflight, push

            def progress(p: ev.Progress) -> None:
                if cancel.is_set():
                    raise ExportCancelled()
                report(p)
            preflight(repo_id, force)
            heavy_imports()
            with tempfile.TemporaryDirectory(prefix="ftgui-push-") as tmp:
                out = Path(tmp) / default_name(run_dir, fmt)
                export(run_dir, fmt, out, False, progress, loss_plot=loss_plot)
                return push(out, repo_id, private=private, force=force, progress=progress,
                            message=f"Upload {fmt} of the ftgui run {run_dir.name}")

        def failed(e: BaseException) -> None:
            if isinstance(e, FtguiError) and "already holds" in e.message and not force:
                self._set_busy(False)
                if ask_yes_no(self, "Replace the repo's files?",
                              e.message.removeprefix("--push: ") + "\n\nReplace them?"):
                    self._push_step(fmt, repo_id, force=True)
                    return
                self._show_message("Nothing was pushed.")
                return
            self._failed(e)

        self.message.hide()
        self.open_button.hide()
        self.progress.setRange(0, 0)
        self.progress.setFormat(f"Pushing the {TITLES[fmt].lower()} to {repo_id}…")
        self._set_busy(True)
        run_task(work, self._pushed, failed, self._on_progress, owner=self)

    def _pushed(self, url: str) -> None:
        self._set_busy(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.progress.setFormat("Pushed")
        self.stage.setText(" ")
        self._show_message(f'Pushed to <a href="{escape(url)}">{escape(url)}</a>')
        self.message.setOpenExternalLinks(True)
        self.pushed.emit(url)
        self.exportEnded.emit()

    def _on_progress(self, p: ev.Progress) -> None:
        if p.unit == "bytes" and p.total:   # an upload: KB keep a progress bar in range
            from ftgui.core.hub import progress_text
            self.progress.setRange(0, max(p.total // 1024, 1))
            self.progress.setValue(p.current // 1024)
            self.progress.setFormat(f"{p.stage}: {progress_text(p)}")
            return
        if p.total:
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.current)
            self.progress.setFormat(f"{p.stage}  %v / %m")
        else:
            self.progress.setRange(0, 0)
            self.progress.setFormat(f"{p.stage}…")
        if p.detail:
            self.stage.setText(p.detail)

    def _done(self, result) -> None:
        self._set_busy(False)
        path, check = Path(result[0]), result[1]
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.progress.setFormat("Done")
        self.stage.setText(" ")
        self.settings.setValue(LAST_DIR_KEY, str(path.parent))
        self._show_message(f"Exported to <b>{escape(str(path))}</b>"
                           + (f"<br>{escape(check)}" if check else ""))
        self.open_button.show()
        # a Cancel that came too late (after the rename) leaves the dialog open on the result
        self._close_when_done = False
        self.exported.emit(str(path))
        self.exportEnded.emit()

    def _failed(self, e: BaseException) -> None:
        self._set_busy(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.stage.setText(" ")
        if isinstance(e, ExportCancelled):
            self.progress.setFormat("Cancelled")
            self._show_message("Export cancelled; nothing was left at the destination.")
            if self._close_when_done:
                self.reject()
        else:
            self._close_when_done = False
            self.progress.setFormat("Failed")
            text = e.message if isinstance(e, FtguiError) else \
                f"Export failed: {describe_error(e)}. Details are in the log."
            self._show_message(escape(text), error=True)
            self.exportFailed.emit(text)
        self.exportEnded.emit()

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        fmt = self.selected_format()
        for f, button in self.format_buttons.items():
            button.setEnabled(not busy and self.reasons[f] is None)
        self.gguf_type.setEnabled(not busy and fmt in QUANTISED and self.reasons[fmt] is None)
        self.dest.setEnabled(not busy)
        self.browse.setEnabled(not busy)
        self.export_button.setEnabled(not busy and fmt is not None)
        self.push_button.setEnabled(not busy)
        self.push_repo.setEnabled(not busy)
        self.close_button.setText("Cancel" if busy else "Close")
        self.close_button.setEnabled(not (busy and self._cancel.is_set()))

    def _show_message(self, html: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #d9534f;" if error else "")
        self.message.setText(html)
        self.message.show()
        self._fit_height()

    def _fit_height(self) -> None:
        """Grow to show a message that appeared (a wrapped label's height depends on the
        width, which the dialog's own minimum size does not follow)."""
        layout = self.layout()
        layout.activate()
        need = layout.totalHeightForWidth(self.width()) if layout.hasHeightForWidth() \
            else layout.totalSizeHint().height()
        if need > self.height():
            self.resize(self.width(), need)

    def open_folder(self) -> None:
        if self._out is not None:
            target = self._out if self._out.is_dir() else self._out.parent
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(target)))

    # ---- closing -----------------------------------------------------------------------------
    def reject(self) -> None:
        if self.busy:
            self.ask_cancel()
            return
        super().reject()

    def closeEvent(self, event) -> None:
        if self.busy:
            event.ignore()
            self.ask_cancel()
            return
        super().closeEvent(event)

    def describe(self) -> str:
        """What the export in progress writes, and where: for questions about stopping it."""
        what = TITLES[self._fmt].lower() if self._fmt else "export"
        return f"the {what} of {self.rd.path.name} to {self._out}"

    def ask_cancel(self) -> None:
        if self._cancel.is_set():
            return
        if ask_yes_no(
                self, "Cancel the export?",
                f"Stop exporting to {self._out}? The partial export is removed"
                f"{' and the existing one kept' if self._out and self._out.exists() else ''}."):
            self.cancel()

    def cancel(self) -> None:
        """Stop the export at its next progress event; the dialog closes once the core has
        removed the partial export (``exportEnded`` says when)."""
        if not self.busy or self._cancel.is_set():
            return
        self._cancel.set()
        self._close_when_done = True
        self.close_button.setEnabled(False)
        self.progress.setFormat("Cancelling…")
        self.stage.setText("Stopping at the next file or tensor; the partial export is removed.")


def _card_plot(run_dir: Path):
    """The model card's loss curve, drawn here on the GUI thread (Qt draws on the thread
    that owns the application) and handed to the export's worker as bytes to write; None
    when the run has no loss to draw."""
    import tempfile

    from ftgui.gui.compare_png import write_run_loss_png
    with tempfile.TemporaryDirectory() as d:
        png = Path(d) / "loss.png"
        try:
            write_run_loss_png(run_dir, png)
            data = png.read_bytes()
        except (FtguiError, OSError):
            return None
    return lambda _run, out: Path(out).write_bytes(data)
