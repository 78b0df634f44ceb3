"""Yes / No questions asked before something is stopped, replaced or thrown away."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def ask_yes_no(parent: QWidget | None, title: str, text: str) -> bool:
    """True on Yes; No is the default, so Enter or Esc leaves things as they are."""
    answer = QMessageBox.question(parent, title, text,
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def approve_run_code(parent: QWidget | None, run_dir: str, resume: bool = False) -> bool:
    """Code that a run folder turns on (model.trust_remote_code in its config.yaml) and
    that was not approved on this machine: ask, naming the files. True when it may run
    (approved now or before, or there is none); Yes is remembered (core/trust.py)."""
    from ftgui.core import trust
    from ftgui.core.errors import FtguiError
    from ftgui.core.runs import RunDir
    try:
        sources = trust.resume_sources(run_dir) if resume else trust.run_sources(run_dir)
        codes = trust.pending(sources)
    except FtguiError:
        return True  # an unreadable run: loading it says what is wrong
    if not codes:
        return True
    where = f"The run {RunDir(run_dir).path.name}"
    if not ask_yes_no(parent, "Run the model's own code?", trust.question(codes, where)):
        return False
    for code in codes:
        trust.approve(code)
    return True
