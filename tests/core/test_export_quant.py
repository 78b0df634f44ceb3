"""Quantised GGUF exports (bf16, q8_0, q5_1, q5_0, q4_1, q4_0) read back by transformers.

Measured on the tiny GPT-2 (64 wide, fully fine-tuned 40 steps; CPU), per type: the largest
relative error ||W - W_back|| / ||W|| over the weight matrices, and the validation
perplexity of the file read back relative to the float32 model's (199.4):

    type   weight error   |ppl / ppl_f32 - 1|      asserted
    bf16   0.0017         9e-6                     error <= 0.005, ppl <= 1e-3
    q8_0   0.0053         6e-5                     error <= 0.01,  ppl <= 1e-3
    q5_1   0.038          5e-5                     error <= 0.06,  ppl <= 1e-2
    q5_0   0.042          5e-5                     error <= 0.06,  ppl <= 1e-2
    q4_1   0.078          1.5e-4                   error <= 0.12,  ppl <= 1e-2
    q4_0   0.086          3e-5                     error <= 0.12,  ppl <= 1e-2

(The tiny model's perplexity is near the unigram level, so it moves little; the weight
errors show each type's real rounding.)
"""

from pathlib import Path

import pytest
import torch

from ftgui.core.export import export
from ftgui.core.export.gguf_check import check_text, measure
from ftgui.core.runs import RunDir
from ftgui.core.export.to_gguf import expected_size, write_gguf

from test_export import make_run
from test_export_gguf import make_tiny_llama

BOUNDS = {"bf16": (0.005, 1e-3), "q8_0": (0.01, 1e-3), "q5_1": (0.06, 1e-2),
          "q5_0": (0.06, 1e-2), "q4_1": (0.12, 1e-2), "q4_0": (0.12, 1e-2)}


@pytest.fixture(scope="module")
def trained_run(tiny_model_dir, tmp_path_factory):
    base = tmp_path_factory.mktemp("gguf-quant")
    return make_run(base / "run", tiny_model_dir, base / "cache",
                    training={"max_steps": 40, "learning_rate": 3e-3})


def _types(path):
    import gguf
    return {t.name: t.tensor_type.name for t in gguf.GGUFReader(path).tensors}


def _weight_error(model_dir: Path, gguf_path: Path) -> float:
    from transformers import AutoModelForCausalLM

    src = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    back = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name,
                                                dtype=torch.float32,
                                                n_positions=src.config.n_positions)
    theirs = dict(back.named_parameters())
    return max(((p - theirs[n]).norm() / p.norm()).item()
               for n, p in src.named_parameters() if p.ndim == 2)


@pytest.mark.parametrize("outtype", list(BOUNDS))
def test_quantised_gguf_reads_back_close_to_f32(trained_run, tmp_path, outtype):
    out = export(trained_run, "gguf", tmp_path / f"tiny-{outtype}.gguf", gguf_type=outtype)
    types = _types(out)
    want = outtype.upper()
    assert types["blk.0.ffn_up.weight"] == want and types["token_embd.weight"] == want
    # llama-quantize's legacy types keep the output matrix finer (q8_0 here, see quantize.py)
    assert types["output.weight"] == ("Q8_0" if outtype.startswith(("q4", "q5")) else want)
    assert types["position_embd.weight"] == "F32" and types["output_norm.weight"] == "F32"
    assert types["blk.0.attn_qkv.bias"] == "F32"
    # the dialog's size estimate is the tensor data; the rest is the vocabulary and padding
    extra = out.stat().st_size - expected_size(Path(trained_run) / "model", outtype)
    assert 0 < extra < 64 * 1024

    max_error, max_ppl = BOUNDS[outtype]
    error = _weight_error(Path(trained_run) / "model", out)
    assert 1e-4 < error <= max_error, f"{outtype}: weight error {error}"
    res = measure(trained_run, out)
    assert res["split"] == "validation" and res["sequences"] > 0
    assert abs(res["perplexity"] / res["perplexity_f32"] - 1) <= max_ppl, check_text(outtype,
                                                                                     res)
    assert check_text(outtype, res).startswith(f"{outtype}: perplexity ")
    # the base model measured on the same sequences (the run measured it on all of them)
    summary = RunDir(trained_run).summary()
    if res["sequences"] == summary["eval_blocks"]:
        assert res["perplexity_base"] == pytest.approx(summary["perplexity_before"], rel=1e-3)
    assert "; the base model: " in check_text(outtype, res)


def test_rounding_that_takes_the_fine_tune_back_is_named():
    """bench/gguf_quality.py's q4_1 figures: a 2-step fine-tune of a Q4_1-sourced model,
    rounded back near its base (57.94 before, 45.63 after, 57.40 read back)."""
    text = check_text("q4_1", {"perplexity": 57.40, "perplexity_f32": 45.63,
                               "perplexity_base": 57.94, "sequences": 25,
                               "split": "validation"})
    assert "the base model: 57.94" in text
    assert "took back 96% of what the fine-tune gained" in text and "q8_0 or f16" in text
    kept = check_text("q8_0", {"perplexity": 46.11, "perplexity_f32": 45.63,
                               "perplexity_base": 57.94, "sequences": 25,
                               "split": "validation"})
    assert "the base model: 57.94" in kept and "took back" not in kept


def test_sizes_shrink_with_the_type(trained_run):
    model = Path(trained_run) / "model"
    sizes = [expected_size(model, t) for t in ("f32", "f16", "q8_0", "q5_1", "q5_0", "q4_1",
                                               "q4_0")]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)


def test_rows_that_are_not_whole_blocks_fall_back_to_f16(tmp_path):
    """A hidden size of 48 is not a multiple of the 32-value block: those matrices are f16,
    as llama.cpp's converter does; the MLP's down matrix (rows of 128) is still q4_0."""
    make_tiny_llama(tmp_path / "m", hidden_size=48)
    (tmp_path / "g").mkdir()
    out = write_gguf(tmp_path / "m", tmp_path / "g" / "m.gguf", "q4_0")
    types = _types(out)
    assert types["blk.0.attn_q.weight"] == "F16" and types["token_embd.weight"] == "F16"
    assert types["blk.0.ffn_down.weight"] == "Q4_0"


def test_cli_prints_the_perplexity_of_the_file_read_back(trained_run, tmp_path, capsys):
    import re

    from ftgui.cli import main

    out = tmp_path / "m.gguf"
    assert main(["export", str(trained_run), "--format", "gguf", "--out", str(out),
                 "--outtype", "q4_1"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    m = re.match(r"q4_1: perplexity ([\d.]+) vs ([\d.]+) in f32 \(\d+ validation", line)
    assert m, line
    assert abs(float(m[1]) / float(m[2]) - 1) <= BOUNDS["q4_1"][1]
    with pytest.raises(SystemExit) as exit_:   # argparse names the choices
        main(["export", str(trained_run), "--format", "gguf", "--out", str(out), "--force",
              "--outtype", "q3_k"])
    assert exit_.value.code == 2 and "q4_0" in capsys.readouterr().err


def test_tied_llama_keeps_its_embedding_finer(tmp_path):
    """No output matrix (tied to the embedding, as SmolLM2): llama-quantize treats the
    embedding as the output and keeps it finer, so q4_0 writes it in q8_0."""
    make_tiny_llama(tmp_path / "m", tie=True)
    (tmp_path / "g").mkdir()
    types = _types(write_gguf(tmp_path / "m", tmp_path / "g" / "m.gguf", "q4_0"))
    assert "output.weight" not in types and types["token_embd.weight"] == "Q8_0"
    assert types["blk.0.ffn_up.weight"] == "Q4_0"
