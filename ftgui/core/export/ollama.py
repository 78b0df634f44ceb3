"""An Ollama model folder: the GGUF plus a ``Modelfile`` (https://docs.ollama.com/modelfile)
that ``ollama create NAME -f Modelfile`` turns into a model.

The chat template is converted from the tokenizer's (the one the run trained with) into
Ollama's Go-template syntax for the families whose format is recognised: ChatML (SmolLM2,
Qwen), Llama 3, and ftgui's own simple template; any other template falls back to the
simple one, and the Modelfile says so in a comment. System messages reach the template as
``.System`` (Ollama collects them), so the loop renders user and assistant turns only.
SYSTEM is the system prompt the run's chat data used (when all its examples share one),
else the one the tokenizer's template adds by itself (SmolLM2 has one), else none.
"""

from __future__ import annotations

import re
from pathlib import Path

from ftgui.core.errors import FtguiError
from ftgui.core.runs import RunDir

CHATML = (
    "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
    "{{- range .Messages }}"
    "{{- if eq .Role \"user\" }}<|im_start|>user\n{{ .Content }}<|im_end|>\n"
    "{{ else if eq .Role \"assistant\" }}<|im_start|>assistant\n{{ .Content }}<|im_end|>\n"
    "{{ end }}{{ end }}<|im_start|>assistant\n")
LLAMA3 = (
    "{{- if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>"
    "{{ end }}"
    "{{- range .Messages }}"
    "{{- if eq .Role \"user\" }}<|start_header_id|>user<|end_header_id|>\n\n"
    "{{ .Content }}<|eot_id|>"
    "{{ else if eq .Role \"assistant\" }}<|start_header_id|>assistant<|end_header_id|>\n\n"
    "{{ .Content }}<|eot_id|>"
    "{{ end }}{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n")


def _simple(eos: str) -> str:
    """ftgui's simple template (sft.SIMPLE_TEMPLATE) in Go-template form, as transformers
    renders it (its Jinja environment drops the first newline after a block tag)."""
    return ("{{- if .System }}### System:\n{{ .System }}\n{{ end }}"
            "{{- range .Messages }}"
            "{{- if eq .Role \"user\" }}### User:\n{{ .Content }}\n"
            "{{ else if eq .Role \"assistant\" }}### Assistant:\n{{ .Content }}" + eos + "\n"
            "{{ end }}{{ end }}### Assistant:\n")


def template_family(tokenizer) -> str:
    """chatml | llama3 | simple | other | none: the chat format of the tokenizer."""
    from ftgui.core.sft import SIMPLE_TEMPLATE

    t = tokenizer.chat_template
    if not t:
        return "none"
    if not isinstance(t, str):
        return "other"
    if t == SIMPLE_TEMPLATE:
        return "simple"
    if "<|im_start|>" in t and "<|im_end|>" in t:
        return "chatml"
    if "<|start_header_id|>" in t and "<|eot_id|>" in t:
        return "llama3"
    return "other"


def template_default_system(tokenizer) -> str | None:
    """The system prompt the chat template adds when the conversation has none."""
    family = template_family(tokenizer)
    if family not in ("chatml", "llama3"):
        return None
    probe = "ftgui-probe"
    text = tokenizer.apply_chat_template([{"role": "user", "content": probe}], tokenize=False)
    pattern = {"chatml": r"<\|im_start\|>system\n(.*?)<\|im_end\|>",
               "llama3": r"<\|start_header_id\|>system<\|end_header_id\|>\n\n(.*?)<\|eot_id\|>"}
    m = re.search(pattern[family], text.split(probe)[0], re.S)
    return m.group(1) if m else None


def trained_system_prompt(rd: RunDir) -> str | None:
    """The system message of the run's chat data, when every example that has one shares it."""
    from ftgui.core import data as data_mod

    cfg = rd.load_config()
    if cfg.data.format == "text":
        return None
    try:
        raw = data_mod.load_raw(cfg.data, cfg.training.seed)
    except FtguiError:
        return None   # the data moved away since training
    found = {m[0]["content"] for m in list(raw.train) + list(raw.eval or [])
             if isinstance(m, list) and m and m[0].get("role") == "system"}
    return found.pop() if len(found) == 1 else None


def _quote(text: str) -> str:
    if '"""' in text:
        raise FtguiError('The chat template or system prompt contains """, which a Modelfile '
                         'cannot quote.')
    return f'"""{text}"""'


def modelfile(rd: RunDir, gguf_name: str, tokenizer) -> str:
    from ftgui.core.models import context_length

    family = template_family(tokenizer)
    eos = tokenizer.eos_token or ""
    lines = [f"# Ollama Modelfile for {rd.path.name}, written by ftgui.",
             f"# Create the model: ollama create NAME -f Modelfile", f"FROM ./{gguf_name}"]
    if family in ("other", "none"):
        lines.append("# The tokenizer's chat template was not recognised (ChatML, Llama 3 or "
                     "ftgui's simple format); the simple format is used." if family == "other"
                     else "# The model has no chat template; ftgui's simple format is used.")
    template = {"chatml": CHATML, "llama3": LLAMA3}.get(family) or _simple(eos)
    lines.append(f"TEMPLATE {_quote(template)}")
    system = trained_system_prompt(rd) or template_default_system(tokenizer)
    if system:
        lines.append(f"SYSTEM {_quote(system)}")
    stops = {"chatml": ["<|im_end|>", "<|im_start|>"],
             "llama3": ["<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"]}.get(
        family, ["### User:"])
    if eos and eos not in stops:
        stops.append(eos)
    for s in stops:
        lines.append(f'PARAMETER stop "{s}"')
    from transformers import AutoConfig
    ctx = context_length(AutoConfig.from_pretrained(rd.model_dir)) or 2048
    lines += ["PARAMETER temperature 0.7", "PARAMETER top_p 0.9",
              f"PARAMETER num_ctx {min(ctx, 4096)}"]
    return "\n".join(lines) + "\n"


def model_name(rd: RunDir) -> str:
    """A name ``ollama create`` accepts: lower case letters, digits, - _ ."""
    name = re.sub(r"[^a-z0-9._-]+", "-", rd.path.name.lower()).strip("-._")
    return name or "ftgui-model"


def write_folder(rd: RunDir, folder: Path, gguf_writer) -> Path:
    """``gguf_writer(path)`` writes the GGUF; then the Modelfile beside it."""
    from transformers import AutoTokenizer

    gguf_name = f"{model_name(rd)}.gguf"
    gguf_writer(folder / gguf_name)
    tok = AutoTokenizer.from_pretrained(rd.model_dir)
    (folder / "Modelfile").write_text(modelfile(rd, gguf_name, tok), encoding="utf-8")
    return folder / gguf_name
