"""A GGUF source is dequantised once: later loads read the cached safetensors."""

import os
import stat
from pathlib import Path

import pytest
import torch

from ftgui.core import model_cache, models
from ftgui.core.config import ModelConfig
from ftgui.core.export.to_gguf import write_gguf

from tiny_model import make_tiny_model


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("gguf-cache")
    # n_positions 1024: transformers reads a GPT-2 GGUF with that many positions
    model_dir = make_tiny_model(folder / "tiny-gpt2", n_positions=1024)
    return write_gguf(model_dir, folder / "tiny.gguf", outtype="f32")


def _load(path: Path):
    cfg = ModelConfig(source=str(path))
    return models.load_tokenizer(cfg), models.load_model(cfg)


def _count_fresh(monkeypatch) -> list:
    calls = []
    real = models._load_gguf

    def counting(src, kw):
        calls.append(src.label)
        return real(src, kw)
    monkeypatch.setattr(models, "_load_gguf", counting)
    return calls


def test_second_load_reads_the_cache_with_equal_weights(tiny_gguf, monkeypatch):
    calls = _count_fresh(monkeypatch)
    tok1, m1 = _load(tiny_gguf)
    assert calls == [str(tiny_gguf)]
    entry = model_cache.entry(tiny_gguf)
    assert (entry / "model" / "model.safetensors").exists()
    assert (entry / "tokenizer" / "tokenizer_config.json").exists()

    tok2, m2 = _load(tiny_gguf)
    assert calls == [str(tiny_gguf)], "second load dequantised the GGUF again"
    assert type(m2) is type(m1) and m2.config.n_positions == m1.config.n_positions
    s1, s2 = m1.state_dict(), m2.state_dict()
    assert s1.keys() == s2.keys()
    for name in s1:
        assert torch.equal(s1[name], s2[name]), name
    text = "The tower is 324 metres tall , about the same height"
    assert tok2(text)["input_ids"] == tok1(text)["input_ids"]
    assert tok2.pad_token == tok1.pad_token
    assert not getattr(m2, "is_quantized", False)
    assert not hasattr(m2.config, "quantization_config")
    ids = torch.tensor([tok1(text)["input_ids"]])
    with torch.no_grad():
        assert torch.equal(m1.eval()(ids).logits, m2.eval()(ids).logits)


def test_warm_start_reads_no_gguf_metadata(tiny_gguf, monkeypatch):
    """Reading a GGUF's header parses its whole vocabulary (seconds for a real model): once
    the cache holds the file, the block-size check, the model preview and the load read the
    cached config instead, and find the same values as from the file."""
    import gguf

    from ftgui.core import preview

    cfg = ModelConfig(source=str(tiny_gguf))
    monkeypatch.setenv("FTGUI_NO_MODEL_CACHE", "1")
    from_file = preview.model_info(cfg)
    monkeypatch.delenv("FTGUI_NO_MODEL_CACHE")
    _load(tiny_gguf)                       # the cache holds the file now
    reads = []
    real = gguf.GGUFReader.__init__

    def counting(self, path, *a, **kw):
        reads.append(str(path))
        real(self, path, *a, **kw)
    monkeypatch.setattr(gguf.GGUFReader, "__init__", counting)
    assert models.context_length_of(cfg) == 1024
    models.check_block_size(cfg, 128)
    cached = preview.model_info(cfg)
    _load(tiny_gguf)
    assert reads == [], f"the GGUF was parsed again on a warm start: {reads}"
    assert (cached.architecture, cached.total_params, cached.context) == \
        (from_file.architecture, from_file.total_params, from_file.context)

    monkeypatch.setenv("FTGUI_NO_MODEL_CACHE", "1")   # without the cache: read from the file
    assert models.context_length_of(cfg) == 1024 and reads


def test_cache_is_private(tiny_gguf):
    _load(tiny_gguf)
    entry = model_cache.entry(tiny_gguf)
    for p in [model_cache.models_dir(), entry, *entry.rglob("*")]:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == (0o700 if p.is_dir() else 0o600), (p, oct(mode))


