"""The Playground after a DPO run in the window: it offers the run's validation pairs, and
a picked pair's chosen and rejected answers stand above the base's and the result's
generations, with the log-probability margin each model gives the pair. The run's model
stays in memory (LoRA: its base is the same model with the adapter off)."""

import json
from pathlib import Path

import pytest
import yaml

from ftgui.core import inference, models, playground
from ftgui.core.runs import RunDir
from tiny_model import FIXTURES

from test_preference_gui import _pairs


def _dpo_config(tmp_path, tiny_model_dir, method="lora", lr=5e-2):
    for name, rows in (("train.jsonl", _pairs(0, 24)), ("valid.jsonl", _pairs(90, 94))):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = tmp_path / "dpo.yaml"
    path.write_text(yaml.safe_dump({
        "model": {"source": str(tiny_model_dir), "method": method},
        "data": {"source": str(tmp_path / "train.jsonl"),
                 "validation": str(tmp_path / "valid.jsonl"), "block_size": 48},
        "training": {"objective": "dpo", "max_steps": 12, "batch_size": 8,
                     "logging_steps": 4, "eval_steps": 12, "save_steps": 1000,
                     "learning_rate": lr}}))
    return path


def _generate(qtbot, pg):
    stages = []
    pg.paneLoading.connect(lambda pane, stage, *_: stages.append((pane, stage)))
    with qtbot.waitSignal(pg.generationFinished, timeout=120000):
        pg.generate_button.click()
        assert not pg.examples.isEnabled()   # no other example while the panes fill
    assert pg.examples.isEnabled()
    return stages


def test_playground_shows_a_validation_pair_beside_both_generations(
        window, qtbot, tmp_path, tiny_model_dir, load_calls):
    assert window.load_config(_dpo_config(tmp_path, tiny_model_dir))
    with qtbot.waitSignal(window.runFinished, timeout=180000) as blocker:
        window.train()
    run_dir = blocker.args[0]
    assert window.live.status == "finished" and window.live.holds(run_dir)
    pg = window.playground
    assert pg.run_dir() == run_dir
    window.side_tabs.setCurrentWidget(pg)
    qtbot.waitUntil(lambda: pg.examples.isEnabled(), timeout=60000)
    assert pg.example_row.isVisible() and not pg.data_splitter.isVisible()
    # the 8 validation pairs, in the file's order ("90 Go high." first)
    assert pg.examples.count() == 1 + 8
    assert pg.examples.itemText(1) == "1. 90 Go high."

    assert pg.pick_example(2)                       # "90 Go low.": chosen "on", rejected "up"
    ex = pg.example()
    assert pg.prompt.toPlainText() == "90 Go low."
    assert pg.chosen_pane.view.toPlainText() == "on" and pg.chosen_pane.isVisible()
    assert pg.rejected_pane.view.toPlainText() == "up" and pg.rejected_pane.isVisible()
    assert pg.chosen_pane.title.text() == "Chosen (from the data)"
    assert pg.rejected_pane.title.text() == "Rejected (from the data)"
    assert pg.scores.isVisible() and "Generate to compute" in pg.scores.text()

    pg.max_tokens.setValue(3)
    pg.temperature.setValue(0.0)
    stages = _generate(qtbot, pg)
    # both models from memory: the trained one, and its base with the adapter disabled
    assert stages == [("tuned", "memory"), ("base", "memory")]
    assert load_calls == [str(tiny_model_dir)] and pg.cache.loads == 0
    base_margin, tuned_margin = pg._scores["base"], pg._scores["tuned"]
    text = pg.scores.text()
    assert f"base model {base_margin:+.3f}" in text and f"fine-tuned {tuned_margin:+.3f}" in text
    assert tuned_margin > base_margin + 0.5         # DPO pushed "on" above "up" here

    # the same numbers and texts as the models loaded from disk give
    tok = models.load_tokenizer(inference.run_model_configs(run_dir)[1])
    base, _ = inference.load_for_generation(str(tiny_model_dir))
    tuned, _ = inference.load_for_generation(run_dir)
    assert base_margin == pytest.approx(playground.example_score(base, tok, ex), abs=1e-4)
    assert tuned_margin == pytest.approx(playground.example_score(tuned, tok, ex), abs=1e-4)
    settings = playground.GenerationSettings(max_new_tokens=3, temperature=0.0)
    for pane, model in (("base", base), ("tuned", tuned)):
        expected = playground.consume(playground.stream_generate(
            model, tok, ex.prompt, settings, template_tok=tok), lambda _: None).text
        assert pg.panes[pane].text == expected, pane
    assert pg.tuned_pane.text.strip().startswith("on")   # greedy: the chosen word

    # editing the prompt makes it the person's own: the pair's panes go
    pg.prompt.setPlainText("90 Go low. Or not.")
    assert pg.example() is None and not pg.data_splitter.isVisible()
    assert not pg.scores.isVisible()
    assert RunDir(run_dir).summary()["preference_pairs"] == 8


