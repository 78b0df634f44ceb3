"""Must-show 1: load a config, click Train, watch it finish."""

from pathlib import Path

from PySide6.QtCore import Qt

from ftgui.core.events import StepLogged, read_events
from ftgui.core.runs import RunDir


def test_train_to_finish(window, qtbot, make_config):
    assert window.load_config(make_config())
    train = window.findChild(type(window.run_panel.train_button), "trainButton")
    assert train.isEnabled()
    with qtbot.waitSignal(window.runFinished, timeout=120000) as blocker:
        qtbot.mouseClick(train, Qt.MouseButton.LeftButton)
    run_dir = Path(blocker.args[0])

    steps = [e for e in read_events(run_dir / "events.jsonl") if isinstance(e, StepLogged)]
    assert len(steps) == 20
    assert window.plots.loss_points() == len(steps)
    assert list(window.plots.raw_curve.xData) == [e.step for e in steps]

    bar = window.findChild(type(window.run_panel.progress), "progressBar")
    assert bar.maximum() == 20 and bar.value() == bar.maximum()

    rd = RunDir(run_dir)
    assert rd.status() == "finished"
    assert (rd.model_dir / "config.json").exists()
    assert any(rd.model_dir.glob("*.safetensors"))
    assert window.banner.isHidden()
    assert train.isEnabled() and not window.run_panel.stop_button.isEnabled()


def test_fail10_a_diverged_run_is_shown_as_diverged_with_advice(window, qtbot, make_config):
    """learning_rate 1e308: the run panel says diverged, the banner suggests a lower
    learning rate, and no model is saved."""
    assert window.load_config(make_config(training={"learning_rate": 1e308}))
    with qtbot.waitSignal(window.runFinished, timeout=120000) as blocker:
        qtbot.mouseClick(window.run_panel.train_button, Qt.MouseButton.LeftButton)
    rd = RunDir(blocker.args[0])
    assert rd.status() == "diverged" and not rd.model_dir.exists()
    assert "Diverged" in window.run_panel.progress.format()
    assert "Training diverged" in window.run_panel.log_pane.toPlainText()
    assert not window.banner.isHidden()
    assert "lower training.learning_rate" in window.banner.label.text()
