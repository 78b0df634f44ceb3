"""Generated configs and malformed dataset files thrown at the loaders.

The only outcome besides success is an FtguiError with a non-empty one-line message:
never another exception, a hang (each example has a deadline) or a file written.
"""

import codecs
import json
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from ftgui.core import files
from ftgui.core.config import SECTIONS, DataConfig, RunConfig
from ftgui.core.data import load_raw
from ftgui.core.errors import FtguiError

FUZZ = settings(max_examples=120, deadline=timedelta(seconds=10), database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])


def _user_error_only(call):
    try:
        return call()
    except FtguiError as e:
        assert e.message and e.message.strip(), "an empty message"
        assert len(e.message.splitlines()) == 1, e.message
        return None


# ---- configs ---------------------------------------------------------------------------------
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-10, 10),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=30), st.sampled_from(["", "auto", "5e-5", "1e999", "-1",
                                                           "0", "nan", "a\x00b", "/nope",
                                                           "org/name", "x.jsonl"]),
                    st.integers(min_value=10**300, max_value=10**400))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
KEYS = {name: [f.name for f in __import__("dataclasses").fields(cls)]
        for name, cls in SECTIONS.items()}


@st.composite
def raw_configs(draw):
    if draw(st.integers(0, 9)) == 0:
        return draw(values)  # not even a mapping
    raw = {}
    for name in draw(st.lists(st.sampled_from([*SECTIONS, "extra", 3]), max_size=5,
                              unique=True)):
        if draw(st.integers(0, 9)) == 0:
            raw[name] = draw(values)
            continue
        keys = KEYS.get(name, []) + ["bogus"]
        raw[name] = {k: draw(values) for k in draw(st.lists(st.sampled_from(keys),
                                                              max_size=6, unique=True))}
    return raw


@FUZZ
@given(raw=raw_configs())
def test_generated_configs(raw, tmp_path):
    cfg = _user_error_only(lambda: RunConfig.from_dict(raw, base_dir=tmp_path))
    if cfg is not None:
        assert cfg.problems() == []
        assert RunConfig.from_dict(cfg.to_dict()).to_dict() == cfg.to_dict()
    assert list(tmp_path.iterdir()) == []


@FUZZ
@given(text=st.one_of(st.text(max_size=200), st.sampled_from([
    "[" * 5_000, "a: " + "{a: " * 3_000, "model: {source: x", "\x00", "- 1\n- 2",
    "training:\n  max_steps: 1e999", "data: !!python/object:os.system {}", "&a [*a]"])))
def test_config_files(text):
    with tempfile.TemporaryDirectory() as tmp:
        _one_config_file(Path(tmp), text)


def _one_config_file(tmp_path, text):
    path = tmp_path / "run.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _user_error_only(lambda: RunConfig.load(path))
    assert [p.name for p in tmp_path.iterdir()] == ["run.yaml"]


# ---- dataset files ---------------------------------------------------------------------------
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=10)
rows = st.dictionaries(st.sampled_from(["text", "prompt", "response", "messages",
                                        "instruction", "output", "id", ""]),
                       json_values, max_size=4)
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252")


def _encode(text: str, encoding: str) -> bytes:
    return text.encode(encoding, errors="replace")


@st.composite
def file_bytes(draw, suffix):
    kind = draw(st.sampled_from(["structured", "text", "binary", "special"]))
    if kind == "binary":
        return draw(st.binary(max_size=300))
    if kind == "special":
        return draw(st.sampled_from([
            b"", b"   \n\t\n  ", b"\n" * 1000, b"a" * 2_000_000, b"text\x00more\n",
            codecs.BOM_UTF16_LE + "text,x\nhello,1\n".encode("utf-16-le"),
            codecs.BOM_UTF16_LE + b"\x00\xd8",  # a lone surrogate
            codecs.BOM_UTF8 + b"\xff\xfe", b"[" * 5_000 + b"]" * 5_000,
            b'{"text": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
            b'{"text": ' + b"9" * 5000 + b"}", b'{"text": "\\ud800"}', b"\"just a string\"",
            b"[1, 2, 3]", b"{\"a\": [1], \"b\": [2]}", b"{\"rows\": [{\"text\": \"hi\"}]}",
            b"text\n\"unclosed quote\n", b"a,b\n1,2,3\n", b"\r\n\r\n", b"\xef\xbb\xbf",
            ("x" * 200_000 + "\n").encode() * 2, "caf\xe9\n".encode("latin-1"),
        ]))
    encoding = draw(st.sampled_from(ENCODINGS))
    if kind == "text":
        return _encode(draw(st.text(max_size=300)), encoding)
    data = draw(st.lists(st.one_of(rows, json_values), max_size=6))
    if suffix == ".jsonl":
        text = "\n".join(json.dumps(r, ensure_ascii=draw(st.booleans())) for r in data)
    elif suffix == ".json":
        text = json.dumps(data if draw(st.booleans()) else {"data": data})
    elif suffix == ".csv":
        keys = sorted({k for r in data if isinstance(r, dict) for k in r}) or ["text"]
        lines = [",".join(keys)] + [",".join(json.dumps(r.get(k)) if isinstance(r, dict) else
                                             json.dumps(r) for k in keys) for r in data]
        text = "\n".join(lines)
    else:
        text = "\n".join(str(r) for r in data)
    return _encode(text, encoding)


