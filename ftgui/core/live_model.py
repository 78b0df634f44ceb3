"""The model a run in this process trained, kept in memory after the run for the next
use of it: the Playground (a finished run) and Resume (a stopped run), so neither loads
again what is already here.

One model at most (one copy: a LoRA run's base side is the same model with its adapter
switched off), handed out under a lock, so a run that takes it waits for a generation
using it to end. Whoever starts something else (another model, another run, closing)
clears it and its memory goes back. Qt-free: the window owns one; the CLI none.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ftgui.core.config import ModelConfig


@dataclass
class Kept:
    run_dir: str
    status: str          # "finished" (the Playground may use it) or "stopped" (Resume may)
    key: tuple           # load_key() of the base it was loaded as
    method: str          # "lora": a PEFT model on its base; "full": the trained model
    model: object
    tokenizer: object


def load_key(cfg: ModelConfig, dtype=None) -> tuple:
    """What a loaded base model depends on: the source and its files as they are now
    (size and modification time), the loading switches and the number format."""
    from ftgui.core import models
    src = models.resolve_source(cfg.source)
    stamp = ()
    path = Path(src.label) if src.kind == "gguf" else Path(src.path)
    if path.is_file():
        stamp = _stat(path)
    elif path.is_dir():
        stamp = tuple(_stat(p) for p in sorted(path.iterdir())
                      if p.suffix in (".json", ".safetensors", ".bin"))
    return (src.kind, str(path), stamp, cfg.trust_remote_code, cfg.allow_pickle, str(dtype))


def _stat(path: Path) -> tuple:
    st = path.stat()
    return path.name, st.st_size, st.st_mtime_ns


class LiveModel:
    def __init__(self):
        self._kept: Kept | None = None
        self._lock = threading.RLock()
        self._drop = False   # cleared while in use: let go when the use ends

    @property
    def run_dir(self) -> str | None:
        kept = self._kept
        return kept.run_dir if kept else None

    @property
    def status(self) -> str | None:
        kept = self._kept
        return kept.status if kept else None

    def holds(self, run_dir: str | Path) -> bool:
        kept = self._kept
        return kept is not None and _same(kept.run_dir, run_dir)

    def keep(self, kept: Kept) -> None:
        """Hold ``kept`` (in eval mode, without gradients) in place of what was held."""
        import torch
        kept.model.eval()
        kept.model.zero_grad(set_to_none=True)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()   # the optimizer's memory, let go by the Trainer
        with self._lock:
            self._kept = kept
            self._drop = False

    def take_base(self, key: tuple, resume_dir: str | Path | None = None) -> object | None:
        """The held model as a base to train on, when it is one: a LoRA run's base (its
        adapter unloaded, the base weights were frozen), or the trained model of the run
        being resumed from a checkpoint (which sets every weight). Either way the holder
        is empty afterwards, so a model loaded instead never shares memory with it."""
        with self._lock:
            kept, self._kept = self._kept, None
            self._drop = False
        if kept is None or kept.key != key:
            del kept
            _collect()
            return None
        if kept.method == "lora":
            return kept.model.unload()
        if resume_dir is not None and _same(kept.run_dir, resume_dir):
            return kept.model
        del kept
        _collect()
        return None

    @contextmanager
    def using(self, run_dir: str | Path, role: str) -> Iterator[tuple | None]:
        """(model, tokenizer) of a finished ``run_dir`` for the Playground, held for the
        duration: ``role`` "tuned" is the trained model, "base" a LoRA run's model with
        its adapter disabled; None when not held here (or the base of a full fine-tune)."""
        with self._lock:
            kept = self._kept
            try:
                if kept is None or self._drop or kept.status != "finished" or \
                        not _same(kept.run_dir, run_dir):
                    yield None
                elif role == "tuned":
                    yield kept.model, kept.tokenizer
                elif kept.method == "lora":
                    with kept.model.disable_adapter():   # peft's public switch: the base
                        yield kept.model, kept.tokenizer
                else:
                    yield None
            finally:
                del kept
                if self._drop:
                    self._drop = False
                    self._kept = None
                    _collect()

    def clear(self) -> None:
        """Let the held model go; never waits: one in use goes when its use ends."""
        if not self._lock.acquire(blocking=False):
            self._drop = True
            return
        try:
            if self._kept is None:
                return
            self._kept = None
        finally:
            self._lock.release()
        _collect()


def _same(a: str | Path, b: str | Path) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def _collect() -> None:
    gc.collect()
    import sys
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
