"""The trained model kept in memory (core/live_model.py): a resume takes the loaded base
instead of loading it again and ends where an uninterrupted run ends; a finished LoRA
run's model serves the Playground as itself and, adapter off, as its base."""

import gc
import weakref

import pytest
import torch
from safetensors.torch import load_file

from ftgui.core import models
from ftgui.core.events import Message, StepLogged
from ftgui.core.live_model import LiveModel
from ftgui.core.runner import resume_run, run_config
from ftgui.core.runs import RunDir


def _stop_at(step, holder):
    def sink(event):
        if isinstance(event, StepLogged) and event.step == step:
            holder[0].request_stop()
    return sink


@pytest.mark.parametrize("method", ["lora", "full"])
def test_resume_in_the_same_process_reuses_the_loaded_model(method, tiny_config, tmp_path,
                                                            load_calls):
    settings = {"max_steps": 10, "save_steps": 100, "logging_steps": 1}
    straight = tiny_config(model={"method": method},
                           training={**settings, "output_dir": str(tmp_path / "a")})
    run_config(straight)
    assert len(load_calls) == 1

    live = LiveModel()
    cfg = tiny_config(model={"method": method},
                      training={**settings, "output_dir": str(tmp_path / "b")})
    holder = []
    summary = run_config(cfg, [_stop_at(5, holder)], runner_out=holder, live=live)
    assert summary["status"] == "stopped" and len(load_calls) == 2
    assert live.status == "stopped" and live.run_dir == str(tmp_path / "b")

    said = []
    summary = resume_run(tmp_path / "b", [said.append], live=live)
    assert summary["status"] == "finished" and summary["steps"] == 10
    assert len(load_calls) == 2   # not loaded again
    assert any(isinstance(e, Message) and "reused from memory" in e.text for e in said)

    a = load_file(RunDir(tmp_path / "a").model_dir / "model.safetensors")
    b = load_file(RunDir(tmp_path / "b").model_dir / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=1e-6, msg=name)


def test_a_new_run_of_a_full_fine_tune_loads_the_base_again(tiny_config, tmp_path,
                                                            load_calls):
    """The trained weights are no base: a new run (not a resume) loads it, and the held
    model is let go first (never two in memory)."""
    live = LiveModel()
    run_config(tiny_config(training={"max_steps": 2, "output_dir": str(tmp_path / "a")}),
               live=live)
    held = weakref.ref(_held_model(live))
    run_config(tiny_config(training={"max_steps": 2, "output_dir": str(tmp_path / "b")}),
               live=live)
    assert len(load_calls) == 2
    gc.collect()
    assert held() is None


def _held_model(live):
    with live.using(live.run_dir, "tuned") as pair:
        return pair[0]


def test_a_finished_lora_run_serves_the_playground_from_memory(tiny_config, tmp_path,
                                                               tiny_model_dir):
    from transformers import AutoModelForCausalLM

    live = LiveModel()
    out = tmp_path / "run"
    run_config(tiny_config(model={"method": "lora"},
                           training={"max_steps": 6, "learning_rate": 5e-2,
                                     "output_dir": str(out)}), live=live)
    assert live.status == "finished"
    ids = models.load_tokenizer(RunDir(out).load_config().model)(
        "The tower is", return_tensors="pt")["input_ids"]
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    merged = AutoModelForCausalLM.from_pretrained(RunDir(out).model_dir).eval()
    with torch.no_grad():
        with live.using(out, "base") as (model, _tok):
            as_base = model(input_ids=ids).logits
        with live.using(out, "tuned") as (model, tok):
            as_tuned = model(input_ids=ids).logits
            assert models.is_peft(model) and tok.pad_token is not None
        assert not model.training
        # adapter off: the base exactly (its weights never merged into in place)
        assert torch.equal(as_base, base(input_ids=ids).logits)
        torch.testing.assert_close(as_tuned, merged(input_ids=ids).logits, rtol=1e-4,
                                   atol=1e-4)
        assert not torch.allclose(as_tuned, as_base, atol=1e-3)   # it did learn
    with live.using(tmp_path / "another", "tuned") as pair:
        assert pair is None

    del model, _tok, tok
    held = weakref.ref(_held_model(live))
    live.clear()
    gc.collect()
    assert held() is None and live.run_dir is None
