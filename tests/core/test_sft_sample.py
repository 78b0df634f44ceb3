"""The SFT preview shows what a run trains on: its pieces come from sft.encode's labels."""

from pathlib import Path

from transformers import AutoTokenizer

from ftgui.core import sft
from ftgui.core.sft_sample import trained_pieces

TOKENIZER = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-tokenizer"


def test_trained_pieces_are_the_labelled_tokens_eos_included():
    tok = AutoTokenizer.from_pretrained(TOKENIZER)
    sft.prepare_tokenizer(tok, "simple")
    messages = [{"role": "user", "content": "What is the tower's height?"},
                {"role": "assistant", "content": "324 metres."},
                {"role": "user", "content": "And the storeys?"},
                {"role": "assistant", "content": "About 81."}]
    ids, labels = sft.encode(messages, tok, False)
    pieces = trained_pieces(messages, tok)
    assert "".join(t for t, _ in pieces) == tok.decode(ids, skip_special_tokens=False,
                                                      clean_up_tokenization_spaces=False)
    trained = [t for t, r in pieces if r]
    assert len(trained) == 2 and "324 metres." in trained[0] and "About 81." in trained[1]
    # the EOS encode appends to each response is shown as trained on
    assert all(tok.eos_token in t for t in trained)
    kept = [i for i, label in zip(ids, labels) if label != sft.IGNORE]
    assert "".join(trained) == tok.decode(kept, skip_special_tokens=False,
                                          clean_up_tokenization_spaces=False)
    assert not any(r for t, r in pieces if "tower" in t)   # the prompt is not trained on
