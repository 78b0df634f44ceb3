"""Training and LoRA panels: plain forms generated from the config's metadata."""

from __future__ import annotations

from PySide6.QtWidgets import QGroupBox, QLabel, QVBoxLayout, QWidget

from ftgui.gui.fields import ConfigModel, section_keys
from ftgui.gui.panels.common import add_fields, new_form, remaining

BASICS = ["training.output_dir", "training.epochs", "training.max_steps",
          "training.batch_size", "training.learning_rate", "training.scheduler",
          "training.warmup_ratio"]
MORE = ["training.gradient_accumulation", "training.weight_decay", "training.precision",
        "training.device", "training.gradient_checkpointing", "training.logging_steps",
        "training.eval_steps", "training.save_steps", "training.save_total_limit",
        "training.seed"]


class TrainingPanel(QWidget):
    def __init__(self, model: ConfigModel, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.fields = {}
        groups = [("Run", BASICS), ("Hardware, logging and checkpoints", MORE),
                  ("Several GPUs and other settings", remaining("training", BASICS + MORE))]
        for title, keys in groups:
            if not keys:
                continue
            box = QGroupBox(title)
            form = new_form()
            box.setLayout(form)
            self.fields.update(add_fields(form, model, keys, self,
                                          paths={"training.output_dir": "dir"}))
            layout.addWidget(box)
        layout.addStretch(1)
        self.output_dir = self.fields["training.output_dir"].editor


class LoraPanel(QWidget):
    def __init__(self, model: ConfigModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = model
        self.note = QLabel(wordWrap=True)
        form = new_form()
        self.fields = add_fields(form, model, section_keys("lora"), self)
        self.form_box = QGroupBox("Adapter")
        self.form_box.setLayout(form)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.form_box)
        layout.addStretch(1)
        model.changed.connect(self._changed)
        self._changed("*")

    def _changed(self, key: str) -> None:
        if key in ("*", "model.method"):
            lora = self.model.config.model.method == "lora"
            self.form_box.setEnabled(lora)
            self.note.setText(
                "LoRA trains small adapter matrices beside the frozen model: far less "
                "memory, and the adapter is saved on its own as well as merged."
                if lora else "These settings apply when Model ▸ Method is <b>lora</b>; "
                "the method is <b>full</b> now, so every weight is trained.")
