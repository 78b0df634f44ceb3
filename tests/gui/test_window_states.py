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

    # whether the run can be resumed is read off the GUI thread
    qtbot.waitUntil(rp.resume_button.isEnabled, timeout=30000)
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


def test_quit_with_unsaved_changes_asks(window, qtbot, make_config, monkeypatch):
    path = make_config()
    assert window.load_config(path)
    window.model.set("training.learning_rate", 0.005)
    assert window.windowTitle().startswith("run.yaml *")
    replies = []

    def question(parent, title, text, *a, **k):
        replies.append(title)
        return reply
    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))

    reply = QMessageBox.StandardButton.Cancel
    window.quit_action.trigger()
    assert replies == ["Unsaved changes"] and window.isVisible()

    reply = QMessageBox.StandardButton.Discard
    window.quit_action.trigger()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert replies == ["Unsaved changes"] * 2
    # discarded: the next start opens the file as saved, not the changed settings
    settings = window.settings
    settings.sync()
    assert "0.005" not in settings.value("last_config_yaml")
    assert str(settings.value("last_config_dirty")).lower() == "false"
    assert "0.005" not in path.read_text()


def test_quit_without_changes_does_not_ask(window, qtbot, make_config, monkeypatch):
    assert window.load_config(make_config())
    monkeypatch.setattr(QMessageBox, "question", staticmethod(
        lambda *a, **k: (_ for _ in ()).throw(AssertionError("asked"))))
    window.quit_action.trigger()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)


def test_long_model_path_has_its_whole_value_in_the_tooltip(window, tmp_path):
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "models" / "tiny.gguf"
    window.model.set("model.source", str(deep))
    editor = window.fields["model.source"].editor
    assert editor.toolTip().startswith(str(deep) + "\n")
    window.model.set("model.source", "")
    assert not editor.toolTip().startswith("\n")


def test_playground_prompt_starts_with_an_example_then_the_last_prompt(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from ftgui.gui.panels.playground import EXAMPLE_PROMPT, PlaygroundPanel

    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    first = PlaygroundPanel(settings)
    qtbot.addWidget(first)
    assert first.prompt.toPlainText() == EXAMPLE_PROMPT
    first.prompt.setPlainText("Once upon a time")
    second = PlaygroundPanel(settings)
    qtbot.addWidget(second)
    assert second.prompt.toPlainText() == "Once upon a time"
    # the placeholder fits the box at the window's smallest supported size
    second.resize(560, 500)
    second.show()
    qtbot.waitExposed(second)
    box = second.prompt
    width = box.fontMetrics().horizontalAdvance(box.placeholderText())
    assert width < box.viewport().width()


def test_share_of_parameters_reads_as_a_percentage():
    from ftgui.gui.panels.model import share_text

    assert share_text(182_016, 182_016) == "100 %"
    assert share_text(12, 100) == "12 %"
    assert share_text(14, 1000) == "1.4 %"
    assert share_text(26, 10_000) == "0.26 %"


def test_settings_pane_collapses_on_playground_and_history_as_remembered(window, qtbot,
                                                                         tmp_path):
    from ftgui.gui.main_window import MainWindow

    tabs = window.side_tabs
    assert window.pane_shown()
    tabs.setCurrentWidget(window.playground)
    assert not window.pane_shown() and window.splitter.sizes()[1] > 0
    tabs.setCurrentWidget(window.history)
    assert not window.pane_shown()
    tabs.setCurrentWidget(window.run_panel)
    assert window.pane_shown() and window.splitter.sizes()[0] >= 300

    # shown on History by hand: History keeps it, Playground does not
    tabs.setCurrentWidget(window.history)
    window.pane_action.trigger()
    assert window.pane_shown()
    tabs.setCurrentWidget(window.playground)
    assert not window.pane_shown()
    tabs.setCurrentWidget(window.history)
    assert window.pane_shown()
    window.save_state()

    again = MainWindow(settings=window.settings)
    qtbot.addWidget(again)
    again.show()
    qtbot.waitExposed(again)
    assert again.pane_shown()
    again.side_tabs.setCurrentWidget(again.playground)
    assert not again.pane_shown()
    again.side_tabs.setCurrentWidget(again.history)
    assert again.pane_shown()


def test_every_tab_fits_a_1024x700_window(window, qtbot, make_config):
    from PySide6.QtCore import QSize
    from layout_check import cut_widgets

    assert window.load_config(make_config())
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.size() == QSize(1024, 700))
    qtbot.waitUntil(lambda: window.model_panel.info is not None, timeout=60000)
    problems = {}
    # as laid out, and with the settings pane dragged as narrow as the splitter allows
    for squeeze in (False, True):
        for side in range(window.side_tabs.count()):
            window.side_tabs.setCurrentIndex(side)
            if squeeze and window.pane_shown():
                window.splitter.setSizes([1, 2000])
            for tab in range(window.tabs.count()):
                window.tabs.setCurrentIndex(tab)
                window.centralWidget().layout().activate()
                shot = window.grab()   # laid out and painted at this size
                assert shot.width() == 1024
                cut = cut_widgets(window)
                if cut:
                    problems[(squeeze, window.side_tabs.tabText(side),
                              window.tabs.tabText(tab))] = cut
    assert problems == {}
    # the settings panes scroll rather than squeeze their rows
    for i in range(window.tabs.count()):
        scroll = window.tabs.widget(i)
        assert scroll.widgetResizable()
        content = scroll.widget()
        assert content.height() >= content.minimumSizeHint().height()


