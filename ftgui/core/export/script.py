"""A run → one standalone Python script that reproduces it with plain transformers / peft
(and TRL for preference runs).

The script imports no ftgui: the run's config is inlined, and ftgui's own data code is
embedded verbatim (files.py, formats.py, templates.py, data_steps.py, gguf_tokenizer.py
whole; sft.py's encoding, errors.py's error classes, wording.first_line and
compat.forget_gguf_quantization by name), so a fix in the core reaches the next exported
script. A preference run's script (dpo, kto, orpo) also embeds preference_data.py whole
and preference.py's trl_trainer (TRL's trainer with the run's settings) and pair_scores.
Only the model loading, LoRA setup and ``TrainingArguments`` are written out here,
mirroring ``ftgui.core.models`` and ``ftgui.core.runner`` step by step (including the
evaluation before training, which keeps the random number streams in the same order), so
that with the same seed on the same machine it reaches the same training loss. Tests run
it and check that (test_export_script.py, test_export_script_preference.py).

The sources are read with ``inspect.getsource``: the app bundle ships ftgui.core's .py
files for that (build.spec, module_collection_mode).
"""

from __future__ import annotations

import ast
import inspect
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

    objective = getattr(cfg.training, "objective", "sft")
    fmt = run_format(cfg, summary)
    raw = cfg.to_dict()
    data = raw["data"]
    if looks_like_path(data["source"]) and not Path(data["source"]).exists():
        raise ScriptExportError(f"Script export: the run's data source {data['source']} no "
                                f"longer exists; the script would have nothing to train on.")
    data["format"] = fmt
    data["validation"] = data_mod.validation_choice(cfg.data)[0]
    if objective != "sft":
        keys = PREFERENCE_DATA_KEYS   # the reading is detected again, as the run did
    elif fmt == "text":
        data["text_column"] = data.get("text_column") or summary.get("text_column")
        keys = TEXT_DATA_KEYS
    else:
        # the columns the run read, as it recorded them, rather than guessed again
        recorded = _recorded_columns(summary) if summary.get("format", fmt) == fmt else {}
        for key in SFT_COLUMN_KEYS[fmt]:
            data[key] = data.get(key) or recorded.get(key)
        keys = SFT_DATA_KEYS + SFT_COLUMN_KEYS[fmt]
    training = {k: v for k, v in raw["training"].items() if k not in LAUNCH_KEYS}
    out = {
        "model": {**_model_source(cfg.model.source), "method": cfg.model.method,
                  "trust_remote_code": cfg.model.trust_remote_code},
        "data": {k: data.get(k) for k in keys},
        "training": training,
        "lora": raw["lora"],
    }
    if objective != "sft":
        out[objective] = raw[objective]   # dpo.*, kto.* or orpo.*
    return out


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
TEXT_DATA_KEYS = ("source", "format", "config", "split", "text_column", "validation",
                  "block_size", "add_eos", "max_rows")
# what instruction / chat / prompt_completion data uses (add_eos does not apply: the
# response always ends with EOS), and the columns each format reads
SFT_DATA_KEYS = ("source", "format", "config", "split", "validation", "block_size",
                 "max_rows", "template", "train_on_prompt", "packing", "truncate")
SFT_COLUMN_KEYS = {"instruction": ("prompt_column", "input_column", "response_column",
                                   "system_column"),
                   "prompt_completion": ("prompt_column", "response_column", "system_column"),
                   "chat": ("messages_column", "system_column")}
# what preference data uses (dpo, kto, orpo): the columns are detected as the run did
PREFERENCE_DATA_KEYS = ("source", "config", "split", "validation", "block_size", "max_rows",
                        "template", "truncate")
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
    objective = getattr(t, "objective", "sft")
    preference = objective != "sft"
    head = PREFERENCE_HEAD.replace("__OBJECTIVE_KEY__", objective).replace(
        "__OBJECTIVE__", objective.upper()) if preference else SFT_HEAD
    text = TEMPLATE.replace("__HEAD__", head).replace(
        "__MAIN__", PREFERENCE_MAIN if preference else SFT_MAIN)
    return (text.replace("__MARK_LINE__", MARK_LINE).replace("__RUN_NAME__", run_name)
            .replace("__LAUNCH__", launch).replace("__CONFIG__", inlined)
            .replace("__EMBEDDED__", embedded_code(preference)))


