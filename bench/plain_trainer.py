#!/usr/bin/env python
"""The plain recipe, as transformers' run_clm.py does it, with no ftgui import.

    python bench/plain_trainer.py --model DIR --train FILE [--validation FILE]
        [--block-size 128 --batch-size 8 --max-steps 100 --seed 42 --method full|lora]
        [--add-eos] [--padded]

Packed (the default): ``datasets.load_dataset("text")``, a batched ``map`` that tokenizes,
``group_texts`` that concatenates and cuts ``block_size`` blocks with labels = input ids,
``default_data_collator``, ``Trainer``. ``--add-eos`` appends the EOS token to every line
before grouping (what ftgui does by default, ``data.add_eos``).

``--padded``: the tutorial's way instead: every non-blank line tokenized on its own (cut at
``block_size``), batched with ``DataCollatorForLanguageModeling(mlm=False)``, which pads
each batch to its longest line; the real (non-pad) tokens of every batch are counted.

Prints one line ``BENCH_JSON {...}``: steps/s over the timed steps, the per-step losses,
real tokens/s, and the time spent preparing the data.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from itertools import chain
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import StepTimer  # noqa: E402 - the same timer the ftgui side uses


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--validation")
    ap.add_argument("--block-size", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-steps", type=int, default=100)
    ap.add_argument("--learning-rate", type=float, default=2e-4)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--method", choices=("full", "lora"), default="full")
    ap.add_argument("--lora-r", type=int, default=8)
    ap.add_argument("--lora-alpha", type=int, default=16)
    ap.add_argument("--lora-dropout", type=float, default=0.05)
    ap.add_argument("--add-eos", action="store_true")
    ap.add_argument("--padded", action="store_true")
    ap.add_argument("--logging-steps", type=int, default=1)
    return ap


def build(a: argparse.Namespace, callbacks=()) -> tuple:
    """The Trainer of the recipe, ready to train: (trainer, timer, info); info["real_tokens"]
    and info["padded_tokens"] fill per collated batch in --padded mode."""
    import datasets
    import torch
    from transformers import (AutoModelForCausalLM, AutoTokenizer,
                              DataCollatorForLanguageModeling, Trainer, TrainingArguments,
                              default_data_collator, set_seed)
    datasets.disable_progress_bars()

    t0 = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(a.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    files = {"train": a.train}
    if a.validation:
        files["validation"] = a.validation
    raw = datasets.load_dataset("text", data_files=files)
    eos = tokenizer.eos_token_id
    # WikiText's blank lines are " " and the shared files start with a BOM on a line of its
    # own: both would add tokens (ftgui reads UTF-8-sig and drops blank lines)
    raw = raw.filter(lambda ex: bool(ex["text"].lstrip("\ufeff").strip()))

    if a.padded:

        def tokenize(examples):
            return tokenizer(examples["text"], truncation=True, max_length=a.block_size)
        lm = raw.map(tokenize, batched=True, remove_columns=["text"])
        inner = DataCollatorForLanguageModeling(tokenizer, mlm=False)
        real_tokens: list[int] = []
        padded_tokens: list[int] = []

        def collator(features):
            batch = inner(features)
            real_tokens.append(int(batch["attention_mask"].sum()))
            padded_tokens.append(int(batch["input_ids"].numel()))
            return batch
    else:
        def tokenize(examples):
            out = tokenizer(examples["text"])
            if a.add_eos:
                out["input_ids"] = [ids + [eos] for ids in out["input_ids"]]
            return {"input_ids": out["input_ids"]}

        def group_texts(examples):
            concatenated = {k: list(chain(*examples[k])) for k in examples.keys()}
            total = len(concatenated["input_ids"])
            total = (total // a.block_size) * a.block_size
            result = {k: [t[i:i + a.block_size] for i in range(0, total, a.block_size)]
                      for k, t in concatenated.items()}
            result["labels"] = result["input_ids"].copy()
            return result
        tokenized = raw.map(tokenize, batched=True, remove_columns=["text"])
        # one batch: ftgui packs the whole corpus at once (run_clm.py groups each 1000 rows
        # and drops their remainders, which gives other blocks and so other losses)
        lm = tokenized.map(group_texts, batched=True, batch_size=None)
        collator = default_data_collator
        real_tokens = None
    prep_s = time.perf_counter() - t0

    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    if a.method == "lora":
        from peft import LoraConfig, get_peft_model
        set_seed(a.seed)
        model = get_peft_model(model, LoraConfig(r=a.lora_r, lora_alpha=a.lora_alpha,
                                                 lora_dropout=a.lora_dropout,
                                                 task_type="CAUSAL_LM"))
    out_dir = tempfile.mkdtemp(prefix="plain-trainer-")
    args = TrainingArguments(
        output_dir=out_dir, max_steps=a.max_steps, per_device_train_batch_size=a.batch_size,
        per_device_eval_batch_size=a.batch_size, learning_rate=a.learning_rate,
        seed=a.seed, data_seed=a.seed,  # as ftgui: the same batches in the same order
        logging_steps=a.logging_steps, save_strategy="no", report_to="none",
        disable_tqdm=True, use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0)
    timer = StepTimer()
    trainer = Trainer(model=model, args=args, train_dataset=lm["train"],
                      data_collator=collator, processing_class=tokenizer,
                      callbacks=[timer, *callbacks])
    info = {"real_tokens": real_tokens, "padded_tokens": padded_tokens if a.padded else None,
            "prep_s": prep_s, "train_rows": len(lm["train"]), "out_dir": out_dir}
    return trainer, timer, info


def main() -> int:
    a = parser().parse_args()
    import torch
    trainer, timer, info = build(a)
    trainer.train()
    real_tokens, padded_tokens = info["real_tokens"], info["padded_tokens"]
    result = timer.summary(a.batch_size * a.block_size)
    if real_tokens is not None:
        per_step = sum(real_tokens) / len(real_tokens)
        result["real_tokens_per_step"] = per_step
        result["real_tokens_per_s"] = per_step * result["steps_per_s"]
        result["real_token_share"] = sum(real_tokens) / sum(padded_tokens)
    else:
        result["real_tokens_per_step"] = a.batch_size * a.block_size
        result["real_tokens_per_s"] = result["tokens_per_s"]
        result["real_token_share"] = 1.0
    result.update(side="padded" if a.padded else "plain", prep_s=info["prep_s"],
                  train_rows=info["train_rows"],
                  threads=torch.get_num_threads(), pid=os.getpid())
    print("BENCH_JSON " + json.dumps(result), flush=True)
    import shutil
    shutil.rmtree(info["out_dir"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
