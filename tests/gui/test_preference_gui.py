"""A DPO run in the window: the reward curves fill, the result card shows the validation
pairs ranked right before and after."""

import json
from pathlib import Path

import yaml
from PySide6.QtCore import Qt

from ftgui.core.events import EvalLogged, StepLogged, read_events


def _pairs(n0, n1):
    return [{"prompt": f"{i} Go {cue}.", "chosen": good, "rejected": bad}
            for i in range(n0, n1) for cue, (good, bad) in
            {"high": ("up", "on"), "low": ("on", "up")}.items()]


def test_dpo_run_fills_the_reward_plots(window, qtbot, tmp_path, tiny_model_dir):
    for name, rows in (("train.jsonl", _pairs(0, 24)), ("valid.jsonl", _pairs(90, 94))):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = tmp_path / "dpo.yaml"
    path.write_text(yaml.safe_dump({
        "model": {"source": str(tiny_model_dir), "method": "full"},
        "data": {"source": str(tmp_path / "train.jsonl"),
                 "validation": str(tmp_path / "valid.jsonl"), "block_size": 48},
        "training": {"objective": "dpo", "max_steps": 12, "batch_size": 8,
                     "logging_steps": 2, "eval_steps": 6, "save_steps": 1000,
                     "learning_rate": 1e-3}}))
    assert window.load_config(path)
    plots = window.plots
    assert plots.rewards_plot.isHidden()            # an SFT-looking Train tab until then
    with qtbot.waitSignal(window.runFinished, timeout=180000) as blocker:
        qtbot.mouseClick(window.run_panel.train_button, Qt.MouseButton.LeftButton)
    run_dir = Path(blocker.args[0])
    plots.flush()
    events = read_events(run_dir / "events.jsonl")
    steps = [e for e in events if isinstance(e, StepLogged)]
    evals = [e for e in events if isinstance(e, EvalLogged)]
    assert len(steps) == 6 and len(evals) == 3      # steps 0, 6, 12
    assert plots.rewards_plot.isVisible() and plots.accuracy_plot.isVisible()
    curves = plots.reward_curves
    assert list(curves["r_chosen"].xData) == [e.step for e in steps]
    assert list(curves["r_margin"].yData) == [e.metrics["rewards/margins"] for e in steps]
    assert list(curves["r_rejected"].yData) == [e.metrics["rewards/rejected"] for e in steps]
    assert list(curves["r_acc"].yData) == [e.metrics["rewards/accuracies"] for e in steps]
    assert list(curves["v_margin"].xData) == [0, 6, 12]
    assert list(curves["v_acc"].yData) == [e.metrics["rewards/accuracies"] for e in evals]
    card = window.run_panel.result_card
    assert card.preference.isVisible()
    text = card.preference.text()
    assert text.startswith("DPO: validation pairs ranked right") and "of 8" in text
    csv = tmp_path / "curves.csv"
    plots.export_csv(csv)
    head = csv.read_text().splitlines()[0].split(",")
    assert "rewards/margins" in head and "eval_rewards/accuracies" in head
