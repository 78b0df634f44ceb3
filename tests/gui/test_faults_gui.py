"""Issue 9, the window's side: it asks before running a model's own code, and a fault in
any worker (training out of memory, a full disk, model info, dataset preview) reaches the
person as a message while the window keeps working."""

import errno

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from ftgui.core.errors import DataError, ModelError
from ftgui.core.runs import RunDir
from ftgui.gui.workers import inspect
from ftgui.gui.panels.model import trust_question
from ftgui.gui.workers.run_worker import _LIVE, wait_for_tasks

TRUST = "model.trust_remote_code"


@pytest.fixture
def answer(monkeypatch, window):
    """QMessageBox.question answers with ``answer.reply``; each question is recorded with
    the trust setting as it was when it was asked."""
    class Answer:
        reply = QMessageBox.StandardButton.No
        asked: list = []

    def question(parent, title, text, *args, **kwargs):
        Answer.asked.append((title, text, window.model.config.model.trust_remote_code))
        return Answer.reply

    Answer.asked = []
    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    return Answer


# ---- trust_remote_code ----------------------------------------------------------------------
def test_trust_question_names_the_source():
    title, text = trust_question("someone/odd-model")
    assert "Run Python code shipped with someone/odd-model?" in text
    assert "Only for repositories you trust." in text


def test_ticking_trust_remote_code_asks_no_keeps_it_off(window, qtbot, make_config, answer,
                                                         tiny_model_dir):
    assert window.load_config(make_config())
    assert answer.asked == []  # off in the file: nothing to ask
    box = window.fields[TRUST].editor
    answer.reply = QMessageBox.StandardButton.No
    box.click()
    assert len(answer.asked) == 1
    title, text, on_when_asked = answer.asked[0]
    assert f"Run Python code shipped with {tiny_model_dir}?" in text
    assert on_when_asked is False  # asked before the setting (and any load) changed
    assert not box.isChecked()
    assert window.model.config.model.trust_remote_code is False

    answer.reply = QMessageBox.StandardButton.Yes
    box.click()
    assert len(answer.asked) == 2
    assert box.isChecked()
    assert window.model.config.model.trust_remote_code is True
    # turning it off again asks nothing
    box.click()
    assert len(answer.asked) == 2 and not box.isChecked()
    assert window.model.config.model.trust_remote_code is False


def test_loading_a_config_with_trust_remote_code_asks(window, qtbot, make_config, answer,
                                                      tiny_model_dir):
    path = make_config(model={"trust_remote_code": True})
    answer.reply = QMessageBox.StandardButton.No
    assert window.load_config(path)
    assert len(answer.asked) == 1
    assert f"shipped with {tiny_model_dir}?" in answer.asked[0][1]
    assert answer.asked[0][2] is False  # the window's config was not replaced yet
    assert window.model.config.model.trust_remote_code is False
    assert not window.fields[TRUST].editor.isChecked()
    assert window.dirty  # the settings differ from the file now
    assert "trust_remote_code turned off" in window.run_panel.log_pane.toPlainText()

    answer.reply = QMessageBox.StandardButton.Yes
    assert window.load_config(path)
    assert len(answer.asked) == 2
    assert window.model.config.model.trust_remote_code is True
    assert window.fields[TRUST].editor.isChecked()
    assert not window.dirty


def test_model_needing_remote_code_marks_the_checkbox(window, qtbot, make_config,
                                                      monkeypatch, answer):
    def needs_code(cfg, progress=None):
        raise ModelError("This model needs its own code: turn on model.trust_remote_code "
                         "only if you trust its author.", field=TRUST)

    monkeypatch.setattr(inspect, "model_info", needs_code)
    assert window.load_config(make_config())
    field = window.fields[TRUST]
    qtbot.waitUntil(lambda: "trust its author" in field.problem_text(), timeout=30000)
    monkeypatch.undo()
    monkeypatch.setattr(QMessageBox, "question", staticmethod(
        lambda *a, **k: QMessageBox.StandardButton.Yes))
    field.editor.click()
    assert window.model.config.model.trust_remote_code is True
    assert field.problem_text() == ""  # answered: the mark goes
    qtbot.waitUntil(lambda: window.model_panel.info is not None, timeout=60000)


