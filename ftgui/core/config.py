"""RunConfig: the single source of truth for a run, read from and written to YAML.

Each section is a dataclass whose fields carry ``help`` (shown as CLI docs and GUI
tooltips) and optional ``choices`` / ``min`` / ``above`` metadata used by validation.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from ftgui.core.errors import ConfigError
from ftgui.core.files import has_file_suffix, looks_like_path  # noqa: F401 (re-exported)


def _f(default: Any, help: str, **meta: Any) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **meta})
    return field(default=default, metadata={"help": help, **meta})


@dataclass
class ModelConfig:
    source: str = _f("", "Hugging Face Hub id (org/name), a local folder in save_pretrained "
                     "layout, or a path to a .gguf file. 'pkg:MODULE/FILE' names a file "
                     "shipped inside an installed Python package.", path=True)
    method: str = _f("lora", "full: train every weight. lora: train small adapter "
                     "matrices (far less memory).", choices=("full", "lora"))
    trust_remote_code: bool = _f(False, "Run Python code shipped with a Hub model. Only "
                                 "turn on for repositories you trust.")
    allow_pickle: bool = _f(False, "Load weights stored as pickle (.bin / .pt), which can "
                            "run code when loaded. Off: only safetensors and GGUF are read.")


@dataclass
class DataConfig:
    source: str = _f("", "Hub dataset id, or a local .txt / .jsonl / .json / .csv / "
                     ".parquet file, or a folder of such files.", path=True)
    format: str = _f("auto", "auto: detected from the columns and their values (shown "
                     "before training; `ftgui data` prints it). text: plain text, packed into "
                     "blocks. instruction: instruction / input / output columns (Alpaca, "
                     "Dolly). chat: a column of messages (OpenAI role/content, ShareGPT "
                     "from/value, tool calls). prompt_completion: a prompt and a completion "
                     "column.",
                     choices=("auto", "text", "instruction", "chat", "prompt_completion"))
    config: str | None = _f(None, "Hub dataset config name (e.g. wikitext-2-raw-v1).")
    split: str = _f("train", "Split to train on.")
    text_column: str | None = _f(None, "Column holding the text; detected automatically "
                                 "when the data has exactly one text column.")
    validation: str | float | None = _f("auto", "Validation data: a split name, a file, "
                                        "or a fraction of the training rows held out (e.g. "
                                        "0.05). auto: the folder's validation (or test) "
                                        "split when it has one, else 0.05. Empty for none.")
    block_size: int = _f(128, "Tokens per training sequence; texts are packed into blocks "
                         "of this length.", min=8)
    add_eos: bool = _f(True, "Append the end-of-text token to each example before packing, "
                       "so the model sees where texts end.")
    max_rows: int | None = _f(None, "Use only the first N rows of the training data "
                              "(handy for a quick try).", min=1)
    template: str = _f("auto", "How instruction and chat examples become text. auto: the "
                       "tokenizer's chat template when it has one, else simple "
                       "('### User:' / '### Assistant:' headers).",
                       choices=("auto", "chat_template", "simple"))
    train_on_prompt: bool = _f(False, "Also compute the loss on prompt tokens. Off: only the "
                               "responses are learned.")
    packing: bool = _f(False, "Pack several short instruction/chat examples into one block "
                       "(faster; plain text is always packed).")
    truncate: bool = _f(True, "Cut instruction/chat examples longer than block_size (the "
                        "number cut is reported). Off: such an example is an error.")
    prompt_column: str | None = _f(None, "Column with the instruction or prompt; guessed "
                                   "from names like instruction, prompt, question.")
    input_column: str | None = _f(None, "Optional column with extra input appended to the "
                                  "instruction; guessed from input, context.")
    response_column: str | None = _f(None, "Column with the response; guessed from names "
                                     "like output, response, completion, answer.")
    messages_column: str | None = _f(None, "Column with the chat messages; guessed from "
                                     "messages, conversations.")
    system_column: str | None = _f(None, "Column with a per-row system prompt; guessed "
                                   "from system, system_prompt.")


@dataclass
class TrainingConfig:
    objective: str = _f("sft", "What the run learns. sft: supervised fine-tuning on the "
                        "answers. dpo: prefer the chosen over the rejected answer of each "
                        "pair (Direct Preference Optimization). kto: good and bad answers, "
                        "unpaired, marked by a label (Kahneman-Tversky Optimization). orpo: "
                        "pairs, without a reference model (Odds Ratio Preference "
                        "Optimization). With data.format auto, a preference file suggests "
                        "dpo and a labelled one kto.",
                        choices=("sft", "dpo", "kto", "orpo"))
    output_dir: str = _f("", "Run directory. Empty: a new folder in the runs folder, "
                         "named after the model and the time.", path=True)
    epochs: float = _f(1.0, "Passes over the training data (ignored when max_steps is set).",
                       above=0)
    max_steps: int | None = _f(None, "Stop after this many optimizer steps (overrides "
                               "epochs).", min=1)
    batch_size: int = _f(8, "Sequences per device per step.", min=1)
    gradient_accumulation: int = _f(1, "Steps whose gradients are summed before an "
                                    "optimizer update (effective batch = batch_size x this).",
                                    min=1)
    learning_rate: float = _f(2e-4, "Peak learning rate.", above=0)
    scheduler: str = _f("linear", "Learning-rate schedule after warm-up.",
                        choices=("linear", "cosine", "constant", "constant_with_warmup",
                                 "cosine_with_restarts", "polynomial",
                                 "inverse_sqrt"))
    warmup_ratio: float = _f(0.0, "Fraction of the steps spent warming the learning "
                             "rate up from 0.", min=0, max=0.99)
    weight_decay: float = _f(0.0, "AdamW weight decay.", min=0)
    precision: str = _f("auto", "Number format for training. auto: bf16 on GPUs that "
                        "support it, fp16 on other GPUs, fp32 on MPS and CPU.",
                        choices=("auto", "fp32", "bf16", "fp16"))
    gradient_checkpointing: bool = _f(False, "Recompute activations in the backward pass: "
                                      "less memory, about 30% slower.")
    auto_find_batch_size: bool = _f(False, "Start with batch_size and halve it whenever "
                                    "the GPU runs out of memory, to find the largest batch "
                                    "that fits (the Trainer's auto_find_batch_size). Only "
                                    "effective on CUDA; on the CPU an out-of-memory ends the "
                                    "run with advice instead.")
    logging_steps: int = _f(10, "Log loss and learning rate every N steps.", min=1)
    eval_steps: int | None = _f(None, "Evaluate on the validation data every N steps "
                                "(always at the start and the end).", min=1)
    save_steps: int = _f(500, "Write a checkpoint every N steps.", min=1)
    save_total_limit: int | None = _f(2, "Keep at most this many checkpoints (oldest "
                                      "deleted first). Empty keeps all.", min=1)
    # at most 2**31 - 1: what the window's seed box (a 32-bit QSpinBox) can hold, so a
    # config loaded there is shown as it is, never silently lowered
    seed: int = _f(42, "Random seed for weights, data order and dropout (0 to 2147483647).",
                   min=0, max=2**31 - 1)
    device: str = _f("auto", "Where to train. auto: CUDA, else Apple MPS, else CPU.",
                     choices=("auto", "cpu", "cuda", "mps"))
    nproc: int = _f(1, "Processes per machine, one per GPU. Above 1, `ftgui train` "
                    "launches itself through torchrun (on a machine without GPUs: CPU "
                    "processes with the gloo backend).", min=1)
    nnodes: int = _f(1, "Machines taking part in the run.", min=1)
    node_rank: int = _f(0, "This machine's number among nnodes, from 0.", min=0)
    master_addr: str = _f("127.0.0.1", "Address of the node_rank 0 machine (several "
                          "machines only).")
    master_port: int = _f(29500, "Free TCP port on the node_rank 0 machine (several "
                          "machines only).", min=1, max=65535)
    strategy: str = _f("ddp", "How several processes share the work. ddp: a full copy of "
                       "the model each. fsdp: weights, gradients and optimizer state "
                       "sharded. deepspeed: ZeRO, configured by deepspeed_config.",
                       choices=("ddp", "fsdp", "deepspeed"))
    deepspeed_config: str = _f("", "DeepSpeed ZeRO config file (strategy deepspeed; needs "
                               "the deepspeed package).", path=True)
    accelerate_config: str = _f("", "An `accelerate config` file: when given, several "
                                "processes are started with `accelerate launch` instead "
                                "of torchrun.", path=True)


@dataclass
class LoraConfig:
    r: int = _f(8, "LoRA rank: size of the adapter matrices.", min=1)
    alpha: int = _f(16, "LoRA scaling numerator (scale = alpha / r).", min=1)
    dropout: float = _f(0.05, "Dropout on the adapter input.", min=0, max=0.99)
    target_modules: str | list[str] = _f("auto", "Layers that get adapters: 'auto' picks "
                                         "the attention projections for the "
                                         "architecture, or give a list of module names.")


@dataclass
class DpoConfig:
    beta: float = _f(0.1, "How far the model may move from the reference (the model before "
                     "training): higher keeps it closer.", above=0)
    loss_type: str = _f("sigmoid", "TRL's DPO loss: sigmoid (the DPO paper), ipo, hinge, "
                        "robust, bco_pair, sppo_hard, nca_pair, aot, aot_unpaired, apo_zero, "
                        "apo_down, discopop, sigmoid_norm.",
                        choices=("sigmoid", "ipo", "hinge", "robust", "bco_pair",
                                 "sppo_hard", "nca_pair", "aot", "aot_unpaired", "apo_zero",
                                 "apo_down", "discopop", "sigmoid_norm"))


@dataclass
class KtoConfig:
    beta: float = _f(0.1, "How far the model may move from the reference (the model before "
                     "training): higher keeps it closer.", above=0)
    desirable_weight: float = _f(1.0, "Weight of the good (label true) examples in the "
                                 "loss; raise it when they are fewer than the bad ones.",
                                 above=0)
    undesirable_weight: float = _f(1.0, "Weight of the bad (label false) examples in the "
                                   "loss; raise it when they are fewer than the good ones.",
                                   above=0)


@dataclass
class OrpoConfig:
    beta: float = _f(0.1, "Weight of the odds-ratio (preference) term beside the "
                     "supervised loss on the chosen answers (lambda in the ORPO paper).",
                     above=0)


SECTIONS = {"model": ModelConfig, "data": DataConfig, "training": TrainingConfig,
            "lora": LoraConfig, "dpo": DpoConfig, "kto": KtoConfig, "orpo": OrpoConfig}


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    dpo: DpoConfig = field(default_factory=DpoConfig)
    kto: KtoConfig = field(default_factory=KtoConfig)
    orpo: OrpoConfig = field(default_factory=OrpoConfig)

    # ---- dict / YAML ----------------------------------------------------------
    @classmethod
    def from_dict(cls, raw: Any, *, base_dir: Path | None = None,
                  where: str = "config") -> "RunConfig":
        """Build and validate a config; relative paths resolve against ``base_dir``."""
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping with sections "
                              f"{', '.join(SECTIONS)}, got {type(raw).__name__}.")
        unknown = [k for k in raw if k not in SECTIONS]
        if unknown:
            raise ConfigError(f"{where}: unknown section '{unknown[0]}'. Valid sections: "
                              f"{', '.join(SECTIONS)}.", field=str(unknown[0]))
        parts = {}
        for name, section_cls in SECTIONS.items():
            values = raw.get(name) or {}
            if not isinstance(values, dict):
                raise ConfigError(f"{where}: section '{name}' must be a mapping of keys to "
                                  f"values.", field=name)
            known = {f.name: f for f in dataclasses.fields(section_cls)}
            kwargs = {}
            for key, value in values.items():
                if key not in known:
                    raise ConfigError(
                        f"{where}: unknown key '{name}.{key}'. Valid keys in '{name}': "
                        f"{', '.join(known)}.", field=f"{name}.{key}")
                kwargs[key] = _coerce(f"{name}.{key}", value, _hints(section_cls)[key], where)
            parts[name] = section_cls(**kwargs)
        cfg = cls(**parts)
        if base_dir is not None:
            cfg._resolve_paths(Path(base_dir))
        cfg.check()
        return cfg

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def load(cls, path: str | Path) -> "RunConfig":
        path = Path(path).expanduser()
        if not path.is_file():
            raise ConfigError(f"Config file not found: {path}. Check the path.")
        try:
            size = path.stat().st_size
        except OSError as e:
            raise ConfigError(f"{path}: cannot be read ({e.strerror or e}).") from None
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: {size:,} bytes is far too large for a config "
                              f"(at most {MAX_CONFIG_BYTES:,}); give the run's YAML file.")
        try:
            raw = parse_yaml(path.read_text(encoding="utf-8"), str(path))
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not a UTF-8 text file; a config must be YAML text.")
        return cls.from_dict(raw, base_dir=path.resolve().parent, where=str(path))

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.to_yaml(), encoding="utf-8")
        tmp.replace(path)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def copy(self) -> "RunConfig":
        return RunConfig.from_dict(self.to_dict(), where="config")

    # ---- overrides -------------------------------------------------------------
    def with_overrides(self, assignments: list[str]) -> "RunConfig":
        """Apply ``section.key=value`` strings (values parsed as YAML scalars)."""
        raw = self.to_dict()
        for item in assignments:
            if "=" not in item or "." not in item.split("=", 1)[0]:
                raise ConfigError(f"--set '{item}': write it as section.key=value, e.g. "
                                  f"training.max_steps=100.")
            key, text = item.split("=", 1)
            section, name = key.strip().split(".", 1)
            try:
                value = parse_yaml(text, f"--set '{item}'") if text.strip() else None
            except ConfigError as e:
                if "not valid YAML" not in e.message:
                    raise
                value = text
            raw.setdefault(section, {})
            if not isinstance(raw[section], dict):
                raw[section] = {}
            raw[section][name] = value
        return RunConfig.from_dict(raw, base_dir=Path.cwd(), where="--set")

    # ---- validation --------------------------------------------------------------
    def problems(self) -> list[tuple[str, str]]:
        """Every invalid value as (section.key, message); empty when the config is valid."""
        out = []
        for name in SECTIONS:
            section = getattr(self, name)
            for f in dataclasses.fields(section):
                msg = _check_value(f, getattr(section, f.name))
                if msg:
                    out.append((f"{name}.{f.name}", msg))
        if not self.model.source:
            out.append(("model.source", "no model chosen: give a Hub id, a folder or a "
                        ".gguf file"))
        if not self.data.source:
            out.append(("data.source", "no dataset chosen: give a Hub id or a local file"))
        v = self.data.validation
        if isinstance(v, float) and not 0 < v < 1:
            out.append(("data.validation", f"a fraction must be between 0 and 1, got {v}"))
        t = self.training
        blocked = _file_in_the_way(t.output_dir)
        if blocked:
            out.append(("training.output_dir", blocked))
        if t.node_rank >= t.nnodes:
            out.append(("training.node_rank", f"must be below nnodes ({t.nnodes}), got "
                        f"{t.node_rank}"))
        if t.strategy == "deepspeed" and not t.deepspeed_config:
            out.append(("training.deepspeed_config", "strategy deepspeed needs a ZeRO "
                        "config file"))
        tm = self.lora.target_modules
        if isinstance(tm, str) and tm != "auto":
            out.append(("lora.target_modules", "write 'auto' or a list of module names"))
        return out

    def check(self) -> None:
        problems = self.problems()
        if problems:
            key, msg = problems[0]
            raise ConfigError(f"{key}: {msg}.", field=key)

    def _resolve_paths(self, base: Path) -> None:
        def resolve(value: str | None) -> str | None:
            if not value or not looks_like_path(value):
                return value
            p = Path(value).expanduser()
            return str(p if p.is_absolute() else (base / p).resolve())

        self.model.source = resolve(self.model.source)
        self.data.source = resolve(self.data.source)
        self.training.output_dir = resolve(self.training.output_dir)
        self.training.deepspeed_config = resolve(self.training.deepspeed_config)
        self.training.accelerate_config = resolve(self.training.accelerate_config)
        if isinstance(self.data.validation, str) and has_file_suffix(self.data.validation):
            self.data.validation = resolve(self.data.validation)


# libyaml's parser where PyYAML has it (several times faster; the same nodes and marks)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# A config is a few kilobytes; these bound what a hostile or broken file can cost.
MAX_CONFIG_BYTES = 1 << 20
MAX_YAML_NODES = 100_000  # values after expanding every alias (*name)


def parse_yaml(text: str, where: str) -> Any:
    """YAML text → plain values, with the safe loader, refusing (ConfigError naming
    ``where`` and the line) what safe_load accepts but a config must not have: a key
    written twice in one mapping (YAML keeps the last silently) and aliases that expand
    to more than MAX_YAML_NODES values (an "alias bomb": a few hundred bytes that expand
    to billions of values)."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, where)
        return loader.construct_document(node)
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply to be a config.") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        why = " ".join(str(getattr(e, "problem", None) or e).split())  # one line
        raise ConfigError(f"{where}{line}: not valid YAML ({why}).") from None
    finally:
        loader.dispose()


