"""Hub or local files → text rows → tokenized, packed blocks (with a disk cache).

Packing follows run_clm.py's ``group_texts``: token ids of all examples are concatenated
(with EOS between examples) and cut into ``block_size`` blocks; labels = input ids.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ftgui.core import files
from ftgui.core.config import DataConfig, looks_like_path
from ftgui.core.errors import DataError
from ftgui.core.events import Progress

CACHE_VERSION = 1
ProgressFn = Callable[[Progress], None]


@dataclass
class RawData:
    train: list[str]
    eval: list[str] | None
    text_column: str
    columns: list[str]
    preview_rows: list[dict] = field(default_factory=list)


@dataclass
class Prepared:
    train: np.ndarray              # (blocks, block_size) int32
    eval: np.ndarray | None
    stats: dict                    # rows, tokens, blocks for train and eval
    cached: bool = False


def cache_root() -> Path:
    env = os.environ.get("FTGUI_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs
    return Path(platformdirs.user_cache_dir("ftgui")) / "data"


# ---- reading --------------------------------------------------------------------
def _source_rows(cfg: DataConfig, split: str, field_name: str = "data.source") -> list[dict]:
    source = cfg.source.strip()
    if not source:
        raise DataError("data.source is empty: choose a dataset file or a Hub id.",
                        field="data.source")
    if looks_like_path(source):
        p = Path(source).expanduser()
        if not p.exists():
            raise DataError(f"data.source: {p} does not exist. Check the path.",
                            field="data.source")
        if p.is_file():
            return files.read_rows(p, field_name)
        groups = files.split_files(p)
        if not groups:
            raise DataError(f"data.source: the folder {p} holds no .txt, .jsonl, .json, "
                            f".csv or .parquet files.", field="data.source")
        key = next((s for s, names in files.SPLIT_NAMES.items() if split in names), split)
        if key not in groups:
            raise DataError(f"data.split: the folder {p} has no '{split}' files (it has: "
                            f"{', '.join(groups)}).", field="data.split")
        rows = []
        for f in groups[key]:
            rows.extend(files.read_rows(f, field_name))
        return rows
    return _hub_rows(cfg, split)


def _hub_rows(cfg: DataConfig, split: str) -> list[dict]:
    import datasets

    try:
        ds = datasets.load_dataset(cfg.source, cfg.config or None, split=split)
    except Exception as e:  # noqa: BLE001 - network, missing id, wrong config or split
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"data.source: could not load the Hub dataset '{cfg.source}'"
                        f"{' (' + cfg.config + ')' if cfg.config else ''} split '{split}': "
                        f"{first}. Check the id, config and split, and your connection.",
                        field="data.source") from e
    return ds.to_list()


def _text_column(rows: list[dict], wanted: str | None, where: str) -> tuple[str, list[str]]:
    columns: list[str] = []
    for r in rows[:1000]:
        for k in r:
            if k not in columns:
                columns.append(k)
    if wanted:
        if wanted not in columns:
            raise DataError(f"data.text_column: there is no column '{wanted}' in {where}; "
                            f"its columns are: {', '.join(map(str, columns)) or 'none'}.",
                            field="data.text_column")
        return wanted, columns
    sample = rows[:200]
    text_cols = [c for c in columns if any(isinstance(r.get(c), str) for r in sample)]
    if len(text_cols) > 1:  # CSV gives every column as text: ignore numbers and ids
        wordy = [c for c in text_cols if any(_is_wordy(r.get(c)) for r in sample)]
        text_cols = wordy or text_cols
    if len(text_cols) == 1:
        return text_cols[0], columns
    if "text" in text_cols:
        return "text", columns
    if not text_cols:
        raise DataError(f"data.text_column: {where} has no text column (columns: "
                        f"{', '.join(map(str, columns)) or 'none'}).", field="data.text_column")
    raise DataError(f"data.text_column: {where} has several text columns "
                    f"({', '.join(text_cols)}); set data.text_column to the one to train on.",
                    field="data.text_column")


def _is_wordy(value) -> bool:
    if not isinstance(value, str) or not value.strip():
        return False
    try:
        float(value)
        return False
    except ValueError:
        return True


def _texts(rows: list[dict], column: str) -> list[str]:
    return [v for r in rows if isinstance(v := r.get(column), str) and v.strip()]


def load_raw(cfg: DataConfig, seed: int = 42) -> RawData:
    rows = _source_rows(cfg, cfg.split)
    where = cfg.source
    if not rows:
        raise DataError(f"data.source: {where} holds no rows (only blank lines?). Give a file "
                        f"with text in it.", field="data.source")
    column, columns = _text_column(rows, cfg.text_column, where)
    preview = rows[:50]
    train = _texts(rows, column)
    if not train:
        raise DataError(f"data.source: column '{column}' of {where} holds no text (all rows "
                        f"empty).", field="data.source")
    if cfg.max_rows:
        train = train[:cfg.max_rows]
    eval_texts = None
    v = cfg.validation
    if isinstance(v, float):
        n_eval = max(1, int(round(len(train) * v)))
        if len(train) - n_eval < 1:
            raise DataError(f"data.validation: holding out {v} of {len(train)} rows leaves "
                            f"nothing to train on; use a smaller fraction or a file.",
                            field="data.validation")
        order = np.random.default_rng(seed).permutation(len(train))
        held = set(order[:n_eval].tolist())
        eval_texts = [t for i, t in enumerate(train) if i in held]
        train = [t for i, t in enumerate(train) if i not in held]
    elif isinstance(v, str) and v.strip():
        if looks_like_path(v):
            vrows = files.read_rows(v, "data.validation")
            vcol, _ = _text_column(vrows, cfg.text_column, v)
        elif looks_like_path(cfg.source) and Path(cfg.source).is_file():
            raise DataError(f"data.validation: '{v}' is a split name, but {cfg.source} is a "
                            f"single file. Give a fraction (e.g. 0.05) or a validation file.",
                            field="data.validation")
        else:
            vrows = _source_rows(cfg, v, "data.validation")
            vcol, _ = _text_column(vrows, cfg.text_column, f"split '{v}'")
        eval_texts = _texts(vrows, vcol)
        if not eval_texts:
            raise DataError(f"data.validation: {v} holds no text.", field="data.validation")
    return RawData(train, eval_texts, column, [str(c) for c in columns], preview)


# ---- tokenizing and packing -----------------------------------------------------------
def tokenizer_fingerprint(tokenizer) -> str:
    h = hashlib.sha256()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        h.update(backend.to_str().encode())
    else:
        h.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    h.update(str(tokenizer.eos_token_id).encode())
    return h.hexdigest()[:16]


def _source_fingerprint(cfg: DataConfig) -> str:
    """Content hash of local files (so an edited file is re-tokenized); id for the Hub."""
    h = hashlib.sha256()
    for value in (cfg.source, cfg.validation if isinstance(cfg.validation, str) else None):
        if not value or not looks_like_path(str(value)):
            h.update(str(value).encode())
            continue
        p = Path(value)
        paths = sorted(p.rglob("*")) if p.is_dir() else [p]
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


def pack(texts: list[str], tokenizer, block_size: int, add_eos: bool,
         progress: ProgressFn | None = None, stage: str = "Tokenizing") -> tuple[np.ndarray, int]:
    """Tokenize in batches and cut the concatenation into blocks. Returns (blocks, tokens)."""
    eos = tokenizer.eos_token_id if add_eos else None
    chunks: list[np.ndarray] = []
    total = len(texts)
    step = 1000
    for start in range(0, total, step):
        batch = texts[start:start + step]
        ids = tokenizer(batch, add_special_tokens=False)["input_ids"]
        if eos is not None:
            ids = [seq + [eos] for seq in ids]
        chunks.append(np.fromiter((t for seq in ids for t in seq), dtype=np.int32))
        if progress:
            progress(Progress(stage, min(start + step, total), total))
    flat = np.concatenate(chunks) if chunks else np.zeros(0, np.int32)
    n_blocks = len(flat) // block_size
    return flat[:n_blocks * block_size].reshape(n_blocks, block_size), int(len(flat))


def prepare(cfg: DataConfig, tokenizer, seed: int = 42,
            progress: ProgressFn | None = None) -> Prepared:
    """Packed train/eval blocks, from the cache when the same inputs were prepared before."""
    key = cache_key(cfg, tokenizer, seed)
    folder = cache_root() / key
    if (folder / "stats.json").exists():
        try:
            stats = json.loads((folder / "stats.json").read_text())
            train = np.load(folder / "train.npy")
            ev = np.load(folder / "eval.npy") if (folder / "eval.npy").exists() else None
            return Prepared(train, ev, stats, cached=True)
        except (OSError, ValueError):
            pass  # a damaged cache entry is rebuilt below
    if progress:
        progress(Progress("Reading data", 0, 0, cfg.source))
    raw = load_raw(cfg, seed)
    train, train_tokens = pack(raw.train, tokenizer, cfg.block_size, cfg.add_eos, progress,
                               "Tokenizing training data")
    if len(train) == 0:
        raise DataError(f"data.block_size: the training data has only {train_tokens} tokens, "
                        f"fewer than one block of {cfg.block_size}. Lower data.block_size or "
                        f"add text.", field="data.block_size")
    ev, eval_tokens = None, 0
    if raw.eval:
        ev, eval_tokens = pack(raw.eval, tokenizer, cfg.block_size, cfg.add_eos, progress,
                               "Tokenizing validation data")
        if len(ev) == 0:
            raise DataError(f"data.validation: the validation data has only {eval_tokens} "
                            f"tokens, fewer than one block of {cfg.block_size}. Give more "
                            f"validation text or a larger fraction.", field="data.validation")
    stats = {"text_column": raw.text_column,
             "train_rows": len(raw.train), "train_tokens": train_tokens,
             "train_blocks": int(len(train)),
             "eval_rows": len(raw.eval or []), "eval_tokens": eval_tokens,
             "eval_blocks": int(len(ev)) if ev is not None else 0}
    _write_cache(folder, train, ev, stats)
    return Prepared(train, ev, stats)


def _write_cache(folder: Path, train: np.ndarray, ev: np.ndarray | None, stats: dict) -> None:
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        np.save(tmp / "train.npy", train)
        if ev is not None:
            np.save(tmp / "eval.npy", ev)
        (tmp / "stats.json").write_text(json.dumps(stats))
        if folder.exists():
            import shutil
            shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    except OSError:
        pass  # the cache is an optimisation; a read-only or full disk must not fail a run


class BlockDataset:
    """A torch-style dataset over packed blocks: input_ids and labels (= input_ids)."""

    def __init__(self, blocks: np.ndarray):
        self.blocks = blocks

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, i):
        import torch
        ids = torch.from_numpy(self.blocks[i].astype(np.int64))
        return {"input_ids": ids, "labels": ids.clone()}