def embedded_code(for_preference: bool = True) -> str:
    """ftgui's own code, as the script holds it: each piece verbatim, in an order where
    every name is defined before the code that runs it. ``for_preference``: also the
    preference data, TRL's trainer set-up and the pair ranking (dpo, kto, orpo runs)."""
    from ftgui.core import (compat, data_steps, errors, files, formats, gguf_tokenizer,
                            preference, preference_data, sft, templates, wording)

    pieces = [
        ("errors.py: the error classes", _definitions(errors, "_LINE_BREAKS", "FtguiError",
                                                      "DataError")),
        ("wording.py: first_line", _definitions(wording, "first_line")),
        ("files.py", _module(files)),
        ("formats.py", _module(formats)),
        ("templates.py", _module(templates)),
        ("sft.py: the encoding", _definitions(
            sft, "IGNORE", "SIMPLE_TEMPLATE", "use_simple_template", "prepare_tokenizer",
            "segments", "encode_pieces", "encode", "_final_response_length",
            "_without_oldest_turn", "encode_fitting")),
        ("data_steps.py", _module(data_steps)),
        ("gguf_tokenizer.py", _module(gguf_tokenizer)),
        ("compat.py: forget_gguf_quantization",
         _definitions(compat, "forget_gguf_quantization")),
    ]
    if for_preference:
        pieces += [
            ("preference_data.py", _module(preference_data)),
            ("preference.py: the TRL trainer and the pair ranking", _definitions(
                preference, "trl_trainer", "_without_bos", "_frozen_copy", "_answer_logps",
                "pair_scores")),
        ]
    return "\n\n".join(f"# ---- ftgui/core/{what}, embedded verbatim {'-' * (70 - len(what))}"
                       f"\n{code.strip()}\n" for what, code in pieces)


def _module(module) -> str:
    """A module's source without its docstring, ``from __future__`` and ftgui imports
    (the script defines those names itself, from the pieces embedded before)."""
    source = inspect.getsource(module)
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()
    for node in ast.parse(source).body:
        own = (isinstance(node, ast.ImportFrom)
               and (node.module or "").split(".")[0] in ("ftgui", "__future__"))
        own = own or (isinstance(node, ast.Import)
                      and any(a.name.split(".")[0] == "ftgui" for a in node.names))
        docstring = (node is ast.parse(source).body[0] and isinstance(node, ast.Expr)
                     and isinstance(node.value, ast.Constant))
        if own or docstring:
            drop.update(range(node.lineno - 1, node.end_lineno))
    return "".join(line for i, line in enumerate(lines) if i not in drop).strip() + "\n"


def _definitions(module, *names: str) -> str:
    """The top-level statements of ``module`` that define ``names`` (functions, classes,
    assignments), verbatim and in the module's order."""
    source = inspect.getsource(module)
    found = {}
    for node in ast.parse(source).body:
        for name in defined_names(node):
            if name in names:
                start = min([node.lineno] + [d.lineno for d in
                                             getattr(node, "decorator_list", [])])
                found[name] = (start, "".join(
                    source.splitlines(keepends=True)[start - 1:node.end_lineno]))
    missing = set(names) - set(found)
    if missing:
        raise RuntimeError(f"script export: {module.__name__} has no {sorted(missing)}")
    return "\n\n".join(code for _, code in sorted(found.values())) + "\n"


def defined_names(node: ast.stmt) -> list[str]:
    """The names a top-level function, class or assignment defines."""
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    return []


# the second line of every exported script: how `ftgui export --force` knows the file is
# one of its exports (and may replace it)
MARK_LINE = "# ftgui-export: script (written by ftgui; --force may replace this file)"


# the script: __HEAD__ (docstring and imports) and __MAIN__ (the data and the training
# loop) differ between SFT and preference runs; the model and arguments are shared
SFT_HEAD = r'''"""Reproduce the ftgui run "__RUN_NAME__" with plain transformers, datasets and peft.

    pip install torch transformers peft datasets numpy pyarrow jinja2
    python THIS_FILE.py [--output-dir DIR]__LAUNCH__

Written by `ftgui export --format script`. It does not need ftgui: the run's settings are
in CONFIG below, and ftgui's data code (reading files, detecting the format, rendering
chat templates, tokenizing, packing) is embedded verbatim after it. With the same seed on
the same machine it trains to the same loss as the ftgui run. The final model (LoRA
merged into the base) is saved to OUTPUT_DIR/model.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
from pathlib import Path

import torch
from transformers import (AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments,
                          set_seed)'''

