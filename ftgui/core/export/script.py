"""A run → one standalone Python script that reproduces it with plain transformers / peft.

The script imports no ftgui: the run's config is inlined, and the data reading, packing,
model loading, LoRA setup and ``TrainingArguments`` mirror ``ftgui.core.data``,
``ftgui.core.sft`` and ``ftgui.core.runner`` step by step (including the evaluation before
training, which keeps the random number streams in the same order), so that with the same
seed on the same machine it reaches the same training loss. A test runs it and checks that.

Plain-text runs get the packing code; instruction, chat and prompt/completion runs get the
SFT code instead (rows → messages → template → prompt/response segments with labels -100
on the prompt → truncation or packing → the padding collator), so each script holds only
what its run used.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ftgui.core.config import RunConfig, looks_like_path
from ftgui.core.export import ExportError


class ScriptExportError(ExportError):
    """The run uses something the exported script cannot reproduce."""


def _model_source(source: str) -> dict:
    from ftgui.core import models

    src = models.resolve_source(source)  # pkg:..., run folders and GGUF files resolved here
    return {"path": src.path, "gguf_file": src.gguf_file}


def script_config(cfg: RunConfig, summary: dict) -> dict:
    """The plain dict the script runs on: the run's config, with sources resolved and
    ``auto`` settings replaced by what the run detected (its summary records them)."""
    from ftgui.core import data as data_mod

    fmt = run_format(cfg, summary)
    raw = cfg.to_dict()
    data = raw["data"]
    if looks_like_path(data["source"]) and not Path(data["source"]).exists():
        raise ScriptExportError(f"Script export: the run's data source {data['source']} no "
                                f"longer exists; the script would have nothing to train on.")
    data["format"] = fmt
    data["validation"] = data_mod.validation_choice(cfg.data)[0]
    if fmt == "text":
        data["text_column"] = data.get("text_column") or summary.get("text_column")
        keys = TEXT_DATA_KEYS
    else:
        # the columns the run read, as it recorded them, rather than guessed again
        recorded = _recorded_columns(summary) if summary.get("format", fmt) == fmt else {}
        for key in SFT_COLUMN_KEYS[fmt]:
            data[key] = data.get(key) or recorded.get(key)
        keys = SFT_DATA_KEYS + SFT_COLUMN_KEYS[fmt]
    training = {k: v for k, v in raw["training"].items() if k not in LAUNCH_KEYS}
    return {
        "model": {**_model_source(cfg.model.source), "method": cfg.model.method,
                  "trust_remote_code": cfg.model.trust_remote_code},
        "data": {k: data.get(k) for k in keys},
        "training": training,
        "lora": raw["lora"],
    }


def run_format(cfg: RunConfig, summary: dict) -> str:
    fmt = getattr(cfg.data, "format", "text") or "text"
    return summary.get("format", "text") if fmt == "auto" else fmt


def _recorded_columns(summary: dict) -> dict:
    """The column mapping an SFT run keeps in its summary (``columns``: role → column, or
    the older 'prompt=instruction, response=output') as data keys."""
    if isinstance(summary.get("columns"), dict):
        return {f"{role}_column": col for role, col in summary["columns"].items()
                if role in ("prompt", "input", "response", "messages", "system", "tools")}
    out = {}
    text = summary.get("text_column") or ""
    for part in re.split(r", (?=(?:prompt|input|response|messages)=)", text):
        key, sep, column = part.partition("=")
        if sep and key in ("prompt", "input", "response", "messages") and column:
            out[f"{key}_column"] = column
    return out


# what plain-text data uses; the instruction/chat keys do not apply
TEXT_DATA_KEYS = ("source", "config", "split", "text_column", "validation", "block_size",
                  "add_eos", "max_rows")
# what instruction / chat / prompt_completion data uses (add_eos does not apply: the
# response always ends with EOS), and the columns each format reads
SFT_DATA_KEYS = ("source", "format", "config", "split", "validation", "block_size",
                 "max_rows", "template", "train_on_prompt", "packing", "truncate")
SFT_COLUMN_KEYS = {"instruction": ("prompt_column", "input_column", "response_column",
                                   "system_column"),
                   "prompt_completion": ("prompt_column", "response_column", "system_column"),
                   "chat": ("messages_column", "system_column")}
# where the run went and how it was launched; the docstring says how to launch the script
LAUNCH_KEYS = ("output_dir", "nproc", "nnodes", "node_rank", "master_addr", "master_port",
               "accelerate_config")


def _literal(value, indent: int = 0) -> str:
    """A Python literal with one key per line, for a config a person will read and edit."""
    if isinstance(value, dict) and value:
        pad = " " * (indent + 4)
        items = ",\n".join(f"{pad}{k!r}: {_literal(v, indent + 4)}" for k, v in value.items())
        return "{\n" + items + ",\n" + " " * indent + "}"
    return repr(value)


def render(cfg: RunConfig, summary: dict, run_name: str) -> str:
    inlined = _literal(script_config(cfg, summary))
    t = cfg.training
    procs = getattr(t, "nproc", 1) * getattr(t, "nnodes", 1)
    launch = ""
    if procs > 1:
        launch = (f"\n\nThe run used {procs} processes; to train the same way launch it as\n"
                  f"    torchrun --nproc_per_node {t.nproc} THIS_FILE.py")
        if t.nnodes > 1:
            launch = launch.replace("torchrun ", f"torchrun --nnodes {t.nnodes} --node_rank N "
                                    f"--master_addr {t.master_addr} --master_port "
                                    f"{t.master_port} ")
    from ftgui.core import files
    return (TEMPLATE.replace("__MARK_LINE__", MARK_LINE).replace("__RUN_NAME__", run_name)
            .replace("__SPLIT_NAMES__", repr(files.SPLIT_NAMES)).replace("__LAUNCH__", launch)
            .replace("__CONFIG__", inlined).replace("__DATA_CODE__", _data_code(cfg, summary)))


def _data_code(cfg: RunConfig, summary: dict) -> str:
    """The script's data section: packing for plain text, the SFT steps otherwise. The
    SFT steps embed ftgui's own code verbatim (formats.py whole, sft.py's encoding
    functions), so the script reads rows and marks responses exactly as the run did."""
    if run_format(cfg, summary) == "text":
        return TEXT_DATA
    import inspect

    from ftgui.core import formats, sft

    # one line per tag, as in sft.py (json.dumps: a double-quoted Python literal too)
    pieces = re.split(r"(?=\{% (?:for|if|endfor)\b)|(?<=in messages %\})", sft.SIMPLE_TEMPLATE)
    template = "(\n" + "".join(f"    {json.dumps(p)}\n" for p in pieces if p) + ")"
    reading = inspect.getsource(formats)
    reading = reading.replace("from __future__ import annotations\n", "")
    reading = reading.replace("from ftgui.core.errors import DataError\n", "")
    encoding = "\n\n".join(inspect.getsource(f) for f in (
        sft.segments, sft.encode_pieces, sft.encode, sft._final_response_length,
        sft._without_oldest_turn, sft.encode_fitting))
    return (SFT_DATA.replace("__SIMPLE_TEMPLATE__", template)
            .replace("__FORMATS__", reading).replace("__ENCODING__", encoding))


# the second line of every exported script: how `ftgui export --force` knows the file is
# one of its exports (and may replace it)
MARK_LINE = "# ftgui-export: script (written by ftgui; --force may replace this file)"

TEMPLATE = r'''#!/usr/bin/env python
__MARK_LINE__
"""Reproduce the ftgui run "__RUN_NAME__" with plain transformers, datasets and peft.

    pip install torch transformers peft datasets numpy pyarrow
    python THIS_FILE.py [--output-dir DIR]__LAUNCH__

