"""Dataset panel: the source, a preview of its first rows, the text column and what the
data comes to once tokenized; for instruction and chat formats also one rendered example
with the trained-on part highlighted and a token-length histogram (sft_preview.py)."""

from __future__ import annotations

import html

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QCompleter, QGroupBox, QHeaderView, QLabel,
                               QLineEdit, QPushButton, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from ftgui.core import hub
from ftgui.core.config import DataConfig, ModelConfig, help_text
from ftgui.core.errors import FtguiError
from ftgui.core.wording import describe_error
from ftgui.gui.workers import inspect
from ftgui.gui.widgets import sft_preview
from ftgui.gui.widgets.fields import ConfigModel
from ftgui.gui.panels.common import add_fields, new_form, remaining
from ftgui.gui.widgets.common import BusyLine
from ftgui.gui.workers.run_worker import error_field, run_task

PREVIEW_KEYS = {"data.source", "data.config", "data.split", "data.text_column",
                "data.validation", "data.block_size", "data.add_eos", "data.max_rows",
                "model.source", "training.seed"}


class DataPanel(QWidget):
    previewChanged = Signal(object)   # DataPreview or None

    def __init__(self, model: ConfigModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = model
        self.preview: inspect.DataPreview | None = None
        self._generation = 0
        self._loaded_key = None

        form = new_form()
        self.fields = add_fields(form, model, ["data.source", "data.config", "data.split"],
                                 self, paths={"data.source": "file,dir"})
        self.source = self.fields["data.source"].editor
        self.column = QComboBox(objectName="textColumn")
        self.column.setToolTip(help_text("data.text_column"))
        self.column.addItem("(detect)", None)
        self.column.activated.connect(self._column_chosen)
        form.addRow("Text column:", self.column)
        main = ["data.validation", "data.block_size", "data.max_rows", "data.add_eos"]
        self.fields.update(add_fields(form, model, main, self))
        rest = remaining("data", set(self.fields) | {"data.text_column"})
        fmt_box = QGroupBox("Format (instruction and chat data)")
        fmt_form = new_form()
        fmt_box.setLayout(fmt_form)
        self.fields.update(add_fields(fmt_form, model, rest, self))
        fmt_box.setVisible(bool(rest))
        # columns, template and prompt masking only mean something for non-text formats
        self._format_only = [self.fields[k] for k in rest if k != "data.format"]

        box = QGroupBox("Preview")
        box_layout = QVBoxLayout(box)
        self.busy = BusyLine()
        self.stats = QLabel("Choose a dataset to see its first rows.", objectName="dataStats")
        self.stats.setWordWrap(True)
        self.table = QTableWidget(objectName="previewTable")
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setAlternatingRowColors(True)
        self.table.setMinimumHeight(140)
        # long examples are cut or dropped: one click raises block_size to keep 95 % whole
        self.raise_block = QPushButton(objectName="raiseBlockSize")
        self.raise_block.setVisible(False)
        self.raise_block.clicked.connect(self._raise_block_size)
        self.hub_info = QLabel("", objectName="hubDatasetInfo")   # a Hub id's size-up
        self.hub_info.setWordWrap(True)
        self.hub_info.hide()
        box_layout.addWidget(self.busy)
        box_layout.addWidget(self.hub_info)
        box_layout.addWidget(self.stats)
        box_layout.addWidget(self.raise_block)
        box_layout.addWidget(self.table, 1)
        self.sft = sft_preview.SftPreview()
        self.sft.setObjectName("sftPreview")
        self.sft.setVisible(False)
        box_layout.addWidget(self.sft, 2)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(fmt_box)
        layout.addWidget(box, 1)

        self._debounce = QTimer(self, singleShot=True, interval=500)
        self._debounce.timeout.connect(self.load_preview)
        model.changed.connect(self._config_changed)
        self._apply_format()

    def _config_changed(self, key: str) -> None:
        if key in ("*", "data.format"):
            self._apply_format()
        if key == "*" or key in PREVIEW_KEYS or key.startswith("data."):
            if key in ("*", "data.text_column"):
                self._sync_column()
            self._debounce.start()

    def _apply_format(self) -> None:
        fmt = getattr(self.model.config.data, "format", "text")
        if fmt == "auto" and self.preview is not None:
            fmt = self.preview.format  # what was detected
        plain = fmt == "text"
        for f in self._format_only:
            f.setEnabled(not plain)
        self.column.setEnabled(plain)

    # ---- text column ---------------------------------------------------------------------
    def _column_chosen(self, index: int) -> None:
        self.model.set("data.text_column", self.column.itemData(index))

    def _sync_column(self, columns: list[str] | None = None, detected: str | None = None):
        wanted = self.model.config.data.text_column
        if columns is None:
            columns = [self.column.itemData(i) for i in range(1, self.column.count())]
        self.column.blockSignals(True)
        self.column.clear()
        self.column.addItem(f"(detect{': ' + detected if detected and not wanted else ''})",
                            None)
        for c in columns:
            self.column.addItem(c, c)
        if wanted and wanted not in columns:
            self.column.addItem(wanted, wanted)
        self.column.setCurrentIndex(max(self.column.findData(wanted), 0) if wanted else 0)
        self.column.blockSignals(False)

    # ---- preview ---------------------------------------------------------------------------
    def load_preview(self, force: bool = False) -> None:
        cfg = self.model.config
        if not cfg.data.source.strip():
            self._clear("Choose a dataset to see its first rows.")
            return
        key = (repr(cfg.data), cfg.model.source, cfg.training.seed)
        if key == self._loaded_key and not force:
            return
        self._loaded_key = key
        self._generation += 1
        gen = self._generation
        data_cfg, model_cfg = DataConfig(**vars(cfg.data)), ModelConfig(**vars(cfg.model))
        seed = cfg.training.seed
        self.busy.start("Reading the dataset…")
        self.hub_info.hide()

        def work(progress):
            out = inspect.data_preview(data_cfg, model_cfg, seed, progress)
            if out.format == "text" or out.stats is None:
                return out, None
            progress(out)  # the counts, while the examples are rendered
            progress("Rendering examples")
            return out, inspect.sft_sample(data_cfg, model_cfg, seed)

        run_task(work,
                 lambda out: self._done(gen, out), lambda e: self._failed(gen, e),
                 lambda p: self._progress(gen, p), owner=self)

    def _progress(self, gen: int, p) -> None:
        if gen != self._generation:
            return
        if isinstance(p, inspect.DataPreview):
            self._show(p)
        elif isinstance(p, hub.DatasetSizeUp):
            self.show_size_up(p)
        elif isinstance(p, hub.FirstRows):
            self.show_rows(p.rows)
        else:
            self.busy.start(f"{p}…")

    def show_rows(self, rows: list[dict]) -> None:
        """Rows as they are (a streamed preview, before the split is read and detected)."""
        columns = list(dict.fromkeys(k for r in rows for k in r))
        self.table.clear()
        self.table.setColumnCount(len(columns))
        self.table.setHorizontalHeaderLabels(columns)
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            for j, c in enumerate(columns):
                self.table.setItem(i, j, QTableWidgetItem(str(r.get(c, ""))[:300]))
        self.stats.setText(f"The first {len(rows)} rows, streamed from the Hub; the whole "
                           f"split is being read for the counts…")

    def show_size_up(self, d: "hub.DatasetSizeUp") -> None:
        """A Hub dataset's configs and splits: the config and split fields complete from
        them; the facts go above the preview."""
        self.hub_info.setText("<br>".join(d.lines()))
        self.hub_info.show()
        config = self.model.config.data.config or next(iter(d.configs), None)
        splits = d.configs.get(config) or sorted({s for v in d.configs.values() for s in v})
        for key, words in (("data.config", list(d.configs)), ("data.split", splits)):
            editor = self.fields[key].editor
            if isinstance(editor, QLineEdit):
                completer = QCompleter(words, editor)
                completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
                editor.setCompleter(completer)
                editor.setToolTip(f"On the Hub: {', '.join(words) or 'not stated'}")

    def _done(self, gen: int, result) -> None:
        if gen != self._generation:
            return
        out, sample = result
        self.busy.stop()
        self._show(out)
        self.sft.set_sample(sample)
        for k in ("data.source", "data.text_column", "data.validation", "data.split",
                  "data.block_size"):
            if k in self.model._external and "context length" not in self.model._external[k]:
                self.model.set_problem(k, None)
        self.previewChanged.emit(out)

    def _failed(self, gen: int, e: BaseException) -> None:
        if gen != self._generation:
            return
        self._loaded_key = None
        msg = describe_error(e)
        self.busy.stop("Could not read the dataset.", error=True)
        field = error_field(e)
        if field and field.startswith("data."):
            self.model.set_problem(field, msg)
        elif not isinstance(e, FtguiError):
            msg = f"The preview failed ({msg}); training may still work. Details are in the log."
        self._clear(msg)
        self.stats.setStyleSheet("color: #d9534f;")
        self.previewChanged.emit(None)

    def _raise_block_size(self) -> None:
        n = self.raise_block.property("blockSize")
        if n:
            self.model.set("data.block_size", int(n))

    def _clear(self, text: str) -> None:
        self.preview = None
        self.raise_block.setVisible(False)
        self.sft.clear()
        self.table.clear()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.stats.setStyleSheet("")
        self.stats.setText(text)

    def _show(self, p: inspect.DataPreview) -> None:
        self.preview = p
        self.stats.setStyleSheet("")
        self._sync_column(p.columns, p.text_column)
        cols = p.columns
        self.table.clear()
        self.table.setColumnCount(len(cols))
        self.table.setHorizontalHeaderLabels(
            [f"{c} ✓" if c == p.text_column else c for c in cols])
        self.table.setRowCount(len(p.rows))
        for r, row in enumerate(p.rows):
            for c, name in enumerate(cols):
                value = row.get(name)
                text = "" if value is None else str(value)
                item = QTableWidgetItem(text[:300] + ("…" if len(text) > 300 else ""))
                item.setToolTip(text[:2000])
                self.table.setItem(r, c, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self._apply_format()
        how = "detected" if p.detected else "as set"
        if p.format == "text":
            lines = [f"Format: <b>text</b> ({how}) · text column: <b>{p.text_column}</b>"]
        else:
            cols = ", ".join(f"{r} = <b>{c}</b>" for r, c in p.mapping.items())
            lines = [f"Format: <b>{p.format}</b> ({how}) · {cols}"]
        if p.ignored:
            lines.append("Ignored: " + "; ".join(f"{html.escape(c)} ({why})"
                                                 for c, why in p.ignored.items()))
        lines.append(f"{p.train_rows:,} training rows"
                     + (f", {p.eval_rows:,} validation rows" if p.eval_rows else "")
                     + (f" (validation: {html.escape(p.validation_from)})"
                        if p.validation_from else ""))
        block = self.model.config.data.block_size
        self.raise_block.setVisible(False)
        if p.stats:
            s = p.stats
            unit = "blocks" if p.format == "text" else "sequences"
            lines.append(f"{s.get('train_tokens', 0):,} tokens → <b>{s.get('train_blocks', 0):,} "
                         f"{unit}</b> of up to {block} tokens"
                         + (f"; validation {s.get('eval_blocks', 0):,} {unit}"
                            if p.eval_rows else ""))
            if p.format != "text":
                lines.append(f"Examples: {s.get('train_kept', 0):,} kept, "
                             f"{s.get('train_truncated', 0):,} cut from the prompt side, "
                             f"{s.get('train_dropped', 0):,} dropped")
                n = s.get("train_block_size_95") or 0
                if (s.get("train_truncated") or s.get("train_dropped")) and n > block:
                    self.raise_block.setText(f"Raise block_size to {n} (keeps 95 % whole)")
                    self.raise_block.setProperty("blockSize", n)
                    self.raise_block.setVisible(True)
        elif p.note:
            lines.append(p.note)
        else:
            lines.append("Counting tokens…")
        self.stats.setText("<br>".join(lines))