# ---- training faults ------------------------------------------------------------------------
def test_out_of_memory_names_the_batch_size_and_the_next_run_starts(window, qtbot, make_config,
                                                                    monkeypatch):
    from transformers import GPT2LMHeadModel

    def oom_forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB "
                           "total capacity; 5.01 GiB already allocated)")

    monkeypatch.setattr(GPT2LMHeadModel, "forward", oom_forward)
    assert window.load_config(make_config())
    with qtbot.waitSignal(window.runFailed, timeout=120000) as blocker:
        qtbot.mouseClick(window.run_panel.train_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].startswith("Out of memory")
    banner = window.banner.text()
    assert "Out of memory" in banner and "training.batch_size" in banner
    assert "lora" in banner  # the advice: what to change
    assert "Traceback" not in banner and "The run failed" not in banner  # a user error
    assert not window.banner.field_button.isHidden()
    field = window.fields["training.batch_size"]
    assert "Out of memory" in field.problem_text() and field.editor.property("invalid")
    window.banner.field_button.click()
    assert window.tabs.currentIndex() == 2  # the Training tab
    # the window is idle and usable; the failed run can be resumed (from step 0)
    assert not window.running and window.run_panel.train_button.isEnabled()
    qtbot.waitUntil(window.run_panel.resume_button.isEnabled)

    monkeypatch.undo()  # "freed memory": the same settings may be tried again
    with qtbot.waitSignal(window.runFinished, timeout=120000) as blocker:
        qtbot.mouseClick(window.run_panel.train_button, Qt.MouseButton.LeftButton)
    assert RunDir(blocker.args[0]).status() == "finished"
    assert field.problem_text() == "" and window.banner.isHidden()


def test_disk_full_keeps_resume_and_resume_restarts_from_zero(window, qtbot, make_config,
                                                              monkeypatch):
    from transformers import Trainer

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "/full/checkpoint-5/model")

    monkeypatch.setattr(Trainer, "_save_checkpoint", full)
    assert window.load_config(make_config(training={"save_steps": 5, "max_steps": 10}))
    with qtbot.waitSignal(window.runFailed, timeout=120000):
        qtbot.mouseClick(window.run_panel.train_button, Qt.MouseButton.LeftButton)
    assert "disk is full" in window.banner.text()
    assert window.banner._field == "training.output_dir"
    assert window.fields["training.output_dir"].problem_text()
    run_dir = window.last_run_dir
    assert RunDir(run_dir).status() == "failed" and RunDir(run_dir).latest_checkpoint() is None
    qtbot.waitUntil(window.run_panel.resume_button.isEnabled)
    assert window.run_panel.selected_run().path == RunDir(run_dir).path
    assert window.plots.loss_points() > 0

    monkeypatch.undo()  # space again
    with qtbot.waitSignal(window.runFinished, timeout=120000) as blocker:
        qtbot.mouseClick(window.run_panel.resume_button, Qt.MouseButton.LeftButton)
    assert RunDir(blocker.args[0]).path == RunDir(run_dir).path
    assert RunDir(run_dir).status() == "finished"
    assert "training again from step 0" in window.run_panel.log_pane.toPlainText()
    assert window.fields["training.output_dir"].problem_text() == ""
    # each step once on the curve: the restart replaced the points of the failed try
    xs = list(window.plots.series["loss"].x)
    assert xs == sorted(set(xs)) and xs[-1] == 10


def test_interrupted_run_without_checkpoint_is_resumable(window, qtbot, tmp_path):
    rd = RunDir(tmp_path / "cut-off")
    rd.path.mkdir()
    (rd.path / "config.yaml").write_text("model: {}\n", encoding="utf-8")
    rd.write_summary({"status": "running"})   # nobody holds its lock: the writer is gone
    assert rd.status() == "interrupted"
    with qtbot.waitSignal(window.run_panel.resumeChecked):
        window.run_panel.refresh_runs(select=str(rd.path))
    assert window.run_panel.selected_run().path == rd.path.resolve()
    assert window.run_panel.resume_button.isEnabled()
    assert "step 0" in window.run_panel.resume_button.toolTip()


# ---- background workers ---------------------------------------------------------------------
def _all_tasks_ended(qtbot):
    """Every background task has returned and reported (its thread is free again)."""
    assert wait_for_tasks(30000)
    qtbot.waitUntil(lambda: not _LIVE, timeout=30000)


