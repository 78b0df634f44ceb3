"""The base model's evaluation kept between runs (core/base_eval.py): a second run of the
same config reads it, says so, and trains to the very same weights; anything the number
depends on (data, model files, settings) makes it measure again."""

import json

import torch
from safetensors.torch import load_file

from ftgui.core import base_eval, model_cache
from ftgui.core.events import EvalLogged, Message, Stage, read_events
from ftgui.core.runner import run_config
from ftgui.core.runs import RunDir


def _run(tiny_config, out, sink=None, **sections):
    training = {"max_steps": 4, "eval_steps": 2, "output_dir": str(out),
                **sections.pop("training", {})}
    events = []
    summary = run_config(tiny_config(training=training, **sections), [events.append])
    return summary, events


def _said(events, text):
    return [e.text for e in events if isinstance(e, Message) and text in e.text]


def test_a_second_run_of_the_same_config_reuses_the_base_evaluation(tiny_config, tmp_path):
    first, ev1 = _run(tiny_config, tmp_path / "a")
    assert not _said(ev1, "reused") and len(list(base_eval.folder().glob("*.json"))) == 1
    assert oct(base_eval.folder().stat().st_mode & 0o777) == "0o700"

    second, ev2 = _run(tiny_config, tmp_path / "b")
    said = _said(ev2, "Base evaluation reused from")
    assert said and str(tmp_path / "a") in said[0]
    assert second["eval_loss_before"] == first["eval_loss_before"]
    assert second["base_eval_reused_from"] == str(tmp_path / "a")
    # the curves and the stage list look as they do after a measured one
    evals = [e for e in read_events(RunDir(tmp_path / "b").events_path)
             if isinstance(e, EvalLogged)]
    assert evals[0].step == 0 and evals[0].loss == first["eval_loss_before"]
    assert [e.state for e in ev2 if isinstance(e, Stage) and e.stage == "base_eval"] == \
        ["done"]
    # not measuring it changes nothing in the training: the same weights, bit for bit
    a = load_file(RunDir(tmp_path / "a").model_dir / "model.safetensors")
    b = load_file(RunDir(tmp_path / "b").model_dir / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert first["final_train_loss"] == second["final_train_loss"]
    assert first["eval_loss_after"] == second["eval_loss_after"]


def test_what_the_number_depends_on_measures_again(tiny_config, tmp_path, tiny_model_dir,
                                                   wiki_text):
    _run(tiny_config, tmp_path / "a")
    # another seed, another batch size, another validation share, LoRA: each measured
    for i, sections in enumerate([{"training": {"seed": 8}},
                                  {"training": {"batch_size": 2}},
                                  {"data": {"validation": 0.2}},
                                  {"model": {"method": "lora"}}]):
        _, events = _run(tiny_config, tmp_path / f"b{i}", **sections)
        assert not _said(events, "reused"), sections
    # the model's files changed (same path): measured again
    cfg = json.loads((tiny_model_dir / "config.json").read_text())
    (tiny_model_dir / "config.json").write_text(json.dumps(cfg, indent=1))
    _, events = _run(tiny_config, tmp_path / "c")
    assert not _said(events, "reused")


def test_clear_caches_drops_kept_evaluations(tiny_config, tmp_path):
    _run(tiny_config, tmp_path / "a")
    assert list(base_eval.folder().glob("*.json"))
    model_cache.clear()
    assert not list(base_eval.folder().glob("*.json"))
    _, events = _run(tiny_config, tmp_path / "b")
    assert not _said(events, "reused")
