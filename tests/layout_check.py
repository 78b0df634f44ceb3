"""Which widgets of a window are cut: outside their parent's area, or narrower than the
text they show needs. Used by the small-window layout test and by hand
(``python tests/layout_check.py [CONFIG]``)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QAbstractScrollArea,
                               QComboBox, QGraphicsView, QLabel, QScrollBar, QSplitter,
                               QToolButton, QWidget)


def cut_widgets(root: QWidget) -> list[str]:
    """One line per widget shown cut in ``root`` as it is laid out now."""
    out = []
    for w in root.findChildren(QWidget):
        parent = w.parentWidget()
        if parent is None or w.isWindow() or not w.isVisibleTo(root) or _skipped(w):
            continue
        name = f"{type(w).__name__} {w.objectName() or _text(w)[:40]!r}"
        g = w.geometry()
        area = _scrolled_content(w)
        if area is not None:
            off = Qt.ScrollBarPolicy.ScrollBarAlwaysOff
            view = area.viewport()
            if area.horizontalScrollBarPolicy() == off and w.width() > view.width() + 1 or \
                    area.verticalScrollBarPolicy() == off and w.height() > view.height() + 1:
                out.append(f"{name} is {w.width()}x{w.height()}, its scroll area shows "
                           f"{view.width()}x{view.height()} and does not scroll that way")
            continue
        if not parent.rect().adjusted(-1, -1, 1, 1).contains(g):
            out.append(f"{name} at {g.getRect()} outside its {type(parent).__name__} "
                       f"{parent.rect().getRect()}")
            continue
        need = _text_width(w)
        if need and w.width() < need:
            out.append(f"{name} is {w.width()} px wide; its text needs {need}")
    return out


def _skipped(w: QWidget) -> bool:
    """Parts of item views, plots and scroll bars (they clip or scroll by design), and
    whatever is inside a collapsed pane."""
    if isinstance(w, QScrollBar):
        return True
    p = w
    while p is not None:
        if p is not w and isinstance(p, (QAbstractItemView, QGraphicsView)):
            return True
        if p.width() == 0 or p.height() == 0 or _collapsed(p):
            return True   # in a pane collapsed on purpose (a splitter side at 0)
        p = p.parentWidget()
    return False


def _collapsed(w: QWidget) -> bool:
    parent = w.parentWidget()
    if isinstance(parent, QSplitter):
        i = parent.indexOf(w)
        return i >= 0 and parent.sizes()[i] == 0
    return False


def _scrolled_content(w: QWidget) -> QAbstractScrollArea | None:
    """The scroll area that scrolls ``w`` (larger than the viewport by design), if any."""
    p = w.parentWidget()
    area = p.parentWidget() if p is not None else None
    return area if isinstance(area, QAbstractScrollArea) and p is area.viewport() else None


def _text(w: QWidget) -> str:
    for attr in ("text", "currentText", "title"):
        f = getattr(w, attr, None)
        if callable(f):
            try:
                t = f()
            except TypeError:
                continue
            if isinstance(t, str):
                return t
    return ""


def _text_width(w: QWidget) -> int:
    """The width the text of a label, button or combo box needs; 0: nothing to check."""
    if isinstance(w, QLabel):
        text = w.text()
        if w.wordWrap() or not text.strip() or "<" in text or "\n" in text:
            return 0
        return w.fontMetrics().horizontalAdvance(text) + 2 * w.margin() + 2 * w.frameWidth()
    if isinstance(w, QComboBox):
        text = w.currentText()
        if not text or w.itemData(w.currentIndex(), Qt.ItemDataRole.ToolTipRole):
            return 0   # a long entry with its whole text on hover (the run lists)
        return w.fontMetrics().horizontalAdvance(text) + 36
    if isinstance(w, QAbstractButton) and not isinstance(w, QToolButton) and w.text().strip():
        return w.fontMetrics().horizontalAdvance(w.text().replace("&", "")) + 12
    return 0


if __name__ == "__main__":
    import os
    import sys
    import tempfile

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    from ftgui.gui.main_window import MainWindow
    win = MainWindow(settings=QSettings(tempfile.mktemp(suffix=".ini"),
                                        QSettings.Format.IniFormat))
    if len(sys.argv) > 1:
        win.load_config(sys.argv[1])
    win.resize(1024, 700)
    win.show()
    for side in range(win.side_tabs.count()):
        win.side_tabs.setCurrentIndex(side)
        for tab in range(win.tabs.count()):
            win.tabs.setCurrentIndex(tab)
            loop = QEventLoop()
            QTimer.singleShot(200, loop.quit)
            loop.exec()
            for line in cut_widgets(win):
                print(f"{win.side_tabs.tabText(side)} / {win.tabs.tabText(tab)}: {line}")
