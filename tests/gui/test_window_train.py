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
