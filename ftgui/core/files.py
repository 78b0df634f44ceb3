"""Read local dataset files into rows, with errors that name the file and the line.

We parse the formats ourselves instead of through ``datasets.load_dataset`` so that a
broken line, a binary file or a wrong encoding gets a message a person can act on.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import sys
from pathlib import Path

from ftgui.core.errors import DataError
from ftgui.core.wording import first_line

SUFFIXES = (".txt", ".text", ".jsonl", ".json", ".csv", ".parquet")
SPLIT_NAMES = {"train": ("train",), "validation": ("validation", "valid", "val", "dev", "eval"),
               "test": ("test",)}


def read_rows(path: str | Path, field: str = "data.source") -> list[dict]:
    """Rows of a local file as dicts. Text files give one row per non-blank line."""
    if "\x00" in str(path):
        raise DataError(f"{field}: the path {str(path)!r} holds a NUL character; give the "
                        f"path of a file.", field=field)
    p = Path(path).expanduser()
    try:
        exists, is_dir, is_file = p.exists(), p.is_dir(), p.is_file()
    except OSError as e:  # a name too long, a loop of links, ...
        raise DataError(f"{field}: {p} cannot be read ({e.strerror or e}).",
                        field=field) from None
    if not exists:
        raise DataError(f"{field}: {p} does not exist. Check the path.", field=field)
    if is_dir:
        raise DataError(f"{field}: {p} is a folder; give a file here.", field=field)
    if not is_file:  # a pipe or a device would block or never end
        raise DataError(f"{field}: {p} is not a regular file; give a data file.",
                        field=field)
    suffix = p.suffix.lower()
    gz = suffix == ".gz" and is_data_file(p)
    if gz:  # hh-rlhf and others ship .jsonl.gz
        suffix = Path(p.stem).suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"{field}: {p.name} has an unsupported type '{suffix or 'none'}'. "
                        f"Use .txt, .jsonl, .json, .csv or .parquet.", field=field)
    if suffix == ".parquet" and not gz:
        return _read_parquet(p, field)
    text = decode_text(p, field, gz)
    if suffix in (".txt", ".text"):
        return [{"text": line} for line in text.splitlines() if line.strip()]
    if suffix in (".jsonl", ".json"):  # the content decides: arrays saved as .jsonl exist
        stripped = text.lstrip()
        if stripped.startswith("["):
            return _read_json_array(p, text, field)
        if suffix == ".json" and stripped.startswith("{") and "\n{" not in stripped \
                and "\n {" not in stripped:
            return _read_json_array(p, text, field)
        return _read_jsonl(p, text, field)
    return _read_csv(p, text, field)


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def decode_text(p: Path, field: str, gz: bool = False) -> str:
    try:
        data = p.read_bytes()
        if gz:
            import gzip
            data = gzip.decompress(data)
    except (OSError, EOFError) as e:
        raise DataError(f"{field}: {p} cannot be read ({getattr(e, 'strerror', None) or e}).",
                        field=field) from None
    for bom, encoding in _BOMS:  # Windows tools save "Unicode" text as UTF-16 with a BOM
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                raise DataError(f"{field}: {p} starts like {encoding.upper()} text but is "
                                f"not valid {encoding.upper()}. Re-save the file as UTF-8.",
                                field=field) from None
            if "\x00" in text:
                break  # report the NUL below
            return text
    if b"\x00" in data:
        line = data[:data.index(b"\x00")].count(b"\n") + 1
        raise DataError(f"{field}: {p} looks like a binary file, not text (a NUL byte on "
                        f"line {line}). Give a UTF-8 text, JSONL, CSV or Parquet file.",
                        field=field)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise DataError(f"{field}: {p} line {line} is not UTF-8 text (byte "
                        f"0x{data[e.start]:02x}). Re-save the file as UTF-8.",
                        field=field) from None


def _read_jsonl(p: Path, text: str, field: str) -> list[dict]:
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{field}: {p} line {n} is not valid JSON ({e.msg} at column "
                            f"{e.colno}). Fix or delete that line.", field=field) from None
        except (ValueError, RecursionError) as e:  # a 5000-digit number, 10000 nested [
            raise DataError(f"{field}: {p} line {n} cannot be read as JSON "
                            f"({first_line(e, 120)}).", field=field) from None
        if not isinstance(row, dict):
            raise DataError(f"{field}: {p} line {n} is a JSON {type(row).__name__}, not an "
                            f"object; each line must be like {{\"text\": \"...\"}}.",
                            field=field)
        if _SURROGATE.search(line):
            _check_unicode(row, f"{p} line {n}", field)
        rows.append(row)
    return rows


def _read_json_array(p: Path, text: str, field: str) -> list[dict]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{field}: {p} line {e.lineno} is not valid JSON ({e.msg}).",
                        field=field) from None
    except (ValueError, RecursionError) as e:
        raise DataError(f"{field}: {p} cannot be read as JSON ({first_line(e, 120)}).",
                        field=field) from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise DataError(f"{field}: {p} holds a JSON object; expected a list of rows "
                            f"(or an object with one list in it).", field=field)
        data = lists[0]
    bad = next((i for i, r in enumerate(data) if not isinstance(r, dict)), None)
    if bad is not None:
        raise DataError(f"{field}: {p} item {bad + 1} is not a JSON object; every item must "
                        f"be like {{\"text\": \"...\"}}.", field=field)
    if _SURROGATE.search(text):
        for i, row in enumerate(data, 1):
            _check_unicode(row, f"{p} item {i}", field)
    return data


# a \uD800-\uDFFF escape: JSON can spell half a character, which no tokenizer can encode
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def _check_unicode(row: dict, where: str, field: str) -> None:
    try:
        json.dumps(row, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise DataError(f"{field}: {where} holds a lone UTF-16 surrogate (a \\uD8xx escape "
                        f"without its pair), which is not text. Fix or delete it.",
                        field=field) from None


def _read_csv(p: Path, text: str, field: str) -> list[dict]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # a long text is not an error
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = []
    try:
        for row in reader:
            if None in row:
                raise DataError(f"{field}: {p} line {reader.line_num} has more values than "
                                f"the header has columns. Quote values that hold commas.",
                                field=field)
            rows.append(row)
    except csv.Error as e:
        raise DataError(f"{field}: {p} line {reader.line_num}: {e}.", field=field) from None
    if reader.fieldnames is None:
        raise DataError(f"{field}: {p} is empty; a CSV needs a header line.", field=field)
    return rows


def _read_parquet(p: Path, field: str) -> list[dict]:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(p).to_pylist()
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for bad files
        raise DataError(f"{field}: {p} could not be read as Parquet ({e}).",
                        field=field) from None


def is_data_file(p: Path) -> bool:
    """A file read_rows reads: a known suffix, or one of them gzipped (.jsonl.gz)."""
    suffix = p.suffix.lower()
    inner = Path(p.stem).suffix.lower()
    return suffix in SUFFIXES or (suffix == ".gz" and inner in SUFFIXES and inner != ".parquet")


def split_files(folder: Path) -> dict[str, list[Path]]:
    """Data files in a folder, grouped by split when their names say so
    (train.jsonl, valid.txt, ...); everything else counts as train."""
    files = sorted(f for f in folder.iterdir() if f.is_file() and is_data_file(f))
    out: dict[str, list[Path]] = {}
    for f in files:
        stem = f.stem.lower()
        split = next((s for s, names in SPLIT_NAMES.items()
                      if any(stem == n or stem.endswith(("." + n, "_" + n, "-" + n))
                             or stem.startswith((n + "_", n + "-", n + "."))
                             for n in names)), "train")
        out.setdefault(split, []).append(f)
    return out


# what a local path may end in (data files and models): a value so ending is a path
FILE_SUFFIXES = (".txt", ".jsonl", ".json", ".csv", ".parquet", ".gguf", ".text")


def has_file_suffix(value: str) -> bool:
    return value.lower().endswith(FILE_SUFFIXES)


def looks_like_path(value: str) -> bool:
    """Tell a local path from a Hub id ('org/name'): paths start with / . ~ or a drive,
    have more than one separator, end in a data/model file suffix, or exist."""
    if value.startswith("pkg:"):
        return False
    if value.startswith(("/", "./", "../", "~", "\\")) or (len(value) > 1 and value[1] == ":"):
        return True
    if value.count("/") > 1 or "\\" in value or has_file_suffix(value):
        return True
    try:
        return Path(value).exists()
    except (OSError, ValueError):  # a NUL character, a name too long
        return False
