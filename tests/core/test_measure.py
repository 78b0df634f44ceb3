"""Honest figures: tokens trained on (labels != -100, after the shift) apart from tokens
processed (padding and prompts included), and the peak memory, in step events and the
summary."""

from ftgui.core.events import read_events
from ftgui.core.runner import run_config
from ftgui.core.runs import RunDir
from tiny_model import FIXTURES


def test_packed_text_counts_every_position_but_the_first_of_each_block(tiny_config):
    cfg = tiny_config(training={"max_steps": 6, "batch_size": 4, "logging_steps": 2})
    summary = run_config(cfg)
    block = cfg.data.block_size
    assert summary["tokens_processed"] == 6 * 4 * block
    assert summary["tokens_trained"] == 6 * 4 * (block - 1)
    assert summary["peak_memory_bytes"] > 50 * 2 ** 20 and summary["peak_memory_kind"]
    steps = [e for e in read_events(RunDir(cfg.training.output_dir).events_path)
             if e.kind == "step"]
    assert [e.tokens_processed for e in steps] == [s * 4 * block for s in (2, 4, 6)]
    assert [e.tokens_trained for e in steps] == [s * 4 * (block - 1) for s in (2, 4, 6)]
    for e in steps:
        assert e.trained_tokens_per_second < e.tokens_per_second
        assert e.peak_memory > 0 and e.peak_memory_kind == summary["peak_memory_kind"]


def test_sft_counts_only_the_responses(tiny_config):
    """One epoch of instruction data: the trained tokens are exactly the response tokens
    (with their EOS) the data preparation counted; the processed ones include the prompts
    and the padding of each batch."""
    cfg = tiny_config(data={"source": str(FIXTURES / "instructions.jsonl"),
                            "format": "instruction", "block_size": 96, "validation": None},
                      training={"max_steps": None, "epochs": 1, "batch_size": 3,
                                "logging_steps": 1})
    summary = run_config(cfg)
    assert summary["tokens_trained"] == summary["train_trained_tokens"]
    assert summary["tokens_processed"] > summary["train_tokens"] > summary["tokens_trained"]
