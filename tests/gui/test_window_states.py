"""What the window shows stays true: statuses, stats, banners and actions after each change."""

from PySide6.QtWidgets import QMessageBox

from ftgui.core import model_cache


def test_clear_caches_action_asks_then_empties_the_cache(window, qtbot, monkeypatch):
    entry = model_cache.models_dir() / "some-model-0123"
    entry.mkdir(parents=True)
    (entry / "model.safetensors").write_bytes(b"x" * 4096)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", staticmethod(
        lambda *a, **k: asked.append(a[1]) or QMessageBox.StandardButton.No))
    window.clear_caches_action.trigger()
    assert asked == ["Clear caches"] and entry.exists()

    monkeypatch.setattr(QMessageBox, "question", staticmethod(
        lambda *a, **k: QMessageBox.StandardButton.Yes))
    window.clear_caches_action.trigger()
    qtbot.waitUntil(lambda: "Caches cleared" in window.statusBar().currentMessage(),
                    timeout=10000)
    assert not entry.exists()
    assert window.clear_caches_action.isEnabled()


def _click(qtbot, button):
    from PySide6.QtCore import Qt
    assert button.isEnabled(), button.objectName()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_stats_line_after_stop_resume_and_finish(window, qtbot, make_config):
    assert window.load_config(make_config(training={"max_steps": 40, "eval_steps": 20,
                                                    "save_steps": 1000}))
    rp = window.run_panel
    _click(qtbot, rp.train_button)
    qtbot.waitUntil(lambda: rp.last_step is not None and rp.last_step.step >= 4,
                    timeout=120000)
    assert "ETA" in rp.stats.text() and "tokens/s" in rp.stats.text()
    with qtbot.waitSignal(window.runFinished, timeout=60000):
        _click(qtbot, rp.stop_button)
    stopped = rp.last_step
    text = rp.stats.text()
    assert text.startswith(f"Stopped at step <b>{stopped.step}</b>")
    assert "ETA" not in text and "tokens/s" not in text
    log = rp.log_pane.toPlainText()
    assert log.count(f"Stopped at step {stopped.step}") == 1, log

    _click(qtbot, rp.resume_button)
    qtbot.waitUntil(lambda: rp.last_step is not None and rp.last_step.step > stopped.step,
                    timeout=120000)
    # the elapsed time counts the run's total, not this session's
    assert rp.last_step.elapsed > stopped.elapsed
    qtbot.waitUntil(lambda: not window.running, timeout=120000)
    text = rp.stats.text()
    assert text.startswith("Finished at step <b>40</b> / 40"), text
    assert "Saving" not in text and "ETA" not in text and "…" not in text


def test_banner_says_a_field_problem_once_and_goes_when_it_is_fixed(window, qtbot,
                                                                    make_config, tiny_model_dir):
    assert window.load_config(make_config())
    window.model.set("model.source", "/nonexistent/model.gguf")
    field = window.fields["model.source"]
    qtbot.waitUntil(lambda: "does not exist" in field.problem_text(), timeout=10000)
    window.train()
    text = window.banner.text()
    assert "does not exist" in text
    assert text.count("model.source") == 1 and not text.endswith("..")
    assert text.startswith("Fix this setting first — Model (model.source): /nonexistent/")
    assert not field.problem_text().startswith("model.source")
    assert not field.problem_text().endswith("..")

    window.model.set("model.source", str(tiny_model_dir))
    qtbot.waitUntil(lambda: window.banner.isHidden(), timeout=10000)
    assert field.problem_text() == ""

    # a message about a setting goes when that setting is changed, even before checks
    window.show_error("Out of memory: lower the batch size.", field="training.batch_size")
    assert not window.banner.isHidden()
    window.model.set("data.block_size", 16)
    assert not window.banner.isHidden()     # another setting: the message stays
    window.model.set("training.batch_size", 2)
    assert window.banner.isHidden()
