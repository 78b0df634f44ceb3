"""Several processes: the first prepares the data and fills the cache, the others wait
and read it (no two processes tokenizing or writing the same cache folder)."""

import os
import socket

import pytest
import torch.multiprocessing as mp

from tiny_model import FIXTURES, TOKENIZER_DIR

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prepare(rank, world, port, cache, text, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world),
                      FTGUI_CACHE_DIR=cache)
    from transformers import AutoTokenizer

    from ftgui.core import data
    from ftgui.core.config import DataConfig
    from ftgui.core.runner import main_process_first

    tok = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    with main_process_first(world, "cpu"):
        prepared = data.prepare(DataConfig(source=text, block_size=32), tok, 7)
    out.put((rank, prepared.cached, len(prepared.train)))


def test_first_process_prepares_the_others_read_the_cache(tmp_path, monkeypatch):
    from ftgui.core import data

    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    cache = str(tmp_path / "cache")
    monkeypatch.setenv("FTGUI_CACHE_DIR", cache)
    assert str(data.cache_root()).startswith(cache), "the cache folder is not where expected"
    port = _free_port()
    procs = [ctx.Process(target=_prepare, args=(rank, 2, port, cache,
                                                str(FIXTURES / "wiki-small.txt"), out))
             for rank in range(2)]
    for p in procs:
        p.start()
    results = sorted(out.get(timeout=240) for _ in procs)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    (r0, cached0, n0), (r1, cached1, n1) = results
    assert (cached0, cached1) == (False, True)
    assert n0 == n1 > 0
