"""The result card on the Train tab: before / after perplexity of a finished run, its
buttons, Evaluate… for runs without validation, and no card for stopped runs."""

from pathlib import Path

from PySide6.QtCore import Qt, QTimer

from ftgui.core.runner import run_config
from ftgui.core.runs import RunDir
from ftgui.core.evaluate import perplexity_text
from ftgui.gui.widgets.result_card import ResultCard

WIKI = Path(__file__).resolve().parents[1] / "fixtures" / "wiki-small.txt"


def _click(qtbot, button):
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_card_after_a_window_run_then_hidden_for_the_next(window, qtbot, make_config,
                                                          tmp_path):
    from ftgui.gui.dialogs.export_dialog import ExportDialog

    card = window.run_panel.result_card
    assert not card.isVisible()
    assert window.load_config(make_config(training={"max_steps": 8, "eval_steps": None}))
    with qtbot.waitSignal(window.runFinished, timeout=120000) as blocker:
        _click(qtbot, window.run_panel.train_button)
    run_dir = blocker.args[0]
    s = RunDir(run_dir).summary()
    assert card.isVisible() and card.run_dir == run_dir
    text = card.perplexity.text()
    assert perplexity_text(s["perplexity_before"], s["perplexity_after"]) in text
    assert f"{s['perplexity_before']:,.1f}" in text and f"{s['perplexity_after']:,.1f}" in text
    assert f"Final training loss {s['final_train_loss']:.4f}" in card.details.text()
    assert f"{s['steps']:,} steps" in card.details.text()
    assert not card.eval_button.isVisible()

    with qtbot.waitSignal(card.tryIt, timeout=2000) as tried:
        _click(qtbot, card.try_button)
    assert tried.args == [run_dir]
    assert window.side_tabs.currentWidget() is window.playground   # the window took it there
    window.side_tabs.setCurrentWidget(window.run_panel)
    with qtbot.waitSignal(card.exportRequested, timeout=2000) as asked:
        _click(qtbot, card.export_button)
    assert asked.args == [run_dir]
    dialogs = window.findChildren(ExportDialog)
    assert len(dialogs) == 1 and dialogs[0].rd.path == Path(run_dir)
    dialogs[0].close()

    # a new run hides the card at once; a stopped run gets none
    window.model.set("training.max_steps", 2000)
    # its own folder: two auto-named runs started within one second would share a name
    window.model.set("training.output_dir", str(tmp_path / "second"))
    _click(qtbot, window.run_panel.train_button)
    assert not card.isVisible()
    qtbot.waitUntil(lambda: len(window.plots.series["loss"].x) >= 2, timeout=120000)
    with qtbot.waitSignal(window.runFinished, timeout=60000) as stopped:
        _click(qtbot, window.run_panel.stop_button)
    assert RunDir(stopped.args[0]).status() == "stopped"
    assert not card.isVisible()


def test_evaluate_fills_a_run_without_validation(qtbot, tiny_config, tmp_path, monkeypatch):
    run_config(tiny_config(data={"validation": None}, training={"max_steps": 8}))
    rd = RunDir(tmp_path / "run")
    held_out = tmp_path / "held-out.txt"
    held_out.write_text("\n".join(WIKI.read_text(encoding="utf-8").splitlines()[-60:]),
                        encoding="utf-8")

    card = ResultCard()
    qtbot.addWidget(card)
    card.show_run(str(rd.path))
    assert card.isVisible() and card.eval_button.isVisible()
    assert "no validation split" in card.perplexity.text()

    chosen = []

    def pick(parent, caption, start, filters):
        chosen.append(start)
        return str(held_out), filters.split(";;")[0]

    monkeypatch.setattr("ftgui.gui.widgets.result_card.QFileDialog.getOpenFileName", pick)
    ticks = []
    timer = QTimer(interval=5)
    timer.timeout.connect(lambda: card.evaluating and ticks.append(1))
    timer.start()
    with qtbot.waitSignal(card.evaluated, timeout=120000):
        _click(qtbot, card.eval_button)
        assert card.eval_progress.isVisible() and not card.eval_button.isVisible()
    timer.stop()

    assert chosen == [str(WIKI.parent)]       # the dialog starts beside the run's data
    assert ticks                              # the GUI ran while the models were measured
    s = rd.summary()
    assert s["perplexity_after"] < s["perplexity_before"]
    assert s["perplexity_data"] == str(held_out)
    assert perplexity_text(s["perplexity_before"], s["perplexity_after"]) in \
        card.perplexity.text()
    assert "held-out.txt" in card.perplexity.text()
    assert not card.eval_button.isVisible() and not card.eval_progress.isVisible()


def test_evaluate_error_is_shown_in_the_card(qtbot, tiny_config, tmp_path):
    run_config(tiny_config(data={"validation": None}, training={"max_steps": 4}))
    card = ResultCard()
    qtbot.addWidget(card)
    card.show_run(str(tmp_path / "run"))
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    failed = []
    card.evaluated.connect(failed.append)
    card.evaluate(str(empty))
    qtbot.waitUntil(lambda: not card.evaluating, timeout=60000)
    assert not failed and "Could not evaluate" in card.perplexity.text()
    assert card.eval_button.isVisible()
    assert "perplexity_before" not in RunDir(tmp_path / "run").summary()


def test_card_moved_to_another_run_while_evaluating(qtbot, tiny_config, tmp_path):
    import shutil

    run_config(tiny_config(data={"validation": None}, training={"max_steps": 4}))
    first, second = tmp_path / "run", tmp_path / "run-2"
    shutil.copytree(first, second)
    card = ResultCard()
    qtbot.addWidget(card)
    card.show_run(str(first))
    with qtbot.waitSignal(card.evaluated, timeout=120000) as done:
        card.evaluate(str(WIKI))
        card.show_run(str(second))     # the next run finished while the first is measured
        assert not card.eval_progress.isVisible() and not card.eval_button.isVisible()
    assert done.args == [str(first)]
    assert "perplexity_before" in RunDir(first).summary()
    assert "perplexity_before" not in RunDir(second).summary()
    # the second run can now be evaluated, and its card does not show the first's figures
    assert card.eval_button.isVisible() and "no validation split" in card.perplexity.text()
