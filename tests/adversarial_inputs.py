"""Hostile or broken inputs of issue 15, shared by tests/core/test_adversarial.py and
bench/adversarial.py: a YAML alias bomb, a model whose chat template is given, a pickle
damaged inside a whole zip, a tiny GPT-2 that ships its own Python code (``auto_map`` +
.py files, writing a marker file when imported) and a run folder "received from
elsewhere" that turns ``trust_remote_code`` on for it."""

import io
import json
import shutil
import zipfile
from pathlib import Path


def alias_bomb(levels: int = 9) -> str:
    """A flow list of ``levels`` anchors, each nine aliases of the one before: ~500 bytes
    that expand to 9**levels values."""
    parts = ["&l0 [" + ",".join(["x"] * 9) + "]"]
    for n in range(1, levels):
        parts.append(f"&l{n} [" + ",".join([f"*l{n - 1}"] * 9) + "]")
    return "[" + ", ".join(parts) + "]"


def model_with_template(model_dir: Path, folder: Path, template: str) -> Path:
    """A copy of ``model_dir`` whose tokenizer has ``template`` as its chat template."""
    shutil.copytree(model_dir, folder)
    conf = folder / "tokenizer_config.json"
    data = json.loads(conf.read_text())
    data["chat_template"] = template
    conf.write_text(json.dumps(data))
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    return folder


def damage_pickle(path: Path) -> None:
    """Damage a torch.save file after it was written: still a whole zip (so the checkpoint
    counts as complete), but the pickle inside is garbage."""
    buf = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(buf, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, b"\x80\x02garbage" if item.filename.endswith("data.pkl")
                         else src.read(item))
    path.write_bytes(buf.getvalue())

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
