"""Form fields bound to one RunConfig, generated from the dataclass metadata.

``ConfigModel`` holds the RunConfig all panels edit. Each ``ConfigField`` picks an
editor from the field's type (check box, combo box, spin box, line edit, path chooser),
shows the help text as its tooltip, writes every edit straight into the config and
shows the config's own validation message under itself while the value is invalid.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from ftgui.core.config import SECTIONS, RunConfig, _hints, _union_args, field_meta, help_text

BIG = 2**31 - 1   # the largest value a QSpinBox holds

LABELS = {
    "training.objective": "Objective", "dpo.beta": "DPO beta", "dpo.loss_type": "DPO loss",
    "kto.beta": "KTO beta", "kto.desirable_weight": "KTO weight, good",
    "kto.undesirable_weight": "KTO weight, bad", "orpo.beta": "ORPO beta",
    "model.source": "Model", "model.method": "Method", "model.trust_remote_code":
    "Trust remote code", "data.source": "Dataset", "data.config": "Hub config",
    "data.split": "Split", "data.text_column": "Text column", "data.validation":
    "Validation", "data.block_size": "Block size", "data.add_eos": "Add end-of-text",
    "data.max_rows": "Max rows", "training.output_dir": "Output folder",
    "training.gradient_accumulation": "Grad. accumulation", "training.warmup_ratio":
    "Warm-up ratio", "training.gradient_checkpointing": "Grad. checkpointing",
    "training.eval_steps": "Eval every", "training.save_steps": "Save every",
    "training.logging_steps": "Log every", "training.save_total_limit": "Keep checkpoints",
    "training.max_steps": "Max steps", "lora.r": "Rank (r)", "lora.target_modules":
    "Target modules",
}
NONE_TEXT = {"training.max_steps": "off (use epochs)", "training.eval_steps": "start & end",
             "training.save_total_limit": "all", "data.max_rows": "all"}
PLACEHOLDERS = {
    "model.source": "Hub id (org/name), model folder or .gguf file",
    "data.source": "Hub id, or a .txt / .jsonl / .csv / .parquet file or folder",
    "training.output_dir": "empty: a new folder in the runs folder",
    "data.config": "only for Hub datasets", "data.validation": "auto, 0.05, a split name or a file",
}
OBJECT_NAMES = {"model.source": "modelSource", "data.source": "datasetSource",
                "training.output_dir": "outputDir"}


def label_for(key: str) -> str:
    return LABELS.get(key) or key.split(".", 1)[1].replace("_", " ").capitalize()


def plain_problem(key: str, message: str) -> str:
    """A problem as said beside its field or after its label: the core's messages start with
    the key ("model.source: …"), which the label already names; no closing full stop, so
    that a sentence around it does not end in "..". """
    text = message.strip()
    if text.startswith(f"{key}:"):
        text = text[len(key) + 1:].strip()
    return text.rstrip(". ") or message


def field_type(key: str):
    section, name = key.split(".", 1)
    return _hints(SECTIONS[section])[name]


class ConfigModel(QObject):
    """The one RunConfig the panels edit, plus its live problems."""

    changed = Signal(str)          # "section.key" that changed, or "*" after a reload
    problemsChanged = Signal()
    refused = Signal(str)          # a guard kept "section.key" as it was: editors reload

    def __init__(self, config: RunConfig | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.config = config or RunConfig()
        self._external: dict[str, str] = {}   # problems found elsewhere (files, loads)
        self._problems: dict[str, str] = {}
        # key -> fn(new value) -> bool: asked before a change is made (e.g. a confirmation
        # before trust_remote_code is turned on); False keeps the old value
        self.guards: dict[str, Callable[[Any], bool]] = {}
        self._revalidate()

    def get(self, key: str):
        section, name = key.split(".", 1)
        return getattr(getattr(self.config, section), name)

    def set(self, key: str, value) -> None:
        if self.get(key) == value and type(self.get(key)) is type(value):
            return
        guard = self.guards.get(key)
        if guard is not None and not guard(value):
            self.refused.emit(key)
            return
        section, name = key.split(".", 1)
        setattr(getattr(self.config, section), name, value)
        self._external.pop(key, None)
        self.changed.emit(key)
        self._revalidate()

    def replace(self, config: RunConfig) -> None:
        self.config = config
        self._external.clear()
        self.changed.emit("*")
        self._revalidate()

    def set_problem(self, key: str, message: str | None) -> None:
        """A problem found outside the config's own checks (a missing file, a failed
        load); cleared when the field is edited."""
        if message:
            self._external[key] = message
        else:
            self._external.pop(key, None)
        self._revalidate()

    def problems(self) -> dict[str, str]:
        return dict(self._problems)

    def _revalidate(self) -> None:
        found = dict(self.config.problems())
        for k, v in self._external.items():
            found.setdefault(k, v)
        if found != self._problems:
            self._problems = found
            self.problemsChanged.emit()


class ConfigField(QWidget):
    """One editor for 'section.key' plus an inline problem line under it."""

    def __init__(self, key: str, model: ConfigModel, parent: QWidget | None = None,
                 path_kind: str | None = None):
        super().__init__(parent)
        self.key = key
        self.model = model
        self.meta = field_meta(key)
        self.tp = field_type(key)
        self.help = help_text(key)
        self._loading = False
        args = _union_args(self.tp)
        self.optional = type(None) in args
        self.buttons: list[QPushButton] = []

        if bool in args:
            self.editor = QCheckBox(label_for(key))
            self.editor.toggled.connect(self._edited)
        elif "choices" in self.meta:
            self.editor = QComboBox()
            self.editor.addItems(list(self.meta["choices"]))
            self.editor.currentTextChanged.connect(self._edited)
        elif args == (int,) or set(args) == {int, type(None)}:
            self.editor = QSpinBox()
            low = self.meta.get("min", 0)
            self.editor.setRange(low - 1 if self.optional else low, min(self.meta.get("max", BIG), BIG))
            if self.optional:
                self.editor.setSpecialValueText(NONE_TEXT.get(key, "none"))
            self.editor.setKeyboardTracking(True)
            self.editor.valueChanged.connect(self._edited)
            self.editor.setMinimumWidth(120)
        else:
            self.editor = QLineEdit()
            self.editor.setPlaceholderText(PLACEHOLDERS.get(key, ""))
            self.editor.setClearButtonEnabled(bool(self.meta.get("path")))
            self.editor.textEdited.connect(self._edited)
        if key in OBJECT_NAMES:
            self.editor.setObjectName(OBJECT_NAMES[key])
        self.editor.setToolTip(self.help)
        self.setToolTip(self.help)

        self.problem = QLabel(objectName="fieldProblem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #d9534f; font-size: 90%;")
        self.problem.hide()

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.editor, 1)
        for kind in (path_kind or "").split(","):
            if kind:
                b = QPushButton({"dir": "Folder…", "file": "File…", "gguf": "GGUF…",
                                 "config": "Open…"}[kind])
                b.setToolTip({"dir": "Choose a folder", "file": "Choose a file",
                              "gguf": "Choose a .gguf model file"}.get(kind, ""))
                b.clicked.connect(lambda _=False, k=kind: self.browse(k))
                row.addWidget(b)
                self.buttons.append(b)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(2)
        col.addLayout(row)
        col.addWidget(self.problem)

        model.changed.connect(self._model_changed)
        model.refused.connect(self._model_changed)
        model.problemsChanged.connect(self._show_problem)
        self.load()
        self._show_problem()

    # ---- config → widget ------------------------------------------------------------
    def load(self) -> None:
        value = self.model.get(self.key)
        self._loading = True
        try:
            e = self.editor
            if isinstance(e, QCheckBox):
                e.setChecked(bool(value))
            elif isinstance(e, QComboBox):
                e.setCurrentText(str(value))
            elif isinstance(e, QSpinBox):
                e.setValue(e.minimum() if value is None else int(value))
            else:
                text = self.format(value)
                if e.text() != text:
                    e.setText(text)
                self._update_tooltip()
        finally:
            self._loading = False

    @staticmethod
    def format(value) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:g}"
        if isinstance(value, list):
            return ", ".join(value)
        return str(value)

    def _model_changed(self, key: str) -> None:
        if key in ("*", self.key):
            self.load()

    # ---- widget → config ------------------------------------------------------------
    def parse(self, text: str):
        """Text of a line edit → the field's value; raises ValueError if it cannot be."""
        args = _union_args(self.tp)
        text = text.strip()
        if not text:
            if type(None) in args:
                return None
            if str in args:
                return ""
            raise ValueError("needs a value")
        if any(typing.get_origin(t) is list for t in args):
            if text == "auto":
                return "auto"
            return [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
        if float in args:
            try:
                return float(text)
            except ValueError:
                if str in args:
                    return text
                raise ValueError(f"must be a number, like 0.0002 or 2e-4; got '{text}'")
        return text

    def _edited(self, *_):
        if self._loading:
            return
        e = self.editor
        if isinstance(e, QCheckBox):
            value = e.isChecked()
        elif isinstance(e, QComboBox):
            value = e.currentText()
        elif isinstance(e, QSpinBox):
            value = None if (self.optional and e.value() == e.minimum()) else e.value()
        else:
            try:
                value = self.parse(e.text())
            except ValueError as err:
                self.model.set_problem(self.key, str(err))
                return
        self.model.set(self.key, value)

    def browse(self, kind: str) -> None:
        current = self.editor.text().strip() if isinstance(self.editor, QLineEdit) else ""
        start = str(Path(current).expanduser().parent) if current else str(Path.home())
        if kind == "dir":
            path = QFileDialog.getExistingDirectory(self, f"Choose {label_for(self.key)}",
                                                    current or start)
        elif kind == "gguf":
            path, _ = QFileDialog.getOpenFileName(self, "Choose a GGUF model", start,
                                                  "GGUF models (*.gguf);;All files (*)")
        else:
            path, _ = QFileDialog.getOpenFileName(
                self, f"Choose {label_for(self.key)}", start,
                "Text and tables (*.txt *.jsonl *.json *.csv *.parquet);;All files (*)")
        if path:
            self.editor.setText(path)
            self._edited()

    # ---- problems -------------------------------------------------------------------
    def _show_problem(self) -> None:
        msg = self.model.problems().get(self.key)
        bad = bool(msg)
        self.problem.setText(plain_problem(self.key, msg) + "." if msg else "")
        self.problem.setVisible(bad)
        if self.editor.property("invalid") != bad:
            self.editor.setProperty("invalid", bad)
            self.editor.setStyleSheet("border: 1px solid #d9534f; border-radius: 3px;"
                                      if bad and not isinstance(self.editor, QCheckBox) else "")
        self._update_tooltip()

    def _update_tooltip(self) -> None:
        """The help, the whole value of a path (the box shows only its end) and the problem."""
        msg = self.model.problems().get(self.key)
        value = self.editor.text() if isinstance(self.editor, QLineEdit) else ""
        whole = f"{value}\n\n" if self.meta.get("path") and value.strip() else ""
        self.editor.setToolTip(whole + self.help + (f"\n\n⚠ {msg}" if msg else ""))

    def problem_text(self) -> str:
        return self.problem.text()


def section_keys(section: str) -> list[str]:
    return [f"{section}.{f.name}" for f in dataclasses.fields(SECTIONS[section])]
