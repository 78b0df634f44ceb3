"""Preference tuning on the tiny GPT-2 (must show): synthetic pairs whose chosen and
rejected answers differ in one word ("12 Go high." → up, not on; "12 Go low." → on, not
up). The base is the tiny model fine-tuned (SFT) to answer every prompt with up or on at
random, so it ranks the (balanced) validation pairs about half right; after DPO, KTO and
ORPO the chosen word wins on >= 90 % of them and is what greedy generation says."""

import json
import random

import pytest

from ftgui.core.config import RunConfig
from ftgui.core.events import EvalLogged, StepLogged
from ftgui.core.runner import run_config

CUES = {"high": ("up", "on"), "low": ("on", "up")}   # cue → (chosen, rejected)


def pairs(numbers) -> list[dict]:
    return [{"prompt": f"{i} Go {cue}.", "chosen": good, "rejected": bad}
            for i in numbers for cue, (good, bad) in CUES.items()]


def write(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def unpaired(rows) -> list[dict]:
    return [r for x in rows for r in ({"prompt": x["prompt"], "completion": x["chosen"],
                                       "label": True},
                                      {"prompt": x["prompt"], "completion": x["rejected"],
                                       "label": False})]


@pytest.fixture(scope="module")
def base_model(tmp_path_factory, tiny_model_dir):
    """The tiny model after SFT on 'i Say w.' → w or its pair word, at random."""
    tmp = tmp_path_factory.mktemp("pref-base")
    rng = random.Random(0)
    rows = [{"prompt": r["prompt"], "completion": rng.choice([r["chosen"], r["rejected"]])}
            for r in pairs(range(40))]
    cfg = RunConfig.from_dict({
        "model": {"source": str(tiny_model_dir), "method": "full"},
        "data": {"source": write(tmp / "sft.jsonl", rows), "validation": None,
                 "block_size": 48},
        "training": {"output_dir": str(tmp / "run"), "max_steps": 40, "batch_size": 8,
                     "learning_rate": 1e-3, "logging_steps": 20, "save_steps": 1000,
                     "seed": 3}})
    run_config(cfg)
    return tmp / "run" / "model"


def preference_run(tmp_path, model, objective, rows, steps=60, method="full",
                   runner_out=None, **sections):
    train = write(tmp_path / "train.jsonl", rows(pairs(range(24))))
    valid = write(tmp_path / "valid.jsonl", rows(pairs(range(90, 95))))
    raw = {"model": {"source": str(model), "method": method},
           "data": {"source": train, "validation": valid, "block_size": 48},
           "training": {"output_dir": str(tmp_path / "run"), "objective": objective,
                        "max_steps": steps, "batch_size": 8, "learning_rate": 1e-3,
                        "logging_steps": 5, "eval_steps": 30, "save_steps": 1000,
                        "seed": 5}}
    sink = sections.pop("_sink", None)
    for k, v in sections.items():
        raw.setdefault(k, {}).update(v)
    events = []
    sinks = [events.append] + ([sink] if sink else [])
    summary = run_config(RunConfig.from_dict(raw), sinks, runner_out=runner_out)
    return summary, events


def greedy_words(model_dir) -> list[tuple[str, str]]:
    """(chosen word, generated answer) for validation-style prompts."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    out = []
    for i in range(95, 99):
        for cue, (w, _) in CUES.items():
            text = tok.apply_chat_template([{"role": "user", "content": f"{i} Go {cue}."}],
                                           tokenize=False, add_generation_prompt=True)
            ids = tok(text, return_tensors="pt").input_ids
            with torch.no_grad():
                g = model.generate(ids, attention_mask=torch.ones_like(ids),
                                   max_new_tokens=1, do_sample=False,
                                   pad_token_id=tok.eos_token_id)
            out.append((w, tok.decode(g[0, ids.shape[1]:])))
    return out


def check_learned(summary, run_dir):
    assert 0.25 <= summary["preference_accuracy_before"] <= 0.75
    assert summary["preference_accuracy_after"] >= 0.9
    assert summary["preference_margin_after"] > summary["preference_margin_before"]
    answers = greedy_words(run_dir / "model")
    right = sum(got == w for w, got in answers)
    assert right >= 0.9 * len(answers), answers


def test_dpo_learns_the_chosen_word(tmp_path, base_model):
    summary, events = preference_run(tmp_path, base_model, "dpo", lambda r: r, steps=60,
                                     dpo={"beta": 0.5}, training={"learning_rate": 1e-3})
    check_learned(summary, tmp_path / "run")
    steps = [e for e in events if isinstance(e, StepLogged)]
    evals = [e for e in events if isinstance(e, EvalLogged)]
    for key in ("rewards/chosen", "rewards/rejected", "rewards/margins",
                "rewards/accuracies"):
        assert all(key in e.metrics for e in steps) and all(key in e.metrics for e in evals)
    assert steps[-1].metrics["rewards/margins"] > 0
    assert summary["objective"] == "dpo" and "perplexity_after" not in summary


def test_kto_learns_the_chosen_word(tmp_path, base_model):
    summary, events = preference_run(tmp_path, base_model, "kto", unpaired, steps=80,
                                     kto={"beta": 1.0}, training={"learning_rate": 5e-4})
    check_learned(summary, tmp_path / "run")
    assert "kl" in [e for e in events if isinstance(e, StepLogged)][-1].metrics


def test_orpo_learns_the_chosen_word(tmp_path, base_model):
    summary, events = preference_run(tmp_path, base_model, "orpo", lambda r: r, steps=100,
                                     orpo={"beta": 2.0}, training={"learning_rate": 2e-3})
    check_learned(summary, tmp_path / "run")
    assert "log_odds_ratio" in [e for e in events if isinstance(e, StepLogged)][-1].metrics


def test_dpo_with_lora_uses_the_base_as_reference(tmp_path, base_model):
    """LoRA: no second model and no second adapter; TRL computes the reference with the
    adapter disabled, so the base's ranking is the starting point (only the adapters
    train: the saved adapter is small and the merged model ranks the pairs right)."""
    from ftgui.core.models import is_peft
    kept = []
    seen = {}

    class Look:   # what the trainer holds, before cleanup() lets it go
        def __call__(self, e):
            if isinstance(e, StepLogged) and not seen:
                t = kept[0].trainer
                seen.update(ref=t.ref_model, adapters=list(t.model.peft_config),
                            peft=is_peft(t.model))

    summary, _ = preference_run(tmp_path, base_model, "dpo", lambda r: r, steps=60,
                                method="lora", runner_out=kept, dpo={"beta": 0.5},
                                training={"learning_rate": 5e-3},
                                lora={"r": 16, "alpha": 32}, _sink=Look())
    assert seen == {"ref": None, "adapters": ["default"], "peft": True}
    assert 0.25 <= summary["preference_accuracy_before"] <= 0.75
    assert summary["preference_accuracy_after"] >= 0.9
    assert summary["trainable_params"] < summary["total_params"] / 10
    assert (tmp_path / "run" / "adapter" / "adapter_config.json").is_file()
