#!/usr/bin/env python
"""Target 4: tokenizing and packing both shared WikiText-2 files.

    python bench/data_prep.py [--quick] [--json OUT]

Sides, interleaved and repeated, each round from a fresh cache folder:
  * ftgui first pass: ``data.prepare`` (read, tokenize, pack, write the cache), valid.txt
    for training and test.txt for validation, block 128;
  * ftgui second pass: the same call again (the cache);
  * the tutorial's per-line ``datasets.map`` (``load_dataset("text")``, a ``map`` that
    tokenizes one line per call, then ``group_texts``), from a fresh datasets cache;
  * the same with a batched ``map`` (1,000 lines a call), as the tutorial's later cells do.
Rows = lines of the two files. The tokenizer is SmolLM2's (the demo's), else the tiny one;
loading it is not timed.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from itertools import chain
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import WIKI_TEST, WIKI_VALID, median, smollm2_folder, tiny_model, run_cli  # noqa: E402

BLOCK = 128


def _ftgui_pass(tokenizer, cache: Path) -> tuple[float, dict]:
    from ftgui.core import data
    from ftgui.core.config import DataConfig
    os.environ["FTGUI_CACHE_DIR"] = str(cache)
    cfg = DataConfig(source=str(WIKI_VALID), validation=str(WIKI_TEST), block_size=BLOCK)
    t = time.perf_counter()
    p = data.prepare(cfg, tokenizer, 42)
    dt = time.perf_counter() - t
    return dt, {"cached": p.cached, "train_blocks": len(p.train),
                "eval_blocks": len(p.eval) if p.eval is not None else 0}


def _tutorial_pass(tokenizer, cache: Path, batched: bool) -> tuple[float, dict]:
    import datasets
    datasets.disable_progress_bars()
    t = time.perf_counter()
    raw = datasets.load_dataset("text", data_files={"train": str(WIKI_VALID),
                                                    "validation": str(WIKI_TEST)},
                                cache_dir=str(cache))

    def tokenize(examples):
        return tokenizer(examples["text"])

    def group_texts(examples):
        concatenated = {k: list(chain(*examples[k])) for k in examples.keys()}
        total = (len(concatenated["input_ids"]) // BLOCK) * BLOCK
        result = {k: [v[i:i + BLOCK] for i in range(0, total, BLOCK)]
                  for k, v in concatenated.items()}
        result["labels"] = result["input_ids"].copy()
        return result

    tok = raw.map(tokenize, batched=batched, remove_columns=["text"])
    lm = tok.map(group_texts, batched=True)
    dt = time.perf_counter() - t
    return dt, {"train_blocks": len(lm["train"]), "eval_blocks": len(lm["validation"])}


def rows() -> int:
    return sum(len(p.read_text(encoding="utf-8-sig").splitlines())
               for p in (WIKI_VALID, WIKI_TEST))


def run(quick: bool = False) -> dict:
    from transformers import AutoTokenizer
    smol = smollm2_folder()
    model = smol or tiny_model()
    tokenizer = AutoTokenizer.from_pretrained(model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    n_rows = rows()
    repeats = 1 if quick else 3
    times = {"first": [], "cached": [], "tutorial_per_line": [], "tutorial_batched": []}
    info = {}
    for r in range(repeats):
        base = Path(tempfile.mkdtemp(prefix="ftgui-bench-data-"))
        try:
            order = ["ftgui", "per_line", "batched"]
            if r % 2:
                order.reverse()
            for what in order:
                if what == "ftgui":
                    dt, info["first"] = _ftgui_pass(tokenizer, base / "ftgui")
                    times["first"].append(dt)
                    dt, info["cached"] = _ftgui_pass(tokenizer, base / "ftgui")
                    assert info["cached"]["cached"], "second pass did not hit the cache"
                    times["cached"].append(dt)
                elif what == "per_line":
                    dt, info["tutorial"] = _tutorial_pass(tokenizer, base / "hf1", False)
                    times["tutorial_per_line"].append(dt)
                else:
                    dt, _ = _tutorial_pass(tokenizer, base / "hf2", True)
                    times["tutorial_batched"].append(dt)
        finally:
            shutil.rmtree(base, ignore_errors=True)
    med = {k: median(v) for k, v in times.items()}
    return {"tokenizer": "SmolLM2-135M" if smol else "tiny GPT-2", "rows": n_rows,
            "repeats": repeats, "times_s": times, "median_s": med,
            "rows_per_s": {k: n_rows / v for k, v in med.items()},
            "cached_speedup": med["first"] / med["cached"],
            "first_vs_per_line": med["tutorial_per_line"] / med["first"],
            "first_vs_batched": med["tutorial_batched"] / med["first"], "blocks": info}


def main() -> int:
    return run_cli(run, __doc__)


if __name__ == "__main__":
    sys.exit(main())
