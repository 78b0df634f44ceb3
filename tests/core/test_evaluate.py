"""Before / after on demand: evaluate_run measures the base and the result on a chosen file
and keeps the figures in summary.json."""

import json
import math
from pathlib import Path

import pytest

from ftgui.core import inference
from ftgui.core.evaluate import EvaluateError, evaluate_run, perplexity_text
from ftgui.core.runner import run_config
from ftgui.core.runs import RunDir

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def run_without_validation(tiny_config, tmp_path):
    run_config(tiny_config(data={"validation": None}, training={"max_steps": 8}))
    rd = RunDir(tmp_path / "run")
    assert rd.status() == "finished" and "perplexity_before" not in rd.summary()
    return rd


def test_evaluate_run_matches_inference_perplexity_and_is_kept(run_without_validation,
                                                              tiny_model_dir, tmp_path):
    rd = run_without_validation
    text = tmp_path / "held-out.txt"
    lines = (FIXTURES / "wiki-small.txt").read_text(encoding="utf-8").splitlines()
    text.write_text("\n".join(lines[-60:]), encoding="utf-8")
    before_keys = rd.summary()
    stages = []

    figures = evaluate_run(rd.path, text, progress=lambda p: stages.append(p.stage))

    base = inference.perplexity(str(tiny_model_dir), str(text), 32)
    result = inference.perplexity(str(rd.model_dir), str(text), 32)
    assert figures["perplexity_before"] == pytest.approx(base["perplexity"], rel=1e-6)
    assert figures["perplexity_after"] == pytest.approx(result["perplexity"], rel=1e-6)
    assert figures["eval_loss_after"] == pytest.approx(math.log(figures["perplexity_after"]))
    # the tiny model learned the wiki text: the result is better than the base
    assert figures["perplexity_after"] < figures["perplexity_before"]
    assert {"Evaluating the base model", "Evaluating the fine-tuned model"} <= set(stages)

    stored = json.loads(rd.summary_path.read_text(encoding="utf-8"))
    for key in ("perplexity_before", "perplexity_after", "eval_loss_before",
                "eval_loss_after"):
        assert stored[key] == figures[key]
    assert stored["perplexity_data"] == str(text.resolve())
    assert stored["perplexity_block_size"] == 32
    for key, value in before_keys.items():   # nothing else changed
        assert stored[key] == value
    assert not rd.summary_path.with_name("summary.json.tmp").exists()


def test_evaluate_run_refuses_missing_file_and_unfinished_run(run_without_validation,
                                                              tmp_path):
    rd = run_without_validation
    original = rd.summary_path.read_bytes()
    with pytest.raises(EvaluateError, match="missing.txt does not exist"):
        evaluate_run(rd.path, tmp_path / "missing.txt")
    summary = rd.summary()
    summary["status"] = "stopped"
    rd.write_summary(summary)
    with pytest.raises(EvaluateError, match="no final model.*stopped"):
        evaluate_run(rd.path, FIXTURES / "wiki-small.txt")
    with pytest.raises(EvaluateError, match="not an ftgui run"):
        evaluate_run(tmp_path, FIXTURES / "wiki-small.txt")
    rd.write_summary(json.loads(original))
    assert "perplexity_before" not in rd.summary()


def test_perplexity_text():
    assert perplexity_text(412.34, 198.71) == "412.3 → 198.7 (−51.8 %)"
    assert perplexity_text(1234.5, 1500.0) == "1,234.5 → 1,500.0 (+21.5 %)"


def test_cli_eval_before_after_keeps_the_figures(run_without_validation, capsys):
    from ftgui.cli import main

    rd = run_without_validation
    data = FIXTURES / "wiki-small.txt"
    assert main(["eval", str(rd.path), "--data", str(data), "--before-after"]) == 0
    s = rd.summary()
    out = capsys.readouterr().out
    assert perplexity_text(s["perplexity_before"], s["perplexity_after"]) in out
    assert s["perplexity_data"] == str(data.resolve())
    # a model that is not a run: the plain perplexity, nothing written
    assert main(["eval", str(rd.model_dir), "--data", str(data), "--before-after"]) == 2
    assert "not an ftgui run" in capsys.readouterr().err
