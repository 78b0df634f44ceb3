"""The runs folder as a sortable Qt table model: one row per run (ftgui.core.history rows)."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
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
                 "running": (37, 99, 235), "interrupted": (147, 51, 234)}
UNKNOWN_COLOR = (120, 120, 120)
STATUS_TIPS = {
    "finished": "Trained to the end; the model is saved in the run's model folder.",
    "stopped": "Stopped by you; Resume continues from its last checkpoint.",
    "failed": "Ended with an error (hover the run's name for the message).",
    "running": "Being trained now.",
    "interrupted": "Its process ended without finishing (killed, crashed or the machine "
                   "restarted); Resume continues from its last checkpoint.",
}
PathRole = Qt.ItemDataRole.UserRole + 1
SortRole = Qt.ItemDataRole.UserRole + 2


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


class RunTableModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[dict] = []
        self._shown: list[dict] = []
        self._icons: dict[str, QIcon] = {}

    def set_rows(self, rows: list[dict], shown: list[dict] | None = None) -> None:
        """``shown``: ``shown_rows(rows)`` when the caller made it already (off the GUI
        thread, where the rows were read)."""
        self.beginResetModel()
        self.rows = rows
        self._shown = shown_rows(rows) if shown is None else shown
        self.endResetModel()

    def row_of(self, path: str) -> int:
        return next((i for i, r in enumerate(self.rows) if r["path"] == path), -1)

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
        if role == SortRole:
            value = row.get(raw_key)
            if raw_key in NUMERIC:
                return float(value) if isinstance(value, (int, float)) else float("-inf")
            return str(value or "").lower()
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


class RunSortProxy(QSortFilterProxyModel):
    """Sorts on the raw values (numbers as numbers, unknown values first)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSortRole(SortRole)