def test_kto_playground_shows_the_completion_and_its_label(window, qtbot, tmp_path,
                                                           tiny_model_dir, load_calls):
    """KTO (full fine-tuning): an example is one completion and its label; the trained
    model is used from memory, the base loaded."""
    path = tmp_path / "kto.yaml"
    path.write_text(yaml.safe_dump({
        "model": {"source": str(tiny_model_dir), "method": "full"},
        "data": {"source": str(FIXTURES / "preference" / "kto_en_demo.json"),
                 "validation": 0.3, "block_size": 128},
        "training": {"objective": "kto", "max_steps": 2, "batch_size": 4,
                     "logging_steps": 1, "save_steps": 1000}}))
    assert window.load_config(path)
    with qtbot.waitSignal(window.runFinished, timeout=180000) as blocker:
        window.train()
    assert window.live.holds(blocker.args[0]) and window.live.status == "finished"
    pg = window.playground
    window.side_tabs.setCurrentWidget(pg)
    qtbot.waitUntil(lambda: pg.examples.isEnabled(), timeout=60000)
    titles = [pg.examples.itemText(i) for i in range(1, pg.examples.count())]
    assert titles and all("[label " in t for t in titles)
    assert pg.pick_example(pg.examples.itemData(1).number)
    ex = pg.example()
    word = "true, desirable" if ex.label else "false, undesirable"
    assert pg.chosen_pane.title.text() == f"Completion (from the data) · label {word}"
    assert pg.chosen_pane.view.toPlainText() == ex.completion[-1]["content"]
    assert not pg.rejected_pane.isVisible()
    pg.max_tokens.setValue(2)
    stages = _generate(qtbot, pg)
    assert stages[0] == ("tuned", "memory") and ("base", "ready") in stages
    # training loaded the base once, the Playground once more; the result not at all
    assert load_calls == [str(tiny_model_dir)] * 2 and pg.cache.loads == 1
    assert pg.scores.text().startswith(f"Log-probability of this completion (label "
                                       f"{str(ex.label).lower()}): base model -")
    assert "fine-tuned -" in pg.scores.text()


def test_a_stopped_full_dpo_run_is_not_kept_for_its_resume(window, qtbot, tmp_path,
                                                          tiny_model_dir, load_calls):
    """Its resume must copy the base weights as DPO's reference model, not the trained
    ones: the model is loaded again."""
    cfg = yaml.safe_load(_dpo_config(tmp_path, tiny_model_dir, "full", 1e-3).read_text())
    cfg["training"].update(max_steps=60, logging_steps=1, eval_steps=None, save_steps=2)
    path = tmp_path / "dpo.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert window.load_config(path)
    window.train()
    qtbot.waitUntil(lambda: len(window.plots.series["loss"].x) >= 3, timeout=120000)
    with qtbot.waitSignal(window.runFinished, timeout=120000) as blocker:
        window.stop()
    assert RunDir(blocker.args[0]).summary()["status"] == "stopped"
    assert window.live.run_dir is None
    with qtbot.waitSignal(window.runFinished, timeout=180000):
        window._resume_dir(blocker.args[0])
    assert load_calls == [str(tiny_model_dir)] * 2
    assert window.live.status == "finished"
