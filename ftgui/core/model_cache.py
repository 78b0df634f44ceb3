"""A GGUF model read once: dequantised weights kept as safetensors, loaded memory-mapped.

transformers dequantises a GGUF file in Python on every load (about 20 s for a 135 M model
on two cores). The first load writes the result (config, float32 safetensors, tokenizer
files) to ``<cache>/models/<key>/``; later loads read that folder like any saved model.

The key is the file's size, its modification time and a hash of its first MiB (the GGUF
header and the start of its metadata), plus the transformers version that dequantised it:
a changed or replaced file, or another transformers, gets a new entry. Folders are 0700 and
files 0600; entries not used for longest go first once the models cache passes its limit
(``FTGUI_MODEL_CACHE_GB``, default 20); ``FTGUI_NO_MODEL_CACHE=1`` turns it off. The cache is an optimisation: when it cannot be
written or read, loading works as before.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

HEADER_BYTES = 1 << 20
DEFAULT_LIMIT_GB = 20.0


def cache_base() -> Path:
    """ftgui's cache folder: $FTGUI_CACHE_DIR, else the user cache folder."""
    env = os.environ.get("FTGUI_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs
    return Path(platformdirs.user_cache_dir("ftgui"))


def models_dir() -> Path:
    return cache_base() / "models"


def limit_bytes() -> int:
    try:
        gb = float(os.environ.get("FTGUI_MODEL_CACHE_GB", DEFAULT_LIMIT_GB))
    except ValueError:
        gb = DEFAULT_LIMIT_GB
    return int(gb * 2**30)


def disabled() -> bool:
    """FTGUI_NO_MODEL_CACHE=1 reads every GGUF afresh (the benchmark's old path)."""
    return os.environ.get("FTGUI_NO_MODEL_CACHE", "") not in ("", "0")


# raised when what ftgui stores for a GGUF changes (2: the tokenizer's pre-tokenizer matched
# to the file's, see gguf_tokenizer), so an older entry is not reused
FORMAT = 2


def key(path: Path) -> str:
    import transformers

    st = Path(path).stat()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(HEADER_BYTES))
    h.update(f"|{st.st_size}|{st.st_mtime_ns}|{transformers.__version__}|"
             f"{FORMAT}".encode())
    return f"{Path(path).stem[:40]}-{h.hexdigest()[:20]}"


def entry(path: Path) -> Path:
    return models_dir() / key(path)


def load_model(path: Path, fresh: Callable[[], object], dtype=None):
    """The model of the GGUF file at ``path``: from the cache, or by ``fresh()`` (which must
    return it in float32) and then stored. Returns (model, from_cache)."""
    import torch
    from transformers import AutoModelForCausalLM

    if disabled():
        return fresh(), False
    folder = entry(path) / "model"
    if (folder / "config.json").exists():
        try:
            model = AutoModelForCausalLM.from_pretrained(
                folder, dtype=dtype or torch.float32, use_safetensors=True)
            _touch(folder.parent)
            return model, True
        except Exception as e:  # noqa: BLE001 - a damaged entry is rebuilt below
            log.warning("model cache entry %s unreadable (%s); reading the GGUF again",
                        folder, e)
            shutil.rmtree(folder, ignore_errors=True)
    model = fresh()
    _store(folder, lambda tmp: model.save_pretrained(tmp, safe_serialization=True))
    if dtype is not None and dtype != torch.float32:
        model = model.to(dtype)
    return model, False


def config_folder(path: Path) -> Path | None:
    """The cached model folder of the GGUF file at ``path`` (its config.json read like any
    saved model's), or None when the cache does not hold it or is off."""
    if disabled():
        return None
    try:
        folder = entry(path) / "model"
    except OSError:
        return None
    return folder if (folder / "config.json").exists() else None


def load_tokenizer(path: Path, fresh: Callable[[], object]):
    """Like load_model, for the tokenizer. Returns (tokenizer, from_cache)."""
    from transformers import AutoTokenizer

    if disabled():
        return fresh(), False
    folder = entry(path) / "tokenizer"
    if (folder / "tokenizer_config.json").exists():
        try:
            tok = AutoTokenizer.from_pretrained(folder)
            _touch(folder.parent)
            return tok, True
        except Exception as e:  # noqa: BLE001 - a damaged entry is rebuilt below
            log.warning("tokenizer cache entry %s unreadable (%s)", folder, e)
            shutil.rmtree(folder, ignore_errors=True)
    tok = fresh()
    _store(folder, tok.save_pretrained)
    return tok, False


def _store(folder: Path, write: Callable[[Path], object]) -> None:
    tmp = folder.with_name(f".{folder.name}-{os.getpid()}-{time.monotonic_ns()}")
    try:
        _private_dir(folder.parent)
        _private_dir(tmp)
        write(tmp)
        for p in tmp.rglob("*"):
            os.chmod(p, 0o700 if p.is_dir() else 0o600)
        try:
            os.replace(tmp, folder)
        except OSError:
            if not folder.exists():
                raise
            # another thread or process stored the same entry first (the window's model
            # preview and a run may load one GGUF at once): theirs is kept, quietly
            return
        _touch(folder.parent)
        evict(keep=folder.parent)
    except OSError as e:
        # a read-only or full disk must not fail a load; another process may have won
        log.warning("could not write the model cache at %s: %s", folder, e)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _private_dir(folder: Path) -> None:
    """Make folder (and the folders between it and the cache base) readable by the user only."""
    base = cache_base()
    if not base.exists():
        base.mkdir(parents=True, mode=0o700)
    chain = []
    while folder != base and base in folder.parents:
        chain.append(folder)
        folder = folder.parent
    for d in reversed(chain):
        d.mkdir(exist_ok=True, mode=0o700)
        os.chmod(d, 0o700)


def _touch(folder: Path) -> None:
    try:
        os.utime(folder)
    except OSError:
        pass


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def evict(keep: Path | None = None) -> list[Path]:
    """Remove the entries used longest ago until the models cache fits its limit."""
    root = models_dir()
    if not root.is_dir():
        return []
    entries = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime)
    total = sum(_size(p) for p in entries)
    removed = []
    for p in entries:
        if total <= limit_bytes():
            break
        if keep is not None and p == keep:
            continue
        total -= _size(p)
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


def usage() -> dict:
    """What ftgui keeps in its cache folder: {'models': bytes, 'data': bytes, 'folder': path}."""
    from ftgui.core.data import cache_root

    models = models_dir()
    data = cache_root()
    m = _size(models) if models.is_dir() else 0
    d = _size(data) if data.is_dir() else 0
    if models.is_relative_to(data):
        d -= m
    return {"models": m, "data": d, "folder": str(cache_base())}


def clear() -> int:
    """Delete the model and data caches (not downloads from the Hub). Returns bytes freed."""
    from ftgui.core.data import cache_root

    from ftgui.core.base_eval import folder as base_eval_dir

    freed = 0
    for folder in (models_dir(), cache_root(), base_eval_dir()):
        if folder.is_dir():
            freed += _size(folder)
            for p in folder.iterdir():
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
    return freed
