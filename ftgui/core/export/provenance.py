"""Where an exported model comes from: the base model's name, licence and origin, and how the
run trained it. The GGUF writer turns this into ``general.*`` keys, the model card into its
front matter, so both say the same.

- a GGUF source: its own ``general.*`` keys (name, basename, organization, size_label,
  license, languages) and its ``tokenizer.ggml.pre``, written back on export;
- a Hugging Face folder: its README.md front matter (license, language, datasets) and its
  folder name;
- a Hub id: organisation and name from the id (nothing is downloaded).
"""

from __future__ import annotations

import re
from pathlib import Path

from ftgui.core.errors import FtguiError
from ftgui.core.runs import RunDir

COPIED = ("basename", "organization", "size_label", "license", "license.name",
          "license.link", "languages", "tags")


def _gguf_fields(path: Path) -> dict:
    import gguf

    reader = gguf.GGUFReader(str(path))
    out = {}
    for key, field in reader.fields.items():
        if key.startswith("general.") or key == "tokenizer.ggml.pre":
            try:
                out[key] = field.contents()
            except (ValueError, TypeError):
                continue
    return out


def front_matter(readme: Path) -> dict:
    """The YAML block at the top of a model card, {} when there is none."""
    import yaml

    try:
        text = readme.read_text(encoding="utf-8")
    except OSError:
        return {}
    m = re.match(r"---\s*\n(.*?)\n---\s*(\n|$)", text, re.S)
    if not m:
        return {}
    try:
        data = yaml.safe_load(m.group(1))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _as_list(value) -> list[str]:
    if value in (None, ""):
        return []
    return [str(v) for v in (value if isinstance(value, (list, tuple)) else [value])]


def base_info(rd: RunDir) -> dict:
    """{'name', 'hub_id', 'organization', 'basename', 'size_label', 'license', 'languages',
    'datasets', 'source', 'gguf': {general.* of a GGUF source}} as far as known."""
    from ftgui.core.models import resolve_source

    source = rd.load_config().model.source
    info: dict = {"source": source, "name": None, "hub_id": None, "gguf": {}}
    try:
        src = resolve_source(source)
    except FtguiError:
        src = None   # the base model moved away since training: the config still names it
    if src is not None and src.kind == "gguf":
        fields = _gguf_fields(Path(src.path) / src.gguf_file)
        info["gguf"] = fields
        for key in COPIED:
            if f"general.{key}" in fields:
                info[key.replace(".", "_")] = fields[f"general.{key}"]
        info["name"] = fields.get("general.name") or Path(src.gguf_file).stem
    elif src is not None and src.kind == "hub":
        info["hub_id"] = src.path
        org, _, name = src.path.rpartition("/")
        info.update(name=name, organization=org or None)
    else:
        folder = Path(src.path) if src is not None else Path(source)
        card = front_matter(folder / "README.md")
        info["name"] = folder.name
        info["license"] = card.get("license")
        info["languages"] = _as_list(card.get("language"))
        info["datasets"] = _as_list(card.get("datasets"))
        base = _as_list(card.get("base_model"))
        if base:   # a fine-tune of a Hub model: name the model the card names
            info["hub_id"] = base[0]
    return info


def training_text(rd: RunDir) -> str:
    """'full fine-tuning, 40 steps on wiki.txt (text), learning rate 0.003'."""
    cfg = rd.load_config()
    summary = rd.summary()
    method = summary.get("method") or cfg.model.method
    how = (f"LoRA (r={cfg.lora.r}, alpha={cfg.lora.alpha})" if method == "lora"
           else f"{method} fine-tuning")
    steps = summary.get("steps")
    data = Path(cfg.data.source).name if cfg.data.source else "?"
    return (f"{how}, {steps if steps is not None else '?'} steps on {data} "
            f"({cfg.data.format}), learning rate {cfg.training.learning_rate:g}")


def gguf_metadata(rd: RunDir, total_params: int | None = None) -> dict:
    """The general.* keys (and tokenizer.ggml.pre) for a GGUF export of the run."""
    info = base_info(rd)
    base = info["name"] or Path(info["source"]).name
    meta = {"general.name": f"{base} ftgui fine-tune", "general.finetune": "ftgui",
            "general.description": f"Fine-tuned from {base} with ftgui: {training_text(rd)}."}
    for key in COPIED:
        value = info.get(key.replace(".", "_"))
        if value not in (None, "", []):
            meta[f"general.{key}"] = value
    if "general.size_label" not in meta and total_params:
        import gguf
        meta["general.size_label"] = gguf.size_label(total_params, 0, 0, 0)
    meta["general.base_model.count"] = 1
    meta["general.base_model.0.name"] = base
    if info.get("organization"):
        meta["general.base_model.0.organization"] = info["organization"]
    if info.get("hub_id"):
        meta["general.base_model.0.repo_url"] = f"https://huggingface.co/{info['hub_id']}"
    pre = info["gguf"].get("tokenizer.ggml.pre")
    if pre:
        meta["tokenizer.ggml.pre"] = pre
    return meta
