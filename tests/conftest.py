"""Shared fixtures: a tiny GPT-2 built from a config, small real text, isolated folders."""

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The tests share their machine's cores with each other (and CI with other jobs), where
# torch's spin-waiting threads train 20-60x slower (bench/NOTES.md, "Threads, per
# process"); ftgui itself no longer sets this outside the window. Set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# huggingface_hub fixes its token file's path on import: one in a temporary folder, so that
# no test sends the user's token or signs in over it (tests/hub_server.py, issue 21)
# huggingface_hub (and transformers through it) fix their endpoint, cache and token file
# when imported: point them at loopback and a temporary folder for the whole session, so
# that no test reaches the real Hub, fills the user's cache, or sends or overwrites the
# user's token. The endpoint's port is where the `hub` fixture starts its server
# (tests/hub_fixtures.py); without it a request is refused at once.
import atexit  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import tempfile  # noqa: E402
_HF_TMP = tempfile.mkdtemp(prefix="ftgui-hf-")
atexit.register(shutil.rmtree, _HF_TMP, ignore_errors=True)
with socket.socket() as _s:
    _s.bind(("127.0.0.1", 0))
    os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{_s.getsockname()[1]}"
os.environ["HF_TOKEN_PATH"] = os.path.join(_HF_TMP, "token")
os.environ["HF_HUB_CACHE"] = os.path.join(_HF_TMP, "hub")

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures"
REPO = TESTS.parent
sys.path.insert(0, str(TESTS))

from tiny_model import make_tiny_model  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    """Runs and the data cache go to temporary folders, never the user's."""
    monkeypatch.setenv("FTGUI_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))
    monkeypatch.setenv("FTGUI_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    # approvals of models' own code (trusted-code.json) start empty in every test
    monkeypatch.setenv("FTGUI_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="session")
def wiki_text() -> Path:
    return FIXTURES / "wiki-small.txt"


@pytest.fixture
def tiny_config(tiny_model_dir, wiki_text, tmp_path):
    """A factory for a small, fast, valid RunConfig on the tiny model."""
    from ftgui.core.config import RunConfig

    def make(**sections):
        raw = {
            "model": {"source": str(tiny_model_dir), "method": "full"},
            "data": {"source": str(wiki_text), "validation": 0.1, "block_size": 32},
            "training": {"output_dir": str(tmp_path / "run"), "max_steps": 12,
                         "batch_size": 4, "learning_rate": 1e-3, "logging_steps": 2,
                         "save_steps": 6, "seed": 7},
        }
        for name, values in sections.items():
            raw.setdefault(name, {}).update(values)
        return RunConfig.from_dict(raw)

    return make


@pytest.fixture
def load_calls(monkeypatch):
    """Each real load of a model's weights, counted (the loader itself runs as it is)."""
    from ftgui.core import models

    calls = []
    real = models.load_model

    def counted(cfg, dtype=None):
        calls.append(cfg.source)
        return real(cfg, dtype)

    monkeypatch.setattr(models, "load_model", counted)
    return calls
