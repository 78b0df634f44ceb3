"""Help ▸ Hugging Face cache… and Help ▸ Hugging Face sign-in…: the window's faces of
core/hub_cache.py and huggingface_hub's own token store. Every look-up, deletion and
token check runs off the GUI thread."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QLabel,
                               QLineEdit, QMessageBox, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout)

from ftgui.core.wording import describe_error
from ftgui.gui.workers.run_worker import run_task


def _listing():
    from ftgui.core import hub, hub_cache, model_cache
    return hub.cache_dir(), hub_cache.list_cached(), model_cache.usage()


class CacheDialog(QDialog):
    ready = Signal()   # the listing is shown (after opening or a deletion)

    def __init__(self, parent=None):
        super().__init__(parent)
        from ftgui.core.hub_cache import HEADERS
        self.setWindowTitle("Hugging Face cache")
        self.resize(820, 420)
        self.revisions = []
        self.folder = QLabel("Reading the cache…", objectName="cacheFolder")
        self.folder.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, len(HEADERS), objectName="cacheTable")
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.own = QLabel("", objectName="ftguiCaches")
        self.delete_button = QPushButton("&Delete selected…", objectName="deleteRevisions")
        self.delete_button.setEnabled(False)
        self.delete_button.clicked.connect(self.delete_selected)
        self.table.itemSelectionChanged.connect(
            lambda: self.delete_button.setEnabled(bool(self.selected())))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.delete_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for w in (self.folder, self.table, self.own, buttons):
            layout.addWidget(w)
        self.refresh()

    def refresh(self) -> None:
        run_task(_listing, self._show, self._failed, owner=self)

    def _show(self, listing) -> None:
        folder, self.revisions, usage = listing
        mib = 2 ** 20
        self.folder.setText(f"Models and datasets downloaded from the Hub, in {folder}")
        self.table.setRowCount(len(self.revisions))
        for i, r in enumerate(self.revisions):
            for j, text in enumerate(r.row()):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.own.setText(f"ftgui's own caches, in {usage['folder']}: dequantised GGUF "
                         f"{usage['models'] / mib:,.1f} MiB, tokenized data "
                         f"{usage['data'] / mib:,.1f} MiB (ftgui cache --clear).")
        self.ready.emit()

    def _failed(self, e: BaseException) -> None:
        self.folder.setText(f"The cache could not be read: {describe_error(e)}")
        self.ready.emit()

    def selected(self) -> list:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self.revisions[r] for r in rows if r < len(self.revisions)]

    def confirm(self, text: str) -> bool:
        """Asked before deleting (tests replace it)."""
        return QMessageBox.question(self, "Delete from the cache?", text) == \
            QMessageBox.StandardButton.Yes

    def delete_selected(self) -> None:
        from ftgui.core import hub_cache
        from ftgui.core.memory import human_bytes
        chosen = self.selected()
        names = ", ".join(f"{r.repo_id} ({r.commit[:8]})" for r in chosen)
        if not chosen or not self.confirm(f"Delete {names}, {human_bytes(sum(r.size for r in chosen))}? "
                                          f"A later run downloads them again."):
            return
        self.delete_button.setEnabled(False)
        run_task(lambda: hub_cache.delete(chosen), lambda _: self.refresh(), self._failed,
                 owner=self)


class SignInDialog(QDialog):
    """Shows who huggingface_hub is signed in as; signs in with a pasted token through
    ``huggingface_hub.login`` (its token file, shared with HF's tools: ftgui writes no
    token itself) after checking it, or signs out with ``logout``."""
    ready = Signal()   # a check finished and its result is shown

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Hugging Face sign-in")
        self.status = QLabel("Checking…", objectName="signInStatus")
        self.status.setWordWrap(True)
        self.status.setOpenExternalLinks(True)
        self.token = QLineEdit(objectName="tokenField", echoMode=QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("hf_… (a read token from huggingface.co/settings/tokens)")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.sign_in = QPushButton("Sign &in", objectName="signIn")
        self.sign_out = QPushButton("Sign &out", objectName="signOut")
        buttons.addButton(self.sign_in, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.sign_out, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        self.sign_in.clicked.connect(self.do_sign_in)
        self.sign_out.clicked.connect(self.do_sign_out)
        layout = QVBoxLayout(self)
        for w in (self.status, self.token, buttons):
            layout.addWidget(w)
        run_task(self._who, self._shown, self._failed, owner=self)

    @staticmethod
    def _who(token: str | None = None) -> str:
        from ftgui.core import hub
        tok = token or hub.token()
        if not tok:
            return "Not signed in. Gated and private models need a token."
        try:
            who = hub.api().whoami(token=tok)
        except Exception as e:  # noqa: BLE001 - explain() words it
            err = hub.explain(e, "whoami")
            raise (err or e) from e
        return f"Signed in as <b>{who.get('name', '?')}</b>."

    def _shown(self, text: str) -> None:
        self.status.setText(text)
        self.sign_out.setEnabled(text.startswith("Signed in"))
        self.ready.emit()

    def _failed(self, e: BaseException) -> None:
        self.status.setText(describe_error(e).split(": ", 1)[-1])
        self.ready.emit()

    def do_sign_in(self) -> None:
        tok = self.token.text().strip()
        if not tok:
            self.status.setText("Paste a token first.")
            return

        def work():
            text = self._who(tok)          # the token checked with a clear message first
            from huggingface_hub import login
            login(token=tok, add_to_git_credential=False, skip_if_logged_in=False)
            return text
        self.status.setText("Checking the token…")
        run_task(work, self._shown, self._failed, owner=self)

    def do_sign_out(self) -> None:
        def work():
            from huggingface_hub import logout
            logout()
            return self._who()
        run_task(work, self._shown, self._failed, owner=self)
