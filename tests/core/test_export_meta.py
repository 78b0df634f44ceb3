"""What an export says about its origin: the GGUF's general.* keys (read back with
gguf.GGUFReader) from a GGUF source or a Hugging Face folder, and the tokenizer's
pre-tokenizer name carried over from a GGUF source."""

from pathlib import Path

import pytest

from ftgui.core.export import export
from ftgui.core.export.to_gguf import write_gguf

from test_export import make_run
from test_export_gguf import make_tiny_llama

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _fields(path) -> dict:
    import gguf
    return {k: v.contents() for k, v in gguf.GGUFReader(path).fields.items()}


@pytest.fixture(scope="module")
def gguf_source(tmp_path_factory) -> Path:
    """A tiny Llama with the smollm-family fixture tokenizer, published as a GGUF whose
    metadata names a licence, an organisation, languages, and the 'starcoder' split (the
    same regular expressions as smollm: only the name tells them apart)."""
    base = tmp_path_factory.mktemp("gguf-source")
    make_tiny_llama(base / "hf", tokenizer=FIXTURES / "gguf-tokenizers" / "smollm",
                    max_positions=128)
    (base / "pub").mkdir()
    return write_gguf(base / "hf", base / "pub" / "tiny.gguf", "f32", meta={
        "general.name": "Tiny Llama 1M", "general.basename": "tiny-llama",
        "general.organization": "TinyOrg", "general.size_label": "1M",
        "general.license": "apache-2.0", "general.languages": ["en", "fr"],
        "tokenizer.ggml.pre": "starcoder"})


def test_gguf_source_metadata_is_carried_over(gguf_source, tmp_path):
    run = make_run(tmp_path / "run", gguf_source, tmp_path / "cache",
                   training={"max_steps": 2})
    f = _fields(export(run, "gguf", tmp_path / "out.gguf", gguf_type="q8_0"))
    assert f["general.name"] == "Tiny Llama 1M ftgui fine-tune"
    assert f["general.basename"] == "tiny-llama" and f["general.organization"] == "TinyOrg"
    assert f["general.size_label"] == "1M" and f["general.license"] == "apache-2.0"
    assert f["general.languages"] == ["en", "fr"]
    assert f["general.base_model.count"] == 1
    assert f["general.base_model.0.name"] == "Tiny Llama 1M"
    desc = f["general.description"]
    assert "Tiny Llama 1M" in desc and "full fine-tuning, 2 steps on wiki-small.txt" in desc
    assert f["tokenizer.ggml.pre"] == "starcoder"   # the source's name, not a guess


def test_hf_folder_source_fills_from_its_card(tiny_model_dir, tmp_path):
    import shutil

    folder = tmp_path / "tiny-gpt2"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "README.md").write_text("---\nlicense: mit\nlanguage:\n- en\nbase_model: "
                                      "openai-community/gpt2\n---\n# tiny\n", encoding="utf-8")
    run = make_run(tmp_path / "run", folder, tmp_path / "cache",
                   model={"method": "lora"}, training={"max_steps": 2})
    f = _fields(export(run, "gguf", tmp_path / "out.gguf"))
    assert f["general.name"] == "tiny-gpt2 ftgui fine-tune"   # not the run folder's name
    assert f["general.license"] == "mit" and f["general.languages"] == ["en"]
    assert f["general.base_model.0.repo_url"] == "https://huggingface.co/openai-community/gpt2"
    assert f["general.size_label"]   # from the parameter count
    assert "LoRA (r=8, alpha=16), 2 steps" in f["general.description"]
    assert f["tokenizer.ggml.pre"] == "gpt-2"
