"""Live training curves with pyqtgraph.

Events only append to Python lists; a 200 ms timer pushes them into persistent curves
with ``setData`` (never one redraw per event). Curves downsample and clip to the view so
a run of 100k steps stays cheap to draw. No background grid: pyqtgraph draws one line per
minor tick with alpha blending, which made a repaint 4x slower (bench/gui_latency.md).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel,
                               QPushButton, QSlider, QVBoxLayout, QWidget)

from ftgui.core.events import EvalLogged, StepLogged

COLORS = {"raw": (59, 130, 246, 80), "smooth": (59, 130, 246), "val": (245, 158, 11),
          "lr": (16, 185, 129), "grad": (168, 85, 247), "tput": (20, 184, 166)}


def ema(values: np.ndarray, weight: float, state: tuple[float, int] = (0.0, 0)
        ) -> tuple[np.ndarray, tuple[float, int]]:
    """Debiased exponential moving average (as TensorBoard's smoothing slider), continued
    from ``state`` so that new points cost only their own work."""
    last, n = state
    out = np.empty(len(values))
    for i, v in enumerate(values):
        last = last * weight + (1 - weight) * v
        n += 1
        out[i] = last / (1 - weight ** n) if weight > 0 else v
    return out, (last, n)


class _Series:
    """Points as Python lists (cheap appends from events) mirrored into growable numpy
    buffers, so a redraw converts only the points added since the last one (converting a
    million-point list on every update took longer than a frame)."""

    def __init__(self):
        self.x: list[float] = []
        self.y: list[float] = []
        self._bx = np.zeros(0)
        self._by = np.zeros(0)
        self._done = 0  # points already copied into the buffers

    def add(self, x, y):
        self.x.append(x)
        self.y.append(y)

    def trim_after(self, step):
        while self.x and self.x[-1] > step:
            self.x.pop()
            self.y.pop()

    def arrays(self):
        n = len(self.x)
        if n < self._done:  # trimmed or cleared: copy again
            self._done = 0
        if n > len(self._bx):
            size = max(n, 2 * len(self._bx), 1024)
            self._bx = np.resize(self._bx, size)
            self._by = np.resize(self._by, size)
        if n > self._done:
            self._bx[self._done:n] = self.x[self._done:n]
            self._by[self._done:n] = self.y[self._done:n]
        if n:
            self._by[n - 1] = self.y[n - 1]  # the last value may have been replaced
        self._done = n
        return self._bx[:n], self._by[:n]


class TrainingPlots(QWidget):
    """Loss (raw, smoothed, validation), learning rate, grad norm and throughput."""

    hovered = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        pal = self.palette()
        pg.setConfigOptions(antialias=True, background=pal.color(QPalette.ColorRole.Base),
                            foreground=pal.color(QPalette.ColorRole.Text))
        self.series = {k: _Series() for k in ("loss", "val", "lr", "grad", "tput")}
        self._smooth = np.zeros(0)
        self._ema_state = (0.0, 0)
        self._dirty = False

        # --- controls
        self.smoothing = QSlider(Qt.Orientation.Horizontal, objectName="smoothingSlider")
        self.smoothing.setRange(0, 99)
        self.smoothing.setValue(60)
        self.smoothing.setMaximumWidth(160)
        self.smoothing.setToolTip("Moving-average smoothing of the training loss "
                                  "(0 = raw only; the raw curve stays visible, faint).")
        self.smoothing_label = QLabel()
        self.smoothing.valueChanged.connect(self._smoothing_changed)
        self.log_scale = QCheckBox("Log scale", objectName="logScale")
        self.log_scale.setToolTip("Logarithmic loss axis")
        self.log_scale.toggled.connect(self._set_log)
        self.auto_button = QPushButton("Auto-range", objectName="autoRange")
        self.auto_button.setToolTip("Fit all curves in view again")
        self.auto_button.clicked.connect(self.auto_range)
        self.png_button = QPushButton("PNG…", objectName="exportPng")
        self.png_button.setToolTip("Save the plots as an image")
        self.png_button.clicked.connect(self._ask_png)
        self.csv_button = QPushButton("CSV…", objectName="exportCsv")
        self.csv_button.setToolTip("Save the logged values as a CSV table")
        self.csv_button.clicked.connect(self._ask_csv)
        self.readout = QLabel(" ", objectName="hoverReadout")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Smoothing"))
        bar.addWidget(self.smoothing)
        bar.addWidget(self.smoothing_label)
        bar.addSpacing(12)
        bar.addWidget(self.log_scale)
        bar.addStretch(1)
        for b in (self.auto_button, self.png_button, self.csv_button):
            bar.addWidget(b)

        # --- plots
        self.loss_plot = pg.PlotWidget()
        self.loss_plot.setObjectName("lossPlot")
        lp = self.loss_plot.getPlotItem()
        lp.setTitle("Loss")
        lp.setLabel("bottom", "step")
        lp.addLegend(offset=(-10, 10))
        self.raw_curve = lp.plot(name="train (raw)", pen=pg.mkPen(COLORS["raw"], width=1))
        self.smooth_curve = lp.plot(name="train (smoothed)",
                                    pen=pg.mkPen(COLORS["smooth"], width=2.2))
        self.val_curve = lp.plot(name="validation", pen=pg.mkPen(COLORS["val"], width=2),
                                 symbol="o", symbolSize=7, symbolBrush=COLORS["val"],
                                 symbolPen=None)
        self.small = {}
        for key, title, color in (("lr", "Learning rate", "lr"), ("grad", "Grad norm", "grad"),
                                  ("tput", "Tokens / s", "tput")):
            w = pg.PlotWidget()
            w.setObjectName(f"{key}Plot")
            item = w.getPlotItem()
            item.setTitle(title, size="9pt")
            # no setXLink: across separate PlotWidgets it left the small plots on stale
            # ranges; auto-ranging each on the same step domain keeps them aligned
            w.setMinimumHeight(110)
            curve = item.plot(pen=pg.mkPen(COLORS[color], width=1.6))
            self.small[key] = (w, curve)
        for curve in (self.raw_curve, self.smooth_curve, self.lr_curve, self.grad_curve,
                      self.tput_curve):
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
        self.cursor = pg.InfiniteLine(angle=90, movable=False,
                                      pen=pg.mkPen((128, 128, 128, 120), width=1))
        self.cursor.setVisible(False)
        lp.addItem(self.cursor, ignoreBounds=True)
        for w in [self.loss_plot] + [w for w, _ in self.small.values()]:
            w.scene().sigMouseMoved.connect(lambda pos, w=w: self._hover(w, pos))

        self.plot_area = QWidget()
        grid = QGridLayout(self.plot_area)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        grid.addWidget(self.loss_plot, 0, 0, 1, 3)
        for col, (w, _) in enumerate(self.small.values()):
            grid.addWidget(w, 1, col)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.plot_area, 1)
        layout.addWidget(self.readout)

        self.timer = QTimer(self, interval=200, singleShot=True)
        self.timer.timeout.connect(self.flush)
        self._smoothing_changed(self.smoothing.value())

    lr_curve = property(lambda self: self.small["lr"][1])
    grad_curve = property(lambda self: self.small["grad"][1])
    tput_curve = property(lambda self: self.small["tput"][1])

    # ---- data in ------------------------------------------------------------------------
    def reset(self) -> None:
        for s in self.series.values():
            s.x.clear()
            s.y.clear()
        self._smooth = np.zeros(0)
        self._ema_state = (0.0, 0)
        self.readout.setText(" ")
        self.cursor.setVisible(False)
        self.flush()

    def add_step(self, e: StepLogged) -> None:
        s = self.series
        s["loss"].add(e.step, e.loss)
        s["lr"].add(e.step, e.learning_rate)
        if e.grad_norm is not None:
            s["grad"].add(e.step, e.grad_norm)
        s["tput"].add(e.step, e.tokens_per_second)
        self._schedule()

    def add_eval(self, e: EvalLogged) -> None:
        s = self.series["val"]
        # the base-model evaluation can arrive again on resume; keep one point per step
        if s.x and s.x[-1] == e.step:
            s.y[-1] = e.loss
        else:
            s.add(e.step, e.loss)
        self._schedule()

    def load_events(self, events) -> None:
        for e in events:
            if isinstance(e, StepLogged):
                self.add_step(e)
            elif isinstance(e, EvalLogged):
                self.add_eval(e)

    def trim_after(self, step: int) -> None:
        """Drop points past ``step`` (a resumed run continues from its checkpoint)."""
        for s in self.series.values():
            s.trim_after(step)
        n = len(self.series["loss"].x)
        self._smooth = self._smooth[:n]
        self._recompute_smooth()
        self._schedule()

    def _schedule(self) -> None:
        self._dirty = True
        if not self.timer.isActive():
            self.timer.start()

    # ---- drawing ------------------------------------------------------------------------
    def flush(self) -> None:
        """Push pending points into the curves (the timer calls this; so does the end of a
        run, so that the curves are complete when it reports)."""
        self.timer.stop()
        self._dirty = False
        x, y = self.series["loss"].arrays()
        if len(self._smooth) < len(y):
            more, self._ema_state = ema(y[len(self._smooth):], self._weight(), self._ema_state)
            self._smooth = np.concatenate([self._smooth, more])
        self.raw_curve.setData(x, y)
        self.smooth_curve.setData(x, self._smooth[:len(x)])
        self.val_curve.setData(*self.series["val"].arrays())
        for key in ("lr", "grad", "tput"):
            self.small[key][1].setData(*self.series[key].arrays())

    def _weight(self) -> float:
        return self.smoothing.value() / 100.0

    def _recompute_smooth(self) -> None:
        _, y = self.series["loss"].arrays()
        self._smooth, self._ema_state = ema(y, self._weight())

    def _smoothing_changed(self, value: int) -> None:
        self.smoothing_label.setText(f"{value / 100:.2f}")
        self._recompute_smooth()
        self.smooth_curve.setVisible(value > 0)
        self._schedule()

    def _set_log(self, on: bool) -> None:
        self.loss_plot.getPlotItem().setLogMode(y=on)
        self.auto_range()

    def auto_range(self) -> None:
        for w in [self.loss_plot] + [w for w, _ in self.small.values()]:
            w.getPlotItem().enableAutoRange()

    # ---- hover read-out -----------------------------------------------------------------
    def _hover(self, widget, pos) -> None:
        vb = widget.getPlotItem().getViewBox()
        if not widget.sceneBoundingRect().contains(pos) and not vb.sceneBoundingRect().contains(pos):
            return
        x = vb.mapSceneToView(pos).x()
        text = self.readout_at(x)
        if text:
            self.readout.setText(text)
            self.hovered.emit(text)

    def readout_at(self, x: float) -> str:
        steps, losses = self.series["loss"].arrays()
        if not len(steps):
            return ""
        i = int(np.clip(np.searchsorted(steps, x), 0, len(steps) - 1))
        if i > 0 and abs(steps[i - 1] - x) < abs(steps[i] - x):
            i -= 1
        step = int(steps[i])
        self.cursor.setPos(step)
        self.cursor.setVisible(True)
        parts = [f"step {step}", f"loss {losses[i]:.4f}"]
        if i < len(self._smooth) and self.smoothing.value():
            parts.append(f"smoothed {self._smooth[i]:.4f}")
        for key, label, fmt in (("lr", "lr", "{:.3g}"), ("grad", "grad norm", "{:.3g}"),
                                ("tput", "tok/s", "{:,.0f}")):
            s = self.series[key]
            if s.x:
                j = int(np.clip(np.searchsorted(s.x, step), 0, len(s.x) - 1))
                if s.x[j] == step:
                    parts.append(f"{label} {fmt.format(s.y[j])}")
        val = self.series["val"]
        if val.x:
            j = int(np.argmin(np.abs(np.asarray(val.x) - step)))
            parts.append(f"val loss {val.y[j]:.4f} (step {int(val.x[j])})")
        return "   ·   ".join(parts)

    # ---- export -------------------------------------------------------------------------
    def loss_points(self) -> int:
        """Points in the raw loss curve as drawn (after the last flush)."""
        x = self.raw_curve.xData
        return 0 if x is None else len(x)

    def export_png(self, path: str | Path) -> None:
        self.flush()
        if not self.plot_area.grab().save(str(path), "PNG"):
            raise OSError(f"could not write {path}")

    def export_csv(self, path: str | Path) -> None:
        self.flush()
        rows: dict[int, dict] = {}
        for key, col in (("loss", "loss"), ("lr", "learning_rate"), ("grad", "grad_norm"),
                         ("tput", "tokens_per_second"), ("val", "eval_loss")):
            s = self.series[key]
            for x, y in zip(s.x, s.y):
                rows.setdefault(int(x), {})[col] = y
        for x, sm in zip(self.series["loss"].x, self._smooth):
            rows[int(x)]["loss_smoothed"] = float(sm)
        cols = ["step", "loss", "loss_smoothed", "eval_loss", "learning_rate", "grad_norm",
                "tokens_per_second"]
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=cols)
            w.writeheader()
            for step in sorted(rows):
                w.writerow({"step": step, **rows[step]})

    def _ask_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save plots as PNG", "curves.png",
                                              "PNG image (*.png)")
        if path:
            self.export_png(path)

    def _ask_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save curve data as CSV", "curves.csv",
                                              "CSV table (*.csv)")
        if path:
            self.export_csv(path)
