"""Look-ups the window runs on worker threads before any training: what a model is
(without loading its weights) and what a dataset holds. Each returns plain data."""

from __future__ import annotations

from dataclasses import dataclass, field

from ftgui.core import data, models
from ftgui.core.config import DataConfig, ModelConfig
from ftgui.core.errors import FtguiError
from ftgui.core.wording import first_line


@dataclass
class ModelInfo:
    source_kind: str              # hub | folder | gguf
    architecture: str
    model_type: str
    total_params: int
    context: int | None
    hf_config: object
    linear: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # leaf → shapes
    lora_default: list[str] | None = None   # peft's default targets; None → all linear


def model_info(cfg: ModelConfig, progress=None) -> ModelInfo:
    """Architecture, size and context of a model without loading its weights: the config
    is read and the model is built on the meta device (no memory)."""
    src = models.resolve_source(cfg.source)
    if progress:
        progress("Reading the model config" + (" (a GGUF can take a while)"
                                               if src.kind == "gguf" else ""))
    import torch
    from transformers import AutoModelForCausalLM

    try:
        hf = models.model_config(src, cfg.trust_remote_code)
    except Exception as e:  # noqa: BLE001 - about the input; say so at the field
        raise models.load_error(src, "the model config", e) from e
    if progress:
        progress("Counting parameters")
    try:
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(hf, trust_remote_code=cfg.trust_remote_code)
    except ValueError as e:
        raise FtguiError(f"model.source: {src.label} is not a causal language model that "
                         f"transformers can train ({first_line(e)}).",
                         field="model.source") from e
    total = sum(p.numel() for p in model.parameters())
    linear: dict[str, list[tuple[int, int]]] = {}
    for name, mod in model.named_modules():
        kind = type(mod).__name__
        if kind not in ("Linear", "Conv1D") or name.endswith("lm_head"):
            continue
        w = getattr(mod, "weight", None)
        if w is None or w.dim() != 2:
            continue
        # nn.Linear stores (out, in); GPT-2's Conv1D stores (in, out)
        shape = (w.shape[1], w.shape[0]) if kind == "Linear" else (w.shape[0], w.shape[1])
        linear.setdefault(name.rsplit(".", 1)[-1], []).append((int(shape[0]), int(shape[1])))
    lora_default = None
    try:
        from peft.utils.constants import \
            TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as mapping
        if hf.model_type in mapping:
            lora_default = list(mapping[hf.model_type])
    except ImportError:
        pass
    arch = (getattr(hf, "architectures", None) or [type(model).__name__])[0]
    return ModelInfo(src.kind, arch, hf.model_type, total, models.context_length(hf), hf,
                     linear, lora_default)


def lora_shapes(info: ModelInfo, target_modules) -> list[tuple[int, int]]:
    if target_modules == "auto":
        names = info.lora_default or list(info.linear)
    else:
        names = [t.rsplit(".", 1)[-1] for t in target_modules]
    return [s for n in names for s in info.linear.get(n, [])]


@dataclass
class DataPreview:
    columns: list[str]
    text_column: str
    rows: list[dict]
    train_rows: int
    eval_rows: int
    stats: dict | None = None       # tokens and blocks, once tokenized
    note: str = ""                  # why there are no token counts
    format: str = "text"            # the format read (detected under data.format: auto)
    detected: bool = False
    mapping: dict = field(default_factory=dict)    # role → column
    ignored: dict = field(default_factory=dict)    # column → why it is not used
    validation_from: str = ""


PREFERENCE_FORMATS = ("preference", "unpaired preference")


def data_rows(data_cfg: DataConfig, seed: int) -> DataPreview:
    """Rows, columns and the detected text column (no tokenizer needed)."""
    from ftgui.core import formats
    try:
        raw = data.load_raw(data_cfg, seed)
    except formats.PreferenceFile:
        if data_cfg.format != "auto":
            raise
        return _preference_rows(data_cfg, seed)
    return DataPreview(raw.columns, str(raw.text_column), raw.preview_rows, len(raw.train),
                       len(raw.eval or []), format=raw.format,
                       detected=bool(raw.reading and raw.reading.detected),
                       mapping=dict(raw.reading.columns) if raw.reading else {},
                       ignored=dict(raw.reading.ignored) if raw.reading else {},
                       validation_from=raw.validation_from)


def _preference_rows(data_cfg: DataConfig, seed: int) -> DataPreview:
    """A preference file (a run with data.format auto trains it with DPO or KTO): its
    examples as prompt / chosen / rejected (or completion / label) text, side by side."""
    from ftgui.core import preference_data

    reading, train, ev, info = preference_data.read(data_cfg, seed)

    def text(messages):
        return "\n\n".join(m["content"] for m in messages)

    rows = [{"prompt": text(e["prompt"][-1:]),
             **({"chosen": text(e["chosen"]), "rejected": text(e["rejected"])}
                if "chosen" in e else {"completion": text(e["completion"]),
                                       "label": e["label"]})} for e in train[:50]]
    return DataPreview(list(rows[0]) if rows else [], ", ".join(
                           f"{r}={c}" for r, c in reading.columns.items()), rows, len(train),
                       len(ev or []), format=reading.format, detected=True,
                       mapping=dict(reading.columns), ignored=dict(reading.ignored),
                       validation_from=info["validation_from"],
                       note=f"Preference data: trained with training.objective "
                            f"{reading.objective} (or "
                            f"{'orpo, kto' if reading.kind == 'paired' else 'nothing else'}"
                            f"), not as supervised fine-tuning.")


def count_tokens(out: DataPreview, data_cfg: DataConfig, model_cfg: ModelConfig, seed: int,
                 progress=None) -> DataPreview:
    """Tokens and blocks with the model's tokenizer, into ``out`` (a note instead when the
    model cannot be read): the same preparation a run does, which also fills the cache
    the run uses."""
    if out.format in PREFERENCE_FORMATS:
        return out   # counted when the run prepares them (core/preference_data.py)
    try:
        tok = models.load_tokenizer(model_cfg)
    except FtguiError:
        out.note = "Choose a model to count tokens and blocks."
        return out
    if progress:
        progress("Tokenizing")
    out.stats = dict(data.prepare(data_cfg, tok, seed).stats)
    return out