def test_model_info_worker_failures_reach_the_user(window, qtbot, make_config, monkeypatch):
    panel = window.model_panel
    monkeypatch.setattr(inspect, "model_info", lambda cfg, progress=None: 1 / 0)
    assert window.load_config(make_config())
    qtbot.waitUntil(lambda: "ZeroDivisionError" in panel.busy.label.text(), timeout=30000)
    assert "Could not read the model details" in panel.busy.label.text()
    assert window.fields["model.source"].problem_text() == ""  # a bug: not the field's fault
    _all_tasks_ended(qtbot)

    def user_error(cfg, progress=None):
        raise ModelError("The model's config.json is not valid JSON.", field="model.source")

    monkeypatch.setattr(inspect, "model_info", user_error)
    panel.load_info(force=True)
    qtbot.waitUntil(lambda: "not valid JSON" in window.fields["model.source"].problem_text(),
                    timeout=30000)
    _all_tasks_ended(qtbot)

    monkeypatch.undo()  # the app keeps working
    panel.load_info(force=True)
    qtbot.waitUntil(lambda: panel.info is not None, timeout=60000)
    assert window.fields["model.source"].problem_text() == ""
    assert "GPT2" in panel.arch.text()


def test_dataset_preview_worker_failures_reach_the_user(window, qtbot, make_config,
                                                        monkeypatch):
    panel = window.data_panel
    assert window.load_config(make_config())
    qtbot.waitUntil(lambda: panel.preview is not None, timeout=60000)
    assert wait_for_tasks(30000)

    def bug(data_cfg, model_cfg, seed, progress=None):
        raise Exception("preview exploded on purpose")

    monkeypatch.setattr(inspect, "data_preview", bug)
    panel.load_preview(force=True)
    qtbot.waitUntil(lambda: "preview exploded on purpose" in panel.stats.text(), timeout=30000)
    assert "The preview failed" in panel.stats.text()
    assert panel.preview is None
    _all_tasks_ended(qtbot)

    def user_error(data_cfg, model_cfg, seed, progress=None):
        raise DataError("line 3 is not valid JSON on purpose", field="data.source")

    monkeypatch.setattr(inspect, "data_preview", user_error)
    panel.load_preview(force=True)
    qtbot.waitUntil(lambda: "on purpose" in window.fields["data.source"].problem_text(),
                    timeout=30000)
    _all_tasks_ended(qtbot)
    # Train refuses with the message in the banner rather than crashing
    qtbot.mouseClick(window.run_panel.train_button, Qt.MouseButton.LeftButton)
    assert not window.running and "on purpose" in window.banner.text()

    monkeypatch.undo()  # the app keeps working
    panel.load_preview(force=True)
    qtbot.waitUntil(lambda: panel.preview is not None, timeout=60000)
    qtbot.waitUntil(lambda: window.fields["data.source"].problem_text() == "", timeout=30000)


def test_a_background_task_outliving_its_signals_finishes_quietly(qtbot):
    """At exit Qt may delete a task's signal object while the task still runs (a model
    read importing torch): its progress and result then go nowhere, without an error."""
    import threading

    import shiboken6

    from ftgui.gui.workers.run_worker import run_task

    go, steps = threading.Event(), []

    def work(progress):
        go.wait(10)
        progress("half way")      # raised "Signal source has been deleted" before
        steps.append("after progress")
        return 1

    task = run_task(work, lambda _: None, on_progress=lambda _: None)
    shiboken6.delete(task.signals)
    go.set()
    assert wait_for_tasks(10000)
    assert steps == ["after progress"]


def test_a_result_for_a_closed_widget_is_dropped(qtbot):
    """A panel or dialog closed (deleted) while its task runs: the task's result, error
    and progress are not delivered to it, and later tasks still report normally."""
    import threading

    import shiboken6
    from PySide6.QtWidgets import QWidget

    from ftgui.gui.workers.run_worker import run_task

    go, got = threading.Event(), []

    def work(progress):
        go.wait(10)
        progress("half way")
        return "result"

    owner = QWidget()
    run_task(work, got.append, on_error=got.append, on_progress=got.append, owner=owner)
    shiboken6.delete(owner)
    go.set()
    assert wait_for_tasks(10000)
    # a later task whose owner lives still reports, after what the first one sent
    with qtbot.waitCallback() as later:
        run_task(lambda: "next", later)
    later.assert_called_with("next")
    assert got == []
