"""`ftgui data`, the same lines from `ftgui train`, and every data error before any model
weights are read."""

import json
import shutil

import pytest

from ftgui.cli import main
from ftgui.core.runs import RunDir
from tiny_model import FIXTURES

F = FIXTURES / "formats"


def test_data_json_has_the_documented_keys(tiny_model_dir, capsys):
    assert main(["data", str(F / "fastchat_system.json"), "--model", str(tiny_model_dir),
                 "--json", "--example", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["format"] == "chat" and out["detected"] is True
    assert out["columns"] == {"messages": "conversations", "system": "system"}
    assert out["ignored_columns"] == {"id": "an id or metadata column"}
    assert out["splits"] == {"train": 1, "validation": 1}
    assert out["validation_from"] == "5% of the training rows held out"
    assert out["examples"] == {"kept": 1, "truncated": 0, "dropped": 0}
    ex = out["example"]
    assert ex["trained"] and all(t in ex["text"] for t in ex["trained"])
    assert "".join(ex["trained"]).startswith(("I am Tiny", "Yes."))
    assert "You are" in ex["text"]  # the system column became the system message


def test_data_plain_output_marks_the_trained_part(tiny_model_dir, capsys):
    assert main(["data", str(F / "dolly.jsonl"), "--model", str(tiny_model_dir),
                 "--set", "validation=", "--set", "data.block_size=72"]) == 0
    out = capsys.readouterr().out
    assert "Data format: instruction (detected); columns: prompt = instruction, input = " \
           "context, response = response." in out
    assert "Ignored columns: category (an id or metadata column)." in out
    assert "Examples at block_size 72: 2 kept, 1 cut from the prompt side, 0 dropped" in out
    assert "[train]It started on 31 August 2000.<|endoftext|>\n[/train]" in out


def test_data_reads_a_run_config(tiny_config, capsys):
    cfg = tiny_config(data={"source": str(F / "cohere_roles.jsonl"), "validation": None})
    path = cfg.training.output_dir + ".yaml"
    cfg.save(path)
    assert main(["data", path, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tokenizer"] == cfg.model.source
    assert out["format"] == "chat" and out["splits"] == {"train": 2}
    assert out["example"]["trained"] == ["It was 120 million.<|endoftext|>\n"]


def test_train_prints_the_data_lines_and_keeps_them(tiny_config, capsys):
    cfg = tiny_config(data={"source": str(F / "split_folder"), "validation": "auto",
                            "block_size": 64},
                      training={"max_steps": 2, "batch_size": 2, "logging_steps": 1})
    cfg.save(cfg.training.output_dir + ".yaml")
    assert main(["train", cfg.training.output_dir + ".yaml"]) == 0
    out = capsys.readouterr()
    summary = RunDir(cfg.training.output_dir).summary()
    lines = summary["data_summary"]
    assert lines[0] == "Data format: chat (detected); columns: messages = conversations."
    assert "validation: the folder's validation split (validation.jsonl)" in lines[2]
    for line in lines:
        assert line in out.out + out.err
    assert summary["format"] == "chat" and summary["eval_rows"] == 1


@pytest.fixture
def untouchable_model(tiny_model_dir, tmp_path):
    """The tiny model's config and tokenizer with weights that raise when read."""
    out = tmp_path / "untouchable"
    out.mkdir()
    for f in tiny_model_dir.iterdir():
        if f.suffix != ".safetensors":
            shutil.copy(f, out / f.name)
    (out / "model.safetensors").write_bytes(b"not weights: reading this is an error")
    return out


@pytest.mark.parametrize("data, message", [
    ({"source": str(F / "llamafactory_kto.json"), "format": "chat"},
     "unpaired preference (KTO)"),
    ({"source": str(F / "alpaca.json"), "objective": "dpo"}, "training.objective"),
    ({"source": str(F / "alpaca.json"), "format": "chat"}, "data.messages_column: could not"),
    ({"source": str(F / "alpaca.json"), "response_column": "answer"},
     "data.response_column: there is no column 'answer'"),
    ({"source": str(F / "cohere_roles.jsonl"), "format": "text"}, "data.text_column"),
    ({"source": str(F / "mllm.json")}, "images, audio or video"),
    ({"source": str(F / "bad_roles.jsonl")}, "row 2: roles do not alternate: message 2"),
    ({"source": str(F / "rl_prompts.jsonl")}, "prompts only"),
    ({"source": str(F / "glaive_toolcall.json")}, "cannot render them"),
    ({"source": str(F / "split_folder"), "split": "test"}, "has no 'test' files"),
    ({"source": str(F / "c4.jsonl"), "block_size": 512}, "above the model's context length"),
])
def test_data_errors_come_before_the_weights(tiny_config, untouchable_model, data, message,
                                             capsys):
    data = dict(data)
    training = {"objective": data.pop("objective")} if "objective" in data else {}
    cfg = tiny_config(model={"source": str(untouchable_model)}, data=data, training=training)
    path = cfg.training.output_dir + ".yaml"
    cfg.save(path)
    assert main(["train", path]) == 2
    err = capsys.readouterr().err
    assert message in err and "could not load the model" not in err
    assert not RunDir(cfg.training.output_dir).path.exists()


def test_the_untouchable_weights_do_raise(tiny_config, untouchable_model, capsys):
    """The check above means something: with good data, the weights are read and fail."""
    cfg = tiny_config(model={"source": str(untouchable_model)},
                      data={"source": str(F / "c4.jsonl"), "validation": None,
                            "block_size": 16})
    path = cfg.training.output_dir + ".yaml"
    cfg.save(path)
    assert main(["train", path]) == 2
    assert "could not load the model" in capsys.readouterr().err


def test_context_length_comes_from_the_gguf_header(tmp_path):
    """block_size is checked against a GGUF's own context length without loading it."""
    from ftgui.core import models
    from ftgui.core.config import ModelConfig
    from ftgui.core.errors import ConfigError
    from ftgui.selftest import _tiny_gguf

    gguf = _tiny_gguf(tmp_path)
    cfg = ModelConfig(source=str(gguf))
    assert models.context_length_of(cfg) == 1024
    models.check_block_size(cfg, 1024)
    with pytest.raises(ConfigError, match="2048 is above the model's context length of 1024"):
        models.check_block_size(cfg, 2048)
