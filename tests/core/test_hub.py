"""core/hub.py against the loopback Hub (tests/hub_server.py): size-up, the messages for
401 / 403 / 404 / gated / offline, download with progress, Cancel mid-file and retry."""

import threading
from pathlib import Path

import pytest

from ftgui.core import hub as hubmod
from ftgui.core.errors import FtguiError
from ftgui.core.events import Progress
from hub_fixtures import (BIG_ID, DUPLICATES, GATED_ID, MODEL_ID, PRIVATE_ID,  # noqa: F401
                          add_big_model, hub)


def test_size_up_reads_config_and_safetensors_headers_without_weights(hub, tiny_model_dir):
    import safetensors
    s = hubmod.size_up(MODEL_ID)
    assert s.license == "apache-2.0" and not s.gated and not s.private and s.access == "ok"
    assert s.architecture == "GPT2LMHeadModel" and s.model_type == "gpt2"
    with safetensors.safe_open(tiny_model_dir / "model.safetensors", "pt") as f:
        expected = sum(f.get_slice(k).get_shape().numel() if hasattr(
            f.get_slice(k).get_shape(), "numel") else
            __import__("math").prod(f.get_slice(k).get_shape()) for k in f.keys())
    assert s.params == expected
    names = [n for n, _ in s.files]
    assert "model.safetensors" in names and "config.json" in names
    assert not set(names) & set(DUPLICATES)          # no .bin / onnx / gguf / pth
    weights = (tiny_model_dir / "model.safetensors").stat().st_size
    assert s.download_bytes >= weights and "config.json" in s.cached
    # the weights were never requested in full: only ranged GETs for the header
    full = [p for m, p in hub.requests if m == "GET" and p.endswith("/model.safetensors")]
    assert len(full) == 1   # get_safetensors_metadata's one ranged request
    assert not list((Path(hubmod.cache_dir())).rglob("model.safetensors"))
    assert any("download" in line for line in s.lines())


def test_gated_repo_gives_the_license_url(hub, monkeypatch):
    s = hubmod.size_up(GATED_ID)
    assert s.gated == "manual" and s.access == "gated"
    assert f"{hub.url}/{GATED_ID}" in s.access_note and "sign in" in s.access_note
    with pytest.raises(FtguiError) as e:
        hubmod.download(GATED_ID)
    assert "is gated: accept its license at" in str(e.value)
    monkeypatch.setenv("HF_TOKEN", "tok-other")    # signed in, not granted
    with pytest.raises(FtguiError) as e:
        hubmod.download(GATED_ID)
    assert "has not been granted access" in str(e.value) and f"{hub.url}/{GATED_ID}" in str(e.value)
    monkeypatch.setenv("HF_TOKEN", "tok-accepted")
    assert hubmod.size_up(GATED_ID).access == "ok"


def test_missing_private_refused_token_each_have_their_line(hub, monkeypatch):
    with pytest.raises(FtguiError) as e:
        hubmod.size_up("tiny-org/no-such-model")
    assert "no model 'tiny-org/no-such-model'" in str(e.value) and "(401)" in str(e.value)
    assert "not signed in" in str(e.value) and e.value.field == "model.source"
    with pytest.raises(FtguiError) as e:
        hubmod.size_up(PRIVATE_ID)
    assert "private and you are not signed in" in str(e.value)
    monkeypatch.setenv("HF_TOKEN", "tok-owner")
    assert hubmod.size_up(PRIVATE_ID).private
    monkeypatch.setenv("HF_TOKEN", "tok-revoked")
    with pytest.raises(FtguiError) as e:
        hubmod.size_up(MODEL_ID)
    assert "refused your token (401)" in str(e.value)


def test_offline_cached_ids_load_uncached_get_one_line(hub, monkeypatch, tiny_model_dir):
    snap = hubmod.download(MODEL_ID)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    n = len(hub.requests)
    assert hubmod.download(MODEL_ID) == snap
    s = hubmod.size_up(MODEL_ID)
    assert s.from_cache_only and s.architecture == "GPT2LMHeadModel"
    with pytest.raises(FtguiError) as e:
        hubmod.size_up("tiny-org/never-fetched")
    assert "not in the Hugging Face cache and HF_HUB_OFFLINE is set" in str(e.value)
    assert len(hub.requests) == n          # offline: not one request
    # no network at all (the server gone): the cached copy still loads, fast
    monkeypatch.delenv("HF_HUB_OFFLINE")
    hub.stop()
    assert hubmod.download(MODEL_ID) == snap
    with pytest.raises(FtguiError) as e:
        hubmod.download("tiny-org/never-fetched")
    assert "the Hub cannot be reached" in str(e.value)


def test_download_fetches_only_what_loading_needs_and_loads(hub, tiny_model_dir):
    from ftgui.core import models
    from ftgui.core.config import ModelConfig
    events = []
    snap = hubmod.download(MODEL_ID, events.append)
    got = sorted(p.relative_to(snap).as_posix() for p in snap.rglob("*") if p.is_file())
    assert "model.safetensors" in got and not set(got) & set(DUPLICATES)
    assert events and all(isinstance(e, Progress) and e.unit == "bytes" for e in events)
    assert events[-1].current == events[-1].total > 0
    cfg = ModelConfig(source=MODEL_ID, method="full")
    model = models.load_model(cfg)
    tok = models.load_tokenizer(cfg)
    assert model.config.n_layer == 2 and len(tok) > 0


