"""Build a tiny GPT-2 (2 layers, 64 wide) with the fixture tokenizer into a folder.

    python tests/tiny_model.py OUT_DIR [--seed N]

Used by the tests (as a fixture), the benchmarks and by hand for quick checks.
"""

import argparse
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TOKENIZER_DIR = FIXTURES / "tiny-tokenizer"


def make_tiny_model(out: Path, seed: int = 0, n_positions: int = 256,
                    dropout: float = 0.1) -> Path:
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    cfg = GPT2Config(n_layer=2, n_embd=64, n_head=2, vocab_size=len(tok),
                     n_positions=n_positions, bos_token_id=tok.eos_token_id,
                     eos_token_id=tok.eos_token_id, resid_pdrop=dropout,
                     embd_pdrop=dropout, attn_pdrop=dropout)
    model = GPT2LMHeadModel(cfg)
    out = Path(out)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(make_tiny_model(Path(a.out), a.seed))
    sys.exit(0)