def _check_nodes(root: yaml.Node, where: str) -> None:
    sizes: dict[int, int] = {}   # expanded size of each node seen (aliases share nodes)
    busy: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in busy:
            raise ConfigError(f"{where} line {node.start_mark.line + 1}: an alias refers to "
                              f"the value that holds it; write the value out instead.")
        busy.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    if k.value in seen:
                        raise ConfigError(
                            f"{where} line {k.start_mark.line + 1}: the key '{k.value}' is "
                            f"written twice in the same section (first on line "
                            f"{seen[k.value]}); keep one.", field=str(k.value))
                    seen[k.value] = k.start_mark.line + 1
                total += size(k) + size(v)
                if total > MAX_YAML_NODES:
                    break
        elif isinstance(node, yaml.SequenceNode):
            for v in node.value:
                total += size(v)
                if total > MAX_YAML_NODES:
                    break
        if total > MAX_YAML_NODES:
            raise ConfigError(f"{where} line {node.start_mark.line + 1}: its aliases (*name) "
                              f"expand to more than {MAX_YAML_NODES:,} values, far more than "
                              f"a config holds; write the values out instead.")
        busy.discard(key)
        sizes[key] = total
        return total

    size(root)


def _file_in_the_way(output_dir: str) -> str | None:
    """Why ``output_dir`` can never be a run folder (it is a file, or inside one)."""
    if not output_dir:
        return None
    try:
        p = Path(output_dir).expanduser().absolute()
        for q in (p, *p.parents):
            if q.exists():
                if q.is_dir():
                    return None
                if q == p:
                    return f"{p} is a file, not a folder; choose a folder for the run"
                return (f"{p} lies under {q}, which is a file, not a folder; choose "
                        f"another folder for the run")
    except (OSError, ValueError):
        return None
    return None


