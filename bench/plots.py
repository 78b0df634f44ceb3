#!/usr/bin/env python
"""Target 7: redraw time of the loss plot holding 1,000,000 points while 100 points are
appended per update.

    python bench/plots.py [--quick] [--points 1000000] [--json OUT]

Side "app": the app's own ``TrainingPlots`` widget (ftgui/gui/widgets/plots.py), offscreen at
1200 x 700, its series filled with N steps of loss, learning rate, grad norm and tokens/s
(a validation point every 1,000 steps). One update = append 100 steps to every series
(as events do, outside the timed part), then ``flush()`` (what the widget's 200 ms timer
calls) and a full paint into a pixmap with ``grab()``: of the loss plot (the target's
figure), then of the three small plots (the "all four" figure adds them). (An earlier version timed ``plot_area.repaint()``, which does not
paint the QGraphicsView viewports synchronously: the curves were drawn later, inside the
untimed ``processEvents``, and the figure left out the drawing.)

Side "pyqtgraph": a bare PlotWidget with one curve configured as pyqtgraph recommends for
large data (``setClipToView(True)``, ``setDownsampling(auto=True, method="peak")``,
antialias), its points in numpy buffers that grow by doubling, ``setData`` with views +
``grab()``: the loss curve alone the way the app drew it before its own min/max pyramid.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import median, percentile  # noqa: E402


def _curve(n: int, start: int = 0):
    import numpy as np
    x = np.arange(start, start + n, dtype=float)
    rng = np.random.default_rng(start)
    y = 2.0 + 4.0 / np.sqrt(1 + x / 500) + 0.1 * rng.standard_normal(n)
    return x, y


def bench_app(points: int, updates: int) -> list[float]:
    from PySide6.QtWidgets import QApplication
    from ftgui.gui.widgets.plots import TrainingPlots
    app = QApplication.instance() or QApplication([])
    w = TrainingPlots()
    w.resize(1200, 700)
    w.show()
    app.processEvents()
    x, y = _curve(points)
    s = w.series
    for key, f in (("loss", 1.0), ("lr", 1e-4), ("grad", 1.0), ("tput", 5000.0)):
        s[key].extend(x, y * f)
    s["val"].extend(x[::1000], y[::1000])
    w.flush()
    w.plot_area.grab()
    app.processEvents()
    times, all_four = [], []
    step = points
    for _ in range(updates):
        nx, ny = _curve(100, step)
        for i in range(100):
            for key, f in (("loss", 1.0), ("lr", 1e-4), ("grad", 1.0), ("tput", 5000.0)):
                s[key].add(float(nx[i]), float(ny[i]) * f)
        step += 100
        t = time.perf_counter()
        w.flush()
        w.loss_plot.grab()
        t1 = time.perf_counter()
        for small, _ in w.small.values():
            small.grab()
        t2 = time.perf_counter()
        times.append((t1 - t) * 1000)
        all_four.append((t2 - t) * 1000)
        app.processEvents()
    assert w.loss_points() == step, (w.loss_points(), step)
    assert w.series["loss"].y[-1] == w.raw_curve.yData[-1]   # the newest point drawn exactly
    w.close()
    w.deleteLater()
    app.processEvents()
    return times, all_four


def bench_buffers(points: int, updates: int) -> list[float]:
    import numpy as np
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication
    app = QApplication.instance() or QApplication([])
    pg.setConfigOptions(antialias=True)
    w = pg.PlotWidget()
    w.resize(1200, 520)
    curve = w.getPlotItem().plot(pen=pg.mkPen((59, 130, 246, 80), width=1))
    curve.setDownsampling(auto=True, method="peak")
    curve.setClipToView(True)
    w.show()
    cap = 1
    while cap < points + updates * 100:
        cap *= 2
    bx, by = np.empty(cap), np.empty(cap)
    x, y = _curve(points)
    bx[:points], by[:points] = x, y
    n = points
    curve.setData(bx[:n], by[:n])
    w.grab()
    app.processEvents()
    times = []
    for _ in range(updates):
        nx, ny = _curve(100, n)
        t = time.perf_counter()
        bx[n:n + 100], by[n:n + 100] = nx, ny
        n += 100
        curve.setData(bx[:n], by[:n])
        w.grab()
        times.append((time.perf_counter() - t) * 1000)
        app.processEvents()
    w.close()
    return times


def run(quick: bool = False, points: int = 1_000_000) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    updates = 15 if quick else 60
    rounds = 1 if quick else 2
    app_t, all_t, buf_t = [], [], []
    for r in range(rounds):  # interleaved: app, buffers, buffers, app
        if r % 2:
            buf_t += bench_buffers(points, updates)
        loss, four = bench_app(points, updates)
        app_t += loss
        all_t += four
        if r % 2 == 0:
            buf_t += bench_buffers(points, updates)
    return {"points": points, "updates": len(app_t), "append_per_update": 100,
            "paint": "grab",
            "app_median_ms": median(app_t), "app_p95_ms": percentile(app_t, 95),
            "app_max_ms": max(app_t),
            "all_median_ms": median(all_t), "all_p95_ms": percentile(all_t, 95),
            "all_max_ms": max(all_t),
            "buffers_median_ms": median(buf_t), "buffers_p95_ms": percentile(buf_t, 95),
            "buffers_max_ms": max(buf_t)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--json")
    a = ap.parse_args()
    res = run(a.quick, a.points)
    print(json.dumps(res, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
