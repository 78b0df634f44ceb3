import json

import numpy as np
import pytest

from ftgui.core import data as data_mod
from ftgui.core.config import DataConfig
from ftgui.core.errors import DataError
from tiny_model import TOKENIZER_DIR

LINES = ["The lobster is blue .", "", "It lives in the sea .", "   ", "Claws are large ."]


@pytest.fixture(scope="module")
def tok():
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(TOKENIZER_DIR)


def _write(tmp_path, name, content):
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p


def test_txt_drops_blank_lines(tmp_path):
    p = _write(tmp_path, "a.txt", "\n".join(LINES))
    raw = data_mod.load_raw(DataConfig(source=str(p), validation=None))
    assert raw.train == ["The lobster is blue .", "It lives in the sea .", "Claws are large ."]


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_structured_formats_detect_the_text_column(tmp_path, fmt):
    rows = [{"id": i, "body": t} for i, t in enumerate(LINES) if t.strip()]
    p = tmp_path / f"d.{fmt}"
    if fmt == "jsonl":
        p.write_text("\n".join(json.dumps(r) for r in rows))
    elif fmt == "json":
        p.write_text(json.dumps(rows))
    elif fmt == "csv":
        p.write_text("id,body\n" + "\n".join(f'{r["id"]},"{r["body"]}"' for r in rows))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq
        pq.write_table(pa.Table.from_pylist(rows), p)
    raw = data_mod.load_raw(DataConfig(source=str(p), validation=None))
    assert raw.text_column == "body"
    assert raw.train[0] == "The lobster is blue ."
    assert len(raw.train) == 3


def test_several_text_columns_ask_for_a_choice(tmp_path):
    p = _write(tmp_path, "d.jsonl", '{"a": "x", "b": "y"}\n')
    with pytest.raises(DataError, match="set data.text_column"):
        data_mod.load_raw(DataConfig(source=str(p), validation=None))
    raw = data_mod.load_raw(DataConfig(source=str(p), validation=None, text_column="b"))
    assert raw.train == ["y"]


def test_validation_fraction_file_and_folder_splits(tmp_path):
    p = _write(tmp_path, "train.txt", "\n".join(f"line {i}" for i in range(100)))
    raw = data_mod.load_raw(DataConfig(source=str(p), validation=0.1), seed=1)
    assert len(raw.eval) == 10 and len(raw.train) == 90
    assert not set(raw.eval) & set(raw.train)
    v = _write(tmp_path, "valid.txt", "held out one\nheld out two\n")
    raw = data_mod.load_raw(DataConfig(source=str(p), validation=str(v)))
    assert raw.eval == ["held out one", "held out two"] and len(raw.train) == 100
    raw = data_mod.load_raw(DataConfig(source=str(tmp_path), validation="validation"))
    assert raw.eval == ["held out one", "held out two"] and len(raw.train) == 100


def test_split_name_with_a_single_file_is_explained(tmp_path):
    p = _write(tmp_path, "a.txt", "x\ny\n")
    with pytest.raises(DataError, match="data.validation.*single file"):
        data_mod.load_raw(DataConfig(source=str(p), validation="validation"))


def test_packing_matches_group_texts(tmp_path, tok):
    texts = [f"sentence number {i} about lobsters ." for i in range(50)]
    blocks, n_tokens = data_mod.pack(texts, tok, 16, add_eos=True)
    ids = []
    for t in texts:
        ids += tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert n_tokens == len(ids)
    assert blocks.shape == (len(ids) // 16, 16)
    assert blocks.flatten().tolist() == ids[:blocks.size]
    item = data_mod.SequenceDataset(data_mod.Sequences.from_blocks(blocks))[0]
    assert item["labels"] == item["input_ids"] == blocks[0].tolist()


def test_prepare_reports_stats_and_uses_the_cache(tmp_path, tok, wiki_text, monkeypatch):
    cfg = DataConfig(source=str(wiki_text), validation=0.1, block_size=32)
    first = data_mod.prepare(cfg, tok)
    assert not first.cached
    s = first.stats
    assert s["train_rows"] + s["eval_rows"] == 150
    assert s["train_blocks"] == len(first.train) == s["train_tokens"] // 32

    def boom(*a, **k):
        raise AssertionError("tokenized again")
    monkeypatch.setattr(data_mod, "tokenize", boom)
    second = data_mod.prepare(cfg, tok)
    assert second.cached
    assert np.array_equal(first.train.ids, second.train.ids)
    assert second.stats == first.stats


def test_cache_notices_an_edited_file(tmp_path, tok):
    p = _write(tmp_path, "a.txt", "\n".join(f"line {i} of text" for i in range(200)))
    cfg = DataConfig(source=str(p), validation=None, block_size=16)
    a = data_mod.prepare(cfg, tok)
    p.write_text("\n".join(f"other {i} words here" for i in range(200)))
    b = data_mod.prepare(cfg, tok)
    assert not b.cached and not np.array_equal(a.train.ids, b.train.ids)


def test_too_little_text_for_one_block(tmp_path, tok):
    p = _write(tmp_path, "a.txt", "tiny\n")
    with pytest.raises(DataError, match="data.block_size"):
        data_mod.prepare(DataConfig(source=str(p), validation=None, block_size=512), tok)
