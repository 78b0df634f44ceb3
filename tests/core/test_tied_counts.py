""""About this model" counts tied weights once: a model whose lm_head is its own module
but shares the embedding's weight (tie_word_embeddings=True), from its folder and from a
GGUF file, reads the same total as the run logs and as the loaded tensors' storage."""

import re

import pytest
import torch

from ftgui.core import models, preview
from ftgui.core.config import ModelConfig
from ftgui.core.events import Message
from ftgui.core.export.to_gguf import write_gguf
from ftgui.core.runner import run_config

from tiny_model import TOKENIZER_DIR


def _tiny_llama(out, tie: bool):
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                      num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                      max_position_embeddings=256, tie_word_embeddings=tie,
                      bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    assert (model.lm_head.weight is model.model.embed_tokens.weight) == tie
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out, len(tok) * 64


def _stored(model) -> int:
    """Parameters by distinct storage: a tied weight once, whatever the module tree says."""
    return sum({t.data_ptr(): t.numel() for t in model.state_dict().values()}.values())


@pytest.fixture(scope="module")
def llamas(tmp_path_factory):
    root = tmp_path_factory.mktemp("tied")
    out = {}
    for tie in (True, False):
        folder, embedding = _tiny_llama(root / f"llama-tied-{tie}", tie)
        out[tie] = (folder, write_gguf(folder, root / f"llama-tied-{tie}.gguf",
                                       outtype="f32"), embedding)
    return out


def test_tied_weights_are_counted_once_from_a_folder_and_a_gguf(llamas):
    totals = {}
    for tie, (folder, gguf, _) in llamas.items():
        for src in (folder, gguf):
            cfg = ModelConfig(source=str(src))
            shown = preview.model_info(cfg).total_params
            model = models.load_model(cfg)
            assert shown == models.count_params(model)[0] == _stored(model), src
            totals[tie, src.suffix] = shown
    embedding = llamas[True][2]
    for suffix in ("", ".gguf"):
        assert totals[False, suffix] - totals[True, suffix] == embedding
    assert totals[True, ""] == 115_008   # pinned: 2 layers of 64, vocab 512, tied


def test_the_run_logs_the_count_about_this_model_shows(llamas, tiny_config, tmp_path):
    gguf = llamas[True][1]
    said = []
    run_config(tiny_config(model={"source": str(gguf)},
                           training={"max_steps": 1, "output_dir": str(tmp_path / "r")}),
               [said.append])
    line = next(e.text for e in said if isinstance(e, Message) and
                e.text.startswith("Model: "))
    logged = int(re.search(r"([\d,]+) parameters", line).group(1).replace(",", ""))
    assert logged == preview.model_info(ModelConfig(source=str(gguf))).total_params
