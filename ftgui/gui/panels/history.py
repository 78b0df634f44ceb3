"""History tab: the runs in the runs folder, one run's curves and config, several runs
overlaid with their config differences, and what to do with a run next.

The runs folder is read on the thread pool (a folder of thousands of runs takes seconds to
read); the rows are applied on the GUI thread, keeping the selection. One read runs at a
time: a refresh asked for while one is going makes that one's result stale, and the folder
is read again when it ends.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from PySide6.QtCore import (QByteArray, QFile, QItemSelection, QItemSelectionModel, Qt, QTimer,
                            QUrl, Signal)
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
                               QMenu, QMessageBox, QPushButton, QSizePolicy, QSplitter,
                               QTableView, QToolBar, QVBoxLayout, QWidget)

from ftgui.core.compare import load_runs
from ftgui.core.errors import FtguiError, RunDirError
from ftgui.core.history import run_row, runs_table
from ftgui.core.resumable import NOT_RESUMABLE, resume_option
from ftgui.core.runs import RunDir, default_runs_dir
from ftgui.core.wording import describe_error
from ftgui.gui.panels.compare_view import CompareView
from ftgui.gui.panels.run_table import PathRole, RunTableModel, shown_rows
from ftgui.gui.workers.run_worker import run_task

RUNS_DIR_KEY = "runs_dir"
SPLITTER_KEY = "history/splitter"
SORT_COLUMN_KEY = "history/sort_column"
SORT_ORDER_KEY = "history/sort_order"
DEFAULT_SORT = (8, Qt.SortOrder.DescendingOrder)   # by date, newest first


def _scan(root: Path) -> tuple[list[dict], list[dict]]:
    """The rows of the runs folder and their cell texts (on a worker thread). A folder
    that does not exist yet has no runs; one that is a file is an error to show."""
    if root.exists() and not root.is_dir():
        raise RunDirError(f"{root} is a file, not a folder")
    rows = runs_table(root)
    return rows, shown_rows(rows)


def _read_selected(paths: list[str]):
    """What the History tab shows of the selected runs: the Resume / New run options of
    one run, and the curves and configs (or why they could not be read)."""
    actions = None
    if len(paths) == 1:
        actions = resume_option(paths[0]), RunDir(paths[0]).config_path.is_file()
    try:
        return actions, _load(paths), None
    except (FtguiError, OSError, ValueError) as e:
        return actions, None, e


def _load(paths: list[str]):
    runs = load_runs(paths)
    texts = []
    for r in runs:
        try:
            texts.append((r.path / "config.yaml").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            texts.append("")
    return runs, texts


class HistoryPanel(QWidget):
    resumeRequested = Signal(str)    # a run folder to continue
    newRunFromConfig = Signal(str)   # a run's config.yaml, to start a new run from
    openInPlayground = Signal(str)   # a finished run folder
    exportRequested = Signal(str)    # a finished run folder
    runsChanged = Signal()           # runs were deleted or the runs folder changed
    loaded = Signal()                # the detail area shows the selected runs
    refreshed = Signal()             # the list shows the folder as last read (or why not)

    def __init__(self, settings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        # FTGUI_RUNS_DIR given at launch wins over the folder saved in the settings
        self._env_dir = os.environ.get("FTGUI_RUNS_DIR")
        saved = settings.value(RUNS_DIR_KEY)
        if saved and not self._env_dir:
            os.environ["FTGUI_RUNS_DIR"] = str(saved)

        self.folder_label = QLabel(objectName="runsFolder")
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # a long path must not widen the window: it is cut, and whole in the tooltip
        self.folder_label.setSizePolicy(QSizePolicy.Policy.Ignored,
                                        QSizePolicy.Policy.Preferred)
        self.change_button = QPushButton("Change…", objectName="changeRunsFolder")
        self.change_button.setToolTip("Choose the folder runs are listed from and new runs "
                                      "are saved to")
        self.change_button.clicked.connect(self.ask_runs_dir)
        self.refresh_button = QPushButton("Refresh", objectName="refreshRuns")
        self.refresh_button.clicked.connect(self.refresh)

        self.model = RunTableModel(self)
        self.table = QTableView(objectName="runsTable")
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(*self._saved_sort())
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        # the first fit of the columns to their contents reads 100 rows, not 1000 (for
        # thousands of runs that held the GUI thread 0.15 s)
        header.setResizeContentsPrecision(100)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.doubleClicked.connect(self._open_one)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.placeholder = QLabel(alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)

        def act(text, slot, tip, shortcut=None):
            a = QAction(text, self)
            a.setToolTip(tip)
            a.triggered.connect(slot)
            if shortcut:
                a.setShortcut(shortcut)
                a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                self.table.addAction(a)
            return a

        self.resume_action = act("⟳ Resume", self._resume,
                                 "Continue the selected stopped run from its last checkpoint")
        self.new_run_action = act("New run from this config", self._new_run,
                                  "Load the run's settings to train a new run (in a new folder)")
        self.playground_action = act("Open in Playground", self._playground,
                                     "Try the finished run's model in the Playground")
        self.export_action = act("Export…", self._export,
                                 "Export the finished run's model (merged, adapter, GGUF, "
                                 "script)")
        self.folder_action = act("Open folder", self._open_folder,
                                 "Show the run's folder in the file manager")
        self.delete_action = act("Delete…", self.delete_selected,
                                 "Move the selected runs to the trash (asks first)",
                                 QKeySequence(QKeySequence.StandardKey.Delete))
        self.actions_ = (self.resume_action, self.new_run_action, self.playground_action,
                         self.export_action, self.folder_action, self.delete_action)

        top = QHBoxLayout()
        top.addWidget(QLabel("Runs folder:"))
        top.addWidget(self.folder_label, 1)
        top.addWidget(self.change_button)
        top.addWidget(self.refresh_button)
        # a tool bar folds the actions it has no room for into a » menu on a narrow window
        self.toolbar = QToolBar(objectName="historyActions")
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for a in self.actions_:
            self.toolbar.addAction(a)

        upper = QWidget()
        up = QVBoxLayout(upper)
        up.setContentsMargins(0, 0, 0, 0)
        up.addLayout(top)
        up.addWidget(self.table, 1)
        up.addWidget(self.placeholder)
        up.addWidget(self.toolbar)
        self.detail = CompareView()
        self.splitter = QSplitter(Qt.Orientation.Vertical, objectName="historySplitter")
        self.splitter.addWidget(upper)
        self.splitter.addWidget(self.detail)
        self.splitter.setSizes([330, 420])
        state = settings.value(SPLITTER_KEY)
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.splitter.restoreState(state)
        # saved as they change: the window saves its own state on close, not the panels'
        self.splitter.splitterMoved.connect(
            lambda *_: self.settings.setValue(SPLITTER_KEY, self.splitter.saveState()))
        header.sortIndicatorChanged.connect(self._save_sort)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.splitter)

        self._load_gen = 0
        self._scan_gen = 0        # the newest refresh asked for
        self._scanning = False    # a read of the runs folder is on the pool
        self._listed_root: Path | None = None   # the folder the rows are from
        self._keep: list[str] = []   # the selection when a read failed, for the next one
        self._sized = False
        self._load_timer = QTimer(self, singleShot=True, interval=80)
        self._load_timer.timeout.connect(self._load_selected)
        self.refresh()

    # ---- the list ---------------------------------------------------------------------------
    def runs_dir(self) -> Path:
        return default_runs_dir()

    @property
    def refreshing(self) -> bool:
        """A refresh was asked for and its rows are not shown yet."""
        return self._scanning

    def refresh(self) -> None:
        """Read the runs folder again, off the GUI thread; ``refreshed`` follows when the
        rows are shown, with the selection kept."""
        root = self.runs_dir()
        self.folder_label.setText(str(root))
        self.folder_label.setToolTip(
            f"{root}\nSet by FTGUI_RUNS_DIR when ftgui started; Change… overrides it for "
            f"this session." if self._env_dir and str(root) == self._env_dir else str(root))
        if root != self._listed_root and self.model.rows:
            self._show_rows([], [], root)   # another folder: its runs, not the last one's
        if not self.model.rows:
            self._show_placeholder(f"Reading {root}…")
        self._scan_gen += 1
        if not self._scanning:
            self._start_scan()

    def _start_scan(self) -> None:
        gen, root = self._scan_gen, self.runs_dir()
        self._scanning = True
        run_task(lambda: _scan(root), lambda out: self._scanned(gen, root, out),
                 lambda e: self._scan_failed(gen, root, e), owner=self)

    def _superseded(self, gen: int) -> bool:
        """Whether a newer refresh was asked for while ``gen`` was read; if so, the
        folder is read again (and the result of ``gen`` is dropped)."""
        if gen == self._scan_gen:
            self._scanning = False
            return False
        self._start_scan()
        return True

    def _scanned(self, gen: int, root: Path, out) -> None:
        if self._superseded(gen):
            return
        self._show_rows(*out, root)
        if not self.model.rows:
            self._show_placeholder(f"No runs in {root} yet. Runs appear here when you "
                                   f"Train, or choose another runs folder with Change….")
        self.refreshed.emit()

    def _scan_failed(self, gen: int, root: Path, e: BaseException) -> None:
        if self._superseded(gen):
            return
        why = e.strerror if isinstance(e, OSError) and e.strerror else describe_error(e)
        self._show_rows([], [], root)
        self._show_placeholder(f"Could not read the runs folder {root}: {why}. Refresh to "
                               f"try again, or choose another runs folder with Change….")
        self.refreshed.emit()

    def _show_rows(self, rows: list[dict], shown: list[dict], root: Path) -> None:
        keep = self.selected_paths() if self.model.rows else self._keep
        self._keep = keep if not rows else []
        self._listed_root = root
        self.model.set_rows(rows, shown)
        self.table.setVisible(bool(rows))
        self.placeholder.setVisible(not rows)
        if rows and not self._sized:   # once: later widths are the user's
            self._sized = True
            self.table.resizeColumnsToContents()
            for col, limit in ((0, 170), (2, 120), (3, 120)):
                self.table.setColumnWidth(col, min(self.table.columnWidth(col), limit))
        self.select_paths(keep)

    def _show_placeholder(self, text: str) -> None:
        self.table.hide()
        self.placeholder.show()
        self.placeholder.setText(text)

    def _saved_sort(self) -> tuple[int, Qt.SortOrder]:
        try:
            column = int(self.settings.value(SORT_COLUMN_KEY, DEFAULT_SORT[0]))
            order = Qt.SortOrder(int(self.settings.value(SORT_ORDER_KEY,
                                                         DEFAULT_SORT[1].value)))
        except (TypeError, ValueError):
            return DEFAULT_SORT
        return (column, order) if 0 <= column < self.model.columnCount() else DEFAULT_SORT

    def _save_sort(self, column: int, order: Qt.SortOrder) -> None:
        self.settings.setValue(SORT_COLUMN_KEY, column)
        self.settings.setValue(SORT_ORDER_KEY, Qt.SortOrder(order).value)

    def select_paths(self, paths: list[str]) -> None:
        sel = QItemSelection()
        for p in paths:
            row = self.model.row_of(p)
            if row >= 0:
                index = self.model.index(row, 0)
                sel.select(index, index.siblingAtColumn(self.model.columnCount() - 1))
        sm = self.table.selectionModel()
        sm.blockSignals(True)
        sm.select(sel, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        sm.blockSignals(False)
        self.table.viewport().update()
        self._selection_changed()

    def selected_paths(self) -> list[str]:
        rows = sorted(self.table.selectionModel().selectedRows(), key=lambda i: i.row())
        return [i.data(PathRole) for i in rows]

    def selected_rows(self) -> list[dict]:
        return [self.model.rows[self.model.row_of(p)] for p in self.selected_paths()]

    def ask_runs_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Runs folder", str(self.runs_dir()))
        if path:
            self.set_runs_dir(path)

    def set_runs_dir(self, path: str | Path) -> None:
        """List runs from ``path`` and save new runs there (the window's runs list too):
        the runs folder is FTGUI_RUNS_DIR for everything in this process."""
        path = Path(path).expanduser().resolve()
        os.environ["FTGUI_RUNS_DIR"] = str(path)
        self.settings.setValue(RUNS_DIR_KEY, str(path))
        self.refresh()
        self.runsChanged.emit()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh()

    # ---- the detail area ----------------------------------------------------------------------
    def _selection_changed(self, *_) -> None:
        self._update_actions()
        self._load_timer.start()

    def _open_one(self, index) -> None:
        self.select_paths([index.data(PathRole)])

    def _load_selected(self) -> None:
        paths = self.selected_paths()
        self._load_gen += 1
        gen = self._load_gen
        if not paths:
            self.detail.clear("Select a run to see its curves and config; select several "
                              "(Ctrl or Shift + click) to overlay their losses and compare "
                              "their configs.")
            self.loaded.emit()
            return
        run_task(lambda: _read_selected(paths), lambda out: self._loaded(gen, out),
                 lambda e: self._load_failed(gen, e), owner=self)

    def _loaded(self, gen: int, out) -> None:
        if gen != self._load_gen:
            return
        actions, detail, error = out
        if actions is not None:
            option, has_config = actions
            self.resume_action.setEnabled(option.ok)
            self.resume_action.setToolTip(option.tip)
            self.new_run_action.setEnabled(has_config)
        if error is None:
            self.detail.show_runs(*detail)
            self.loaded.emit()
        else:
            self._load_failed(gen, error)

    def _load_failed(self, gen: int, e: BaseException) -> None:
        if gen == self._load_gen:
            self.detail.clear(f"Could not read the run: {describe_error(e)}")
            self.loaded.emit()

    # ---- actions ------------------------------------------------------------------------------
    def _update_actions(self) -> None:
        rows = self.selected_rows()
        one = rows[0] if len(rows) == 1 else None
        status = one["status"] if one else None
        rd = RunDir(one["path"]) if one else None
        # Resume and New run read the run folder: off until the selection's load says
        self.resume_action.setEnabled(False)
        self.resume_action.setToolTip(f"Checking {rd.path.name}…" if rd else NOT_RESUMABLE)
        self.new_run_action.setEnabled(False)
        finished = status == "finished"
        self.playground_action.setEnabled(finished)
        self.export_action.setEnabled(finished)
        self.folder_action.setEnabled(one is not None)
        self.delete_action.setEnabled(bool(rows) and all(r["status"] != "running" for r in rows))

    def _context_menu(self, pos) -> None:
        if not self.table.indexAt(pos).isValid():
            return
        menu = QMenu(self)
        for a in self.actions_:
            if a is self.delete_action:
                menu.addSeparator()
            menu.addAction(a)
        menu.popup(self.table.viewport().mapToGlobal(pos))

    def _one(self) -> str | None:
        paths = self.selected_paths()
        return paths[0] if len(paths) == 1 else None

    def _resume(self) -> None:
        if self._one() and self.resume_action.isEnabled():
            self.resumeRequested.emit(self._one())

    def _new_run(self) -> None:
        if self._one() and self.new_run_action.isEnabled():
            self.newRunFromConfig.emit(str(RunDir(self._one()).config_path))

    def _playground(self) -> None:
        if self._one() and self.playground_action.isEnabled():
            self.openInPlayground.emit(self._one())

    def _export(self) -> None:
        if self._one() and self.export_action.isEnabled():
            self.exportRequested.emit(self._one())

    def _open_folder(self) -> None:
        if self._one():
            QDesktopServices.openUrl(QUrl.fromLocalFile(self._one()))

    def delete_selected(self) -> bool:
        """Move the selected runs to the trash (or, where there is none, delete them) after
        a confirmation naming them. A run being trained is refused."""
        # read again: a status may have changed since the list was read (a few files only)
        rows = [run_row(p) for p in self.selected_paths()]
        if not rows:
            return False
        running = [r["name"] for r in rows if r["status"] == "running"]
        if running:
            QMessageBox.warning(self, "Run in progress", f"{', '.join(running)} is being "
                                f"trained now; stop it before deleting it.")
            return False
        names = "\n".join(f"  {r['name']}  ({r['status']})" for r in rows)
        what = "this run" if len(rows) == 1 else f"these {len(rows)} runs"
        if QMessageBox.question(
                self, "Delete runs", f"Move {what} to the trash?\n\n{names}\n\nTheir "
                f"checkpoints, models and logs go with them.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No) != QMessageBox.StandardButton.Yes:
            return False
        no_trash = [r for r in rows if not QFile.moveToTrash(r["path"])]
        if no_trash:
            listed = "\n".join(f"  {r['name']}" for r in no_trash)
            if QMessageBox.question(
                    self, "No trash here", f"There is no trash for this folder, so these runs "
                    f"can only be deleted for good:\n\n{listed}\n\nDelete them permanently? "
                    f"This cannot be undone.",
                    QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                    QMessageBox.StandardButton.No) == QMessageBox.StandardButton.Yes:
                failed = []
                for r in no_trash:
                    try:
                        shutil.rmtree(r["path"])
                    except OSError as e:
                        failed.append(f"{r['name']}: {e.strerror or e}")
                if failed:
                    QMessageBox.warning(self, "Delete runs", "Could not delete:\n" +
                                        "\n".join(failed))
        self.refresh()
        self.runsChanged.emit()
        return True
