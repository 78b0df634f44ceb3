"""The training curves: decimated drawing that keeps spikes and the newest points, the
incremental smoothing, zoom, resume trimming and a CSV with every point."""

import csv

import numpy as np
import pytest

from ftgui.core.events import EvalLogged, StepLogged
from ftgui.gui.widgets.plots import TrainingPlots, _Series, ema


def ema_reference(values, weight):
    out, last = [], 0.0
    for n, v in enumerate(values, 1):
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight ** n) if weight > 0 else v)
    return np.array(out)


def noisy_loss(n, start=0, seed=0):
    x = np.arange(start + 1, start + n + 1, dtype=float)
    y = 2 + 4 / np.sqrt(1 + x / 500) + 0.1 * np.random.default_rng(seed).standard_normal(n)
    return x, y


@pytest.mark.parametrize("weight", [0.0, 0.01, 0.6, 0.99])
def test_ema_matches_the_step_by_step_average_and_continues(weight):
    _, y = noisy_loss(20_000)
    ref = ema_reference(y, weight)
    whole, _ = ema(y, weight)
    np.testing.assert_allclose(whole, ref, rtol=1e-9, atol=1e-12)
    first, state = ema(y[:12_345], weight)
    rest, _ = ema(y[12_345:], weight, state)
    np.testing.assert_allclose(np.concatenate([first, rest]), ref, rtol=1e-9, atol=1e-12)


def columns_brute_force(x, y, xs, ys):
    """Each (x, min, max) column pair of a peak view against the points it stands for."""
    pairs = 0
    for i in range(0, len(xs) - 1, 2):
        if xs[i] != xs[i + 1]:
            break   # past the columns: the exact tail
        lo = np.searchsorted(x, xs[i])
        hi = np.searchsorted(x, xs[i + 2]) if i + 2 < len(xs) else len(x)
        assert ys[i] == y[lo:hi].min() and ys[i + 1] == y[lo:hi].max()
        pairs += 1
    return pairs, i


def test_peak_view_keeps_spikes_exact_minmax_and_the_newest_points():
    s = _Series()
    x, y = noisy_loss(1_000_003)
    y[123_457] = 50.0    # a loss spike one step wide
    y[777_777] = -3.0
    for a in range(0, len(x), 250_001):   # appended in chunks, as flushes do
        s.extend(x[a:a + 250_001], y[a:a + 250_001])
    xs, ys = s.view(columns=1000)
    assert len(xs) < 4000                      # not a million points
    assert ys.max() == 50.0 and ys.min() == -3.0
    assert np.all(np.diff(xs) >= 0)
    pairs, tail = columns_brute_force(x, y, xs, ys)
    assert 1000 <= pairs <= 1250
    np.testing.assert_array_equal(xs[tail:], x[-(len(xs) - tail):])   # tail exact
    assert xs[-1] == x[-1] and ys[-1] == y[-1]


def test_view_after_trim_and_regrowth_and_zoom():
    s = _Series()
    x, y = noisy_loss(300_000)
    s.extend(x, y)
    s.view(columns=500)            # the pyramid is built ...
    s.trim_after(150_000.5)        # ... then a resume drops the steps after a checkpoint
    x2, y2 = noisy_loss(100_000, start=150_000, seed=7)
    y2[5] = 99.0
    s.extend(x2, y2)
    xa, ya = np.concatenate([x[:150_000], x2]), np.concatenate([y[:150_000], y2])
    np.testing.assert_array_equal(s.x, xa)
    xs, ys = s.view(columns=700)
    assert ys.max() == 99.0
    columns_brute_force(xa, ya, xs, ys)
    # zoomed in on 400 steps: every point, exactly
    zx, zy = s.view(1000.0, 1400.0, columns=700)
    assert zx[0] <= 1000 and zx[-1] >= 1400
    np.testing.assert_array_equal(zy, ya[int(zx[0]) - 1:int(zx[-1])])
    # a step that goes back replaces the points from it on
    s.add(10.0, 1.5)
    assert len(s) == 10 and s.y[-1] == 1.5


@pytest.fixture
def plots(qtbot):
    """The curves widget shown at a typical size (its pixel width sets the columns)."""
    w = TrainingPlots()
    qtbot.addWidget(w)
    w.resize(1200, 700)
    w.show()
    qtbot.waitExposed(w)
    return w


def add_steps(plots, x, y):
    for step, loss in zip(x, y):
        plots.add_step(StepLogged(step=int(step), total_steps=len(x), epoch=0.0,
                                  loss=float(loss), learning_rate=1e-4, grad_norm=1.0,
                                  tokens_per_second=1000.0, elapsed=1.0, eta=1.0))