PREFERENCE_HEAD = r'''"""Reproduce the ftgui run "__RUN_NAME__" (__OBJECTIVE__) with TRL, transformers, datasets and peft.

    pip install torch transformers peft datasets numpy pyarrow jinja2 "trl>=1.16,<2"
    python THIS_FILE.py [--output-dir DIR]__LAUNCH__

Written by `ftgui export --format script`. It does not need ftgui: the run's settings are
in CONFIG below (the objective's own in CONFIG["__OBJECTIVE_KEY__"]), and ftgui's code is
embedded verbatim after it: reading the preference file into TRL's conversational
format, rendering the chat template, cutting examples to the block, building TRL's
trainer (trl_trainer: DPOTrainer, KTOTrainer or ORPOTrainer) and ranking the validation
pairs (pair_scores). With the same seed on the same machine it trains to the same loss
as the ftgui run. The final model (LoRA merged into the base) is saved to
OUTPUT_DIR/model.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import re
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer'''

TEMPLATE = r'''#!/usr/bin/env python
__MARK_LINE__
__HEAD__

CONFIG = __CONFIG__


__EMBEDDED__

# ---- CONFIG's sections with attribute access ------------------------------------------------
class Settings:
    """A CONFIG section with attribute access, as ftgui's code reads its config; a key the
    run's format does not use reads as None."""

    def __init__(self, data):
        self.__dict__.update(data)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return None


# ---- model ----------------------------------------------------------------------------------
def load_tokenizer(m):
    kw = {"trust_remote_code": m["trust_remote_code"]}
    if m["gguf_file"]:
        kw["gguf_file"] = m["gguf_file"]
    tok = AutoTokenizer.from_pretrained(m["path"], **kw)
    if m["gguf_file"]:   # the split the GGUF names, as ftgui's run tokenized
        match_gguf_pre_tokenizer(tok, Path(m["path"]) / m["gguf_file"])
    give_pad_token(tok)
    return tok


def load_model(m, tokenizer, method, device, precision):
    """The base model: full precision, except LoRA on a GPU (the frozen base in the half
    precision chosen)."""
    dtype = torch.float32
    if method == "lora" and device == "cuda":
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    kw = {"trust_remote_code": m["trust_remote_code"]}
    if m["gguf_file"]:
        kw["gguf_file"] = m["gguf_file"]
    model = AutoModelForCausalLM.from_pretrained(m["path"], dtype=dtype, **kw)
    forget_gguf_quantization(model)   # a GGUF's weights are unpacked to floats on load
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model


def lora_config(model, lora):
    from peft import LoraConfig
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

    targets = lora["target_modules"]
    if targets == "auto":
        known = model.config.model_type in TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
        targets = None if known else "all-linear"
    return LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                      target_modules=targets, task_type="CAUSAL_LM")


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


def training_arguments(t, out, has_eval, device, precision):
    """TrainingArguments' keywords, as the ftgui run set them."""
    return dict(
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


def evaluate_before(trainer):
    """The validation loss before training. The evaluation draws from torch's random
    generator (its DataLoader's seed): put it back after, as ftgui does, so training is
    the same with or without it."""
    rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    loss = trainer.evaluate()["eval_loss"]
    torch.set_rng_state(rng)
    if cuda_rng is not None:
        torch.cuda.set_rng_state_all(cuda_rng)
    return loss


def save_final(trainer, tokenizer, out, summary):
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


def output_dir():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output-dir", default=str(Path(__file__).resolve().with_suffix("")) + "-output",
                    help="where checkpoints, the final model and summary.json go")
    return Path(ap.parse_args().output_dir)


def final_loss(trainer, result):
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return losses[-1] if losses else result.training_loss


__MAIN__


if __name__ == "__main__":
    try:
        main()
    except FtguiError as e:   # bad data or settings: the message, without a traceback
        raise SystemExit(e.message) from None
'''

