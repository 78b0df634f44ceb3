"""The exact pre-tokenizer for a tokenizer built from a GGUF file.

A GGUF names how text is split before BPE in ``tokenizer.ggml.pre`` (llama.cpp's list, in
llama-vocab.cpp). transformers' GGUF loader knows some of these names; for the others it
falls back to GPT-2's split, which loses, for example, SmolLM2's separate-digits step: the
tokenizer then tokenises ``'   2024-01-22T10:00Z'`` differently from the model's own, and
training sees other ids than the model was trained on.

``match_gguf_pre_tokenizer(tokenizer, gguf_path)`` sets the equivalent ``tokenizers``
pre-tokenizer for the names llama.cpp splits with the same regular expressions as below
(checked against llama-vocab.cpp, and against each family's tokenizer.json by a test), and
warns (GGUFTokenizerWarning) for a name it cannot vouch for that transformers left at
GPT-2's split. It reads the tokenizer's state through public APIs only (the backend
tokenizer's JSON and its ``pre_tokenizer`` setter); nothing of transformers is patched.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

# llama.cpp splits these with "\p{N}" then GPT-2's expression: digits one at a time
DIGITS_THEN_GPT2 = ("smollm", "starcoder", "refact", "command-r", "codeshell", "exaone",
                    "minerva-7b")
# llama.cpp splits these with GPT-2's expression alone, as transformers' fallback does
GPT2_SPLIT = ("gpt-2", "mpt", "olmo", "jais", "trillion", "granite-docling", "phi-2",
              "roberta-bpe")


class GGUFTokenizerWarning(UserWarning):
    """The GGUF's pre-tokenizer is not one ftgui can reproduce exactly."""


def gguf_pre_name(gguf_path: str | Path) -> str | None:
    """``tokenizer.ggml.pre`` of the file, or None when it has none."""
    import gguf

    field = gguf.GGUFReader(str(gguf_path)).get_field("tokenizer.ggml.pre")
    return None if field is None else str(field.contents())


def _pre_tokenizer_json(tokenizer) -> dict | None:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    return json.loads(backend.to_str()).get("pre_tokenizer")


def _is_gpt2_fallback(pre: dict | None) -> bool:
    return bool(pre) and pre.get("type") == "ByteLevel" and pre.get("use_regex", True)


def match_gguf_pre_tokenizer(tokenizer, gguf_path: str | Path) -> str | None:
    """Give ``tokenizer`` (built by transformers from ``gguf_path``) the pre-tokenizer the
    GGUF names; returns that name (None when the file names none)."""
    name = gguf_pre_name(gguf_path)
    current = _pre_tokenizer_json(tokenizer)
    if name is None or current is None or not _is_gpt2_fallback(current):
        return name  # not byte-level BPE, or transformers set a split of its own
    if name in DIGITS_THEN_GPT2:
        from tokenizers import pre_tokenizers

        tokenizer.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=current.get("add_prefix_space", False),
                                     trim_offsets=current.get("trim_offsets", True),
                                     use_regex=True)])
    elif name not in GPT2_SPLIT:
        warnings.warn(
            f"{Path(gguf_path).name}: its tokenizer splits text as '{name}', which neither "
            f"transformers nor ftgui reproduces; it is tokenized with GPT-2's split instead, "
            f"so some texts (digits, spaces, non-Latin scripts) get other ids than the "
            f"original model's. Use the model's Hugging Face folder for exact tokens.",
            GGUFTokenizerWarning, stacklevel=2)
    return name
