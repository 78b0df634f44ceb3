"""A tiny GPT-2 that ships its own Python code (``auto_map`` + .py files), and a run folder
"received from elsewhere" that turns ``trust_remote_code`` on for it. The code writes a
marker file when it is imported, so a test can tell whether it ran."""

import json
import shutil
from pathlib import Path

CONFIGURATION = '''
import os
from transformers import GPT2Config

marker = os.environ.get("FTGUI_TEST_CODE_MARKER")
if marker:
    with open(marker, "a") as fh:
        fh.write("ran\\n")


class TinyRemoteConfig(GPT2Config):
    pass
'''

MODELING = '''
from transformers import GPT2LMHeadModel

from .configuration_tiny_remote import TinyRemoteConfig


class TinyRemoteModel(GPT2LMHeadModel):
    config_class = TinyRemoteConfig
'''


def make_remote_code_model(tiny_model_dir: Path, out: Path) -> Path:
    shutil.copytree(tiny_model_dir, out)
    (out / "configuration_tiny_remote.py").write_text(CONFIGURATION)
    (out / "modeling_tiny_remote.py").write_text(MODELING)
    cfg = json.loads((out / "config.json").read_text())
    cfg["auto_map"] = {"AutoConfig": "configuration_tiny_remote.TinyRemoteConfig",
                       "AutoModelForCausalLM": "modeling_tiny_remote.TinyRemoteModel"}
    (out / "config.json").write_text(json.dumps(cfg))
    return out


def make_received_run(tiny_model_dir: Path, folder: Path) -> Path:
    """A finished run folder as someone might send it: config.yaml turns
    trust_remote_code on, model/ holds the code."""
    from ftgui.core.config import RunConfig
    from ftgui.core.runs import RunDir

    base = make_remote_code_model(tiny_model_dir, folder / "base-model")
    run = folder / "received-run"
    run.mkdir()
    make_remote_code_model(tiny_model_dir, run / "model")
    RunConfig.from_dict({
        "model": {"source": str(base), "method": "full", "trust_remote_code": True},
        "data": {"source": "train.txt", "block_size": 32},
        "training": {"output_dir": str(run)}}).save(run / "config.yaml")
    RunDir(run).write_summary({"status": "finished", "steps": 1})
    return run