SFT_MAIN = r'''# ---- data: CONFIG's data section through ftgui's steps -------------------------------------
def prepare_data(data, tokenizer, seed):
    """Training and validation sequences (validation None when the run had none), collator."""
    cfg = Settings(data)
    raw = load_raw(cfg, seed)
    check_template(raw, cfg, tokenizer)
    train, stats = tokenize(raw.train, raw.format, cfg, tokenizer, None, "training")
    evals = tokenize(raw.eval, raw.format, cfg, tokenizer, None, "validation")[0] \
        if raw.eval else None
    print(f"data: {len(raw.train)} training rows in {len(train)} sequences, "
          f"{0 if evals is None else len(evals)} validation sequences ({raw.format})")
    return SequenceDataset(train), (SequenceDataset(evals) if evals is not None else None), \
        collator(tokenizer, raw.format)


# ---- training -------------------------------------------------------------------------------
def main():
    out = output_dir()
    m, data, t, lora = CONFIG["model"], CONFIG["data"], CONFIG["training"], CONFIG["lora"]
    device, precision = choose_device(t)

    tokenizer = load_tokenizer(m)
    train, evals, collator = prepare_data(data, tokenizer, t["seed"])
    model = load_model(m, tokenizer, m["method"], device, precision)
    if m["method"] == "lora":
        from peft import get_peft_model
        set_seed(t["seed"])  # the adapter's initial weights
        model = get_peft_model(model, lora_config(model, lora))

    has_eval = evals is not None
    targs = TrainingArguments(**training_arguments(t, out, has_eval, device, precision))
    trainer = Trainer(model=model, args=targs, train_dataset=train, eval_dataset=evals,
                      data_collator=collator, processing_class=tokenizer)
    summary = {}
    if has_eval:
        loss = evaluate_before(trainer)
        summary.update(eval_loss_before=loss, perplexity_before=math.exp(loss))
        print(f"validation perplexity before training: {math.exp(loss):.3f}")
    result = trainer.train()
    summary.update(steps=trainer.state.global_step, final_train_loss=final_loss(trainer, result))
    if has_eval:
        loss = trainer.evaluate()["eval_loss"]
        summary.update(eval_loss_after=loss, perplexity_after=math.exp(loss))
        print(f"validation perplexity after training: {math.exp(loss):.3f}")
    save_final(trainer, tokenizer, out, summary)'''

PREFERENCE_MAIN = r'''# ---- training -------------------------------------------------------------------------------
def rank_pairs(trainer, tokenizer, examples, when, summary):
    """How often the model ranks a validation pair's chosen answer above the rejected one,
    and the mean log-probability margin (ftgui's pair_scores), kept in summary. In a
    multi-process launch the first process ranks them."""
    if not trainer.is_world_process_zero():
        return
    scores = pair_scores(trainer.model, tokenizer, examples)
    if scores:
        summary.update({f"preference_accuracy_{when}": scores["accuracy"],
                        f"preference_margin_{when}": scores["margin"],
                        "preference_pairs": scores["pairs"]})
        print(f"validation pairs ranked right {when} training: {scores['accuracy']:.0%} of "
              f"{scores['pairs']} (mean margin {scores['margin']:+.3f})")


def main():
    out = output_dir()
    m, data, t, lora = CONFIG["model"], CONFIG["data"], CONFIG["training"], CONFIG["lora"]
    objective = t["objective"]
    device, precision = choose_device(t)

    tokenizer = load_tokenizer(m)
    # the rows as TRL conversational examples (kto: pairs become a good and a bad answer),
    # rendered with the chat template and cut to data.block_size
    prepared = prepare(Settings(data), objective, tokenizer, t["seed"])
    s = prepared.stats
    print(f"data: {s['train_rows']} training rows ({s['format']}): {s['train_blocks']} "
          f"{objective.upper()} examples for training, {s['eval_blocks']} for validation")
    model = load_model(m, tokenizer, m["method"], device, precision)

    # LoRA: TRL adds the adapters and computes the reference with them disabled; full
    # fine-tuning: a frozen copy of the starting model is the reference (ORPO has none)
    has_eval = prepared.eval is not None
    trainer = trl_trainer(objective, model, tokenizer, prepared.train, prepared.eval,
                          training_arguments(t, out, has_eval, device, precision),
                          Settings(CONFIG[objective]), data["block_size"],
                          lora_config(model, lora) if m["method"] == "lora" else None)
    summary = {}
    if has_eval:
        rank_pairs(trainer, tokenizer, prepared.eval, "before", summary)
        summary["eval_loss_before"] = evaluate_before(trainer)
    result = trainer.train()
    summary.update(steps=trainer.state.global_step, final_train_loss=final_loss(trainer, result))
    if has_eval:
        summary["eval_loss_after"] = trainer.evaluate()["eval_loss"]
        rank_pairs(trainer, tokenizer, prepared.eval, "after", summary)
    save_final(trainer, tokenizer, out, summary)'''