@st.composite
def data_files(draw):
    suffix = draw(st.sampled_from([".txt", ".jsonl", ".json", ".csv"]))
    return suffix, draw(file_bytes(suffix))


@FUZZ
@given(case=data_files(), validation=st.sampled_from([None, 0.1, 0.5, 0.99, "validation"]),
       fmt=st.sampled_from(["text", "text", "instruction", "chat", "prompt_completion"]),
       column=st.sampled_from([None, "text", "id"]))
def test_malformed_dataset_files(case, validation, fmt, column):
    with tempfile.TemporaryDirectory() as tmp:
        _one_file(Path(tmp), case, validation, fmt, column)


def _one_file(tmp_path, case, validation, fmt, column):
    suffix, data = case
    path = tmp_path / f"data{suffix}"
    path.write_bytes(data)
    got = _user_error_only(lambda: files.read_rows(path))
    if got is not None:
        assert isinstance(got, list) and all(isinstance(r, dict) for r in got)
    cfg = DataConfig(source=str(path), validation=validation, format=fmt, text_column=column)
    raw = _user_error_only(lambda: load_raw(cfg))
    if raw is not None:
        assert raw.train
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # nothing written


def test_odd_encodings_read_or_say_why(tmp_path):
    text = "héllo wörld\nsecond line\n"
    for encoding in ("utf-16", "utf-32", "utf-8-sig"):  # with a BOM: read as text
        p = tmp_path / f"{encoding}.txt"
        p.write_bytes(text.encode(encoding))
        assert [r["text"] for r in files.read_rows(p)] == ["héllo wörld", "second line"]
    p = tmp_path / "latin1.txt"
    p.write_bytes(text.encode("latin-1"))
    _user_error_only(lambda: files.read_rows(p))
    for name, data in {"nested.json": b"[" * 100_000 + b"]" * 100_000,
                       "digits.jsonl": b'{"text": ' + b"9" * 5000 + b"}"}.items():
        p = tmp_path / name
        p.write_bytes(data)
        try:
            files.read_rows(p)
        except FtguiError as e:
            assert name in e.message
    for name, data in {"half.jsonl": b'{"text": "ok \\ud800 x"}\n',
                       "half.json": b'[{"text": "\\udc00"}]',
                       "pair.jsonl": b'{"text": "\\ud83d\\ude00"}'}.items():
        p = tmp_path / name
        p.write_bytes(data)
        if name == "pair.jsonl":  # a whole character spelled as a pair is fine
            assert files.read_rows(p) == [{"text": "\U0001F600"}]
            continue
        try:
            files.read_rows(p)
        except FtguiError as e:
            assert "surrogate" in e.message and name in e.message
        else:
            raise AssertionError(f"{name}: half a character was read as text")
    long_csv = tmp_path / "long.csv"
    long_csv.write_text("text\n" + "word " * 100_000 + "\n", encoding="utf-8")
    assert len(files.read_rows(long_csv)[0]["text"]) == 500_000


def test_not_a_regular_file(tmp_path):
    import os
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    try:
        files.read_rows(fifo)
    except FtguiError as e:
        assert "not a regular file" in e.message
    else:
        raise AssertionError("a pipe was read")
    for bad in ("a\x00b.txt", "/" + "x" * 5000 + ".txt"):
        _user_error_only(lambda: files.read_rows(bad))
