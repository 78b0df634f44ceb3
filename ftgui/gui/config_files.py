"""The config file behind the window: new, open, save, save as, the recent files, the last
session's settings, and asking before unsaved settings are dropped.

``ConfigFiles`` is mixed into MainWindow; it uses the window's ``model`` (the ConfigModel
every panel edits), ``settings``, ``banner``, ``run_panel`` and ``recent_menu``.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from PySide6.QtWidgets import QFileDialog, QMessageBox

from ftgui import paths
from ftgui.core.config import RunConfig
from ftgui.core.errors import FtguiError

MAX_RECENT = 8
FILE_FILTER = "Run configs (*.yaml *.yml)"


def demo_config_path() -> Path | None:
    """resources/demo/demo.yaml of a source checkout or a frozen app; None if missing."""
    path = paths.demo_config_path()
    return path if path.is_file() else None


class ConfigFiles:
    config_path: Path | None = None   # the file the settings came from or were saved to
    dirty = False                     # the settings differ from that file

    def load_config(self, path: str | Path) -> bool:
        """Load a YAML config into every panel (what File > Open calls)."""
        path = Path(path).expanduser()
        try:
            cfg = RunConfig.load(path)
        except FtguiError as e:
            self.show_error(e.message, field=None)
            return False
        self.banner.clear()
        refused = not self.confirm_trust(cfg)
        self.model.replace(cfg)
        self._now_in(path, dirty=refused)   # refused: the settings now differ from the file
        self.run_panel.log(f"Loaded {self.config_path}")
        return True

    def confirm_trust(self, cfg: RunConfig) -> bool:
        """A config that turns on trust_remote_code: ask before anything loads it. On No
        the setting is turned off in ``cfg``; returns False then."""
        if not cfg.model.trust_remote_code:
            return True
        if self.model_panel.ask_trust(cfg.model.source):
            return True
        cfg.model.trust_remote_code = False
        self.run_panel.log(f"Not running code shipped with {cfg.model.source or 'the model'}:"
                           f" model.trust_remote_code turned off.", "warning")
        return False

    def set_config(self, cfg: RunConfig, path: Path | None = None, *,
                   dirty: bool = False) -> None:
        self.model.replace(cfg)
        self.config_path = path
        self.dirty = dirty
        self._update_title()

    def new_config(self) -> None:
        if not self._may_discard():
            return
        self.set_config(RunConfig())
        self.banner.clear()

    def load_demo(self) -> None:
        p = demo_config_path()
        if p is None:
            self.show_error("The demo config (resources/demo/demo.yaml) is not part of this "
                            "installation.", level="warning")
            return
        self.load_config(p)

    def open_config_dialog(self) -> None:
        if not self._may_discard():
            return
        start = str(self.config_path.parent) if self.config_path else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open config", start,
                                              f"{FILE_FILTER};;All files (*)")
        if path:
            self.load_config(path)

    def save_config(self) -> bool:
        path = self._own_path()
        return self._write_config(path) if path else self.save_config_as()

    def save_config_as(self) -> bool:
        own = self._own_path()
        folder = own.parent if own else Path.home()
        path, _ = QFileDialog.getSaveFileName(self, "Save config", str(folder / "run.yaml"),
                                              FILE_FILTER)
        return self._write_config(Path(path)) if path else False

    def _own_path(self) -> Path | None:
        """The file Save writes to: not the bundled demo, which Save asks a name for."""
        demo = demo_config_path()
        if self.config_path is None or (demo is not None and
                                        self.config_path.resolve() == demo.resolve()):
            return None
        return self.config_path

    def _write_config(self, path: Path) -> bool:
        try:
            self.model.config.save(path)
        except OSError as e:
            self.show_error(f"Could not save {path}: {e.strerror or e}.")
            return False
        self._now_in(path, dirty=False)
        problems = self.model.problems()
        if problems:
            key, msg = next(iter(problems.items()))
            self.show_error(f"Saved {path.name}, but '{key}' needs fixing before it can "
                            f"train: {msg}.", field=key, level="warning")
        else:
            self.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    def _now_in(self, path: Path, *, dirty: bool) -> None:
        """The settings were just loaded from or saved to ``path``: it heads the recent
        files and is the one reopened next time."""
        self.config_path = path.resolve()
        self.dirty = dirty
        self._set_recent([str(self.config_path)] + self.recent_files())
        self.settings.setValue("last_config_path", str(self.config_path))
        self._update_title()

    def _may_discard(self) -> bool:
        if not self.dirty:
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes", "The current settings have unsaved changes. Save them?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Save:
            return self.save_config()
        return answer == QMessageBox.StandardButton.Discard

    # ---- recent files ---------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self.settings.value("recent_files", []) or []
        return [value] if isinstance(value, str) else list(value)

    def _set_recent(self, files: list[str]) -> None:
        """Keep ``files`` (the first of any repeats, at most MAX_RECENT) as the recent ones."""
        self.settings.setValue("recent_files", list(dict.fromkeys(files))[:MAX_RECENT])
        self._fill_recent()

    def _fill_recent(self) -> None:
        """File ▸ Open recent."""
        files = self.recent_files()
        self.recent_menu.clear()
        for p in files:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _=False, p=p: self._may_discard() and self.load_config(p))
        self.recent_menu.setEnabled(bool(files))

    def new_run_from_config(self, config_path: str) -> None:
        """A run's settings, to train again: the new run gets a fresh folder in the runs
        folder, and Save asks for a file name (the run's own config.yaml stays its record)."""
        if not self._may_discard() or not self.load_config(config_path):
            return
        # the run's config.yaml is its record, not a file to reopen from the recent list
        self._set_recent([p for p in self.recent_files() if p != str(self.config_path)])
        self.settings.setValue("last_config_path", "")
        self.config_path = None
        self.model.set("training.output_dir", "")
        self._update_title()
        self.side_tabs.setCurrentWidget(self.run_panel)
        self.run_panel.log(f"Settings of {Path(config_path).parent.name} loaded: Train starts "
                           f"a new run in a new folder.")

    # ---- the window title and the last session ----------------------------------------------
    def _config_changed(self, key: str) -> None:
        if key != "*":
            self.dirty = True
            self._update_title()

    def _update_title(self) -> None:
        name = self.config_path.name if self.config_path else "untitled"
        self.setWindowTitle(f"{name}{' *' if self.dirty else ''} — ftgui")
        self.path_label.setText(str(self.config_path) if self.config_path else
                                "Unsaved config (File ▸ Save config… to keep it)")

    def _remember_config(self) -> None:
        """What restore_last_config brings back when the window opens next."""
        s = self.settings
        if getattr(self, "discarded", False) and self.config_path and self.config_path.exists():
            # the changes were discarded on quitting: next time, the file as saved
            s.setValue("last_config_yaml", self.config_path.read_text(encoding="utf-8"))
            s.setValue("last_config_path", str(self.config_path))
            s.setValue("last_config_dirty", False)
            return
        s.setValue("last_config_yaml", self.model.config.to_yaml())
        s.setValue("last_config_path", str(self.config_path) if self.config_path else "")
        s.setValue("last_config_dirty", self.dirty)

    def restore_last_config(self) -> bool:
        """The settings as they were when the window last closed; False if none."""
        text = self.settings.value("last_config_yaml")
        if not text:
            return False
        try:
            cfg = RunConfig.from_dict(yaml.safe_load(text), where="last session")
        except (FtguiError, yaml.YAMLError):
            return False
        path = self.settings.value("last_config_path") or None
        refused = not self.confirm_trust(cfg)
        was_dirty = str(self.settings.value("last_config_dirty", "false")).lower() == "true"
        self.set_config(cfg, Path(path) if path else None, dirty=refused or was_dirty)
        return True