Written by `ftgui export --format script`. It does not need ftgui: the run's settings are
in CONFIG below. With the same seed on the same machine it trains to the same loss as the
ftgui run. The final model (LoRA merged into the base) is saved to OUTPUT_DIR/model.
"""

import argparse
import csv
import io
import json
import math
import os
from pathlib import Path

import numpy as np
import torch
from transformers import (AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments,
                          default_data_collator, set_seed)

CONFIG = __CONFIG__

SUFFIXES = (".txt", ".text", ".jsonl", ".json", ".csv", ".parquet")
SPLIT_NAMES = __SPLIT_NAMES__


# ---- data: reading rows ---------------------------------------------------------------------
def read_rows(path):
    """A local file as rows; a text file gives one row per non-blank line."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq
        return pq.read_table(p).to_pylist()
    text = p.read_bytes().decode("utf-8-sig")
    if suffix in (".txt", ".text"):
        return [{"text": line} for line in text.splitlines() if line.strip()]
    if suffix == ".csv":
        return list(csv.DictReader(io.StringIO(text, newline="")))
    stripped = text.lstrip()
    if stripped.startswith("[") or (suffix == ".json" and stripped.startswith("{")
                                    and "\n{" not in stripped and "\n {" not in stripped):
        data = json.loads(text)
        if isinstance(data, dict):
            data = next(v for v in data.values() if isinstance(v, list))
        return data
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def folder_files(folder, split):
    """Files of one split in a folder: train.*, valid.* / validation.*, test.*; others are train."""
    wanted = next((s for s, names in SPLIT_NAMES.items() if split in names), split)
    out = []
    for f in sorted(f for f in Path(folder).iterdir()
                    if f.is_file() and f.suffix.lower() in SUFFIXES):
        stem = f.stem.lower()
        found = next((s for s, names in SPLIT_NAMES.items()
                      if any(stem == n or stem.endswith(("." + n, "_" + n, "-" + n))
                             or stem.startswith((n + "_", n + "-", n + "."))
                             for n in names)), "train")
        if found == wanted:
            out.append(f)
    return out


