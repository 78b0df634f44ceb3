"""Fixtures for the Hub tests: the loopback Hub of tests/hub_server.py with the tiny model
served as a repo, and the environment pointed at it (endpoint, cache, no token)."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from urllib.parse import urlparse

import pytest

from hub_server import LoopbackHub

MODEL_ID = "tiny-org/tiny-gpt2"
GATED_ID = "tiny-org/gated-gpt2"
PRIVATE_ID = "tiny-org/private-gpt2"
BIG_ID = "tiny-org/big-gpt2"
# files a real repo often carries next to its safetensors, which loading must not fetch
DUPLICATES = {"pytorch_model.bin": b"\0" * 1000, "onnx/model.onnx": b"\0" * 1000,
              "consolidated.safetensors": b"\0" * 1000,
              "model-q4.gguf": b"GGUF" + b"\0" * 996, "README.md": b"# tiny\n",
              "original/consolidated.pth": b"\0" * 1000}


def padding_safetensors(n_floats: int) -> bytes:
    """A valid safetensors file of one float32 tensor of ``n_floats`` zeros (a large
    second shard, so that a download lasts long enough to be cancelled mid-file)."""
    header = json.dumps({"pad": {"dtype": "F32", "shape": [n_floats],
                                 "data_offsets": [0, 4 * n_floats]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + bytes(4 * n_floats)


@pytest.fixture
def hub(tmp_path, monkeypatch, tiny_model_dir):
    """A started loopback Hub serving the tiny model as MODEL_ID (with duplicates loading
    must skip), a gated and a private copy; HF_ENDPOINT / HF_HOME point at it and a
    temporary cache; no token, not offline. Stopped afterwards."""
    # on the port conftest.py put in HF_ENDPOINT, where huggingface_hub and transformers
    # (which fixed it on import) send their requests too
    port = urlparse(os.environ["HF_ENDPOINT"]).port or 0
    try:
        server = LoopbackHub(port=port).start()
    except OSError:     # taken by another program since: this test's calls still work
        server = LoopbackHub().start()
    server.add(MODEL_ID, tiny_model_dir, files=DUPLICATES, card={"license": "apache-2.0"})
    server.add(GATED_ID, tiny_model_dir, gated="manual", card={"license": "llama3.2"},
               accepted={"tok-accepted"})
    server.add(PRIVATE_ID, tiny_model_dir, private=True, owner_token="tok-owner")
    server.tokens.update({"tok-accepted": "alice", "tok-owner": "owner",
                          "tok-other": "bob"})
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield server
    server.stop()


def add_big_model(server: LoopbackHub, tiny_model_dir: Path, mb: int = 24,
                  repo_id: str = BIG_ID, **kw) -> int:
    """``repo_id``: the tiny model sharded in two, its second shard ``mb`` MB of padding (more
    than huggingface_hub's 10 MB download chunk, so progress arrives mid-file; loading
    reports the padding tensor as an unused weight). The padding shard's size."""
    from safetensors import safe_open
    pad = padding_safetensors(mb * 1024 * 1024 // 4)
    first, second = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
    weights = tiny_model_dir / "model.safetensors"
    with safe_open(str(weights), "np") as f:
        keys = list(f.keys())
    index = {"metadata": {"total_size": weights.stat().st_size + len(pad)},
             "weight_map": {**{k: first for k in keys}, "pad": second}}
    repo = server.add(repo_id, tiny_model_dir,
                      files={first: weights.read_bytes(), second: pad,
                             "model.safetensors.index.json": json.dumps(index).encode()},
                      **kw)
    del repo.files["model.safetensors"]
    return len(pad)
