"""Model panel: where the model comes from, what it is, and what training it will need."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QCompleter, QFormLayout, QGroupBox, QLabel, QLineEdit,
                               QMessageBox, QPushButton, QVBoxLayout, QWidget)

from ftgui.core import hub, memory
from ftgui.core.errors import FtguiError
from ftgui.core.wording import describe_error
from ftgui.gui.workers import inspect
from ftgui.gui.widgets.fields import ConfigModel
from ftgui.gui.panels.common import add_fields, new_form, remaining
from ftgui.gui.workers.run_worker import error_field, run_task

# settings the memory estimate depends on
MEMORY_KEYS = {"model.method", "training.batch_size", "data.block_size", "training.precision",
               "training.device", "training.gradient_checkpointing", "lora.r",
               "lora.target_modules", "training.objective"}

TRUST_KEY = "model.trust_remote_code"


def trust_question(source: str) -> tuple[str, str]:
    """Title and text of the question asked before trust_remote_code is turned on."""
    name = source.strip() or "this model"
    return ("Run the model's own code?",
            f"Run Python code shipped with {name}? Only for repositories you trust.\n\n"
            f"With this on, loading the model runs whatever code its repository contains, "
            f"with your user's rights.")


def share_text(part: int, whole: int) -> str:
    """'100 %', '12 %', '1.4 %', '0.26 %': never '1e+02 %'."""
    pct = 100 * part / max(whole, 1)
    if pct >= 10 or pct == 0:
        return f"{pct:.0f} %"
    return f"{pct:.1f} %" if pct >= 1 else f"{pct:.2g} %"


class ModelPanel(QWidget):
    infoChanged = Signal(object)   # ModelInfo or None

    def __init__(self, model: ConfigModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = model
        self.info: inspect.ModelInfo | None = None
        self.device = None          # DeviceChoice, from the window's device detection
        self._generation = 0
        self._loaded_source: tuple | None = None

        form = new_form()
        first = ["model.source", "model.method", "model.trust_remote_code"]
        self.fields = add_fields(form, model, first + remaining("model", first), self,
                                 paths={"model.source": "dir,gguf"})
        self.source = self.fields["model.source"].editor

        box = QGroupBox("About this model")
        info_form = QFormLayout(box)
        from ftgui.gui.widgets.common import BusyLine
        self.busy = BusyLine()
        self.arch = QLabel("–", objectName="modelArchitecture")
        self.params = QLabel("–", objectName="modelParams")
        self.context = QLabel("–", objectName="modelContext")
        self.memory = QLabel("–", objectName="memoryEstimate")
        # a Hub id's size-up: access, license, download size, what is cached (core/hub.py)
        self.hub_info = QLabel("", objectName="hubSizeUp")
        self.hub_info.setWordWrap(True)
        self.hub_info.setOpenExternalLinks(True)
        self.hub_info.hide()
        for w in (self.arch, self.params, self.context, self.memory):
            w.setWordWrap(True)   # a long line would widen the settings pane beyond its room
        for w in (self.arch, self.params, self.context, self.memory):
            w.setTextInteractionFlags(w.textInteractionFlags()
                                      | w.textInteractionFlags().TextSelectableByMouse)
        self.reload = QPushButton("Read model", objectName="readModel")
        self.reload.setToolTip("Read the model's config again (architecture, size, context)")
        self.reload.clicked.connect(lambda: self.load_info(force=True))
        info_form.addRow(self.busy)
        info_form.addRow(self.hub_info)
        info_form.addRow("Architecture:", self.arch)
        info_form.addRow("Parameters:", self.params)
        info_form.addRow("Context length:", self.context)
        info_form.addRow("Memory needed:", self.memory)
        info_form.addRow("", self.reload)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(box)
        layout.addStretch(1)

        self._completer_ids: set[str] = set()
        self._completer = QCompleter([], self)
        self._completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._completer.setFilterMode(Qt.MatchFlag.MatchContains)
        if isinstance(self.source, QLineEdit):
            self.source.setCompleter(self._completer)
        self.remember_ids(hub.cached_repo_ids())

        self._debounce = QTimer(self, singleShot=True, interval=500)
        self._debounce.timeout.connect(self.load_info)
        model.changed.connect(self._config_changed)
        # turning on trust_remote_code asks first, before anything is loaded with it
        model.guards[TRUST_KEY] = lambda on: not on or self.ask_trust(
            self.model.config.model.source)

    # ---- trust_remote_code ----------------------------------------------------------------
    def ask_trust(self, source: str) -> bool:
        """Ask before running a model's own code; True when the user says yes. (Tests
        replace this, or QMessageBox.question.)"""
        title, text = trust_question(source)
        answer = QMessageBox.question(
            self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    # ---- loading ----------------------------------------------------------------------
    def _config_changed(self, key: str) -> None:
        if key == "*" or key.startswith("model."):
            self._check_path()
            self._debounce.start()
        if key in MEMORY_KEYS or key == "*":
            self.update_memory()

    def _check_path(self) -> bool:
        """Cheap check on the GUI thread: does a local path exist?"""
        from ftgui.core import models
        src = self.model.config.model.source
        if not src.strip():
            return False
        try:
            models.resolve_source(src)
        except FtguiError as e:
            self.model.set_problem(e.field or "model.source", e.message)
            self._show_empty("")
            return False
        return True

    def load_info(self, force: bool = False) -> None:
        cfg = self.model.config.model
        key = (cfg.source, cfg.trust_remote_code)
        if not force and key == self._loaded_source:
            return
        if not self._check_path():
            self.info = None
            self._loaded_source = None
            self.infoChanged.emit(None)
            return
        self._generation += 1
        gen = self._generation
        self._loaded_source = key
        self.busy.start("Reading the model…")
        from ftgui.core.config import ModelConfig
        snapshot = ModelConfig(**vars(cfg))
        self.hub_info.hide()
        run_task(lambda progress: inspect.model_info(snapshot, progress),
                 lambda info: self._loaded(gen, info),
                 lambda e: self._failed(gen, e),
                 lambda step: self._progress(gen, step),
                 owner=self)

    def _progress(self, gen: int, step) -> None:
        if gen != self._generation:
            return
        if isinstance(step, hub.SizeUp):
            self.show_size_up(step)
        else:
            self.busy.start(str(step) + "…")

    def show_size_up(self, s: "hub.SizeUp") -> None:
        lines = s.lines(architecture=False)   # the rows below show the architecture
        if s.gated or s.license:
            lines.append(f'<a href="{hub.repo_url(s.repo_id)}">{hub.repo_url(s.repo_id)}</a>')
        self.hub_info.setText("<br>".join(lines))
        self.hub_info.show()
        self.remember_ids([s.repo_id])

    def remember_ids(self, ids) -> None:
        """Hub ids the model field completes: cached repos and ids sized up."""
        new = set(ids) - self._completer_ids
        if new:
            self._completer_ids |= new
            self._completer.model().setStringList(sorted(self._completer_ids))

    def _loaded(self, gen: int, info: inspect.ModelInfo) -> None:
        if gen != self._generation:
            return
        self.info = info
        self.busy.stop()
        kind = {"hub": "Hugging Face Hub", "folder": "local folder", "gguf": "GGUF file"}
        self.arch.setText(f"{info.architecture} ({info.model_type}, {kind[info.source_kind]})")
        self.context.setText(f"{info.context:,} tokens" if info.context else "unknown")
        self.model.set_problem("model.source", None)
        self.check_block_size()
        self.update_memory()
        self.infoChanged.emit(info)

    def _failed(self, gen: int, e: BaseException) -> None:
        if gen != self._generation:
            return
        self.info = None
        self._loaded_source = None
        msg = describe_error(e)
        if isinstance(e, FtguiError):
            self.busy.stop("Could not read the model.", error=True)
            self.model.set_problem(error_field(e) or "model.source", msg)
        else:  # a bug or an unexpected library error: say so, but do not blame the field
            self.busy.stop(f"Could not read the model details ({msg}).", error=True)
        self._show_empty("")
        self.infoChanged.emit(None)

    def _show_empty(self, text: str) -> None:
        for w in (self.arch, self.params, self.context, self.memory):
            w.setText(text or "–")

    def check_block_size(self) -> None:
        block = self.model.config.data.block_size
        ctx = self.info.context if self.info else None
        if ctx and block > ctx:
            self.model.set_problem("data.block_size", f"above the model's context length of "
                                   f"{ctx} tokens; use {ctx} or less")
        elif "context length" in self.model.problems().get("data.block_size", ""):
            self.model.set_problem("data.block_size", None)

    # ---- memory -----------------------------------------------------------------------
    def trainable_params(self) -> int:
        cfg = self.model.config
        if cfg.model.method == "full" or self.info is None:
            return self.info.total_params if self.info else 0
        return memory.lora_trainable_params(inspect.lora_shapes(self.info,
                                                                cfg.lora.target_modules),
                                            cfg.lora.r)

    def update_memory(self) -> None:
        if self.info is None:
            return
        cfg = self.model.config
        self.check_block_size()
        total, trainable = self.info.total_params, self.trainable_params()
        self.params.setText(f"{total:,} total · {trainable:,} trainable "
                            f"({share_text(trainable, total)}, {cfg.model.method})")
        dev = self.device
        device = dev.device if dev else "cpu"
        precision = dev.precision if dev else ("fp32" if cfg.training.precision == "auto"
                                               else cfg.training.precision)
        shape = memory.shape_from_config(self.info.hf_config, total)
        est = memory.estimate(shape, method=cfg.model.method, trainable_params=trainable,
                              batch_size=cfg.training.batch_size,
                              block_size=cfg.data.block_size, precision=precision,
                              device=device,
                              gradient_checkpointing=cfg.training.gradient_checkpointing,
                              objective=cfg.training.objective)
        text = f"≈ {memory.human_bytes(est.total)}"
        color = ""
        if dev and dev.memory_bytes:
            where = "GPU memory" if device == "cuda" else "RAM"
            share = est.total / dev.memory_bytes
            text += f" of {memory.human_bytes(dev.memory_bytes)} {where}"
            if share > 1:
                color = "color: #d9534f;"
                text += " — too much: lower the batch size or block size, use LoRA, or " \
                        "turn on gradient checkpointing"
            elif share > 0.8:
                color = "color: #f0ad4e;"
                text += " — tight"
        text += f"  ({cfg.model.method}, batch {cfg.training.batch_size} × " \
                f"{cfg.data.block_size} tokens, {precision})"
        self.memory.setText(text)
        self.memory.setStyleSheet(color)
        self.memory.setToolTip("An estimate of peak memory for one training step:\n" +
                               "\n".join(f"  {k}: {memory.human_bytes(v)}"
                                         for k, v in est.parts()))

    def set_device(self, choice) -> None:
        self.device = choice
        self.update_memory()
