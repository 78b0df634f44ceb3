"""Must-show 3 and 4: user errors land at the field or in the banner, a bug in the worker
becomes a message, and the window stays usable for the next run."""

from pathlib import Path

from PySide6.QtCore import Qt, QTimer

from ftgui.core.runs import RunDir

WIKI = Path(__file__).resolve().parents[1] / "fixtures" / "wiki-small.txt"


def _type(qtbot, editor, text):
    editor.selectAll()
    qtbot.keyClick(editor, Qt.Key.Key_Delete)
    qtbot.keyClicks(editor, text)


def test_missing_model_and_broken_dataset_then_a_good_run(window, qtbot, make_config,
                                                          tmp_path, tiny_model_dir):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "fine"}\n{"text": "no closing quote}\n', encoding="utf-8")
    missing = tmp_path / "no-such-model"
    assert window.load_config(make_config(model={"source": str(missing)},
                                          data={"source": str(broken)}))
    model_field = window.fields["model.source"]
    data_field = window.fields["data.source"]
    # marked at the fields before Train is pressed, without a traceback
    assert "does not exist" in model_field.problem_text()
    assert model_field.editor.property("invalid")
    qtbot.waitUntil(lambda: "line 2" in data_field.problem_text(), timeout=30000)
    assert "not valid JSON" in data_field.problem_text()

    qtbot.mouseClick(window.run_panel.train_button, Qt.MouseButton.LeftButton)
    assert not window.running
    assert "does not exist" in window.banner.text()
    assert window.tabs.currentIndex() == 0  # focus went to the field at fault

    # fix both by typing, as a person would
    _type(qtbot, window.findChild(type(model_field.editor), "modelSource"), str(tiny_model_dir))
    _type(qtbot, window.findChild(type(data_field.editor), "datasetSource"), str(WIKI))
    qtbot.waitUntil(lambda: not window.model.problems(), timeout=30000)
    assert model_field.problem_text() == "" and data_field.problem_text() == ""
    with qtbot.waitSignal(window.runFinished, timeout=120000) as blocker:
        qtbot.mouseClick(window.run_panel.train_button, Qt.MouseButton.LeftButton)
    assert window.banner.isHidden()
    assert RunDir(blocker.args[0]).status() == "finished"


def test_data_broken_after_preview_is_reported_by_the_run(window, qtbot, make_config,
                                                          tmp_path):
    """The core's own user error (DataError) reaches the banner and the field."""
    data = tmp_path / "data.jsonl"
    data.write_text("".join(f'{{"text": "line {i} of some text to train on"}}\n'
                            for i in range(300)), encoding="utf-8")
    assert window.load_config(make_config(data={"source": str(data)}))
    qtbot.waitUntil(lambda: window.data_panel.preview is not None
                    and window.data_panel.preview.stats is not None, timeout=30000)
    data.write_text(data.read_text() + "{oops\n", encoding="utf-8")
    with qtbot.waitSignal(window.runFailed, timeout=60000) as blocker:
        qtbot.mouseClick(window.run_panel.train_button, Qt.MouseButton.LeftButton)
    assert "line 301 is not valid JSON" in blocker.args[0]
    assert "line 301" in window.banner.text()
    assert "Traceback" not in window.banner.text()
    assert "line 301" in window.fields["data.source"].problem_text()
    assert not window.running and window.run_panel.train_button.isEnabled()


def test_exception_in_worker_becomes_run_failed(window, qtbot, make_config, monkeypatch):
    from transformers import GPT2LMHeadModel

    # same parameters as the real forward, so the Trainer keeps the input columns
    def broken_forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        raise RuntimeError("forward exploded on purpose")

    monkeypatch.setattr(GPT2LMHeadModel, "forward", broken_forward)
    assert window.load_config(make_config())
    with qtbot.waitSignal(window.runFailed, timeout=60000) as blocker:
        qtbot.mouseClick(window.run_panel.train_button, Qt.MouseButton.LeftButton)
    assert "forward exploded on purpose" in blocker.args[0]
    assert "forward exploded on purpose" in window.banner.text()
    assert window.banner.log_button.isVisible()  # a bug: the log has the traceback
    assert "Traceback" not in window.banner.text()

    # still responsive: the event loop runs timers, widgets react, a new run works
    fired = []
    QTimer.singleShot(10, lambda: fired.append(1))
    qtbot.waitUntil(lambda: fired == [1], timeout=2000)
    qtbot.mouseClick(window.tabs.tabBar(), Qt.MouseButton.LeftButton,
                     pos=window.tabs.tabBar().tabRect(2).center())
    assert window.tabs.currentIndex() == 2
    monkeypatch.undo()
    with qtbot.waitSignal(window.runFinished, timeout=120000):
        qtbot.mouseClick(window.run_panel.train_button, Qt.MouseButton.LeftButton)
    assert window.banner.isHidden()
