"""DPO runs stop and resume exactly, and two CPU processes give one process's result."""

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml
from safetensors.torch import load_file

from ftgui.core.config import RunConfig
from ftgui.core.events import StepLogged, read_events
from ftgui.core.runner import resume_run, run_config
from ftgui.core.runs import RunDir


def _data(tmp_path):
    """48 training pairs (whole batches of 8, so that two processes split every batch
    alike) and 8 validation pairs, in two files."""
    for name, numbers in (("pairs.jsonl", range(24)), ("valid.jsonl", range(90, 94))):
        rows = [{"prompt": f"{i} Go {cue}.", "chosen": good, "rejected": bad}
                for i in numbers for cue, (good, bad) in
                {"high": ("up", "on"), "low": ("on", "up")}.items()]
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(tmp_path / "pairs.jsonl")


def _raw(model, data, out, **training):
    return {"model": {"source": str(model), "method": "full"},
            "data": {"source": data, "validation": data.replace("pairs", "valid"),
                     "block_size": 48},
            "training": {"output_dir": str(out), "objective": "dpo", "batch_size": 8,
                         "learning_rate": 1e-3, "logging_steps": 1, "save_steps": 100,
                         "seed": 11, **training}}


def _weights(run_dir):
    return load_file(RunDir(run_dir).model_dir / "model.safetensors")


@pytest.mark.parametrize("method, in_memory", [("full", False), ("lora", False),
                                               ("full", True), ("lora", True)])
def test_stop_then_resume_equals_uninterrupted(tmp_path, tiny_model_dir, method, in_memory):
    """in_memory: as in the window, the stopped run's model is kept (core.live_model) for
    its resume: a LoRA run's base is reused; a full run's trained model is not (DPO's
    reference must be the starting weights), so it loads again."""
    from ftgui.core.live_model import LiveModel

    live = LiveModel() if in_memory else None
    data = _data(tmp_path)
    raw = {**_raw(tiny_model_dir, data, tmp_path / "a", max_steps=12, eval_steps=6)}
    raw["model"]["method"] = method
    run_config(RunConfig.from_dict(raw))
    raw["training"]["output_dir"] = str(tmp_path / "b")
    holder = []

    def stop_at_5(event):
        if isinstance(event, StepLogged) and event.step == 5:
            holder[0].request_stop()

    summary = run_config(RunConfig.from_dict(raw), [stop_at_5], runner_out=holder,
                         live=live)
    assert summary["status"] == "stopped" and summary["steps"] == 6
    if in_memory:
        assert live.status == ("stopped" if method == "lora" else None)
    messages = []
    summary = resume_run(tmp_path / "b", [lambda e: messages.append(getattr(e, "text", ""))],
                         live=live)
    if in_memory:
        assert ("Model: reused from memory (the last run's), not loaded again." in messages) \
            == (method == "lora")
        assert live.status == "finished"
    assert summary["status"] == "finished" and summary["steps"] == 12
    straight = RunDir(tmp_path / "a").summary()
    for key in ("preference_accuracy_before", "preference_accuracy_after",
                "preference_margin_before", "preference_margin_after", "final_train_loss"):
        assert summary[key] == pytest.approx(straight[key], rel=1e-5, abs=1e-6), key
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=1e-6, msg=name)
    ea = [e for e in read_events(RunDir(tmp_path / "a").events_path) if e.kind == "step"]
    eb = [e for e in read_events(RunDir(tmp_path / "b").events_path) if e.kind == "step"]
    assert [e.step for e in eb] == list(range(1, 13))   # each step once
    for x, y in zip(ea, eb):
        assert y.metrics["rewards/margins"] == pytest.approx(x.metrics["rewards/margins"],
                                                             rel=1e-5, abs=1e-6), x.step


