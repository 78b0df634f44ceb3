"""The data steps a run and its exported script share: a source's rows, the validation
split, texts or conversations, token sequences (packed text blocks, or SFT examples with
labels on the responses), the dataset and the batches.

Packing follows run_clm.py's ``group_texts``: token ids of all examples are concatenated
(with EOS between examples) and cut into ``block_size`` blocks; labels = input ids.

``ftgui export --format script`` embeds this file verbatim (core/export/script.py), so
it imports only the standard library, numpy, and names (never modules) from the other
embedded files: files, formats, sft, templates, errors, wording. The disk cache and the
progress events stay in data.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ftgui.core.errors import DataError
from ftgui.core.files import SPLIT_NAMES, looks_like_path, read_rows, split_files
from ftgui.core.formats import (Reading, check_tool_support, columns_of, detect, needs_tools,
                                row_to_chat)
from ftgui.core.sft import IGNORE, encode_fitting, prepare_tokenizer
from ftgui.core.templates import TemplateFailed, guarded
from ftgui.core.wording import first_line

# progress(stage, done, total)
ProgressFn = Callable[[str, int, int], None]


@dataclass
class RawData:
    train: list            # texts (format text) or message lists (other formats)
    eval: list | None
    text_column: str       # the text column, or the column mapping for other formats
    columns: list[str]
    preview_rows: list[dict] = field(default_factory=list)
    skipped: int = 0        # rows left out because their text column held no text
    skipped_note: str = ""  # why, with the first row numbers ("" when none)
    reading: Reading | None = None
    splits: dict[str, int] = field(default_factory=dict)   # split → rows
    validation_from: str = "none"

    @property
    def format(self) -> str:
        return self.reading.format if self.reading else "text"


@dataclass
class Sequences:
    """Token sequences stored flat: ``ids[offsets[i]:offsets[i+1]]`` is sequence i.
    ``labels`` None means labels = ids (packed plain text)."""
    ids: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray | None = None

    @classmethod
    def from_blocks(cls, blocks: np.ndarray) -> "Sequences":
        n, size = blocks.shape
        return cls(blocks.reshape(-1), np.arange(n + 1, dtype=np.int64) * size)

    @classmethod
    def from_lists(cls, ids: list[list[int]], labels: list[list[int]]) -> "Sequences":
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        flat = np.fromiter((t for x in ids for t in x), dtype=np.int32, count=int(offsets[-1]))
        lab = np.fromiter((t for x in labels for t in x), dtype=np.int32, count=int(offsets[-1]))
        return cls(flat, offsets, lab)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def get(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.offsets[i], self.offsets[i + 1]
        ids = self.ids[a:b]
        return ids, (ids if self.labels is None else self.labels[a:b])

    def blocks(self) -> np.ndarray:
        """The sequences as one 2-D array (they must all have the same length)."""
        return self.ids.reshape(len(self), -1)

    def save(self, folder: Path, name: str) -> None:
        arrays = {"ids": self.ids, "offsets": self.offsets}
        if self.labels is not None:
            arrays["labels"] = self.labels
        np.savez(folder / f"{name}.npz", **arrays)

    @classmethod
    def load(cls, path: Path) -> "Sequences":
        with np.load(path) as z:
            return cls(z["ids"], z["offsets"], z["labels"] if "labels" in z else None)


# ---- reading --------------------------------------------------------------------
def source_rows(cfg, split: str, field_name: str = "data.source") -> list[dict]:
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
            return read_rows(p, field_name)
        groups = split_files(p)
        if not groups:
            raise DataError(f"data.source: the folder {p} holds no .txt, .jsonl, .json, "
                            f".csv or .parquet files.", field="data.source")
        key = next((s for s, names in SPLIT_NAMES.items() if split in names), split)
        if key not in groups:
            raise DataError(f"data.split: the folder {p} has no '{split}' files (it has: "
                            f"{', '.join(groups)}).", field="data.split")
        rows = []
        for f in groups[key]:
            rows.extend(read_rows(f, field_name))
        return rows
    return hub_rows(cfg, split)


def hub_rows(cfg, split: str) -> list[dict]:
    import datasets

    try:
        ds = datasets.load_dataset(cfg.source, cfg.config or None, split=split)
    except Exception as e:  # noqa: BLE001 - network, missing id, wrong config or split
        first = first_line(e).rstrip(".")
        raise DataError(f"data.source: could not load the Hub dataset '{cfg.source}'"
                        f"{' (' + cfg.config + ')' if cfg.config else ''} split '{split}': "
                        f"{first}. Check the id, config and split, and your connection.",
                        field="data.source") from e
    return ds.to_list()


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return "empty text"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def texts_and_skipped(rows: list[dict], column: str, where: str = "the data"
                       ) -> tuple[list[str], int, str]:
    """The texts of ``column``, how many rows were left out, and a line saying why (with
    the first row numbers of each reason)."""
    texts, why = [], {}
    for n, r in enumerate(rows, 1):
        v = r.get(column) if column in r else _MISSING
        if isinstance(v, str) and v.strip():
            texts.append(v)
        else:
            why.setdefault("missing" if v is _MISSING else _kind(v), []).append(n)
    skipped = sum(len(v) for v in why.values())
    if not skipped:
        return texts, 0, ""
    parts = []
    for kind, numbers in sorted(why.items(), key=lambda kv: -len(kv[1])):
        first = ", ".join(map(str, numbers[:5])) + (", ..." if len(numbers) > 5 else "")
        parts.append(f"{len(numbers):,} {kind} (row{'s' if len(numbers) > 1 else ''} "
                     f"{first})")
    note = (f"Skipped {skipped:,} of {len(rows):,} rows of {where} whose '{column}' is not "
            f"text: {'; '.join(parts)}.")
    return texts, skipped, note


_MISSING = object()


def load_raw(cfg, seed: int = 42) -> RawData:
    rows = source_rows(cfg, cfg.split)
    where = cfg.source
    if not rows:
        raise DataError(f"data.source: {where} holds no rows (only blank lines?). Give a file "
                        f"with text in it.", field="data.source")
    reading, columns, train, skipped, note = _examples(cfg, rows, where)
    column = reading.columns.get("text") if reading.format == "text" else reading.mapping()
    if not train:
        raise DataError(f"data.source: column '{column}' of {where} holds no text (all rows "
                        f"empty).", field="data.source")
    if cfg.max_rows:
        train = train[:cfg.max_rows]
    eval_items = None
    v, validation_from = validation_choice(cfg)
    if isinstance(v, float):
        train, eval_items = hold_out(train, v, seed)
    elif isinstance(v, str) and v.strip():
        vrows, vwhere = validation_rows(cfg, v)
        eval_items, vskipped, vnote = _items(reading, vrows, vwhere)
        skipped, note = skipped + vskipped, " ".join(x for x in (note, vnote) if x)
        if not eval_items:
            raise DataError(f"data.validation: {v} holds no text.", field="data.validation")
    splits = {cfg.split: len(train)}
    if eval_items:
        splits["validation" if isinstance(v, float) else str(v)] = len(eval_items)
    return RawData(train, eval_items, column, [str(c) for c in columns], rows[:50],
                   skipped, note, reading, splits, validation_from)


def hold_out(items: list, fraction: float, seed: int, key=None) -> tuple[list, list]:
    """(train, validation): ``fraction`` of the items held out at random (``seed``). With
    ``key``, items of the same key stay on one side (whole groups are held out)."""
    n_eval = max(1, int(round(len(items) * fraction)))
    if len(items) - n_eval < 1:
        raise DataError(f"data.validation: holding out {fraction} of {len(items)} rows "
                        f"leaves nothing to train on; use a smaller fraction or a file.",
                        field="data.validation")
    rng = np.random.default_rng(seed)
    if key is None:
        held = set(rng.permutation(len(items))[:n_eval].tolist())
        return ([t for i, t in enumerate(items) if i not in held],
                [t for i, t in enumerate(items) if i in held])
    keys = [key(t) for t in items]
    groups = sorted(set(keys))
    chosen, count = set(), 0
    for i in rng.permutation(len(groups)):
        if count >= n_eval:
            break
        chosen.add(groups[i])
        count += keys.count(groups[i])
    train = [t for t, k in zip(items, keys) if k not in chosen]
    if not train:
        raise DataError(f"data.validation: holding out {fraction} leaves nothing to train "
                        f"on; use a smaller fraction or a file.", field="data.validation")
    return train, [t for t, k in zip(items, keys) if k in chosen]


def validation_rows(cfg, v: str) -> tuple[list[dict], str]:
    """The rows of data.validation given as a file or a split name, and how to name them."""
    if looks_like_path(v):
        return read_rows(v, "data.validation"), v
    if looks_like_path(cfg.source) and Path(cfg.source).is_file():
        raise DataError(f"data.validation: '{v}' is a split name, but {cfg.source} is a "
                        f"single file. Give a fraction (e.g. 0.05) or a validation file.",
                        field="data.validation")
    return source_rows(cfg, v, "data.validation"), f"split '{v}'"


AUTO_FRACTION = 0.05


def validation_choice(cfg) -> tuple[str | float | None, str]:
    """data.validation as used, and where validation comes from in words. ``auto``: the
    folder's validation (else test) split when it has one, else 5 % held out."""
    v = cfg.validation
    if v == "auto":
        if looks_like_path(cfg.source) and Path(cfg.source).is_dir():
            groups = split_files(Path(cfg.source))
            for split in ("validation", "test"):
                if split in groups:
                    names = ", ".join(f.name for f in groups[split])
                    return split, f"the folder's {split} split ({names})"
        v = AUTO_FRACTION
    if isinstance(v, float):
        return v, f"{v:.0%} of the training rows held out"
    if isinstance(v, str) and v.strip():
        return v, f"split '{v}'" if not looks_like_path(v) else v
    return None, "none"


