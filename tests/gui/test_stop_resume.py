"""Must-show 2: Stop mid-run leaves a checkpoint; Resume continues from it, and the curve
continues from the same step. Closing during a run asks, then stops cleanly."""

from pathlib import Path

from PySide6.QtCore import Qt

from ftgui.core.events import RunStarted, StepLogged, read_events
from ftgui.core.runs import RunDir


def _click(qtbot, button):
    assert button.isEnabled(), button.objectName()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_stop_then_resume_continues_the_curve(window, qtbot, make_config):
    assert window.load_config(make_config(training={"max_steps": 60, "eval_steps": None}))
    rp = window.run_panel
    _click(qtbot, rp.train_button)
    qtbot.waitUntil(lambda: len(window.plots.series["loss"].x) >= 5, timeout=120000)
    with qtbot.waitSignal(window.runFinished, timeout=60000) as blocker:
        _click(qtbot, rp.stop_button)
    rd = RunDir(blocker.args[0])
    assert rd.status() == "stopped"
    ckpt = rd.latest_checkpoint()
    assert ckpt is not None
    stopped_at = int(ckpt.name.split("-")[1])
    assert 5 <= stopped_at < 60
    assert window.plots.series["loss"].x[-1] == stopped_at
    assert "Stopped" in rp.progress.format()

    # the stopped run is selected and resumable (the runs folder is read off the GUI thread)
    qtbot.waitUntil(lambda: rp.runs.currentData() is not None and rp.resume_button.isEnabled())
    assert Path(rp.runs.currentData()) == rd.path
    with qtbot.waitSignal(window.runFinished, timeout=120000):
        _click(qtbot, rp.resume_button)
    assert rd.status() == "finished"
    starts = [e for e in read_events(rd.events_path) if isinstance(e, RunStarted)]
    assert [s.start_step for s in starts] == [0, stopped_at]
    steps = [e.step for e in read_events(rd.events_path) if isinstance(e, StepLogged)]
    assert steps == list(range(1, 61))
    # one curve, continuing at the step where it stopped, no gap and no repeat
    assert list(window.plots.raw_curve.xData) == list(range(1, 61))
    assert rp.progress.value() == rp.progress.maximum() == 60
    assert (rd.model_dir / "config.json").exists()


def test_close_during_run_asks_then_stops_cleanly(window, qtbot, make_config, monkeypatch):
    asked = []
    monkeypatch.setattr(window, "ask_close_during_run", lambda: asked.append(1) or True)
    assert window.load_config(make_config(training={"max_steps": 500, "eval_steps": None}))
    _click(qtbot, window.run_panel.train_button)
    qtbot.waitUntil(lambda: len(window.plots.series["loss"].x) >= 2, timeout=120000)
    with qtbot.waitSignal(window.runFinished, timeout=60000) as blocker:
        window.close()
        assert window.isVisible()  # it waits for the checkpoint before closing
    assert asked == [1]
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10000)
    rd = RunDir(blocker.args[0])
    assert rd.status() == "stopped" and rd.latest_checkpoint() is not None