def help_text(key: str) -> str:
    """The help string of 'section.key', for tooltips and docs."""
    section, name = key.split(".", 1)
    for f in dataclasses.fields(SECTIONS[section]):
        if f.name == name:
            return f.metadata.get("help", "")
    raise KeyError(key)


def field_meta(key: str) -> dict:
    section, name = key.split(".", 1)
    for f in dataclasses.fields(SECTIONS[section]):
        if f.name == name:
            return dict(f.metadata)
    raise KeyError(key)


@typing.no_type_check
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _type_name(tp) -> str:
    names = []
    for t in _union_args(tp):
        if t is type(None):
            continue
        origin = typing.get_origin(t)
        if origin is list:
            names.append("a list of strings")
        else:
            names.append({str: "text", int: "a whole number", float: "a number",
                          bool: "true or false"}.get(t, getattr(t, "__name__", str(t))))
    text = " or ".join(names)
    if type(None) in _union_args(tp):
        text += " (or empty)"
    return text


def _union_args(tp) -> tuple:
    if typing.get_origin(tp) in (Union, types.UnionType):
        return typing.get_args(tp)
    return (tp,)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _coerce(key: str, value: Any, tp, where: str) -> Any:
    """Accept a YAML value for a field of type ``tp`` or raise a ConfigError naming it."""
    try:
        out = _coerce_value(key, value, tp, where)
    except (OverflowError, ValueError):  # float(10**400), int("9" * 5000)
        raise ConfigError(f"{where}: '{key}' is out of range, got {_show(value)}.",
                          field=key) from None
    if isinstance(out, float) and not math.isfinite(out):
        raise ConfigError(f"{where}: '{key}' must be a finite number, got {_show(value)}.",
                          field=key)
    if any(isinstance(v, str) and "\x00" in v for v in (out if isinstance(out, list)
                                                      else [out])):
        raise ConfigError(f"{where}: '{key}' holds a NUL character.", field=key)
    return out