def _examples(cfg, rows: list[dict], where: str):
    """(reading, columns, items, rows skipped, why): texts, or Chat message
    lists."""
    reading = detect(rows, cfg, where)
    return (reading, columns_of(rows)) + _items(reading, rows, where)


def _items(reading: Reading, rows: list[dict], where: str) -> tuple[list, int, str]:
    if reading.format == "text":
        return texts_and_skipped(rows, reading.columns["text"], Path(where).name or where)
    return [row_to_chat(r, reading, n, where) for n, r in enumerate(rows, 1)], 0, ""


# Plain text is tokenized in pieces of at most CHUNK_CHARS characters, cut before a
# whitespace character, so memory does not grow with the length of a line (a 20 MB line
# in one call peaked at 3.7 GB; 40 MB aborted the tokenizer). Packed text is cut into
# blocks anyway; a cut before a space gives the same tokens as the whole line for
# byte-level BPE tokenizers (GPT-2, Llama 3, Qwen), at most a token differs at a cut
# for others. Each batch holds at most BATCH_CHARS characters.
CHUNK_CHARS = 100_000
BATCH_CHARS = 2_000_000
# instruction / chat examples are rendered whole: one longer than this is refused
MAX_EXAMPLE_CHARS = 1_000_000


def _chunks(text: str, size: int = CHUNK_CHARS):
    """``text`` in pieces of at most ``size`` characters, each cut just before a
    whitespace character where there is one in the second half of the piece."""
    start, n = 0, len(text)
    while n - start > size:
        end = start + size
        cut = max(text.rfind(" ", start + size // 2, end), text.rfind("\n", start + size // 2,
                                                                      end))
        if cut <= start:
            cut = end
        yield text[start:cut]
        start = cut
    yield text[start:]


