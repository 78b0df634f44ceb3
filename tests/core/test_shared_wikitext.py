"""Issue check: a tiny GPT-2 folder on the shared WikiText-2 valid/test files, via the CLI.
Skipped when ../shared is not beside the clone (the suite ships its own small text)."""

from pathlib import Path

import pytest

from ftgui.cli import main
from ftgui.core.runs import RunDir

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "wikitext-2"


@pytest.mark.skipif(not (SHARED / "valid.txt").exists(), reason="../shared is not here")
def test_tiny_gpt2_on_shared_wikitext(tiny_model_dir, tmp_path):
    cfg = tmp_path / "wikitext.yaml"
    cfg.write_text(f"""
model: {{source: {tiny_model_dir}, method: full}}
data: {{source: {SHARED / 'valid.txt'}, validation: {SHARED / 'test.txt'}, block_size: 128}}
training: {{output_dir: {tmp_path / 'run'}, max_steps: 60, batch_size: 8,
           learning_rate: 0.002, logging_steps: 10, save_steps: 30}}
""")
    assert main(["train", str(cfg)]) == 0
    run = RunDir(tmp_path / "run")
    s = run.summary()
    assert s["perplexity_after"] < s["perplexity_before"]
    assert s["eval_rows"] > 2000  # the whole test split was the validation set

    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = AutoModelForCausalLM.from_pretrained(run.model_dir)
    tok = AutoTokenizer.from_pretrained(run.model_dir)
    ids = tok(" = Robert Boulter =", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] > ids["input_ids"].shape[1]