def is_local(value):
    return Path(value).expanduser().exists()


def source_rows(data, split):
    source = data["source"]
    if is_local(source):
        p = Path(source).expanduser()
        if p.is_file():
            return read_rows(p)
        return [row for f in folder_files(p, split) for row in read_rows(f)]
    import datasets
    return datasets.load_dataset(source, data["config"], split=split).to_list()


def load_items(data, seed, items_of):
    """The training items and the validation ones (None when the run had none);
    ``items_of`` turns rows into items: texts, or conversations for instruction/chat data."""
    train = items_of(source_rows(data, data["split"]))
    if data["max_rows"]:
        train = train[:data["max_rows"]]
    v = data["validation"]
    eval_items = None
    if isinstance(v, float):
        # the held-out rows: the first round(n * fraction) of a seeded permutation
        n_eval = max(1, int(round(len(train) * v)))
        held = set(np.random.default_rng(seed).permutation(len(train))[:n_eval].tolist())
        eval_items = [x for i, x in enumerate(train) if i in held]
        train = [x for i, x in enumerate(train) if i not in held]
    elif isinstance(v, str) and v.strip():
        if v.lower().endswith(SUFFIXES) or Path(v).is_file():
            rows = read_rows(v)
        else:
            rows = source_rows(data, v)
        eval_items = items_of(rows)
    return train, eval_items

__DATA_CODE__

# ---- model ----------------------------------------------------------------------------------
def load_tokenizer(m):
    kw = {"trust_remote_code": m["trust_remote_code"]}
    if m["gguf_file"]:
        kw["gguf_file"] = m["gguf_file"]
    tok = AutoTokenizer.from_pretrained(m["path"], **kw)
    if tok.pad_token is None:
        if tok.eos_token is not None:
            tok.pad_token = tok.eos_token
        else:
            tok.add_special_tokens({"pad_token": "<|pad|>"})
    return tok