def test_long_run_draws_decimated_with_spike_newest_point_and_full_csv(plots, qtbot,
                                                                      tmp_path):
    x, y = noisy_loss(200_000)
    y[54_321] = 40.0
    s = plots.series
    s["loss"].extend(x, y)
    for key in ("lr", "grad", "tput"):
        s[key].extend(x, np.ones_like(x))
    plots.flush()
    add_steps(plots, x[-1] + np.arange(1, 51), np.full(50, 1.25))   # live events
    plots.add_eval(EvalLogged(step=200_050, loss=1.3, perplexity=3.7))
    qtbot.waitUntil(lambda: plots.loss_points() == 200_050, timeout=3000)

    rx, ry = plots.raw_curve.xData, plots.raw_curve.yData
    assert len(rx) < 3 * plots.loss_plot.width()      # decimated to the pixels
    assert ry.max() == 40.0                            # the spike survives
    assert rx[-1] == 200_050 and ry[-1] == 1.25        # the newest point, exactly
    ref = ema_reference(np.concatenate([y, np.full(50, 1.25)]), 0.6)
    assert plots.smoothed.y[-1] == pytest.approx(ref[-1], rel=1e-9)
    assert plots.smooth_curve.yData[-1] == pytest.approx(ref[-1], rel=1e-9)

    # zoom in: the visible steps come back at full resolution
    plots.loss_plot.getPlotItem().setXRange(1000, 1300, padding=0)
    qtbot.waitUntil(lambda: len(plots.raw_curve.xData) < 400, timeout=3000)
    np.testing.assert_array_equal(plots.raw_curve.yData, y[int(plots.raw_curve.xData[0]) - 1:
                                                           int(plots.raw_curve.xData[-1])])
    plots.auto_range()
    assert plots.raw_curve.xData[-1] == 200_050

    path = tmp_path / "curves.csv"
    plots.export_csv(path)
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 200_050
    assert rows[54_321]["step"] == "54322" and float(rows[54_321]["loss"]) == 40.0
    assert rows[-1]["eval_loss"] == "1.3" and float(rows[-1]["loss"]) == 1.25


def test_resume_trim_continues_the_smoothing(plots):
    x, y = noisy_loss(1000)
    add_steps(plots, x, y)
    plots.flush()
    plots.trim_after(600)              # resumed from the checkpoint of step 600
    x2, y2 = noisy_loss(300, start=600, seed=3)
    add_steps(plots, x2, y2)
    plots.flush()
    ref = ema_reference(np.concatenate([y[:600], y2]), 0.6)
    np.testing.assert_allclose(plots.smoothed.y, ref, rtol=1e-9)
    assert list(plots.raw_curve.xData) == list(range(1, 901))   # fits: every point
    plots.smoothing.setValue(90)       # the slider recomputes the whole curve
    plots.flush()
    np.testing.assert_allclose(plots.smooth_curve.yData,
                               ema_reference(np.concatenate([y[:600], y2]), 0.9), rtol=1e-9)


def _step(step, loss=3.0):
    return StepLogged(step=step, total_steps=100, epoch=0.0, loss=loss, learning_rate=1e-3,
                      grad_norm=1.0, tokens_per_second=1000.0, elapsed=1.0, eta=1.0)


def test_first_points_whole_steps_from_zero_dots_labels_and_legend(plots, qtbot):
    plots.add_eval(EvalLogged(step=0, loss=3.2, perplexity=24.5))
    plots.flush()
    vb = plots.loss_plot.getPlotItem().getViewBox()
    qtbot.waitUntil(lambda: vb.viewRange()[0][1] > 0.5)
    x0, x1 = vb.viewRange()[0]
    assert -0.5 <= x0 <= 0 and 1 <= x1 <= 3   # step 0 in view: not -400..400 (x0.001)
    axis = plots.loss_plot.getPlotItem().getAxis("bottom")
    ticks = [v for _, vs in axis.tickValues(x0, x1, 800) for v in vs]
    assert ticks and all(v >= 0 and float(v).is_integer() for v in ticks)
    assert axis.labelText == "step" and axis.labelUnitPrefix == ""

    plots.add_step(_step(1))
    plots.flush()
    # one training point is a dot on each plot, not an invisible line
    for curve in (plots.raw_curve, plots.lr_curve, plots.grad_curve, plots.tput_curve):
        assert list(curve.xData) == [1] and curve.opts["symbol"] == "o"
    plots.add_step(_step(2, 2.9))
    plots.flush()
    assert plots.raw_curve.opts["symbol"] is None   # two points: a line again

    labels = {w.objectName(): w.getPlotItem().getAxis("left").labelText
              for w in [plots.loss_plot] + [w for w, _ in plots.small.values()]}
    assert labels == {"lossPlot": "loss", "lrPlot": "learning rate",
                      "gradPlot": "grad norm", "tputPlot": "tokens / s"}
    # values as they are: no "(x1e-05)" added to a label, which a small plot cuts off
    plots.lr_curve.setData([1, 2], [2e-5, 3e-5])
    lr_axis = plots.small["lr"][0].getPlotItem().getAxis("left")
    lr_axis.setRange(2e-5, 3e-5)
    assert lr_axis.labelString().count("x1e") == 0 and "learning rate" in lr_axis.labelString()
    # the legend sits above the data area, where it can cover no point
    legend = plots.legend.sceneBoundingRect()
    assert legend.bottom() <= vb.sceneBoundingRect().top() + 1
    names = [label.text for _, label in plots.legend.items]
    assert names == ["train loss (raw)", "train loss (smoothed)", "validation loss"]
