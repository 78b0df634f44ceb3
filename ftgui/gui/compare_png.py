"""`ftgui compare --out`: the runs' training-loss curves overlaid (validation losses as
squares) as a PNG, drawn by pyqtgraph's exporter on an offscreen Qt surface, with the
colours the History tab uses."""

from __future__ import annotations

import os
from pathlib import Path

from ftgui.core.compare import RunCurves, check_loss_plot, loss_series

_APP = None   # the application made here for a command-line process, kept alive


def write_loss_png(runs: list[RunCurves], out: str | Path, with_eval: bool = True,
                   width: int = 900, height: int = 540) -> Path:
    out = check_loss_plot(runs, out)
    from PySide6.QtWidgets import QApplication

    global _APP
    if QApplication.instance() is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")   # a terminal: no window
        _APP = QApplication([])
    import pyqtgraph as pg
    import pyqtgraph.exporters

    from PySide6.QtCore import QRectF

    plot = pg.PlotWidget(background="w")
    item = plot.getPlotItem()
    item.setGeometry(QRectF(0, 0, width, height))   # never shown: size the plot itself
    item.setContentsMargins(8, 12, 12, 8)
    item.setTitle("Training loss", color="k")
    item.setLabel("bottom", "step")
    item.setLabel("left", "loss")
    item.showGrid(x=True, y=True, alpha=0.2)
    item.addLegend(offset=(-10, 10), labelTextColor="k")
    for s in loss_series(runs, with_eval):
        xs, ys = [x for x, _ in s.points], [y for _, y in s.points]
        if s.style == "markers":
            item.plot(xs, ys, pen=None, symbol="s", symbolSize=7, symbolBrush=s.color,
                      symbolPen=s.color, name=s.label)
        else:
            item.plot(xs, ys, pen=pg.mkPen(s.color, width=2), name=s.label)
    out.parent.mkdir(parents=True, exist_ok=True)
    exporter = pyqtgraph.exporters.ImageExporter(item)
    exporter.parameters()["width"] = width   # the height follows the plot's shape
    exporter.export(str(out))
    plot.deleteLater()
    return out


def write_run_loss_png(run_dir: str | Path, out: str | Path) -> None:
    """One run's loss curve (model_card.PlotWriter): for a model card. Qt draws on the
    thread that owns the application, so call it there (the window renders before it
    starts an export's worker)."""
    from ftgui.core.compare import load_runs
    write_loss_png(load_runs([run_dir]), out)