def load_model(m, dtype):
    kw = {"trust_remote_code": m["trust_remote_code"]}
    if m["gguf_file"]:
        kw["gguf_file"] = m["gguf_file"]
    model = AutoModelForCausalLM.from_pretrained(m["path"], dtype=dtype, **kw)
    if m["gguf_file"]:
        # dequantized on load, but still marked quantized: the Trainer would refuse it
        model.is_quantized = False
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    return model


def apply_lora(model, lora):
    from peft import LoraConfig, get_peft_model
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

    targets = lora["target_modules"]
    if targets == "auto":
        known = model.config.model_type in TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
        targets = None if known else "all-linear"
    return get_peft_model(model, LoraConfig(r=lora["r"], lora_alpha=lora["alpha"],
                                            lora_dropout=lora["dropout"],
                                            target_modules=targets, task_type="CAUSAL_LM"))


def strategy_args(t):
    if t.get("strategy") == "fsdp":
        return {"fsdp": "full_shard auto_wrap"}
    if t.get("strategy") == "deepspeed":
        return {"deepspeed": t["deepspeed_config"]}
    return {}


def choose_device(t):
    device = t["device"]
    if device == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    precision = t["precision"]
    if precision == "auto":
        precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") \
            if device == "cuda" else "fp32"
    return device, precision


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output-dir", default=str(Path(__file__).resolve().with_suffix("")) + "-output",
                    help="where checkpoints, the final model and summary.json go")
    args = ap.parse_args()
    out = Path(args.output_dir)
    m, data, t, lora = CONFIG["model"], CONFIG["data"], CONFIG["training"], CONFIG["lora"]
    device, precision = choose_device(t)

    tokenizer = load_tokenizer(m)
    train, evals, collator = prepare_data(data, tokenizer, t["seed"])

    dtype = torch.float32
    if m["method"] == "lora" and device == "cuda":
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    model = load_model(m, dtype)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if m["method"] == "lora":
        set_seed(t["seed"])  # the adapter's initial weights
        model = apply_lora(model, lora)

    has_eval = evals is not None
    targs = TrainingArguments(
        output_dir=str(out / "checkpoints"),
        num_train_epochs=t["epochs"],
        max_steps=t["max_steps"] or -1,
        per_device_train_batch_size=t["batch_size"],
        per_device_eval_batch_size=t["batch_size"],
        gradient_accumulation_steps=t["gradient_accumulation"],
        learning_rate=t["learning_rate"],
        lr_scheduler_type=t["scheduler"],
        warmup_steps=t["warmup_ratio"],  # a value below 1 is a fraction of the steps
        weight_decay=t["weight_decay"],
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        activation_checkpointing=t["gradient_checkpointing"],
        activation_checkpointing_kwargs={"use_reentrant": False}
        if t["gradient_checkpointing"] else None,
        logging_steps=t["logging_steps"],
        eval_strategy="steps" if (has_eval and t["eval_steps"]) else "no",
        eval_steps=t["eval_steps"],
        save_strategy="steps",
        save_steps=t["save_steps"],
        save_total_limit=t["save_total_limit"],
        seed=t["seed"],
        data_seed=t["seed"],
        use_cpu=device == "cpu",
        ddp_backend=("gloo" if device == "cpu" else None)
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 else None,
        **strategy_args(t),
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = Trainer(model=model, args=targs, train_dataset=train, eval_dataset=evals,
                      data_collator=collator, processing_class=tokenizer)
    summary = {}
    if has_eval:
        # the evaluation draws from torch's random generator (its DataLoader's seed): put
        # it back after, as ftgui does, so training is the same with or without it
        rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        loss = trainer.evaluate()["eval_loss"]
        torch.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        summary.update(eval_loss_before=loss, perplexity_before=math.exp(loss))
        print(f"validation perplexity before training: {math.exp(loss):.3f}")
    result = trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    summary.update(steps=trainer.state.global_step,
                   final_train_loss=losses[-1] if losses else result.training_loss)
    if has_eval:
        loss = trainer.evaluate()["eval_loss"]
        summary.update(eval_loss_after=loss, perplexity_after=math.exp(loss))
        print(f"validation perplexity after training: {math.exp(loss):.3f}")
    if not trainer.is_world_process_zero():
        return  # in a multi-process launch the first process saves
    final = trainer.model
    if hasattr(final, "peft_config"):
        final.save_pretrained(out / "adapter", save_embedding_layers=False)
        final = final.merge_and_unload()
    final.save_pretrained(out / "model")
    tokenizer.save_pretrained(out / "model")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"final training loss: {summary['final_train_loss']:.6f}")
    print(f"model saved to {out / 'model'}")


