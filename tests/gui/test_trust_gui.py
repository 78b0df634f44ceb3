"""Issue 15, fail 6 in the window: a run folder that turns on trust_remote_code gets its
code run by the Playground, Evaluate or Resume only after Yes to a question that names
the files; Yes is remembered, No runs nothing."""

import json
from pathlib import Path

import pytest

from ftgui.core import trust

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def received_run(tiny_model_dir, tmp_path, monkeypatch):
    from adversarial_inputs import make_received_run
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "hf-modules"))
    return make_received_run(tiny_model_dir, tmp_path)


@pytest.fixture
def answers(monkeypatch):
    """Answer the window's Yes/No questions from a list; the texts asked are kept."""
    from PySide6.QtWidgets import QMessageBox
    asked, queue = [], []

    def question(parent, title, text, buttons, default):
        asked.append((title, text))
        return QMessageBox.StandardButton.Yes if queue.pop(0) else \
            QMessageBox.StandardButton.No

    monkeypatch.setattr("ftgui.gui.dialogs.questions.QMessageBox.question", question)
    return asked, queue


@pytest.fixture
def panel(qtbot):
    from ftgui.gui.panels.playground import PlaygroundPanel
    p = PlaygroundPanel()
    qtbot.addWidget(p)
    p.show()
    yield p
    p.shutdown()


def test_playground_asks_before_running_a_received_runs_code(qtbot, panel, received_run,
                                                            answers):
    asked, queue = answers
    assert panel.set_run(str(received_run))
    panel.prompt.setPlainText("The")
    panel.max_tokens.setValue(3)

    queue.append(False)   # No: nothing is loaded, nothing remembered
    panel.generate_button.click()
    assert len(asked) == 1
    title, text = asked[0]
    assert "own code" in title
    assert "modeling_tiny_remote.py" in text and "configuration_tiny_remote.py" in text
    assert "base-model" in text   # its base and its model ship the same code: named once
    assert "Not generated" in panel.banner.text()
    assert not panel.generating and panel.tuned_pane.text == ""
    assert not trust.store_path().exists()

    queue.append(True)    # Yes: both models generate, and the approval is kept
    with qtbot.waitSignal(panel.generationFinished, timeout=120000):
        panel.generate_button.click()
    assert len(asked) == 2
    assert "tokens/s" in panel.tuned_pane.stats.text()
    assert "tokens/s" in panel.base_pane.stats.text()
    assert len(json.loads(trust.store_path().read_text())) == 1
    assert not trust.pending(trust.run_sources(received_run))

    with qtbot.waitSignal(panel.generationFinished, timeout=120000):
        panel.generate_button.click()
    assert len(asked) == 2   # remembered: not asked again


def test_evaluate_asks_and_no_measures_nothing(qtbot, received_run, answers):
    from ftgui.gui.widgets.result_card import ResultCard
    asked, queue = answers
    card = ResultCard()
    qtbot.addWidget(card)
    card.show_run(str(received_run))
    queue.append(False)
    card.evaluate(str(FIXTURES / "wiki-small.txt"))
    assert len(asked) == 1 and "modeling_tiny_remote.py" in asked[0][1]
    assert not card.evaluating and "Not evaluated" in card.perplexity.text()
    assert "perplexity_before" not in json.loads((received_run / "summary.json").read_text())


def test_resume_asks_before_running_a_received_runs_code(qtbot, window, received_run,
                                                         answers):
    from ftgui.core.runs import RunDir
    asked, queue = answers
    RunDir(received_run).write_summary({"status": "stopped", "steps": 0})
    queue.append(False)
    window._resume_dir(str(received_run))
    assert len(asked) == 1 and "modeling_tiny_remote.py" in asked[0][1]
    assert not window.running and "Not resumed" in window.banner.text()
    assert not trust.store_path().exists()

    queue.append(True)   # approved: the resume goes on (and stops at the missing data)
    window._resume_dir(str(received_run))
    qtbot.waitUntil(lambda: not window.running and "data.source" in window.banner.text(),
                    timeout=60000)
    assert len(asked) == 2
    assert not trust.pending(trust.resume_sources(received_run))