def test_changed_file_is_read_again(tiny_gguf, tmp_path, monkeypatch):
    copy = tmp_path / "copy.gguf"
    copy.write_bytes(tiny_gguf.read_bytes())
    calls = _count_fresh(monkeypatch)
    _, before = _load(copy)
    first_key = model_cache.key(copy)
    write_gguf(make_tiny_model(tmp_path / "other", seed=1, n_positions=1024), copy, "f32")
    assert model_cache.key(copy) != first_key
    _, after = _load(copy)
    assert len(calls) == 2
    ref = models.load_model(ModelConfig(source=str(tmp_path / "other")))
    name = "transformer.wte.weight"
    assert torch.equal(after.state_dict()[name], ref.state_dict()[name])
    assert not torch.equal(after.state_dict()[name], before.state_dict()[name])
    # the same bytes with another modification time are read again too
    os.utime(copy, ns=(10**9, 10**9))
    _load(copy)
    assert len(calls) == 3


def test_damaged_entry_is_rebuilt(tiny_gguf, monkeypatch):
    _load(tiny_gguf)
    st = model_cache.entry(tiny_gguf) / "model" / "model.safetensors"
    st.write_bytes(b"not safetensors")
    calls = _count_fresh(monkeypatch)
    _, m = _load(tiny_gguf)
    assert calls == [str(tiny_gguf)]
    assert st.stat().st_size > 1000


def test_limit_evicts_the_least_recently_used(tiny_gguf, tmp_path, monkeypatch):
    a, b = tmp_path / "a.gguf", tmp_path / "b.gguf"
    a.write_bytes(tiny_gguf.read_bytes())
    _load(a)
    one = sum(p.stat().st_size for p in model_cache.entry(a).rglob("*") if p.is_file())
    monkeypatch.setenv("FTGUI_MODEL_CACHE_GB", str(1.5 * one / 2**30))
    b.write_bytes(tiny_gguf.read_bytes())
    os.utime(b, ns=(5, 5))
    _load(b)
    assert model_cache.entry(b).is_dir()
    assert not model_cache.entry(a).exists()


def test_clear_removes_models_and_data(tiny_gguf, tiny_config):
    from ftgui.core import data

    _load(tiny_gguf)
    (data.cache_root() / "somekey").mkdir(parents=True, exist_ok=True)
    (data.cache_root() / "somekey" / "ids.npy").write_bytes(b"x" * 100)
    before = model_cache.usage()
    assert before["models"] > 0 and before["data"] >= 100
    freed = model_cache.clear()
    assert freed == before["models"] + before["data"]
    after = model_cache.usage()
    assert after["models"] == 0 and after["data"] == 0


def test_cli_cache_clear(tiny_gguf, capsys):
    from ftgui.cli import main

    _load(tiny_gguf)
    assert main(["cache"]) == 0
    assert "models" in capsys.readouterr().out
    assert main(["cache", "--clear"]) == 0
    assert "Freed" in capsys.readouterr().out
    assert not model_cache.entry(tiny_gguf).exists()


def test_a_second_writer_of_the_same_entry_keeps_the_first_quietly(tiny_gguf, caplog):
    """Two loads of one GGUF at once (the window's model preview and a run) both write the
    entry: the later one finds it stored, keeps it and says nothing."""
    from transformers import AutoTokenizer
    cfg = ModelConfig(source=str(tiny_gguf))
    fresh = AutoTokenizer.from_pretrained(tiny_gguf.parent, gguf_file=tiny_gguf.name)
    folder = model_cache.entry(tiny_gguf) / "tokenizer"
    first = models.load_tokenizer(cfg)               # stores the entry
    stored = sorted(p.name for p in folder.iterdir())
    with caplog.at_level("WARNING", logger="ftgui"):
        model_cache._store(folder, fresh.save_pretrained)   # the slower writer
    assert "could not write" not in caplog.text
    assert sorted(p.name for p in folder.iterdir()) == stored
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".tokenizer-")]
    assert models.load_tokenizer(cfg)("a b c")["input_ids"] == first("a b c")["input_ids"]
