"""End to end through the CLI on a tiny GPT-2 and real WikiText."""

import json

import torch

from ftgui.cli import main
from ftgui.core.events import read_events
from ftgui.core.runs import RunDir


def test_train_cli_end_to_end(tiny_config, tmp_path, capsys):
    cfg = tiny_config(training={"max_steps": 30, "eval_steps": 10, "save_steps": 10})
    cfg.save(tmp_path / "run.yaml")
    assert main(["train", str(tmp_path / "run.yaml")]) == 0

    run = RunDir(cfg.training.output_dir)
    summary = run.summary()
    assert summary["status"] == "finished"
    assert summary["perplexity_after"] < summary["perplexity_before"]
    assert summary["steps"] == 30 and summary["tokens_processed"] == 30 * 4 * 32
    assert run.config_path.exists() and (run.model_dir / "model.safetensors").exists()
    assert [p.name for p in run.checkpoints()] == ["checkpoint-20", "checkpoint-30"]

    events = read_events(run.events_path)
    steps = [e.step for e in events if e.kind == "step"]
    assert steps == list(range(2, 31, 2))
    evals = [e for e in events if e.kind == "eval"]
    # the base model, every eval_steps, and the last step measured once (not again after)
    assert [e.step for e in evals] == [0, 10, 20, 30]
    assert summary["eval_loss_after"] == evals[-1].loss
    assert events[-1].kind == "finished"
    lines = run.events_path.read_text().splitlines()
    assert all(json.loads(line)["event"] for line in lines)

    # the saved model reloads with plain transformers and generates
    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = AutoModelForCausalLM.from_pretrained(run.model_dir)
    tok = AutoTokenizer.from_pretrained(run.model_dir)
    out = model.generate(**tok("The lobster", return_tensors="pt"), max_new_tokens=5,
                         do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] > tok("The lobster", return_tensors="pt")["input_ids"].shape[1]

    capsys.readouterr()
    assert main(["generate", str(run.path), "--prompt", "The lobster",
                 "--max-new-tokens", "5"]) == 0
    assert capsys.readouterr().out.startswith("The lobster")
    assert main(["eval", str(run.path), "--data", cfg.data.source, "--block-size", "32"]) == 0
    assert "perplexity" in capsys.readouterr().out


def test_lora_run_saves_adapter_and_merged_model(tiny_config):
    from ftgui.core.runner import run_config

    cfg = tiny_config(model={"method": "lora"}, training={"max_steps": 6})
    summary = run_config(cfg)
    run = RunDir(cfg.training.output_dir)
    assert summary["trainable_params"] < summary["total_params"] / 5
    assert (run.adapter_dir / "adapter_model.safetensors").exists()
    from transformers import AutoModelForCausalLM
    merged = AutoModelForCausalLM.from_pretrained(run.model_dir)
    assert not any("lora" in n for n, _ in merged.named_parameters())
    base = AutoModelForCausalLM.from_pretrained(cfg.model.source)
    changed = [n for n, p in merged.named_parameters()
               if not torch.equal(p, dict(base.named_parameters())[n])]
    assert changed and all("attn" in n for n in changed)


def test_new_run_goes_beside_an_existing_one(tiny_config, tmp_path):
    cfg = tiny_config(training={"max_steps": 2})
    cfg.save(tmp_path / "run.yaml")
    assert main(["train", str(tmp_path / "run.yaml")]) == 0
    assert main(["train", str(tmp_path / "run.yaml"), "--new-run"]) == 0
    assert RunDir(tmp_path / "run-2").status() == "finished"


def test_empty_output_dir_makes_a_run_in_the_runs_folder(tiny_config, monkeypatch, tmp_path):
    from ftgui.core.runner import run_config
    from ftgui.core.runs import list_runs

    cfg = tiny_config(training={"output_dir": "", "max_steps": 2})
    run_config(cfg)
    runs = list_runs()
    assert len(runs) == 1 and runs[0].path.name.startswith("tiny-gpt2")


def test_training_fills_no_kv_cache_and_the_saved_model_keeps_its_setting(tiny_config):
    # use_cache on made every training forward also fill a KV cache (bench/NOTES.md)
    from ftgui.core.runner import Runner

    cfg = tiny_config(training={"max_steps": 3, "save_steps": 2})
    runner = Runner(cfg)
    runner.setup()
    caches = []
    model = runner.trainer.model
    model.transformer.register_forward_hook(
        lambda mod, args, out: caches.append(out.past_key_values))
    try:
        runner.train()
    finally:
        runner.cleanup()
    assert len(caches) >= 3 and all(c is None for c in caches)
    run = RunDir(cfg.training.output_dir)
    assert json.loads((run.model_dir / "config.json").read_text())["use_cache"] is True
