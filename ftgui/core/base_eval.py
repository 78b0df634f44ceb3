"""The base model's evaluation, kept: a run that evaluates the same base model on the same
validation blocks with the same settings gets the same loss, so a second such run (the
same config trained again, a new run beside an old one) reads it instead of spending
minutes measuring it again.

The key covers everything the number depends on: the model's files as they are now (a
GGUF file by the model cache's key; a Hub model by the snapshot it resolves to; a
folder by its files' sizes and times), the method and LoRA settings, the tokenizer's
length, the validation blocks and labels (a hash of their bytes), batch size, device,
precision, seed and the library versions. Kept as small JSON files in
``<cache>/base-eval/`` (0700), cleared with the other caches. A Hub model whose snapshot
cannot be named is not kept. ``FTGUI_NO_BASE_EVAL_CACHE=1`` turns it off (the
benchmark's old path).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path

from ftgui.core.config import RunConfig

log = logging.getLogger("ftgui")


def folder() -> Path:
    from ftgui.core.model_cache import cache_base
    return cache_base() / "base-eval"


def key(cfg: RunConfig, eval_seqs, tokenizer_len: int, device: str, precision: str,
        world_size: int = 1) -> str | None:
    """The key of this run's base evaluation, or None when it cannot be named safely."""
    import peft
    import torch
    import transformers

    if world_size > 1 or os.environ.get("FTGUI_NO_BASE_EVAL_CACHE", "") not in ("", "0"):
        return None   # every process must agree on evaluating: not worth the risk
    model_id = _model_identity(cfg)
    if model_id is None:
        return None
    h = hashlib.sha256()
    t = cfg.training
    parts = {
        "model": model_id, "method": cfg.model.method,
        "lora": asdict(cfg.lora) if cfg.model.method == "lora" else None,
        "tokenizer_len": tokenizer_len, "block_size": cfg.data.block_size,
        "batch_size": t.batch_size, "device": device, "precision": precision,
        "seed": t.seed,
        "versions": [torch.__version__, transformers.__version__, peft.__version__],
    }
    h.update(json.dumps(parts, sort_keys=True, default=str).encode())
    for array in (eval_seqs.ids, eval_seqs.offsets, eval_seqs.labels):
        h.update(b"|" if array is None else array.tobytes())
    return h.hexdigest()[:32]


def _model_identity(cfg: RunConfig):
    from ftgui.core import model_cache, models
    src = models.resolve_source(cfg.model.source)
    base = [src.kind, cfg.model.trust_remote_code, cfg.model.allow_pickle]
    if src.kind == "gguf":
        return base + [model_cache.key(Path(src.label))]
    if src.kind == "folder":
        files = sorted(p for p in Path(src.path).iterdir() if p.is_file())
        return base + [str(Path(src.path).resolve())] + \
            [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    try:   # a Hub id: the snapshot (commit) its cached config.json belongs to
        from huggingface_hub import try_to_load_from_cache
        cached = try_to_load_from_cache(src.path, "config.json")
    except Exception:  # noqa: BLE001 - not kept then
        return None
    return base + [str(cached)] if isinstance(cached, str) else None


def load(k: str | None) -> dict | None:
    """{"eval_loss", "run", "at"} kept under ``k``, or None."""
    if not k:
        return None
    try:
        found = json.loads((folder() / f"{k}.json").read_text(encoding="utf-8"))
        float(found["eval_loss"])
        return found
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save(k: str | None, eval_loss: float, run_dir: str) -> None:
    """Keep a base evaluation; a cache that cannot be written is only an optimisation."""
    if not k:
        return
    try:
        d = folder()
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(0o700)
        tmp = d / f".{k}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"eval_loss": eval_loss, "run": run_dir,
                                   "at": time.strftime("%Y-%m-%d %H:%M:%S")}),
                       encoding="utf-8")
        tmp.chmod(0o600)
        tmp.replace(d / f"{k}.json")
    except OSError as e:
        log.info("base evaluation not kept: %s", e)