@pytest.mark.slow
def test_two_processes_against_one(tmp_path):
    """2 CPU processes (gloo, torchrun) at batch 4 each = 1 process at batch 8: the same
    losses, rewards and weights up to float rounding (no dropout: TRL turns it off)."""
    from tiny_model import make_tiny_model
    model = make_tiny_model(tmp_path / "tiny", dropout=0.0)
    data = _data(tmp_path)
    runs = {}
    for name, extra in (("one", {"batch_size": 8}), ("two", {"batch_size": 4, "nproc": 2})):
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(_raw(model, data, tmp_path / name, max_steps=8,
                                            eval_steps=4, **extra)))
        proc = subprocess.run([sys.executable, "-m", "ftgui", "train", str(path)],
                              env={**os.environ, "PYTHONUNBUFFERED": "1"},
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        runs[name] = RunDir(tmp_path / name)
    a, b = runs["one"], runs["two"]
    sa, sb = [[e for e in read_events(r.events_path) if e.kind == "step"] for r in (a, b)]
    assert [e.step for e in sb] == list(range(1, 9))
    for ea, eb in zip(sa, sb):
        assert eb.loss == pytest.approx(ea.loss, rel=1e-5), ea.step
        assert eb.metrics["rewards/margins"] == pytest.approx(ea.metrics["rewards/margins"],
                                                              rel=1e-4, abs=1e-6), ea.step
    for key in ("preference_accuracy_after", "preference_margin_after", "eval_loss_after"):
        assert b.summary()[key] == pytest.approx(a.summary()[key], rel=1e-4), key
    wa, wb = load_file(a.model_dir / "model.safetensors"), load_file(b.model_dir /
                                                                      "model.safetensors")
    # measured: at most 2.5e-5 apart (ln_f.bias), where the SFT test sees 2.8e-6; Adam
    # turns the float-rounding differences of the two reductions in near-zero gradients
    # into steps of up to lr (1e-3 here) in DPO's 8 steps, where losses and rewards still
    # agree to 1e-5
    for name in wa:
        torch.testing.assert_close(wb[name], wa[name], rtol=0, atol=1e-4, msg=name)


def test_a_dpo_run_is_listed_compared_and_exported(tmp_path, tiny_model_dir):
    """History, compare and the export formats work on a preference run's folder: the
    merged model and the adapter load and keep what was learned; the script export writes
    a DPO script, not an SFT one."""
    from transformers import AutoModelForCausalLM

    from ftgui.cli import main
    from ftgui.core import compare, history
    from ftgui.core.export import export

    data = _data(tmp_path)
    raw = _raw(tiny_model_dir, data, tmp_path / "runs" / "dpo", max_steps=4)
    raw["model"]["method"] = "lora"
    run_config(RunConfig.from_dict(raw))
    raw["training"].update(objective="sft", output_dir=str(tmp_path / "runs" / "sft"))
    raw["data"].update(source=str(tmp_path / "sft.jsonl"), validation=None)
    (tmp_path / "sft.jsonl").write_text(json.dumps({"prompt": "a b", "completion": "c"}) + "\n")
    run_config(RunConfig.from_dict(raw))

    rows = {r["name"]: r for r in history.runs_table(tmp_path / "runs")}
    assert rows["dpo"]["status"] == "finished"
    runs = compare.load_runs([tmp_path / "runs" / "dpo", tmp_path / "runs" / "sft"])
    assert ("training.objective", ["dpo", "sft"]) in compare.config_differences(runs)
    merged = export(tmp_path / "runs" / "dpo", "merged", tmp_path / "merged")
    adapter = export(tmp_path / "runs" / "dpo", "adapter", tmp_path / "adapter")
    assert (adapter / "adapter_config.json").is_file()
    model = AutoModelForCausalLM.from_pretrained(merged)
    saved = load_file(RunDir(tmp_path / "runs" / "dpo").model_dir / "model.safetensors")
    torch.testing.assert_close(model.state_dict()["transformer.wte.weight"],
                               saved["transformer.wte.weight"])
    # the script trains with TRL (tests/core/test_export_script_preference.py runs it)
    assert main(["export", str(tmp_path / "runs" / "dpo"), "--format", "script",
                 "--out", str(tmp_path / "train.py")]) == 0
    text = (tmp_path / "train.py").read_text()
    assert "'objective': 'dpo'" in text and "DPOTrainer(" in text