if __name__ == "__main__":
    main()
'''


TEXT_DATA = r'''
# ---- data: rows -> texts -> packed blocks ---------------------------------------------------
def texts_of(rows, column):
    if column is None or not any(column in r for r in rows[:1000]):
        columns = [k for k in (rows[0] if rows else {}) if isinstance(rows[0][k], str)]
        column = columns[0] if len(columns) == 1 else "text"
    return [v for r in rows if isinstance(v := r.get(column), str) and v.strip()]


def pack(texts, tokenizer, block_size, add_eos):
    """Tokenize, append EOS to each text, concatenate, cut into blocks (labels = input ids)."""
    eos = tokenizer.eos_token_id if add_eos else None
    flat = []
    for start in range(0, len(texts), 1000):
        for ids in tokenizer(texts[start:start + 1000], add_special_tokens=False)["input_ids"]:
            flat.extend(ids + [eos] if eos is not None else ids)
    flat = np.array(flat, dtype=np.int32)
    n = len(flat) // block_size
    return flat[:n * block_size].reshape(n, block_size)


class Blocks(torch.utils.data.Dataset):
    def __init__(self, blocks):
        self.blocks = blocks

    def __len__(self):
        return len(self.blocks)

    def __getitem__(self, i):
        ids = torch.from_numpy(self.blocks[i].astype(np.int64))
        return {"input_ids": ids, "labels": ids.clone()}


def prepare_data(data, tokenizer, seed):
    """Training and validation blocks (validation None when the run had none), collator."""
    train_texts, eval_texts = load_items(data, seed,
                                         lambda rows: texts_of(rows, data["text_column"]))
    train = pack(train_texts, tokenizer, data["block_size"], data["add_eos"])
    evals = pack(eval_texts, tokenizer, data["block_size"], data["add_eos"]) \
        if eval_texts else None
    print(f"data: {len(train)} training blocks, {0 if evals is None else len(evals)} "
          f"validation blocks of {data['block_size']} tokens")
    # every block has the same length: stacking them is all a batch needs
    return Blocks(train), (Blocks(evals) if evals is not None else None), \
        default_data_collator
'''


SFT_DATA = r'''
# ---- data: rows -> messages -> prompt/response tokens ---------------------------------------
# Every row becomes a conversation, rendered with the tokenizer's chat template (or the
# simple one below); the loss is taken on the responses only unless train_on_prompt.
IGNORE = -100   # the label the loss skips

# Used when the tokenizer has no chat template (template auto) or template is simple.
SIMPLE_TEMPLATE = __SIMPLE_TEMPLATE__



class DataError(SystemExit):
    """A problem with the data: the script stops with this message."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.message, self.field = message, field


# ---- ftgui/core/formats.py, embedded verbatim ------------------------------------------------
__FORMATS__

# ---- rows -> conversations, as the run read them -----------------------------------------------
class Settings:
    """CONFIG's data section with attribute access (what formats.detect reads)."""

    def __init__(self, data):
        self.__dict__.update({"text_column": None, "input_column": None,
                              "system_column": None, **data})


def examples_of(rows, data):
    reading = detect(rows, Settings(data), data["source"])
    return [row_to_chat(r, reading, n, data["source"]) for n, r in enumerate(rows, 1)]


