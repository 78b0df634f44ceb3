"""The exported script, run in a subprocess without ftgui, trains to the ftgui run's loss,
for plain-text runs and for instruction, chat and prompt/completion (SFT) runs.

On the CPU both are bit-for-bit the same computation (same data order, same initial weights,
same dropout stream): measured differences are 0.0; asserted within 1e-5.
"""

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ftgui.core.export import export
from tiny_model import FIXTURES

TOL = 1e-5


def _run_script(script: Path, out: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FTGUI_")}
    env["PYTHONPATH"] = ""  # the script must not need ftgui
    env["TOKENIZERS_PARALLELISM"] = "false"
    # run from an empty folder so that no `ftgui` package is importable from the cwd
    proc = subprocess.run([sys.executable, "-I", str(script), "--output-dir", str(out)],
                          cwd=out.parent, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "final training loss" in proc.stdout
    return json.loads((out / "summary.json").read_text())


def _imports(script: Path) -> set[str]:
    tree = ast.parse(script.read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names}
    return imported | {n.module.split(".")[0] for n in ast.walk(tree)
                       if isinstance(n, ast.ImportFrom) and n.module}


def test_script_is_standalone(tiny_config, tmp_path):
    from ftgui.core.runner import run_config

    cfg = tiny_config(training={"max_steps": 2})
    run_config(cfg)
    script = export(cfg.training.output_dir, "script", tmp_path / "train.py")
    assert "ftgui" not in _imports(script)
    assert str(cfg.data.source) in script.read_text()   # the config is inlined


@pytest.mark.parametrize("method", ["lora", "full"])
def test_exported_script_reproduces_the_run(tiny_config, tmp_path, method, wiki_text):
    from ftgui.core.runner import run_config

    if method == "lora":
        # text file, validation held out by a seeded permutation, LoRA with dropout
        cfg = tiny_config(model={"method": "lora"},
                          training={"learning_rate": 5e-3, "max_steps": 10, "seed": 11})
    else:
        # JSONL with a validation file, full fine-tune with warm-up and cosine schedule
        lines = [ln for ln in wiki_text.read_text(encoding="utf-8").splitlines() if ln.strip()]
        train, valid = tmp_path / "train.jsonl", tmp_path / "valid.jsonl"
        train.write_text("".join(json.dumps({"id": i, "body": t}) + "\n"
                                 for i, t in enumerate(lines[:120])))
        valid.write_text("".join(json.dumps({"id": i, "body": t}) + "\n"
                                 for i, t in enumerate(lines[120:])))
        cfg = tiny_config(data={"source": str(train), "validation": str(valid),
                                "max_rows": 100},
                          training={"max_steps": 10, "scheduler": "cosine",
                                    "warmup_ratio": 0.2, "weight_decay": 0.01, "seed": 3})
    summary = run_config(cfg)
    assert summary["status"] == "finished"

    script = export(cfg.training.output_dir, "script", tmp_path / "scripts" / "train_run.py")
    repro = _run_script(script, tmp_path / "scripts" / "out")

    assert repro["steps"] == summary["steps"] == 10
    assert abs(repro["final_train_loss"] - summary["final_train_loss"]) <= TOL
    assert abs(repro["eval_loss_before"] - summary["eval_loss_before"]) <= TOL
    assert abs(repro["eval_loss_after"] - summary["eval_loss_after"]) <= TOL
    assert (tmp_path / "scripts" / "out" / "model" / "model.safetensors").exists()


CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def _model_with_chat_template(tiny_model_dir: Path, folder: Path) -> Path:
    """The tiny model whose tokenizer has a chat template of its own (ChatML-like, without
    EOS: the script must add EOS to each response as ftgui does)."""
    from transformers import AutoTokenizer

    shutil.copytree(tiny_model_dir, folder)
    tok = AutoTokenizer.from_pretrained(folder)
    tok.chat_template = CHATML
    tok.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("fmt", ["instruction", "chat", "prompt_completion"])
def test_exported_script_reproduces_an_sft_run(tiny_config, tiny_model_dir, tmp_path, fmt):
    from transformers import AutoTokenizer

    from ftgui.core import sft
    from ftgui.core.runner import run_config

    if fmt == "instruction":
        # Alpaca rows (input appended when not empty) on the simple template (the tokenizer
        # has none); ragged examples through the padding collator, some truncated; the loss
        # on the prompt too; LoRA with dropout
        cfg = tiny_config(model={"method": "lora"},
                          data={"source": str(FIXTURES / "instructions.jsonl"),
                                "format": "instruction", "block_size": 48,
                                "validation": 0.2, "train_on_prompt": True},
                          training={"learning_rate": 5e-3, "max_steps": 6, "seed": 5,
                                    "logging_steps": 1})
    elif fmt == "prompt_completion":
        # CSV rows of prompt and completion; template simple named; a full fine-tune
        cfg = tiny_config(data={"source": str(FIXTURES / "prompt_completion.csv"),
                                "format": "prompt_completion", "template": "simple",
                                "block_size": 64, "validation": 0.25},
                          training={"max_steps": 6, "seed": 13, "logging_steps": 1})
    else:
        # chat messages (system turns, two-turn conversations) on the tokenizer's own chat
        # template, labels on the responses only, several examples packed into one
        # sequence; a full fine-tune with warm-up
        model = _model_with_chat_template(tiny_model_dir, tmp_path / "chat-model")
        cfg = tiny_config(model={"source": str(model)},
                          data={"source": str(FIXTURES / "chat.jsonl"), "format": "chat",
                                "template": "chat_template", "block_size": 128,
                                "validation": 0.2, "packing": True},
                          training={"max_steps": 6, "batch_size": 2, "warmup_ratio": 0.3,
                                    "seed": 9, "logging_steps": 1})
    summary = run_config(cfg)
    assert summary["status"] == "finished"
    if fmt == "instruction":
        assert summary["train_truncated"] > 0    # the truncation path is exercised
    else:
        assert summary["train_trained_tokens"] < summary["train_tokens"]  # prompts masked
    if fmt == "chat":
        assert summary["train_blocks"] < summary["train_rows"]    # examples were packed

    script = export(cfg.training.output_dir, "script", tmp_path / "scripts" / "train_run.py")
    assert "ftgui" not in _imports(script)
    text = script.read_text()
    # the columns the run recorded are inlined, so the script does not guess them again
    expected = {"instruction": ["'prompt_column': 'instruction'", "'input_column': 'input'",
                                "'response_column': 'output'"],
                "prompt_completion": ["'prompt_column': 'prompt'",
                                      "'response_column': 'completion'"],
                "chat": ["'messages_column': 'messages'"]}[fmt]
    assert all(line in text for line in expected)
    repro = _run_script(script, tmp_path / "scripts" / "out")

    assert repro["steps"] == summary["steps"] == 6
    for key in ("final_train_loss", "eval_loss_before", "eval_loss_after"):
        assert abs(repro[key] - summary[key]) <= TOL, (key, repro[key], summary[key])
    # the saved tokenizer renders prompts the way training did (the simple template set)
    saved = AutoTokenizer.from_pretrained(tmp_path / "scripts" / "out" / "model")
    assert saved.chat_template == (CHATML if fmt == "chat" else sft.SIMPLE_TEMPLATE)


def test_sft_columns_come_from_the_run_not_a_new_guess(tiny_config):
    from ftgui.core.export.script import script_config

    cfg = tiny_config(data={"source": str(FIXTURES / "instructions.jsonl"),
                            "format": "instruction", "response_column": "output"})
    summary = {"format": "instruction",
               "text_column": "prompt=the, question, response=answer"}  # a comma in a name
    data = script_config(cfg, summary)["data"]
    # recorded where the config left it to a guess; what the config names wins
    assert (data["prompt_column"], data["input_column"], data["response_column"]) == \
        ("the, question", None, "output")
    assert "text_column" not in data and "add_eos" not in data   # text-only keys left out


def test_an_sft_run_whose_data_is_gone_is_refused(tiny_config, tmp_path):
    from ftgui.core.export.script import ScriptExportError, script_config

    cfg = tiny_config(data={"source": str(tmp_path / "gone.jsonl"), "format": "chat"})
    with pytest.raises(ScriptExportError, match="gone.jsonl no longer exists"):
        script_config(cfg, {})


def test_script_embeds_ftgui_reading_and_the_detected_columns(tiny_config):
    """An auto-detected run: the script gets the detected format and columns, and
    formats.py / sft's encoding verbatim (one implementation, not a copy that drifts)."""
    import inspect

    from ftgui.core import compat, data_steps, files, formats, sft
    from ftgui.core.export.script import render

    cfg = tiny_config(data={"source": str(FIXTURES / "formats" / "split_folder"),
                            "validation": "auto"})
    summary = {"format": "chat", "columns": {"messages": "conversations",
                                             "system": "system"}}
    text = render(cfg, summary, "run")
    ast.parse(text)
    config = ast.literal_eval(text.split("CONFIG = ", 1)[1].split("\n\n", 1)[0])
    assert config["data"]["format"] == "chat"
    assert config["data"]["messages_column"] == "conversations"
    assert config["data"]["system_column"] == "system"
    assert config["data"]["validation"] == "validation"
    for fn in (formats.detect, formats.row_to_chat, formats._messages, sft.encode_fitting,
               files.read_rows, files.decode_text, data_steps.load_raw, data_steps.pack,
               data_steps.tokenize, compat.forget_gguf_quantization):
        assert inspect.getsource(fn) in text
    # the GGUF reset is compat's, not a copy of it
    assert text.count("def forget_gguf_quantization") == 1 and "is_quantized =" not in text
    assert "ftgui" not in [n.split(".")[0] for n in _modules_imported(text)]


def _modules_imported(text: str) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append(node.module or "")
    return out


def test_embedded_pieces_do_not_redefine_each_other():
    """The embedded files share one namespace in the script: a top-level name defined by
    two of them would silently replace the first (an import of the same name is fine)."""
    from ftgui.core.export.script import defined_names, embedded_code

    seen: dict[str, str] = {}
    for node in ast.parse(embedded_code()).body:
        for name in defined_names(node):
            code = ast.dump(node)
            assert seen.get(name, code) == code, f"{name} is defined twice in the script"
            seen[name] = code


def test_exported_script_reads_a_gzipped_jsonl_run(tiny_config, tmp_path, wiki_text):
    """A run on a .jsonl.gz file (as hh-rlhf and others ship): the script reads it with
    ftgui's own reader and reaches the same losses."""
    import gzip

    from ftgui.core.runner import run_config

    lines = [ln for ln in wiki_text.read_text(encoding="utf-8").splitlines() if ln.strip()]
    src = tmp_path / "train.jsonl.gz"
    src.write_bytes(gzip.compress("".join(json.dumps({"text": t}) + "\n"
                                          for t in lines[:150]).encode()))
    cfg = tiny_config(data={"source": str(src), "validation": 0.1},
                      training={"max_steps": 6, "seed": 4})
    summary = run_config(cfg)
    assert summary["status"] == "finished"
    script = export(cfg.training.output_dir, "script", tmp_path / "scripts" / "train_run.py")
    repro = _run_script(script, tmp_path / "scripts" / "out")
    assert repro["steps"] == summary["steps"] == 6
    for key in ("final_train_loss", "eval_loss_before", "eval_loss_after"):
        assert abs(repro[key] - summary[key]) <= TOL, (key, repro[key], summary[key])


def test_exported_script_reproduces_a_gguf_run(tiny_config, tmp_path):
    """A GGUF source: the script loads the file with transformers, clears the quantized
    marks with compat's reset and gives the tokenizer the GGUF's split, as the run did."""
    from ftgui.core.export.to_gguf import write_gguf
    from ftgui.core.runner import run_config
    from tiny_model import make_tiny_model

    # n_positions 1024: transformers reads a GPT-2 GGUF with that many positions
    model_dir = make_tiny_model(tmp_path / "tiny-gpt2", n_positions=1024)
    (tmp_path / "gguf").mkdir()
    gguf = write_gguf(model_dir, tmp_path / "gguf" / "tiny.gguf", outtype="f32")
    cfg = tiny_config(model={"source": str(gguf)}, training={"max_steps": 6, "seed": 8})
    summary = run_config(cfg)
    assert summary["status"] == "finished"
    script = export(cfg.training.output_dir, "script", tmp_path / "scripts" / "train_run.py")
    assert "gguf_file" in script.read_text()
    repro = _run_script(script, tmp_path / "scripts" / "out")
    assert repro["steps"] == summary["steps"] == 6
    for key in ("final_train_loss", "eval_loss_before", "eval_loss_after"):
        assert abs(repro[key] - summary[key]) <= TOL, (key, repro[key], summary[key])