def test_cancel_mid_file_then_retry(hub, tiny_model_dir):
    pad = add_big_model(hub, tiny_model_dir)
    hub.rate = 12 * 1024 * 1024          # bytes per second: the padding shard takes ~2 s
    cancel = threading.Event()
    events = []

    def sink(e):
        events.append(e)
        if "model-00002" in e.detail and e.current < e.total:
            cancel.set()                  # first report inside the big file

    with pytest.raises(hubmod.DownloadCancelled) as e:
        hubmod.download(BIG_ID, sink, cancel)
    assert "finished are kept" in str(e.value)
    cache = hubmod.cache_dir()
    assert not list(cache.rglob("*.incomplete"))      # huggingface_hub removed the partial
    blobs = {p.stat().st_size for p in cache.rglob("blobs/*")}
    assert pad not in blobs and blobs                  # the earlier files stayed
    cut = events[-1].current
    assert 0 < cut < events[-1].total
    hub.rate = None
    cancel.clear()
    retry = []
    snap = hubmod.download(BIG_ID, retry.append, cancel)
    assert (snap / "model-00002-of-00002.safetensors").stat().st_size == pad
    assert retry[0].current > 0                        # kept files counted as done
    assert retry[-1].current == retry[-1].total
    assert hubmod.size_up(BIG_ID).download_bytes == 0


def test_cli_train_downloads_as_a_stage_with_progress(hub, tiny_config, tmp_path, capsys):
    from ftgui.cli import main
    from ftgui.core.runs import RunDir
    cfg = tiny_config(model={"source": MODEL_ID, "method": "full"},
                      training={"max_steps": 2, "logging_steps": 1, "save_steps": 100})
    cfg.save(tmp_path / "run.yaml")
    assert main(["train", str(tmp_path / "run.yaml")]) == 0
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if x.startswith(f"Downloading {MODEL_ID}: "))
    assert " of " in line and ("MB" in line or "KB" in line)
    assert RunDir(cfg.training.output_dir).summary()["status"] == "finished"
    # the weights came from the download stage, and once only
    gets = [p for m, p in hub.requests if m == "GET" and p.endswith("model.safetensors")]
    assert len(gets) == 1


def test_dataset_size_up_lists_configs_and_splits(hub):
    card = {"license": "cc-by-sa-3.0",
            "configs": [{"config_name": "raw", "data_files": [
                {"split": "train", "path": "raw/train.jsonl"},
                {"split": "validation", "path": "raw/valid.jsonl"}]}],
            "dataset_info": [{"config_name": "tokens", "splits": [{"name": "train"},
                                                                    {"name": "test"}]}]}
    hub.add("tiny-org/wiki", files={"raw/train.jsonl": b'{"text": "a"}\n' * 50,
                                    "raw/valid.jsonl": b'{"text": "b"}\n'},
            kind="dataset", card=card)
    hub.add("tiny-org/gated-data", files={"a.jsonl": b"{}\n"}, kind="dataset",
            gated="auto")
    d = hubmod.dataset_size_up("tiny-org/wiki")
    assert d.configs == {"raw": ["train", "validation"], "tokens": ["train", "test"]}
    assert d.license == "cc-by-sa-3.0" and d.size == 14 * 50 + 14
    assert "config raw: train, validation" in d.lines()
    assert hubmod.dataset_size_up("tiny-org/gated-data").gated == "auto"
    with pytest.raises(FtguiError) as e:
        hubmod.dataset_size_up("tiny-org/no-data")
    assert "no dataset 'tiny-org/no-data'" in str(e.value) and e.value.field == "data.source"


def test_dataset_first_rows_are_streamed(hub):
    import yaml
    configs = [{"config_name": "raw", "data_files": [{"split": "train",
                                                      "path": "raw/train.jsonl"}]}]
    rows = b"".join(b'{"text": "row %d"}\n' % i for i in range(5000))
    hub.add("tiny-org/streamed", kind="dataset", card={"configs": configs},
            files={"raw/train.jsonl": rows,
                   "README.md": ("---\n" + yaml.safe_dump({"configs": configs})
                                 + "---\n").encode()})
    first = hubmod.dataset_first_rows("tiny-org/streamed", "raw", "train", n=3)
    assert first == [{"text": "row 0"}, {"text": "row 1"}, {"text": "row 2"}]
    # streamed: the data file was read over HTTP, never put in a cache (datasets uses
    # the cache huggingface_hub fixed on import)
    from huggingface_hub import constants
    for cache in (hubmod.cache_dir(), Path(constants.HF_HUB_CACHE)):
        assert not list(cache.glob("datasets--tiny-org--streamed/**/train.jsonl"))
    with pytest.raises(FtguiError) as e:
        hubmod.dataset_first_rows("tiny-org/none", None, "train")
    assert "'tiny-org/none'" in str(e.value) and "exist" in str(e.value)
    assert e.value.field == "data.source"


def test_a_gated_hub_dataset_in_a_run_gets_the_hubs_message(hub):
    """data.load_raw on a gated Hub dataset: the one line the size-up gives (gated, what
    to do), naming data.source, not the datasets library's exception."""
    from ftgui.core import data as data_mod
    from ftgui.core.config import DataConfig

    hub.add("tiny-org/gated-rows", files={"train.jsonl": b'{"text": "a b c"}\n' * 20},
            kind="dataset", gated="manual")
    with pytest.raises(FtguiError) as e:
        data_mod.load_raw(DataConfig(source="tiny-org/gated-rows"))
    assert str(e.value).startswith("data.source: 'tiny-org/gated-rows' is gated: accept "
                                   "its license at ")
    assert e.value.field == "data.source"