def set_template(tokenizer, template):
    """Give the tokenizer the simple template when the run used it, so that the saved model
    renders prompts (for generate and other tools) the way training did."""
    if template == "chat_template" and not tokenizer.chat_template:
        raise SystemExit("template chat_template: the tokenizer has no chat template.")
    if template == "simple" or (template == "auto" and not tokenizer.chat_template):
        tokenizer.chat_template = SIMPLE_TEMPLATE


# ---- ftgui/core/sft.py's encoding, embedded verbatim -------------------------------------------
__ENCODING__


def tokenize_examples(examples, tokenizer, data, which):
    """(ids, labels) per example: cut from the prompt side to block_size when truncate is
    on, dropped when the final response alone does not fit, then packed when packing is on."""
    size = data["block_size"]
    ids, labels, truncated, dropped = [], [], 0, 0
    for n, messages in enumerate(examples, 1):
        x, y, status, full = encode_fitting(messages, tokenizer, data["train_on_prompt"], size)
        if status != "kept" and not data["truncate"]:
            raise SystemExit(f"{which} example {n} is {full} tokens, longer than "
                             f"block_size {size}; raise it or set truncate: True.")
        truncated += status == "truncated"
        if status == "dropped" or all(t == IGNORE for t in y):
            dropped += 1   # the final response alone does not fit: nothing to learn
            continue
        ids.append(x)
        labels.append(y)
    n_examples = len(ids)
    if data["packing"]:
        ids, labels = pack_examples(ids, labels, size)
    print(f"data: {n_examples} {which} examples ({truncated} truncated, {dropped} dropped) "
          f"in {len(ids)} sequences")
    return Examples(ids, labels)


def pack_examples(ids, labels, size):
    """Concatenate whole examples into sequences of at most ``size`` tokens."""
    out_ids, out_labels, cur_i, cur_l = [], [], [], []
    for x, y in zip(ids, labels):
        if cur_i and len(cur_i) + len(x) > size:
            out_ids.append(cur_i)
            out_labels.append(cur_l)
            cur_i, cur_l = [], []
        cur_i, cur_l = cur_i + x, cur_l + y
    if cur_i:
        out_ids.append(cur_i)
        out_labels.append(cur_l)
    return out_ids, out_labels


class Examples(torch.utils.data.Dataset):
    def __init__(self, ids, labels):
        self.ids, self.labels = ids, labels

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": torch.tensor(self.ids[i], dtype=torch.long),
                "labels": torch.tensor(self.labels[i], dtype=torch.long)}


class PadCollator:
    """Stacks equal-length sequences as they are; pads ragged ones on the right (pad id in
    input_ids, IGNORE in labels so padding is never learned, 0 in attention_mask)."""

    def __init__(self, pad_id):
        self.pad_id = pad_id

    def __call__(self, items):
        lengths = [len(x["input_ids"]) for x in items]
        if len(set(lengths)) == 1:
            return {k: torch.stack([x[k] for x in items]) for k in ("input_ids", "labels")}
        n = max(lengths)
        ids = torch.full((len(items), n), self.pad_id, dtype=torch.long)
        labels = torch.full((len(items), n), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(items), n), dtype=torch.long)
        for row, (x, size) in enumerate(zip(items, lengths)):
            ids[row, :size] = x["input_ids"]
            labels[row, :size] = x["labels"]
            mask[row, :size] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def prepare_data(data, tokenizer, seed):
    """Training and validation sequences (validation None when the run had none), collator."""
    set_template(tokenizer, data["template"])   # before rendering anything
    train_examples, eval_examples = load_items(data, seed,
                                               lambda rows: examples_of(rows, data))
    if needs_tools(train_examples + (eval_examples or [])):
        check_tool_support(tokenizer, tokenizer.chat_template, data["source"])
    train = tokenize_examples(train_examples, tokenizer, data, "training")
    evals = tokenize_examples(eval_examples, tokenizer, data, "validation") \
        if eval_examples else None
    return train, evals, PadCollator(tokenizer.pad_token_id)
'''
