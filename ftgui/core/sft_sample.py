"""One SFT dataset's look before training: the first examples as (text, trained on)
pieces, and every example's token length for the histogram beside ``data.block_size``.
Qt-free; the Dataset tab's preview (gui/widgets/sft_preview.py) shows it.

The pieces come from ``sft.encode``'s own ids and labels, so what is highlighted as
trained on is exactly what a run trains on (the EOS a response gets included)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ftgui.core import data, models, sft
from ftgui.core.config import DataConfig, ModelConfig
from ftgui.core.errors import FtguiError

SHOWN = 50            # examples rendered for browsing
MEASURED = 20_000     # examples whose token length is measured for the histogram


@dataclass
class SftSample:
    examples: list[list[tuple[str, bool]]]    # rendered (text, is_response) pieces
    lengths: np.ndarray                        # tokens per example, before truncation
    total: int                                 # training examples in all
    block_size: int
    truncate: bool
    template: str                              # which template rendered them
    specials: list[str] = field(default_factory=list)

    @property
    def over(self) -> int:
        """Measured examples longer than the block (truncated, or refused)."""
        return int((self.lengths > self.block_size).sum())


def compute(data_cfg: DataConfig, model_cfg: ModelConfig, seed: int) -> SftSample | None:
    """Render the first examples and measure token lengths (None for plain text or when
    the model's tokenizer cannot be read)."""
    if data_cfg.format == "text":
        return None
    raw = data.load_raw(data_cfg, seed)
    if raw.format == "text":
        return None
    try:
        tok = models.load_tokenizer(model_cfg)
    except FtguiError:
        return None
    simple = sft.use_simple_template(tok, data_cfg.template)
    data.check_template(raw, data_cfg, tok)
    examples = [trained_pieces(m, tok) for m in raw.train[:SHOWN]]
    lengths = np.fromiter((len(sft.encode(m, tok, True)[0]) for m in raw.train[:MEASURED]),
                          dtype=np.int64)
    specials = sorted({s for s in (list(tok.all_special_tokens)
                                   + list(tok.get_added_vocab())) if s}, key=len, reverse=True)
    return SftSample(examples, lengths, len(raw.train), data_cfg.block_size,
                     data_cfg.truncate, "simple template" if simple else "chat template",
                     specials)




def trained_pieces(messages: list[dict], tok) -> list[tuple[str, bool]]:
    """The example as a run encodes it, in (text, trained on) runs: the label mask of
    ``sft.encode`` decides, and each run's text is what its tokens decode to."""
    ids, labels = sft.encode(messages, tok, False)
    pieces: list[tuple[str, bool]] = []
    shown, start = "", 0
    for end in range(1, len(ids) + 1):
        trained = labels[start] != sft.IGNORE
        if end < len(ids) and (labels[end] != sft.IGNORE) == trained:
            continue
        # decode the prefix and keep the new part: a tokenizer may strip a leading space
        # from a text's first token, which must not eat the space a run trains on
        text = tok.decode(ids[:end], skip_special_tokens=False,
                          clean_up_tokenization_spaces=False)
        pieces.append((text[len(shown):], trained))
        shown, start = text, end
    return [(t, r) for t, r in pieces if t]
