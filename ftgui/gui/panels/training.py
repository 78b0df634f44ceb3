"""Training and LoRA panels: plain forms generated from the config's metadata."""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QComboBox, QGroupBox, QLabel, QVBoxLayout, QWidget

from ftgui.gui.widgets.fields import ConfigModel, section_keys
from ftgui.gui.panels.common import add_fields, new_form, remaining

BASICS = ["training.output_dir", "training.epochs", "training.max_steps",
          "training.batch_size", "training.learning_rate", "training.scheduler",
          "training.warmup_ratio"]
MORE = ["training.gradient_accumulation", "training.weight_decay", "training.precision",
        "training.device", "training.gradient_checkpointing", "training.logging_steps",
        "training.eval_steps", "training.save_steps", "training.save_total_limit",
        "training.seed"]


# what is learned (sft, dpo, kto, orpo) and each preference objective's own settings
PREFERENCE = ["training.objective", *section_keys("dpo"), *section_keys("kto"),
              *section_keys("orpo")]

ONE_CONTROL = ("training.device", "training.nproc")


class TrainingPanel(QWidget):
    def __init__(self, model: ConfigModel, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.fields = {}
        groups = [("Run", BASICS), ("Objective (preference tuning)", PREFERENCE),
                  ("Hardware, logging and checkpoints", MORE),
                  ("Several GPUs and other settings",
                   remaining("training", BASICS + MORE + PREFERENCE))]
        for title, keys in groups:
            if not keys:
                continue
            box = QGroupBox(title)
            form = new_form()
            box.setLayout(form)
            if keys is MORE:
                self.devices = DevicesChoice(model, self)
                label = QLabel("Train on:")
                label.setBuddy(self.devices)
                label.setToolTip(self.devices.toolTip())
                form.addRow(label, self.devices)
            self.fields.update(add_fields(form, model, keys, self,
                                          paths={"training.output_dir": "dir"}))
            for key in ONE_CONTROL:   # set through "Train on", one control not three
                if key in keys:
                    form.setRowVisible(self.fields[key], False)
            layout.addWidget(box)
        layout.addStretch(1)
        self.output_dir = self.fields["training.output_dir"].editor

    def set_device(self, choice) -> None:
        """The detected device (core.devices.DeviceChoice), found off the GUI thread."""
        self.devices.set_device(choice)


class DevicesChoice(QComboBox):
    """Where to train, in one control: the detected device alone, all its GPUs (one process
    each), two CPU processes on a machine without GPUs, or the CPU on a machine with a GPU.
    It writes training.device and training.nproc, the fields the config (and `ftgui train`)
    reads; those two plain fields are hidden from the form, and a combination typed into
    the config shows as its own entry."""

    DEVICE_ROLE = Qt.ItemDataRole.UserRole + 1

    def __init__(self, model: ConfigModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = model
        self.device = None
        self.setObjectName("devicesChoice")
        self.setToolTip("Where the run trains. Above one process the run is started through "
                        "torchrun (or accelerate launch), one process per GPU, each with its "
                        "share of every batch: the global batch is batch size x processes. "
                        "Sets training.device and training.nproc.")
        self.activated.connect(self._chosen)
        model.changed.connect(self._model_changed)
        self._fill()

    def set_device(self, choice) -> None:
        self.device = choice
        self._fill()

    def options(self) -> list[tuple[str, int, str]]:
        """(text, processes, training.device) for each entry."""
        d = self.device
        kind = getattr(d, "device", None)
        here = {"cuda": "This GPU", "mps": "This Mac's GPU", "cpu": "This CPU"}.get(
            kind, "This device")
        out = [(f"{here} (one process)", 1, "auto")]
        if kind == "cuda" and d.count > 1:
            out.append((f"All {d.count} GPUs (one process each)", d.count, "auto"))
        elif kind == "cpu":
            out.append(("2 CPU processes (gloo; for testing and multi-core machines)", 2,
                        "auto"))
        if kind in ("cuda", "mps"):
            out.append(("The CPU only (one process)", 1, "cpu"))
        t = self.model.config.training
        if self._index_in(out, t.nproc, t.device) is None:
            where = "" if t.device == "auto" else f"{t.device}, "
            many = "process" if t.nproc == 1 else "processes"
            out.append((f"{where}{t.nproc} {many} (as training.nproc says)", t.nproc, t.device))
        return out

    def _index_in(self, options, nproc: int, device: str) -> int | None:
        kind = getattr(self.device, "device", None)
        for i, (_, n, dev) in enumerate(options):
            # device auto and device <the detected kind> train in the same place
            if n == nproc and (dev == device or dev == "auto" and device == kind):
                return i
        return None

    def _fill(self) -> None:
        self.blockSignals(True)
        self.clear()
        options = self.options()
        for text, n, dev in options:
            self.addItem(text, n)
            self.setItemData(self.count() - 1, dev, self.DEVICE_ROLE)
        t = self.model.config.training
        self.setCurrentIndex(self._index_in(options, t.nproc, t.device) or 0)
        self.blockSignals(False)

    @Slot(str)
    def _model_changed(self, key: str) -> None:
        if key in ("*", "training.nproc", "training.device"):
            self._fill()

    @Slot(int)
    def _chosen(self, index: int) -> None:
        nproc, device = int(self.itemData(index)), self.itemData(index, self.DEVICE_ROLE)
        self.model.set("training.device", device)
        self.model.set("training.nproc", nproc)


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
