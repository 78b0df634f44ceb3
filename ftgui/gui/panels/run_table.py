"""The runs folder as a sortable Qt table model: one row per run (ftgui.core.history rows).

The model sorts itself, on the raw values (numbers as numbers, unknown values first), with
one Python sort: a QSortFilterProxyModel would ask ``data()`` twice per comparison, which
for thousands of runs holds the GUI thread for a tenth of a second on every refresh.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap

from ftgui.core.history import display_row

# (header, display_row key, raw row key sorted on)
COLUMNS = (("Name", "name", "name"), ("Status", "status", "status"),
           ("Model", "model", "model"), ("Dataset", "dataset", "dataset"),
           ("Steps", "steps", "steps"), ("Final loss", "final_loss", "final_loss"),
           ("Perplexity", "perplexity", "ppl_after"),
           ("Duration", "duration", "duration_s"), ("Date", "date", "date"))
NUMERIC = {"steps", "final_loss", "ppl_after", "duration_s"}
STATUS_COLORS = {"finished": (22, 163, 74), "stopped": (217, 119, 6), "failed": (220, 38, 38),
                 "running": (37, 99, 235), "interrupted": (147, 51, 234),
                 "diverged": (190, 18, 60), "unreadable": (120, 113, 108)}
UNKNOWN_COLOR = (120, 120, 120)
STATUS_TIPS = {
    "finished": "Trained to the end; the model is saved in the run's model folder.",
    "stopped": "Stopped by you; Resume continues from its last checkpoint.",
    "failed": "Ended with an error (hover the run's name for the message).",
    "running": "Being trained now.",
    "interrupted": "Its process ended without finishing (killed, crashed or the machine "
                   "restarted); Resume continues from its last checkpoint.",
    "diverged": "The loss or gradient became infinite or NaN; the last good checkpoint is "
                "kept. Train again with a lower learning rate.",
    "unreadable": "Its files hold values of the wrong kind (hover the run's name for "
                  "which); the other runs are listed as usual.",
}
PathRole = Qt.ItemDataRole.UserRole + 1


def status_color(status: str) -> QColor:
    return QColor(*STATUS_COLORS.get(status, UNKNOWN_COLOR))


def _dot(color: QColor) -> QIcon:
    pix = QPixmap(12, 12)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(color)
    p.drawEllipse(1, 1, 10, 10)
    p.end()
    return QIcon(pix)


def shown_rows(rows: list[dict]) -> list[dict]:
    """The rows' cell texts (no Qt objects: a worker thread may make them)."""
    shown = [display_row(r) for r in rows]
    for d in shown:
        d["perplexity"] = d["perplexity"].replace("->", "→")
        d["date"] = d["date"][:16]   # to the minute; the seconds are in the tooltip
    return shown


def _sort_key(row: dict, raw_key: str):
    value = row.get(raw_key)
    if raw_key in NUMERIC:
        return float(value) if isinstance(value, (int, float)) else float("-inf")
    return str(value or "").lower()


class RunTableModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[dict] = []     # in the order shown
        self._shown: list[dict] = []
        self._given: list[tuple[dict, dict]] = []   # (row, shown) in the order read
        self._rows_by_path: dict[str, int] = {}
        self._sort: tuple[int, Qt.SortOrder] | None = None
        self._icons: dict[str, QIcon] = {}

    def set_rows(self, rows: list[dict], shown: list[dict] | None = None) -> None:
        """``shown``: ``shown_rows(rows)`` when the caller made it already (off the GUI
        thread, where the rows were read)."""
        self.beginResetModel()
        self._given = list(zip(rows, shown_rows(rows) if shown is None else shown))
        self._arrange()
        self.endResetModel()

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        """Called by the view (a header click, ``sortByColumn``); the selection follows
        its rows."""
        self._sort = (column, Qt.SortOrder(order))
        self.layoutAboutToBeChanged.emit()
        before = self.persistentIndexList()
        paths = [self.rows[i.row()]["path"] for i in before]
        self._arrange()
        self.changePersistentIndexList(
            before, [self.index(self._rows_by_path[p], i.column()) for p, i in zip(paths, before)])
        self.layoutChanged.emit()

    def _arrange(self) -> None:
        """Order the rows as sorted, ties in the order they were read (as a stable sort of
        the rows as given would)."""
        given = self._given
        if self._sort is not None:
            column, order = self._sort
            raw_key = COLUMNS[column][2]
            given = sorted(given, key=lambda pair: _sort_key(pair[0], raw_key),
                           reverse=order == Qt.SortOrder.DescendingOrder)
        self.rows = [row for row, _ in given]
        self._shown = [shown for _, shown in given]
        self._rows_by_path = {row["path"]: i for i, row in enumerate(self.rows)}

    def row_of(self, path: str) -> int:
        return self._rows_by_path.get(path, -1)

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, shown = self.rows[index.row()], self._shown[index.row()]
        _, key, raw_key = COLUMNS[index.column()]
        status = row["status"]
        if role == Qt.ItemDataRole.DisplayRole:
            return shown[key]
        if role == PathRole:
            return row["path"]
        if role == Qt.ItemDataRole.ToolTipRole:
            if key == "name":
                return row["path"] + (f"\n{row['error']}" if row.get("error") else "")
            if key == "status":
                return STATUS_TIPS.get(status, "No summary yet: the run may be starting, or "
                                               "was written by another program.")
            if key == "date":
                return str(row.get("date") or "")
            if key == "perplexity":
                return "Validation perplexity of the base model → of the trained model"
            if key in ("model", "dataset"):
                return str(row.get(f"{key}_source") or "")
            return None
        if key == "status":
            if role == Qt.ItemDataRole.ForegroundRole:
                return status_color(status)
            if role == Qt.ItemDataRole.DecorationRole:
                if status not in self._icons:
                    self._icons[status] = _dot(status_color(status))
                return self._icons[status]
        if role == Qt.ItemDataRole.TextAlignmentRole and raw_key in NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
