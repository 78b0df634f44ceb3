"""A run's data: prepared once by the shared steps (data_steps.py, which the exported
script embeds), then kept in a disk cache keyed by the data settings, the files' contents,
the seed and the tokenizer.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ftgui.core.config import DataConfig
# the shared steps, under the names the rest of ftgui has used
from ftgui.core import data_steps
from ftgui.core.data_steps import (AUTO_FRACTION, CHUNK_CHARS, RawData,  # noqa: F401
                                   SequenceDataset, Sequences, check_template, collator,
                                   hold_out, pack, tokenize, validation_choice,
                                   validation_rows)
from ftgui.core.events import Progress
from ftgui.core.files import looks_like_path, split_files
from ftgui.core.sft import prepare_tokenizer

@contextmanager
def hub_messages(cfg: DataConfig):
    """A Hub dataset that could not be read gets the Hub's own message (gated, private,
    token, offline: ftgui.core.hub.explain). Done here, not in data_steps (or
    preference_data), which the exported script embeds and which therefore import
    nothing of ftgui."""
    from ftgui.core.errors import DataError

    try:
        yield
    except DataError as e:
        if e.__cause__ is None or looks_like_path(cfg.source):
            raise
        from ftgui.core import hub
        known = (hub.explain(e.__cause__, cfg.source, "dataset")
                 or hub.dataset_access_error(cfg.source))
        if known is None:
            raise
        raise known from e.__cause__


def load_raw(cfg: DataConfig, seed: int = 42) -> RawData:
    with hub_messages(cfg):
        return data_steps.load_raw(cfg, seed)


def source_rows(cfg: DataConfig, split: str, field_name: str = "data.source") -> list[dict]:
    with hub_messages(cfg):
        return data_steps.source_rows(cfg, split, field_name)


CACHE_VERSION = 3
ProgressFn = Callable[[Progress], None]


@dataclass
class Prepared:
    train: Sequences
    eval: Sequences | None
    stats: dict                    # rows, tokens, blocks for train and eval, and more
    cached: bool = False


def cache_root() -> Path:
    env = os.environ.get("FTGUI_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs
    return Path(platformdirs.user_cache_dir("ftgui")) / "data"


def _private_dirs(folder: Path) -> None:
    """Make ``folder`` and any missing parents, readable by the user only (the cache
    decodes to the training text); folders that already exist keep their mode."""
    missing = []
    for p in (folder, *folder.parents):
        if p.exists():
            break
        missing.append(p)
    for p in reversed(missing):
        p.mkdir(mode=0o700, exist_ok=True)
        p.chmod(0o700)  # mkdir's mode is filtered by the umask


def _make_private(folder: Path) -> None:
    """A cache entry: the folder 0700, its files 0600."""
    folder.chmod(0o700)
    for f in folder.iterdir():
        if f.is_file():
            f.chmod(0o600)


def tokenizer_fingerprint(tokenizer) -> str:
    h = hashlib.sha256()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        h.update(backend.to_str().encode())
    else:
        h.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    h.update(str(tokenizer.eos_token_id).encode())
    h.update(str(getattr(tokenizer, "chat_template", None)).encode())
    return h.hexdigest()[:16]


def _source_fingerprint(cfg: DataConfig) -> str:
    """Content hash of local files (so an edited file is re-tokenized); id for the Hub."""
    h = hashlib.sha256()
    for value in (cfg.source, cfg.validation if isinstance(cfg.validation, str) else None):
        if not value or not looks_like_path(str(value)):
            h.update(str(value).encode())
            continue
        p = Path(value)
        # the files that are read, no more: a run folder or checkpoints kept inside the
        # data folder must not change the key (or cost a hash of gigabytes)
        paths = sorted(f for group in split_files(p).values() for f in group) \
            if p.is_dir() else [p]
        for f in paths:
            if f.is_file():
                h.update(str(f).encode())
                with open(f, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        h.update(chunk)
    return h.hexdigest()[:16]


def cache_key(cfg: DataConfig, tokenizer, seed: int) -> str:
    parts = {"v": CACHE_VERSION, "data": cfg.__dict__, "seed": seed,
             "src": _source_fingerprint(cfg), "tok": tokenizer_fingerprint(tokenizer)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def prepare(cfg: DataConfig, tokenizer, seed: int = 42,
            progress: ProgressFn | None = None, raw: RawData | None = None) -> Prepared:
    """Tokenized train/eval sequences, from the cache when the same inputs were prepared
    before. For chat formats the tokenizer gets its template set here (see sft.py)."""
    key = cache_key(cfg, tokenizer, seed)
    folder = cache_root() / key
    if raw is None and (folder / "stats.json").exists():
        try:
            _make_private(folder)  # an entry written by an older version: 0644 files
            stats = json.loads((folder / "stats.json").read_text())
            train = Sequences.load(folder / "train.npz")
            ev = Sequences.load(folder / "eval.npz") if (folder / "eval.npz").exists() else None
            if stats.get("format", "text") != "text":
                prepare_tokenizer(tokenizer, cfg.template)
            return Prepared(train, ev, stats, cached=True)
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache entry is rebuilt below
    if progress:
        progress(Progress("Reading data", 0, 0, cfg.source))
    raw = raw or load_raw(cfg, seed)
    check_template(raw, cfg, tokenizer)
    steps = (lambda stage, done, total: progress(Progress(stage, done, total))) \
        if progress else None
    train, tstats = tokenize(raw.train, raw.format, cfg, tokenizer, steps, "training")
    stats = {"format": raw.format, "text_column": raw.text_column,
             "columns": dict(raw.reading.columns) if raw.reading else {},
             "ignored_columns": dict(raw.reading.ignored) if raw.reading else {},
             "detected": bool(raw.reading and raw.reading.detected),
             "splits": raw.splits, "validation_from": raw.validation_from,
             "train_rows": len(raw.train), **{f"train_{k}": v for k, v in tstats.items()},
             "eval_rows": len(raw.eval or []), "eval_tokens": 0, "eval_blocks": 0}
    if raw.skipped:
        stats.update(skipped_rows=raw.skipped, skipped_note=raw.skipped_note)
    ev = None
    if raw.eval:
        ev, estats = tokenize(raw.eval, raw.format, cfg, tokenizer, steps, "validation")
        stats.update({f"eval_{k}": v for k, v in estats.items()})
    _write_cache(folder, train, ev, stats)
    return Prepared(train, ev, stats)


def _write_cache(folder: Path, train: Sequences, ev: Sequences | None, stats: dict) -> None:
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    try:
        _private_dirs(folder.parent)
        tmp.mkdir(mode=0o700, exist_ok=True)
        train.save(tmp, "train")
        if ev is not None:
            ev.save(tmp, "eval")
        (tmp / "stats.json").write_text(json.dumps(stats))
        _make_private(tmp)
        if folder.exists():
            import shutil
            shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    except OSError:
        pass  # the cache is an optimisation; a read-only or full disk must not fail a run


