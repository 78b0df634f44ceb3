"""GGUF export read back with transformers' GGUF loader: same tokens, same logits.

Tolerances (max absolute logit difference on a fixed 20-token input, measured on CPU):
  f32: exact (0.0) -> asserted <= 1e-5
  f16: about 2.5e-4 for logits of magnitude ~1 -> asserted <= 2e-3 (f16 has 11 bits of mantissa)
"""

from pathlib import Path

import pytest
import torch

from ftgui.core.export import export
from ftgui.core.export.to_gguf import GGUFExportError, write_gguf

from test_export import make_run

TOKENIZER = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-tokenizer"
TEXT = "The tower is 324 metres tall , about the same height as an 81 @-@ storey building ."
TOL = {"f32": 1e-5, "f16": 2e-3}


def make_tiny_llama(out: Path, tie: bool = False, tokenizer=TOKENIZER, hidden_size: int = 64,
                    max_positions: int = 256) -> Path:
    """A 2-layer Llama with ``tokenizer`` (a folder or a tokenizer object) saved in ``out``."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(tokenizer) if isinstance(tokenizer, (str, Path)) \
        else tokenizer
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden_size, intermediate_size=128,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=max_positions, bos_token_id=tok.eos_token_id,
                      eos_token_id=tok.eos_token_id, tie_word_embeddings=tie)
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def gpt2_run(tiny_model_dir, tmp_path_factory):
    base = tmp_path_factory.mktemp("gguf-gpt2")
    return make_run(base / "run", tiny_model_dir, base / "cache", model={"method": "lora"},
                    training={"learning_rate": 2e-2})


@pytest.fixture(scope="module")
def llama_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("gguf-llama")
    model = make_tiny_llama(base / "tiny-llama")
    return make_run(base / "run", model, base / "cache", training={"max_steps": 6})


def _compare(model_dir: Path, gguf_path: Path, outtype: str) -> float:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    kw = {}
    if src.config.model_type == "gpt2":
        # transformers reads gpt2.context_length into n_ctx, not n_positions
        kw["n_positions"] = src.config.n_positions
    back = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name,
                                                dtype=torch.float32, **kw).eval()
    assert type(back) is type(src)
    tok_src = AutoTokenizer.from_pretrained(model_dir)
    tok_back = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    assert tok_back(TEXT)["input_ids"] == tok_src(TEXT)["input_ids"]
    assert tok_back.eos_token_id == tok_src.eos_token_id
    ids = torch.tensor([tok_src(TEXT)["input_ids"]])
    with torch.no_grad():
        diff = (src(ids).logits - back(ids).logits).abs().max().item()
    assert diff <= TOL[outtype], f"{outtype}: max |logit difference| {diff}"
    return diff


@pytest.mark.parametrize("outtype", ["f32", "f16"])
def test_gpt2_run_to_gguf_and_back(gpt2_run, tmp_path, outtype):
    out = export(gpt2_run, "gguf", tmp_path / "tiny.gguf", gguf_type=outtype)
    _compare(Path(gpt2_run) / "model", out, outtype)


@pytest.mark.parametrize("outtype", ["f32", "f16"])
def test_llama_run_to_gguf_and_back(llama_run, tmp_path, outtype):
    out = export(llama_run, "gguf", tmp_path / "tiny-llama.gguf", gguf_type=outtype)
    _compare(Path(llama_run) / "model", out, outtype)


def test_llama_with_tied_embeddings(tmp_path):
    model = make_tiny_llama(tmp_path / "tied", tie=True)
    (tmp_path / "gguf").mkdir()
    out = write_gguf(model, tmp_path / "gguf" / "tied.gguf", "f32")
    _compare(model, out, "f32")


def make_sentencepiece_llama(out: Path, wiki_text: Path) -> Path:
    """A Llama-2-style tokenizer (BPE on '▁'-joined text with byte fallback), trained here."""
    from tokenizers import Tokenizer, decoders, models, normalizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"),
                                           normalizers.Replace(" ", "\u2581")])
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    specials = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    tok.train([str(wiki_text)], trainers.BpeTrainer(vocab_size=600, special_tokens=specials))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>")
    fast.save_pretrained(out)
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=len(fast), hidden_size=64, intermediate_size=128,
                                 num_hidden_layers=2, num_attention_heads=4,
                                 num_key_value_heads=4, max_position_embeddings=128,
                                 bos_token_id=1, eos_token_id=2)).save_pretrained(out)
    return out


def test_sentencepiece_style_tokenizer(tmp_path, wiki_text):
    import gguf

    model = make_sentencepiece_llama(tmp_path / "spm", wiki_text)
    (tmp_path / "gguf").mkdir()
    out = write_gguf(model, tmp_path / "gguf" / "spm.gguf", "f32")
    f = {k: v.contents() for k, v in gguf.GGUFReader(out).fields.items()}
    assert f["tokenizer.ggml.model"] == "llama" and len(f["tokenizer.ggml.scores"]) == 600
    types = f["tokenizer.ggml.token_type"]
    assert types[1] == 3 and types[3] == 6 and types[400] == 1  # control, byte, normal
    assert f["tokenizer.ggml.add_bos_token"] is False  # as the source tokenizer: no BOS
    _compare(model, out, "f32")


def test_gguf_metadata_llama_cpp_needs(llama_run, tmp_path):
    import gguf

    out = export(llama_run, "gguf", tmp_path / "m.gguf")
    r = gguf.GGUFReader(out)
    f = {k: v.contents() for k, v in r.fields.items()}
    assert f["general.architecture"] == "llama"
    assert f["tokenizer.ggml.model"] == "gpt2" and f["tokenizer.ggml.pre"] == "gpt-2"
    assert len(f["tokenizer.ggml.tokens"]) == f["llama.vocab_size"] == 512
    assert len(f["tokenizer.ggml.token_type"]) == 512 and f["tokenizer.ggml.token_type"][0] == 3
    assert f["tokenizer.ggml.merges"] and " " in f["tokenizer.ggml.merges"][0]
    for key in ("bos_token_id", "eos_token_id", "padding_token_id"):
        assert f[f"tokenizer.ggml.{key}"] == 0
    for key in ("context_length", "embedding_length", "block_count", "feed_forward_length",
                "attention.head_count", "attention.head_count_kv", "rope.dimension_count",
                "rope.freq_base", "attention.layer_norm_rms_epsilon"):
        assert f"llama.{key}" in f
    types = {t.name: t.tensor_type.name for t in r.tensors}
    assert types["token_embd.weight"] == "F16" and types["output_norm.weight"] == "F32"


def test_unsupported_architecture_is_a_user_error(tmp_path):
    from transformers import AutoTokenizer, OPTConfig, OPTForCausalLM

    tok = AutoTokenizer.from_pretrained(TOKENIZER)
    OPTForCausalLM(OPTConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1,
                             ffn_dim=64, num_attention_heads=2, word_embed_proj_dim=32)
                   ).save_pretrained(tmp_path / "opt")
    tok.save_pretrained(tmp_path / "opt")
    with pytest.raises(GGUFExportError, match="architecture 'opt' is not supported.*"
                                              "convert_hf_to_gguf"):
        write_gguf(tmp_path / "opt", tmp_path / "opt.gguf")
    assert not (tmp_path / "opt.gguf").exists()