def _pieces(texts: list[str]):
    """(piece, last piece of its text) for every text, long texts in chunks."""
    for text in texts:
        if len(text) <= CHUNK_CHARS:
            yield text, True
        else:
            *head, tail = _chunks(text)
            for piece in head:
                yield piece, False
            yield tail, True


def pack(texts: list[str], tokenizer, block_size: int, add_eos: bool,
         progress: ProgressFn | None = None, stage: str = "Tokenizing") -> tuple[np.ndarray, int]:
    """Tokenize in bounded batches and cut the concatenation into blocks. Returns
    (blocks, tokens)."""
    eos = tokenizer.eos_token_id if add_eos else None
    out: list[np.ndarray] = []
    total, done = len(texts), 0
    batch: list[str] = []
    ends: list[bool] = []
    chars = 0

    def flush() -> None:
        nonlocal done, chars
        ids = tokenizer(batch, add_special_tokens=False)["input_ids"]
        for seq, end in zip(ids, ends):
            if end and eos is not None:
                seq.append(eos)
        out.append(np.fromiter((t for seq in ids for t in seq), dtype=np.int32))
        finished = sum(ends)
        reported = done // 1000
        done += finished
        if progress and (done // 1000 > reported or done == total):
            progress(stage, done, total)
        batch.clear()
        ends.clear()
        chars = 0

    for piece, end in _pieces(texts):
        batch.append(piece)
        ends.append(end)
        chars += len(piece)
        if len(batch) >= 1000 or chars >= BATCH_CHARS:
            flush()
    if batch:
        flush()
    flat = np.concatenate(out) if out else np.zeros(0, np.int32)
    n_blocks = len(flat) // block_size
    return flat[:n_blocks * block_size].reshape(n_blocks, block_size), int(len(flat))


def check_template(raw: RawData, cfg, tokenizer) -> None:
    """Set the template for chat formats; tool data needs one that renders tools."""
    if raw.format == "text":
        return
    prepare_tokenizer(tokenizer, cfg.template)
    if needs_tools(raw.train[:1000] + (raw.eval or [])[:1000]):
        check_tool_support(tokenizer, tokenizer.chat_template, cfg.source)


def tokenize(items: list, fmt: str, cfg, tokenizer, progress, which: str):
    stage = f"Tokenizing {which} data"
    field_name = "data.block_size" if which == "training" else "data.validation"
    if fmt == "text":
        blocks, n_tokens = pack(items, tokenizer, cfg.block_size, cfg.add_eos, progress, stage)
        if len(blocks) == 0:
            raise DataError(f"{field_name}: the {which} data has only {n_tokens} tokens, "
                            f"fewer than one block of {cfg.block_size}. "
                            + ("Lower data.block_size or add text." if which == "training"
                               else "Give more validation text or a larger fraction."),
                            field=field_name)
        return Sequences.from_blocks(blocks), {"tokens": n_tokens, "blocks": int(len(blocks))}
    ids, labels, truncated, dropped, lengths = [], [], 0, 0, []
    for n, messages in enumerate(items, 1):
        size = sum(len(m["content"]) for m in messages)
        if size > MAX_EXAMPLE_CHARS:
            raise DataError(f"data.source: {which} example {n} holds {size:,} characters, "
                            f"more than the {MAX_EXAMPLE_CHARS:,} an instruction or chat "
                            f"example may have (only data.block_size = {cfg.block_size} "
                            f"tokens of it could be trained on). Shorten or remove it, or "
                            f"train on it as plain text (data.format: text).",
                            field="data.source")
        try:
            with guarded("the tokenizer's chat template",
                                   "Set data.template: simple, or fix the template."):
                x, y, status, full = encode_fitting(messages, tokenizer,
                                                        cfg.train_on_prompt, cfg.block_size)
        except TemplateFailed as e:
            raise DataError(f"data.template: {which} example {n}: {e.message}",
                            field="data.template") from None
        lengths.append(full)
        if status != "kept" and not cfg.truncate:
            raise DataError(f"data.truncate: {which} example {n} is {full} tokens, "
                            f"longer than data.block_size = {cfg.block_size}. Raise "
                            f"block_size, turn truncation on, or shorten that example.",
                            field="data.truncate")
        truncated += status == "truncated"
        if status == "dropped" or all(t == IGNORE for t in y):
            dropped += 1  # the final response alone does not fit: nothing to learn
            continue
        ids.append(x)
        labels.append(y)
        if progress and (n % 200 == 0 or n == len(items)):
            progress(stage, n, len(items))
    if not ids:
        need = int(np.percentile(lengths, 95, method="inverted_cdf"))
        raise DataError(f"{field_name}: every {which} example has a final response longer "
                        f"than data.block_size = {cfg.block_size} tokens, so none can be "
                        f"trained on; raise it (block_size {need} keeps 95 % of them whole).",
                        field=field_name)
    n_tokens = sum(len(x) for x in ids)
    trained = sum(sum(t != IGNORE for t in y) for y in labels)
    if cfg.packing:
        ids, labels = pack_examples(ids, labels, cfg.block_size)
    seqs = Sequences.from_lists(ids, labels)
    return seqs, {"tokens": n_tokens, "blocks": len(seqs), "trained_tokens": int(trained),
                  "kept": len(items) - truncated - dropped, "truncated": truncated,
                  "dropped": dropped,
                  # the smallest block_size that holds 95 % of the examples whole
                  "block_size_95": int(np.percentile(lengths, 95, method="inverted_cdf"))}


def pack_examples(ids: list[list[int]], labels: list[list[int]], size: int):
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


def give_pad_token(tokenizer) -> None:
    """A pad token for a tokenizer without one: its EOS (the labels of padding are -100,
    so EOS keeps being learned), else a new <|pad|>. Packed causal-LM blocks need no
    padding, but the SFT collator and generate() do."""
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        else:
            tokenizer.add_special_tokens({"pad_token": "<|pad|>"})


class SequenceDataset:
    """A torch-style dataset: input_ids and labels of each sequence, as lists of ints
    (what transformers' collators take without a copy per tensor)."""

    def __init__(self, seqs: Sequences):
        self.seqs = seqs

    def __len__(self) -> int:
        return len(self.seqs)

    def __getitem__(self, i):
        ids, labels = self.seqs.get(i)
        return {"input_ids": ids.astype(np.int64).tolist(),
                "labels": labels.astype(np.int64).tolist()}


def collator(tokenizer, fmt: str):
    """How sequences become batches, from transformers. Packed text blocks all have one
    length: stacked as they are (``default_data_collator``). SFT sequences are ragged:
    ``DataCollatorForSeq2Seq`` pads them on the right (pad id in input_ids, -100 in
    labels, 0 in attention_mask). It pads on the tokenizer's side, so it gets a copy set
    to the right: a model whose tokenizer pads on the left for generation would otherwise
    train on shifted positions, and the saved tokenizer keeps its own side."""
    from transformers import DataCollatorForSeq2Seq, default_data_collator

    if fmt == "text":
        return default_data_collator
    import copy

    right = copy.copy(tokenizer)
    right.padding_side = "right"
    return DataCollatorForSeq2Seq(right, padding=True, label_pad_token_id=IGNORE)
