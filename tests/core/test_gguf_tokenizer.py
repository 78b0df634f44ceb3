"""Tokenizers built from a GGUF give the ids of the original tokenizer.json, for the
pre-tokenizers transformers' GGUF loader lacks (fixtures: tests/fixtures/gguf-tokenizers,
rebuilt by its make_fixtures.py)."""

import shutil
from pathlib import Path

import pytest

from ftgui.core import models
from ftgui.core.config import ModelConfig
from ftgui.core.gguf_tokenizer import GGUFTokenizerWarning, gguf_pre_name

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gguf-tokenizers"
STRESS = ["   2024-01-22T10:00Z", "٣٤٥ ४५६ ①②", "Call 555-0123 or +44 20 7946 0958.",
          "def f(x):\n    return x ** 2  # 1234\n\tpass", "I've 🦙🦙 emoji 😶\u200d🌫️ ✅",
          "  3.14159 3..3 333333 1,000,000", "Tower built in 1889 ; 324 m"]


def _original(family: str):
    from transformers import PreTrainedTokenizerFast
    return PreTrainedTokenizerFast(tokenizer_file=str(FIXTURES / family / "tokenizer.json"))


def _ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("family", ["smollm", "mpt"])
def test_gguf_tokenizer_gives_the_original_ids(family):
    tok = models.load_tokenizer(ModelConfig(source=str(FIXTURES / f"{family}.gguf")))
    original = _original(family)
    for text in STRESS:
        assert _ids(tok, text) == _ids(original, text), text
        assert tok.decode(_ids(tok, text)) == text


def test_without_the_mapping_smollm_loses_its_digit_split():
    """What transformers alone builds from the same file: the test above can fail."""
    from transformers import AutoTokenizer

    plain = AutoTokenizer.from_pretrained(FIXTURES, gguf_file="smollm.gguf")
    original = _original("smollm")
    assert _ids(plain, STRESS[0]) != _ids(original, STRESS[0])
    assert _ids(plain, STRESS[1]) != _ids(original, STRESS[1])


def test_an_unknown_pre_tokenizer_warns(tmp_path):
    import gguf

    from ftgui.core.export.to_gguf import _vocab

    # the smollm fixture's vocabulary under a name llama.cpp uses for a split ftgui lacks
    src = tmp_path / "src"
    shutil.copytree(FIXTURES / "smollm", src)
    (tmp_path / "g").mkdir()
    writer = gguf.GGUFWriter(str(tmp_path / "g" / "odd.gguf"), "llama")
    _vocab(writer, src, 700, None, pre="deepseek-coder")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    assert gguf_pre_name(tmp_path / "g" / "odd.gguf") == "deepseek-coder"
    with pytest.warns(GGUFTokenizerWarning, match="'deepseek-coder'.*GPT-2's split"):
        models.load_tokenizer(ModelConfig(source=str(tmp_path / "g" / "odd.gguf")))
