"""--format ollama: the GGUF plus a Modelfile, parsed back per Ollama's documented syntax
(https://docs.ollama.com/modelfile); its TEMPLATE, rendered as Ollama executes it
(go_template.py), gives the prompt the tokenizer's chat template gives."""

import re
from pathlib import Path

import pytest

from ftgui.core.export import export

from go_template import render
from test_export import make_run
from test_export_gguf import make_tiny_llama

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# SmolLM2-135M-Instruct's chat template (ChatML, with a default system prompt)
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}")
CONVERSATION = [{"role": "user", "content": "What is the capital of France?"},
                {"role": "assistant", "content": "Paris."},
                {"role": "user", "content": "And of Spain?\nAnswer in one word."}]
INSTRUCTIONS = {"from", "parameter", "template", "system", "adapter", "license", "message",
                "requires"}


def parse_modelfile(text: str) -> list[tuple[str, str]]:
    """(instruction, argument) pairs; arguments in triple quotes may span lines."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        word, _, arg = line.partition(" ")
        assert word.lower() in INSTRUCTIONS, f"unknown instruction {word!r}"
        arg = arg.strip()
        if arg.startswith('"""'):
            body = arg[3:]
            while '"""' not in body:
                assert i < len(lines), "unterminated triple-quoted argument"
                body += "\n" + lines[i]
                i += 1
            body, _, rest = body.partition('"""')
            assert not rest.strip(), f"text after the closing quotes: {rest!r}"
            arg = body
        elif arg.startswith('"'):
            assert arg.endswith('"') and len(arg) >= 2, line
            arg = arg[1:-1]
        out.append((word.lower(), arg))
    return out


def _tiny_chatml_llama(out: Path) -> Path:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(FIXTURES / "gguf-tokenizers" / "smollm")
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.chat_template = SMOLLM2_TEMPLATE
    return make_tiny_llama(out, tokenizer=tok, max_positions=512)


def _modelfile(folder: Path) -> dict:
    pairs = parse_modelfile((folder / "Modelfile").read_text(encoding="utf-8"))
    found = {}
    for word, arg in pairs:
        if word == "parameter":
            key, _, value = arg.partition(" ")
            found.setdefault("parameters", []).append((key, value.strip().strip('"')))
        else:
            assert word not in found, f"{word} twice"
            found[word] = arg
    return found


def _hf_prompt(model_dir: Path, messages) -> str:
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(model_dir)
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def test_chatml_model(tmp_path, capsys):
    from ftgui.cli import main

    model = _tiny_chatml_llama(tmp_path / "chatml")
    run = make_run(tmp_path / "run", model, tmp_path / "cache", training={"max_steps": 2})
    out = tmp_path / "ollama"
    assert main(["export", str(run), "--format", "ollama", "--out", str(out), "--outtype",
                 "q8_0", "--no-check"]) == 0
    printed = capsys.readouterr().out
    m = re.search(r"ollama create (\S+) -f (\S+)", printed)
    assert m and Path(m[2]) == out / "Modelfile" and m[1] == "run"
    mf = _modelfile(out)
    gguf_file = out / mf["from"]
    assert mf["from"] == "./run.gguf" and gguf_file.is_file()
    assert mf["system"] == "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    params = mf["parameters"]
    assert ("stop", "<|im_end|>") in params and ("num_ctx", "512") in params
    # the 3-turn conversation as Ollama renders it (SYSTEM fills in for a missing system
    # message) and as the tokenizer's own template renders it
    assert render(mf["template"], mf["system"], CONVERSATION) == \
        _hf_prompt(run / "model", CONVERSATION)
    with_system = [{"role": "system", "content": "Be brief."}] + CONVERSATION
    assert render(mf["template"], mf["system"], with_system) == \
        _hf_prompt(run / "model", with_system)


def test_simple_template_and_the_trained_system_prompt(tiny_model_dir, tmp_path):
    import json

    # the chat fixture with one system prompt for every conversation
    rows = [json.loads(line) for line in (FIXTURES / "chat.jsonl").read_text().splitlines()]
    data = tmp_path / "chat.jsonl"
    data.write_text("".join(json.dumps({"messages": [
        {"role": "system", "content": "You are a terse assistant."}]
        + [m for m in r["messages"] if m["role"] != "system"]}) + "\n" for r in rows))
    run = make_run(tmp_path / "run", tiny_model_dir, tmp_path / "cache",
                   data={"source": str(data), "format": "chat",
                         "validation": None, "block_size": 64},
                   training={"max_steps": 2})
    out = export(run, "ollama", tmp_path / "ollama", gguf_type="f16")
    mf = _modelfile(out)
    assert mf["system"] == "You are a terse assistant."   # the one the chat data used
    assert ("stop", "### User:") in mf["parameters"]
    conversation = [{"role": "system", "content": mf["system"]}] + CONVERSATION
    assert render(mf["template"], mf["system"], CONVERSATION) == \
        _hf_prompt(run / "model", conversation)


def test_parser_rejects_what_ollama_rejects():
    with pytest.raises(AssertionError):
        parse_modelfile('FROM ./m.gguf\nTEMPLATE """never closed\n')
    with pytest.raises(AssertionError):
        parse_modelfile("FORM ./m.gguf\n")
