"""The history's detail area: one run's curves and config, or several runs overlaid with the
config keys that differ between them."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QPlainTextEdit,
                               QSplitter, QStackedWidget, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from ftgui.core.compare import PALETTE, RunCurves, config_differences, show_value
from ftgui.core.wording import duration
from ftgui.gui.widgets.plots import COLORS, VAL_NAME, legend_above, step_plot


class CompareView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel(" ", objectName="compareTitle", wordWrap=True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.plot = step_plot("loss", "comparePlot")
        self.legend = legend_above(self.plot.getPlotItem())

        self.config_text = QPlainTextEdit(objectName="runConfigText", readOnly=True)
        self.config_text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        mono.setPointSizeF(max(self.font().pointSizeF() * 0.9, 7))
        self.config_text.setFont(mono)
        self.diffs = QTableWidget(objectName="configDiffs")
        self.diffs.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.diffs.setAlternatingRowColors(True)
        self.diffs.verticalHeader().setVisible(False)
        self.side = QStackedWidget()
        self.side.addWidget(self.config_text)
        self.side.addWidget(self.diffs)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.plot)
        self.splitter.addWidget(self.side)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([470, 360])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.splitter, 1)
        layout.addStretch()   # takes the room while nothing is selected
        self.clear("Select a run to see its curves and config; select several (Ctrl or Shift "
                   "+ click) to overlay their losses and compare their configs.")

    def clear(self, message: str) -> None:
        self.plot.getPlotItem().clear()
        self.legend.clear()
        self.title.setText(message)
        self.config_text.clear()
        self.diffs.clear()
        self.diffs.setRowCount(0)
        self.diffs.setColumnCount(0)
        self.runs: list[RunCurves] = []
        self.splitter.setVisible(False)   # no empty axes that could be read as a run's

    def show_runs(self, runs: list[RunCurves], config_texts: list[str]) -> None:
        self.clear(" ")
        self.runs = runs
        self.splitter.setVisible(True)
        if len(runs) == 1:
            self._show_one(runs[0], config_texts[0])
        else:
            self._show_many(runs)
        item = self.plot.getPlotItem()
        if item.listDataItems():
            item.enableAutoRange()
        else:   # not the axes of the runs shown before: they would read as this run's
            item.disableAutoRange()
            item.setRange(xRange=(0, 1), yRange=(0, 1))
        if not any(r.train for r in runs):
            self.title.setText(self.title.text() + "  <i>No training loss logged yet.</i>")

    def _show_one(self, run: RunCurves, config_text: str) -> None:
        item = self.plot.getPlotItem()
        if run.train:
            xs, ys = zip(*run.train)
            item.plot(list(xs), list(ys), name="train loss", pen=pg.mkPen(COLORS["smooth"],
                                                                          width=2))
        if run.eval:
            xs, ys = zip(*run.eval)
            item.plot(list(xs), list(ys), name=VAL_NAME, pen=pg.mkPen(COLORS["val"], width=2),
                      symbol="o", symbolSize=7, symbolBrush=COLORS["val"], symbolPen=None)
        self.title.setText(_describe(run))
        self.config_text.setPlainText(config_text or "(this run has no config.yaml)")
        self.side.setCurrentWidget(self.config_text)

    def _show_many(self, runs: list[RunCurves]) -> None:
        item = self.plot.getPlotItem()
        for i, run in enumerate(runs):
            if not run.train:
                continue
            xs, ys = zip(*run.train)
            item.plot(list(xs), list(ys), name=run.name,
                      pen=pg.mkPen(PALETTE[i % len(PALETTE)], width=2))
        diffs = config_differences(runs)
        self.diffs.setColumnCount(1 + len(runs))
        self.diffs.setHorizontalHeaderLabels(["Setting"] + [r.name for r in runs])
        self.diffs.setRowCount(len(diffs))
        for row, (key, values) in enumerate(diffs):
            self.diffs.setItem(row, 0, QTableWidgetItem(key))
            for col, value in enumerate(values, start=1):
                cell = QTableWidgetItem(show_value(value))
                cell.setToolTip(str(value))
                self.diffs.setItem(row, col, cell)
        header = self.diffs.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self._fit_side(header.length() + 2 * self.diffs.frameWidth() + 24)
        same = "" if diffs else " Their configs are the same (apart from their folders)."
        differ = "1 setting differs" if len(diffs) == 1 else f"{len(diffs)} settings differ"
        self.title.setText(f"<b>{len(runs)} runs</b> overlaid; {differ}.{same}")
        self.side.setCurrentWidget(self.diffs)

    def _fit_side(self, wanted: int) -> None:
        """Give the differences table the width its columns need, up to half the area."""
        total = sum(self.splitter.sizes())
        if total > 0:
            side = min(max(wanted, 260), total // 2)
            self.splitter.setSizes([total - side, side])


def _describe(run: RunCurves) -> str:
    s = run.summary
    parts = [f"<b>{run.name}</b>", s.get("status") or "no summary"]
    if s.get("steps") is not None:
        parts.append(f"{s['steps']:,} steps")
    if s.get("final_train_loss") is not None:
        parts.append(f"final loss {s['final_train_loss']:.4f}")
    if s.get("perplexity_before") is not None and s.get("perplexity_after") is not None:
        parts.append(f"perplexity {s['perplexity_before']:,.1f} → {s['perplexity_after']:,.1f}")
    if s.get("duration_s") is not None:
        parts.append(duration(s["duration_s"]))
    text = " · ".join(parts)
    if s.get("error"):
        text += f"<br><span style='color:#dc2626'>{_escape(s['error'])}</span>"
    return text


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