def test_layout_check_finds_cut_text_and_children_outside(qtbot):
    from PySide6.QtWidgets import QLabel, QPushButton, QWidget
    from layout_check import cut_widgets

    root = QWidget()
    qtbot.addWidget(root)
    root.resize(200, 100)
    label = QLabel("A label much longer than twenty pixels", root)
    label.setGeometry(0, 0, 20, 20)
    button = QPushButton("Read model", root)
    button.setGeometry(150, 80, 120, 30)   # half outside the parent
    fine = QLabel("ok", root)
    fine.setGeometry(0, 40, 100, 20)
    root.show()
    cut = cut_widgets(root)
    assert len(cut) == 2
    assert "QLabel 'A label" in cut[0] and "its text needs" in cut[0]
    assert "QPushButton 'Read model'" in cut[1] and "outside" in cut[1]


def test_train_tab_shows_the_stages_of_starting_and_what_the_plots_wait_for(
        window, qtbot, make_config):
    from ftgui.core.events import Stage

    rp, plots = window.run_panel, window.plots
    rp.begin("Starting…")
    assert not plots.waiting.isHidden() and plots.plot_area.isHidden()
    for stage in ("tokenizer", "data"):
        rp.on_stage(Stage(stage, "started"))
        rp.on_stage(Stage(stage, "done", 1.25))
    rp.on_stage(Stage("model", "started"))
    text = rp.stages.text()
    assert text.startswith("Starting: ✓ tokenizer 1.2 s · ✓ reading data 1.2 s · <b>◌ model")
    assert text.endswith("base evaluation</span> · <span style='color:gray'>first step</span>")
    assert plots.waiting.text() == "Waiting for the first training step: model…"
    assert plots.plot_area.isHidden()
    rp.set_running(False)

    # a real run from Train: at the end, how long starting took and each stage's time
    assert window.load_config(make_config(training={"max_steps": 6}))
    with qtbot.waitSignal(window.runFinished, timeout=120000):
        _click(qtbot, rp.train_button)
    final = rp.stages.text()
    assert final.startswith("Started in ") and final.count("✓") == 5, final
    assert plots.waiting.isHidden() and not plots.plot_area.isHidden()


def test_the_largest_seed_a_config_may_hold_is_shown_unchanged(window, make_config):
    """The seed's range is what the window's box holds: a loaded config is never lowered."""
    assert window.load_config(make_config(training={"seed": 2 ** 31 - 1}))
    assert window.fields["training.seed"].editor.value() == 2 ** 31 - 1
    assert window.model.config.training.seed == 2 ** 31 - 1