def _coerce_value(key: str, value: Any, tp, where: str) -> Any:
    args = _union_args(tp)
    if value is None or (isinstance(value, str) and value == "" and type(None) in args):
        if type(None) in args:
            return None
        if str in args:
            return ""
    for t in args:
        if t is bool and isinstance(value, bool):
            return value
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if t is str and isinstance(value, str):
            return value
        if typing.get_origin(t) is list and isinstance(value, list) \
                and all(isinstance(v, str) for v in value):
            return list(value)
    # numbers written as strings ("5e-5" is a string to YAML 1.1)
    if isinstance(value, str):
        for t in args:
            try:
                if t is int:
                    return int(value)
                if t is float:
                    return float(value)
            except ValueError:
                pass
    raise ConfigError(f"{where}: '{key}' must be {_type_name(tp)}, got {_show(value)}.",
                      field=key)


def _check_value(f: dataclasses.Field, value: Any) -> str | None:
    meta = f.metadata
    if value is None:
        return None
    if "choices" in meta and value not in meta["choices"]:
        return f"must be one of {', '.join(meta['choices'])}, got {_show(value)}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "min" in meta and value < meta["min"]:
            return f"must be at least {meta['min']}, got {value}"
        if "above" in meta and value <= meta["above"]:
            return f"must be greater than {meta['above']}, got {value}"
        if "max" in meta and value > meta["max"]:
            return f"must be at most {meta['max']}, got {value}"
    return None
