"""Live training curves with pyqtgraph.

Events append to numpy buffers; a 200 ms timer pushes them into persistent curves with
``setData`` (never one redraw per event). Each curve is handed only what its pixels can
show: one min and one max per pixel column of the visible steps, read from a min/max
pyramid kept up to date as points arrive, so a redraw of a million-step run costs about
what a thousand-step one does (pyqtgraph's own downsampling rescans every point on every
update), spikes stay visible and the newest points are drawn exactly. No background grid: pyqtgraph draws one line per
minor tick with alpha blending, which made a repaint 4x slower (bench/gui_latency.md).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel,
                               QPushButton, QSlider, QVBoxLayout, QWidget)

from ftgui.core.events import EvalLogged, StepLogged

VAL_NAME = "validation loss"   # the same words on the Train and History tabs
COLORS = {"raw": (59, 130, 246, 80), "smooth": (59, 130, 246), "val": (245, 158, 11),
          "lr": (16, 185, 129), "grad": (168, 85, 247), "tput": (20, 184, 166),
          "chosen": (22, 163, 74), "rejected": (220, 38, 38), "margin": (59, 130, 246)}
# preference runs (DPO, KTO, ORPO): TRL's rewards, train curves and validation points;
# series key → (metric, plot, legend name, colour)
REWARDS = {"r_chosen": ("rewards/chosen", "rewards", "chosen", "chosen"),
           "r_rejected": ("rewards/rejected", "rewards", "rejected", "rejected"),
           "r_margin": ("rewards/margins", "rewards", "margin", "margin"),
           "r_acc": ("rewards/accuracies", "acc", "train", "margin"),
           "v_margin": ("rewards/margins", "rewards", "validation margin", "val"),
           "v_acc": ("rewards/accuracies", "acc", "validation", "val")}


def _plottable(value: float) -> bool:
    """A diverged run logs inf, NaN or numbers near the float limit (a learning rate of
    1e308), which no axis can span (its padded range overflows): such points are left out,
    and the run panel says the run diverged."""
    return math.isfinite(value) and abs(value) < 1e150


def ema(values: np.ndarray, weight: float, state: tuple[float, int] = (0.0, 0)
        ) -> tuple[np.ndarray, tuple[float, int]]:
    """Debiased exponential moving average (as TensorBoard's smoothing slider), continued
    from ``state`` = (undebiased last value, points so far) so that new points cost only
    their own work. Vectorized in chunks: s_i = w^(i+1) (last + (1-w) cumsum(v_j / w^(j+1)))
    is exact algebra, and the chunk is short enough that w^-chunk stays far from overflow
    (a Python loop took ~0.4 s per million points, i.e. a frozen slider)."""
    last, n = state
    v = np.asarray(values, dtype=float)
    if weight <= 0 or not len(v):
        return v.copy(), ((v[-1] if len(v) else last), n + len(v))
    out = np.empty(len(v))
    chunk = int(min(4096, max(1, 100 / -np.log10(weight))))
    for start in range(0, len(v), chunk):
        c = v[start:start + chunk]
        p = weight ** np.arange(1, len(c) + 1)
        s = p * (last + (1 - weight) * np.cumsum(c / p))
        out[start:start + len(c)] = s / (1 - weight ** (n + np.arange(1, len(c) + 1)))
        last, n = float(s[-1]), n + len(c)
    return out, (last, n)


class _Series:
    """Points in growable float64 buffers (steps increasing), with a min/max pyramid over y
    so that drawing asks for one min and one max per pixel column without touching every
    point: an update costs the points appended plus the pixels, not the run's length."""

    BLOCKS = (16, 256, 4096)   # each level summarises 16 entries of the one below

    def __init__(self):
        self._x = np.empty(1024)
        self._y = np.empty(1024)
        self.n = 0
        self.version = 0   # changes with every edit: an unchanged series is not redrawn
        self._levels = [[np.empty(0), np.empty(0), 0] for _ in self.BLOCKS]  # min, max, done

    x = property(lambda self: self._x[:self.n])
    y = property(lambda self: self._y[:self.n])

    def __len__(self) -> int:
        return self.n

    def clear(self) -> None:
        self._set_len(0)

    def add(self, x: float, y: float) -> None:
        self.extend(np.array([x], dtype=float), np.array([y], dtype=float))

    def extend(self, xs, ys) -> None:
        """Append points; a point at or before the last step replaces the points from its
        step on (a resumed run redoes the steps after its checkpoint)."""
        xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        if not len(xs):
            return
        if self.n and xs[0] <= self._x[self.n - 1]:
            self._set_len(int(np.searchsorted(self.x, xs[0], side="left")))
        end = self.n + len(xs)
        if end > len(self._x):
            size = max(end, 2 * len(self._x))
            self._x = np.resize(self._x, size)
            self._y = np.resize(self._y, size)
        self._x[self.n:end] = xs
        self._y[self.n:end] = ys
        self.n = end
        self.version += 1

    def trim_after(self, step: float) -> None:
        self._set_len(int(np.searchsorted(self.x, step, side="right")))

    def _set_len(self, n: int) -> None:
        self.n = min(n, self.n)
        self.version += 1
        for b, level in zip(self.BLOCKS, self._levels):
            level[2] = min(level[2], self.n // b)

    def _pyramid(self) -> None:
        below_min = below_max = self._y
        below_done, ratio = self.n, self.BLOCKS[0]
        for level in self._levels:
            mins, maxs, done = level
            full = below_done // ratio
            if full > len(mins):
                size = max(full, 2 * len(mins), 64)
                mins, maxs = np.resize(mins, size), np.resize(maxs, size)
                level[0], level[1] = mins, maxs
            if full > done:
                a, b = done * ratio, full * ratio
                mins[done:full] = below_min[a:b].reshape(-1, ratio).min(axis=1)
                maxs[done:full] = below_max[a:b].reshape(-1, ratio).max(axis=1)
            level[2] = full
            below_min, below_max, below_done, ratio = mins, maxs, full, 16

    def view(self, x0: float | None = None, x1: float | None = None, columns: int = 1000,
             peaks: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """The points between steps x0 and x1 (all when None) as drawn ``columns`` pixels
        wide: every point when they fit, else per column its first step with the column's
        min then max (spikes survive; with ``peaks=False`` the midpoint of the two, for a
        curve that is smooth already), and the points after the last whole column exactly
        (the newest values are never merged)."""
        lo = 0 if x0 is None else max(0, int(np.searchsorted(self.x, x0)) - 1)
        hi = self.n if x1 is None else min(self.n, int(np.searchsorted(self.x, x1)) + 1)
        per_column = (hi - lo) // max(1, columns)
        if per_column < 2:   # copies: the buffers change under the curve after a trim
            return self._x[lo:hi].copy(), self._y[lo:hi].copy()
        self._pyramid()
        mins, maxs, b = self._y, self._y, 1
        for size, level in zip(self.BLOCKS, self._levels):
            if 4 * size > per_column:   # columns a whole number of blocks, within 25 %
                break
            mins, maxs, _ = level
            b = size
        ds = per_column // b * b
        start = lo // b * b
        cols = (hi - start) // ds
        stop = start + cols * ds
        k = ds // b
        mn = mins[start // b:stop // b].reshape(cols, k).min(axis=1)
        mx = maxs[start // b:stop // b].reshape(cols, k).max(axis=1)
        if not peaks:
            return (np.concatenate([self._x[start:stop:ds], self._x[stop:hi]]),
                    np.concatenate([(mn + mx) / 2, self._y[stop:hi]]))
        xs = np.concatenate([np.repeat(self._x[start:stop:ds], 2), self._x[stop:hi]])
        ys = np.concatenate([np.column_stack([mn, mx]).ravel(), self._y[stop:hi]])
        return xs, ys


class StepAxis(pg.AxisItem):
    """Steps are whole numbers from 0: ticks only there, written in full (pyqtgraph would
    label a one-point range "step (x0.001)" from -400 to 400)."""

    def __init__(self, **kw):
        super().__init__("bottom", **kw)
        self.enableAutoSIPrefix(False)

    def tickSpacing(self, minVal, maxVal, size):
        levels = [(s, o) for s, o in super().tickSpacing(minVal, maxVal, size) if s >= 1]
        return levels or [(1.0, 0.0)]

    def tickValues(self, minVal, maxVal, size):
        return [(s, [v for v in ticks if v >= 0 and float(v).is_integer()])
                for s, ticks in super().tickValues(minVal, maxVal, size)]

    def tickStrings(self, values, scale, spacing):
        return [f"{int(round(v * scale))}" for v in values]


def step_plot(y_label: str, object_name: str) -> pg.PlotWidget:
    """A plot over steps: x from step 0 (a point there fully visible), at least two steps
    wide, whole-number ticks; the y axis says what it shows."""
    w = pg.PlotWidget(axisItems={"bottom": StepAxis()})
    w.setObjectName(object_name)
    item = w.getPlotItem()
    item.setLabel("bottom", "step")
    item.setLabel("left", y_label)
    # "learning rate (x1e-05)" is cut off beside a small plot and "grad norm (x0.001)"
    # reads as a grad norm of 400: the values as they are
    item.getAxis("left").enableAutoSIPrefix(False)
    item.getViewBox().setLimits(xMin=-0.5, minXRange=2)
    return w


def legend_above(item: pg.PlotItem, columns: int = 3) -> pg.LegendItem:
    """The legend in the title's row, above the data, so that it never covers the newest
    points; curves plotted with a name join it."""
    item.layout.removeItem(item.titleLabel)
    item.titleLabel.hide()
    legend = pg.LegendItem(colCount=columns)
    item.layout.addItem(legend, 0, 1)
    item.legend = legend
    return legend


def show_single_points(curve, n: int) -> None:
    """A line needs two points: a curve with one point draws it as a dot."""
    if curve.opts.get("symbol") is None and n == 1:
        color = curve.opts["pen"].color() if hasattr(curve.opts["pen"], "color") else None
        curve.setSymbol("o")
        curve.setSymbolSize(6)
        curve.setSymbolPen(None)
        curve.setSymbolBrush(color)
        curve._single_dot = True
    elif n != 1 and getattr(curve, "_single_dot", False):
        curve.setSymbol(None)
        curve._single_dot = False


class TrainingPlots(QWidget):
    """Loss (raw, smoothed, validation), learning rate, grad norm and throughput."""

    hovered = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        pal = self.palette()
        pg.setConfigOptions(antialias=True, background=pal.color(QPalette.ColorRole.Base),
                            foreground=pal.color(QPalette.ColorRole.Text))
        self.series = {k: _Series() for k in ("loss", "val", "lr", "grad", "tput",
                                              *REWARDS)}
        self.smoothed = _Series()   # the EMA of the loss, continued as points arrive
        self._ema_state = (0.0, 0)
        self._drawn = 0

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
        self.loss_plot = step_plot("loss", "lossPlot")
        lp = self.loss_plot.getPlotItem()
        self.legend = legend_above(lp)
        self.raw_curve = lp.plot(name="train loss (raw)", pen=pg.mkPen(COLORS["raw"], width=1))
        self.smooth_curve = lp.plot(name="train loss (smoothed)",
                                    pen=pg.mkPen(COLORS["smooth"], width=2.2))
        self.val_curve = lp.plot(name=VAL_NAME, pen=pg.mkPen(COLORS["val"], width=2),
                                 symbol="o", symbolSize=7, symbolBrush=COLORS["val"],
                                 symbolPen=None)
        self.small = {}
        for key, title, color in (("lr", "learning rate", "lr"), ("grad", "grad norm", "grad"),
                                  ("tput", "tokens / s", "tput")):
            w = step_plot(title, f"{key}Plot")
            item = w.getPlotItem()
            # no setXLink: across separate PlotWidgets it left the small plots on stale
            # ranges; auto-ranging each on the same step domain keeps them aligned
            w.setMinimumHeight(110)
            curve = item.plot(pen=pg.mkPen(COLORS[color], width=1.6))
            self.small[key] = (w, curve)
        self._curves = {self.loss_plot: [(self.raw_curve, self.series["loss"]),
                                         (self.smooth_curve, self.smoothed),
                                         (self.val_curve, self.series["val"])]}
        for key, (w, curve) in self.small.items():
            self._curves[w] = [(curve, self.series[key])]
        # the rewards row: shown once a preference run logs them
        self.rewards_plot = step_plot("reward", "rewardsPlot")
        self.accuracy_plot = step_plot("reward accuracy", "rewardAccuracyPlot")
        self.reward_curves = {}
        self._markers = {self.val_curve}   # validation: points at the evaluations
        for w in (self.rewards_plot, self.accuracy_plot):
            w.setMinimumHeight(110)
            legend_above(w.getPlotItem(), 4 if w is self.rewards_plot else 2)
            self._curves[w] = []
        for key, (_, where, name, color) in REWARDS.items():
            w = self.rewards_plot if where == "rewards" else self.accuracy_plot
            if key.startswith("v_"):
                curve = w.getPlotItem().plot(name=name, pen=pg.mkPen(COLORS[color], width=2),
                                             symbol="o", symbolSize=7,
                                             symbolBrush=COLORS[color], symbolPen=None)
                self._markers.add(curve)
            else:
                curve = w.getPlotItem().plot(name=name,
                                             pen=pg.mkPen(COLORS[color], width=1.6))
            self.reward_curves[key] = curve
            self._curves[w].append((curve, self.series[key]))
        self._view_timer = QTimer(self, interval=30, singleShot=True)
        self._view_timer.timeout.connect(self._draw)
        self._drawn_view = {}   # view box -> (step range or None for all, columns) drawn
        self._drawn_key = {}    # curve -> (series version, view) it shows
        self._pens = {}         # curve -> its pen as designed (before _set_dense_pen)
        for w in self._curves:
            vb = w.getPlotItem().getViewBox()
            vb.sigXRangeChanged.connect(self._view_changed)
            vb.sigResized.connect(self._view_changed)
            vb.sigStateChanged.connect(self._view_changed)   # auto-range switched on
        self.cursor = pg.InfiniteLine(angle=90, movable=False,
                                      pen=pg.mkPen((128, 128, 128, 120), width=1))
        self.cursor.setVisible(False)
        lp.addItem(self.cursor, ignoreBounds=True)
        for w in [self.loss_plot] + [w for w, _ in self.small.values()]:
            w.scene().sigMouseMoved.connect(lambda pos, w=w: self._hover(w, pos))
        for w in (self.rewards_plot, self.accuracy_plot):
            w.scene().sigMouseMoved.connect(lambda pos, w=w: self._hover(w, pos))

        self.plot_area = QWidget()
        grid = QGridLayout(self.plot_area)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        grid.addWidget(self.loss_plot, 0, 0, 1, 3)
        for col, (w, _) in enumerate(self.small.values()):
            grid.addWidget(w, 1, col)
        grid.addWidget(self.rewards_plot, 2, 0, 1, 2)
        grid.addWidget(self.accuracy_plot, 2, 2)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 1)
        grid.setRowStretch(2, 1)
        self._show_rewards(False)

        # before the first point: what the curves wait for, not empty axes
        self.waiting = QLabel(objectName="plotsWaiting", wordWrap=True,
                              alignment=Qt.AlignmentFlag.AlignCenter)
        self.waiting.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.waiting, 1)
        layout.addWidget(self.plot_area, 1)
        layout.addWidget(self.readout)

        self.timer = QTimer(self, interval=200, singleShot=True)
        self.timer.timeout.connect(self.flush)
        self._smoothing_changed(self.smoothing.value())

    lr_curve = property(lambda self: self.small["lr"][1])
    grad_curve = property(lambda self: self.small["grad"][1])
    tput_curve = property(lambda self: self.small["tput"][1])

    def set_waiting(self, text: str | None) -> None:
        """Say what the plots wait for while they have no point; None: show the plots."""
        has_points = any(len(s) for s in self.series.values())
        waiting = bool(text) and not has_points
        if text:
            self.waiting.setText(text)
        self.waiting.setVisible(waiting)
        self.plot_area.setVisible(not waiting)

    # ---- data in ------------------------------------------------------------------------
    def reset(self) -> None:
        for s in [*self.series.values(), self.smoothed]:
            s.clear()
        self._ema_state = (0.0, 0)
        self.readout.setText(" ")
        self.cursor.setVisible(False)
        self._show_rewards(False)
        self.flush()

    def _show_rewards(self, on: bool) -> None:
        self.rewards_plot.setVisible(on)
        self.accuracy_plot.setVisible(on)

    def has_rewards(self) -> bool:
        return any(len(self.series[k]) for k in REWARDS)

    def add_step(self, e: StepLogged) -> None:
        s = self.series
        if _plottable(e.loss):
            s["loss"].add(e.step, e.loss)
        if _plottable(e.learning_rate):
            s["lr"].add(e.step, e.learning_rate)
        if e.grad_norm is not None and _plottable(e.grad_norm):
            s["grad"].add(e.step, e.grad_norm)
        s["tput"].add(e.step, e.tokens_per_second)
        self._add_rewards(e.step, e.metrics, "r_")
        self._schedule()

    def _add_rewards(self, step: int, metrics: dict | None, prefix: str) -> None:
        if not metrics:
            return
        for key, (metric, *_) in REWARDS.items():
            if key.startswith(prefix) and metric in metrics and _plottable(metrics[metric]):
                self.series[key].add(step, metrics[metric])
        if self.rewards_plot.isHidden() and self.has_rewards():
            self._show_rewards(True)

    def add_eval(self, e: EvalLogged) -> None:
        # the base-model evaluation can arrive again on resume: a point at the same step
        # replaces the earlier one
        if _plottable(e.loss):
            self.series["val"].add(e.step, e.loss)
        self._add_rewards(e.step, getattr(e, "metrics", None), "v_")
        self._schedule()

    def load_events(self, events) -> None:
        for e in events:
            if isinstance(e, StepLogged):
                self.add_step(e)
            elif isinstance(e, EvalLogged):
                self.add_eval(e)

    def trim_after(self, step: int) -> None:
        """Drop points past ``step`` (a resumed run continues from its checkpoint)."""
        for s in [*self.series.values(), self.smoothed]:
            s.trim_after(step)
        self._ema_state = self._state_at_end()
        self._schedule()

    def _schedule(self) -> None:
        if not self.timer.isActive():
            self.timer.start()

    # ---- drawing ------------------------------------------------------------------------
    def flush(self) -> None:
        """Push pending points into the curves (the timer calls this; so does the end of a
        run, so that the curves are complete when it reports)."""
        self.timer.stop()
        if not self.waiting.isHidden() and any(len(s) for s in self.series.values()):
            self.set_waiting(None)
        loss, done = self.series["loss"], len(self.smoothed)
        if done < len(loss):
            more, self._ema_state = ema(loss.y[done:], self._weight(), self._ema_state)
            self.smoothed.extend(loss.x[done:], more)
        self._drawn = len(loss)
        self._draw()

    def _draw(self) -> None:
        self._view_timer.stop()
        for widget, curves in self._curves.items():
            vb = widget.getPlotItem().getViewBox()
            x_range, columns = self._drawn_view[vb] = self._wanted_view(vb)
            for curve, series in curves:
                key = (series.version, x_range, columns)
                if self._drawn_key.get(curve) == key:
                    continue
                self._drawn_key[curve] = key
                smooth = curve is self.smooth_curve
                x, y = series.view(*(x_range or (None, None)), columns, peaks=not smooth)
                if curve in self._markers:
                    # markers only while they stand apart: a thousand of them cost a
                    # frame and hide the line
                    curve.setSymbol("o" if len(x) <= columns // 12 else None)
                else:
                    show_single_points(curve, len(x))
                self._set_dense_pen(curve, len(x) > columns // 2, smooth)
                curve.setData(x, y)

    def _set_dense_pen(self, curve, dense: bool, smooth: bool) -> None:
        """Qt strokes a wide antialiased line through a vertex per pixel 10-300x slower
        than a 1-pixel one (bench/NOTES.md, plots): dense curves get a 1-pixel pen, and
        the smoothed loss, which must stay bold, loses antialiasing instead (its vertices
        are a pixel apart, where antialiasing shows little)."""
        pen = self._pens.setdefault(curve, pg.mkPen(curve.opts["pen"]))
        if smooth:
            curve.opts["antialias"] = not dense
            return
        want = pg.mkPen(pen.color(), width=1) if dense and pen.widthF() > 1 else pen
        if want.widthF() != curve.opts["pen"].widthF():
            curve.setPen(want)

    @staticmethod
    def _wanted_view(vb) -> tuple[tuple[float, float] | None, int]:
        """Auto-ranging follows the data, so it gets every step; zoomed in or panned, the
        visible steps only."""
        columns = max(100, int(vb.width()))
        return (None if vb.autoRangeEnabled()[0] else tuple(vb.viewRange()[0])), columns

    def _view_changed(self, vb, *_) -> None:
        if self._drawn_view.get(vb) != self._wanted_view(vb):
            self._view_timer.start()

    def _weight(self) -> float:
        return self.smoothing.value() / 100.0

    def _state_at_end(self) -> tuple[float, int]:
        """The EMA state after the points smoothed so far (undoing the debiasing)."""
        n = len(self.smoothed)
        if not n:
            return (0.0, 0)
        w = self._weight()
        return (float(self.smoothed.y[-1]) * (1 - w ** n) if w > 0 else
                float(self.smoothed.y[-1]), n)

    def _recompute_smooth(self) -> None:
        loss = self.series["loss"]
        values, self._ema_state = ema(loss.y, self._weight())
        self.smoothed.clear()
        self.smoothed.extend(loss.x, values)

    def _smoothing_changed(self, value: int) -> None:
        self.smoothing_label.setText(f"{value / 100:.2f}")
        self._recompute_smooth()
        self.smooth_curve.setVisible(value > 0)
        self._schedule()

    def _set_log(self, on: bool) -> None:
        self.loss_plot.getPlotItem().setLogMode(y=on)
        self.auto_range()

    def auto_range(self) -> None:
        for w in [self.loss_plot, self.rewards_plot, self.accuracy_plot] + \
                [w for w, _ in self.small.values()]:
            w.getPlotItem().enableAutoRange()
        self._draw()   # every step again, so that the range fits the whole run

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
        steps, losses = self.series["loss"].x, self.series["loss"].y
        if not len(steps):
            return ""
        i = int(np.clip(np.searchsorted(steps, x), 0, len(steps) - 1))
        if i > 0 and abs(steps[i - 1] - x) < abs(steps[i] - x):
            i -= 1
        step = int(steps[i])
        self.cursor.setPos(step)
        self.cursor.setVisible(True)
        parts = [f"step {step}", f"loss {losses[i]:.4f}"]
        if i < len(self.smoothed) and self.smoothing.value():
            parts.append(f"smoothed {self.smoothed.y[i]:.4f}")
        for key, label, fmt in (("lr", "lr", "{:.3g}"), ("grad", "grad norm", "{:.3g}"),
                                ("tput", "tok/s", "{:,.0f}")):
            s = self.series[key]
            if len(s):
                j = int(np.clip(np.searchsorted(s.x, step), 0, len(s.x) - 1))
                if s.x[j] == step:
                    parts.append(f"{label} {fmt.format(s.y[j])}")
        val = self.series["val"]
        if len(val):
            j = int(np.argmin(np.abs(val.x - step)))
            parts.append(f"{VAL_NAME} {val.y[j]:.4f} (step {int(val.x[j])})")
        return "   ·   ".join(parts)

    # ---- export -------------------------------------------------------------------------
    def loss_points(self) -> int:
        """Loss points handed to the curves at the last flush (drawn decimated when there
        are more than pixel columns)."""
        return self._drawn

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
            for x, y in zip(s.x.tolist(), s.y.tolist()):
                rows.setdefault(int(x), {})[col] = y
        for x, sm in zip(self.smoothed.x.tolist(), self.smoothed.y.tolist()):
            rows[int(x)]["loss_smoothed"] = sm
        cols = ["step", "loss", "loss_smoothed", "eval_loss", "learning_rate", "grad_norm",
                "tokens_per_second"]
        if self.has_rewards():
            for key, (metric, *_) in REWARDS.items():
                col = ("eval_" if key.startswith("v_") else "") + metric
                cols.append(col)
                s = self.series[key]
                for x, y in zip(s.x.tolist(), s.y.tolist()):
                    rows.setdefault(int(x), {})[col] = y
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
