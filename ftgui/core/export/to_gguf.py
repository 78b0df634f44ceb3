"""A saved Hugging Face causal LM folder → one GGUF file for llama.cpp / Ollama / LM Studio.

Written on the ``gguf`` library (the writer llama.cpp's own converter uses) rather than a
converter package: the ones on PyPI are thin, unmaintained wrappers. It follows llama.cpp's
``convert_hf_to_gguf.py`` for the architectures below, so llama.cpp reads the file and
transformers' GGUF loader reads it back:

- ``gpt2``: Conv1D weights transposed to (out, in); the output matrix written as a copy of
  the token embedding (GPT-2 ties them).
- ``llama`` (and Mistral, which llama.cpp runs as llama): q/k rows permuted from Hugging
  Face's half-split rotary layout to the interleaved one llama.cpp uses.

Matrices are stored in the ``outtype`` (f32, f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0; the
per-tensor rules are in quantize.py); 1-D tensors (norms, biases) always as f32, as llama.cpp
does. Tensors are read lazily from the memory-mapped safetensors files, one at a time.
The tokenizer goes in as metadata: a byte-level BPE (GPT-2, Llama 3, SmolLM, Qwen2, ...) as
``gpt2`` with its merges, a sentencepiece-style BPE with byte fallback (Llama 2, Mistral) as
``llama`` with scores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from ftgui.core.export import ExportError
from ftgui.core.events import Progress

SUPPORTED = {"gpt2": "GPT-2", "llama": "Llama", "mistral": "Mistral"}

ProgressFn = Callable[[Progress], None]


class GGUFExportError(ExportError):
    """The model cannot be written as GGUF (architecture, rope scaling, tokenizer)."""


# ---- weights ---------------------------------------------------------------------------------
class _Weights:
    """The model's safetensors files, memory-mapped: shapes known up front, each tensor read
    (as float32 numpy) only when it is written, so memory holds one tensor at a time."""

    def __init__(self, model_dir: Path):
        from safetensors import safe_open

        index = model_dir / "model.safetensors.index.json"
        if index.exists():
            files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        elif (model_dir / "model.safetensors").exists():
            files = ["model.safetensors"]
        else:
            raise GGUFExportError(f"{model_dir} has no safetensors weights (model.safetensors); "
                                  f"GGUF export reads the folder written by save_pretrained.")
        self.handles = [safe_open(str(model_dir / name), framework="pt") for name in files]
        self.where = {key: fh for fh in self.handles for key in fh.keys()}

    def keys(self):
        return list(self.where)

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self.where[key].get_slice(key).get_shape())

    def load(self, key: str) -> np.ndarray:
        return self.where[key].get_tensor(key).float().numpy()


def _llama_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Hugging Face rotary layout (first half / second half) → llama.cpp's interleaved pairs."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
             .swapaxes(1, 2).reshape(w.shape))


def _rope_theta(cfg) -> float:
    params = getattr(cfg, "rope_parameters", None) or {}
    rope_type = params.get("rope_type", "default") if isinstance(params, dict) else "default"
    if rope_type not in ("default", None):
        raise GGUFExportError(f"GGUF export: this model uses '{rope_type}' rope scaling, which "
                              f"the GGUF writer does not handle yet. Export the merged "
                              f"safetensors folder and convert it with llama.cpp's "
                              f"convert_hf_to_gguf.py.")
    theta = params.get("rope_theta") if isinstance(params, dict) else None
    return float(theta or getattr(cfg, "rope_theta", None) or 10000.0)


def _tensors(cfg, weights: _Weights):
    """(gguf name, shape, load) in llama.cpp's layout for this architecture; ``load()`` reads
    and rearranges the one tensor when it is written."""
    import gguf

    arch = cfg.model_type
    n_layer = cfg.num_hidden_layers
    if arch == "gpt2":
        name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GPT2, n_layer)
    else:
        name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, n_layer)
    n_head = cfg.num_attention_heads
    n_kv = getattr(cfg, "num_key_value_heads", None) or n_head
    keys = weights.keys()
    out = []
    for key in keys:
        if key.endswith((".attn.bias", ".attn.masked_bias", "rotary_emb.inv_freq")):
            continue  # buffers, not weights
        shape = weights.shape(key)
        fix = None
        if arch == "gpt2":
            if key.endswith((".c_attn.weight", ".c_proj.weight", ".c_fc.weight")):
                fix, shape = "T", shape[::-1]  # Conv1D stores (in, out)
        elif key.endswith("q_proj.weight"):
            fix = n_head
        elif key.endswith("k_proj.weight"):
            fix = n_kv
        name = name_map.get_name(key, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise GGUFExportError(f"GGUF export: the weight '{key}' has no GGUF name for the "
                                  f"{SUPPORTED[arch]} architecture; this model variant is not "
                                  f"supported by the GGUF writer.")

        def load(key=key, fix=fix) -> np.ndarray:
            w = weights.load(key)
            if fix == "T":
                w = w.T
            elif fix is not None:
                w = _llama_permute(w, fix)
            return np.ascontiguousarray(w)

        out.append((name, shape, load))
        if arch == "gpt2" and name == "token_embd.weight" and "lm_head.weight" not in keys:
            out.append(("output.weight", shape, load))  # GPT-2 ties them
    return out


# ---- hyper-parameters ---------------------------------------------------------------------------
def _hparams(writer, cfg, n_vocab: int) -> None:
    arch = cfg.model_type
    if arch == "gpt2":
        writer.add_context_length(cfg.n_positions)
        writer.add_embedding_length(cfg.n_embd)
        writer.add_feed_forward_length(cfg.n_inner or 4 * cfg.n_embd)
        writer.add_block_count(cfg.n_layer)
        writer.add_head_count(cfg.n_head)
        writer.add_layer_norm_eps(cfg.layer_norm_epsilon)
        for flag in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"):
            if getattr(cfg, flag, False):
                raise GGUFExportError(f"GGUF export: GPT-2 with {flag}=true has no llama.cpp "
                                      f"equivalent.")
        if cfg.activation_function not in ("gelu_new", "gelu", "gelu_pytorch_tanh"):
            raise GGUFExportError(f"GGUF export: GPT-2 with activation "
                                  f"'{cfg.activation_function}' has no llama.cpp equivalent "
                                  f"(it uses GELU).")
        return
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    writer.add_vocab_size(n_vocab)
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(getattr(cfg, "num_key_value_heads", None)
                             or cfg.num_attention_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(_rope_theta(cfg))
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    if head_dim * cfg.num_attention_heads != cfg.hidden_size:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    if getattr(cfg, "hidden_act", "silu") != "silu":
        raise GGUFExportError(f"GGUF export: a Llama with activation '{cfg.hidden_act}' has no "
                              f"llama.cpp equivalent (it uses SiLU).")


# ---- tokenizer ------------------------------------------------------------------------------------
def _pre_tokenizer_name(tok_json: dict) -> str:
    """llama.cpp's name for how this tokenizer splits text before BPE (tokenizer.ggml.pre)."""
    pre = tok_json.get("pre_tokenizer") or {}
    parts = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    types = [p.get("type") for p in parts]
    if types == ["ByteLevel"] and parts[0].get("use_regex", True):
        return "gpt-2"
    if types == ["Digits", "ByteLevel"] and parts[0].get("individual_digits"):
        return "smollm"
    split = next((p for p in parts if p.get("type") == "Split"), None)
    if split is not None:
        regex = (split.get("pattern") or {}).get("Regex")
        from ftgui.core.compat import gguf_pre_tokenizer_splits

        # the names transformers' GGUF loader maps back to the same regex
        for name, pattern in gguf_pre_tokenizer_splits().items():
            if pattern == regex:
                return name
    return "default"


def _vocab(writer, model_dir: Path, n_vocab: int, progress: ProgressFn | None,
           pre: str | None = None) -> None:
    import gguf
    from transformers import AutoTokenizer

    tok_path = model_dir / "tokenizer.json"
    if not tok_path.exists():
        raise GGUFExportError(f"GGUF export: {model_dir} has no tokenizer.json (a fast "
                              f"tokenizer is needed to write the vocabulary).")
    tok_json = json.loads(tok_path.read_text(encoding="utf-8"))
    model = tok_json.get("model") or {}
    if model.get("type") != "BPE":
        raise GGUFExportError(f"GGUF export: the tokenizer is a {model.get('type')} model; the "
                              f"GGUF writer handles BPE tokenizers only.")
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    id_to_token = {i: t for t, i in tokenizer.get_vocab().items()}
    added = {a["id"]: a for a in tok_json.get("added_tokens", [])}
    if len(id_to_token) > n_vocab or max(id_to_token) >= n_vocab:
        raise GGUFExportError(f"GGUF export: the tokenizer has {len(id_to_token)} tokens but the "
                              f"model only {n_vocab} embeddings.")
    byte_level = not model.get("byte_fallback")
    tokens, types, scores = [], [], []
    for i in range(n_vocab):
        text = id_to_token.get(i)
        if text is None:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif not byte_level and len(text) == 6 and text.startswith("<0x") and text.endswith(">"):
            tokens.append(text)
            types.append(gguf.TokenType.BYTE)
        elif i in added:
            tokens.append(text)
            types.append(gguf.TokenType.CONTROL if added[i].get("special")
                         else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(text)
            types.append(gguf.TokenType.NORMAL)
        scores.append(-float(i))  # sentencepiece BPE: earlier ids merge first
    if byte_level:
        writer.add_tokenizer_model("gpt2")
        # the source GGUF's own name when there is one (gguf_meta.py), else the one found
        writer.add_tokenizer_pre(pre or _pre_tokenizer_name(tok_json))
    else:
        writer.add_tokenizer_model("llama")
        writer.add_tokenizer_pre("default")
        writer.add_token_scores(scores)
    writer.add_token_list(tokens)
    writer.add_token_types([int(t) for t in types])
    special = gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=n_vocab)
    # ftgui sets pad = eos when a tokenizer has none; the saved tokenizer says so already
    for typ in ("bos", "eos", "unk", "pad"):
        tid = getattr(tokenizer, f"{typ}_token_id", None)
        if isinstance(tid, int) and 0 <= tid < n_vocab:
            special.special_token_ids[typ] = tid
    if byte_level and not special.merges:
        raise GGUFExportError("GGUF export: the tokenizer has no BPE merges; llama.cpp cannot "
                              "tokenize without them.")
    # say whether BOS / EOS are added: readers assume BOS for sentencepiece otherwise
    with_special = tokenizer("a")["input_ids"]
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    special.add_special_token["bos"] = bool(
        bos is not None and with_special[:1] == [bos] and plain[:1] != [bos])
    special.add_special_token["eos"] = bool(
        eos is not None and with_special[-1:] == [eos] and plain[-1:] != [eos])
    special.add_to_gguf(writer, quiet=True)
    if progress:
        progress(Progress("Writing GGUF", 0, 0, f"{len(tokens)} tokens"))


# ---- the file -----------------------------------------------------------------------------------
def check_supported(model_dir: Path):
    """The model's config, or a GGUFExportError saying why it cannot be written."""
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(str(model_dir))
    if cfg.model_type not in SUPPORTED:
        raise GGUFExportError(
            f"GGUF export: the architecture '{cfg.model_type}' is not supported by ftgui's "
            f"GGUF writer (supported: {', '.join(SUPPORTED.values())}). Export the merged "
            f"safetensors folder and convert it with llama.cpp's convert_hf_to_gguf.py.")
    if getattr(cfg, "quantization_config", None):
        raise GGUFExportError("GGUF export: the saved model is quantized; export from a "
                              "full-precision model.")
    return cfg


FTGUI_KEY = "ftgui.export"


def exported_by_ftgui(path: str | Path) -> bool:
    """The GGUF at ``path`` carries ftgui's metadata key (an earlier ftgui export)."""
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
    except Exception:  # noqa: BLE001 - not a GGUF, cut short, another version: not ours
        return False
    return FTGUI_KEY in reader.fields


def plan(model_dir: str | Path, outtype: str = "f16"):
    """(config, tensors, [(name, shape, tensor type)]) of the GGUF that ``write_gguf`` writes."""
    from ftgui.core.export import quantize

    if outtype not in quantize.OUTTYPES:
        raise GGUFExportError(f"GGUF export: outtype '{outtype}' is not one of "
                              f"{', '.join(quantize.OUTTYPES)}.")
    model_dir = Path(model_dir)
    cfg = check_supported(model_dir)
    tensors = _tensors(cfg, _Weights(model_dir))
    has_output = any(n == "output.weight" for n, _, _ in tensors)
    types = [(n, shape, quantize.tensor_type(n, shape, outtype, has_output))
             for n, shape, _ in tensors]
    return cfg, tensors, types


def expected_size(model_dir: str | Path, outtype: str) -> int:
    """Bytes of the tensor data of the GGUF for ``outtype`` (the file adds the vocabulary
    and padding: a few MiB); read from the safetensors headers only."""
    from ftgui.core.export import quantize

    _, _, types = plan(model_dir, outtype)
    return sum(quantize.nbytes(shape, t) for _, shape, t in types)


def write_gguf(model_dir: str | Path, out: str | Path, outtype: str = "f16",
               progress: ProgressFn | None = None, name: str | None = None,
               meta: dict | None = None) -> Path:
    """Write ``model_dir`` (save_pretrained layout) as one GGUF file at ``out``. ``meta``:
    extra keys to write (``general.*`` and ``tokenizer.ggml.pre``), see gguf_meta.py."""
    import gguf

    from ftgui.core.export import quantize

    model_dir, out = Path(model_dir), Path(out)
    if progress:
        progress(Progress("Reading weights", 0, 0, str(model_dir)))
    cfg, tensors, types = plan(model_dir, outtype)
    n_vocab = next(shape for n, shape, _ in tensors if n == "token_embd.weight")[0]
    meta = dict(meta or {})

    arch = "gpt2" if cfg.model_type == "gpt2" else "llama"
    writer = gguf.GGUFWriter(str(out), arch)
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(meta.pop("general.name", None) or name or model_dir.name)
    writer.add_string(FTGUI_KEY, "gguf")  # lets `ftgui export --force` know its own files
    _add_general(writer, meta)
    writer.add_file_type(quantize.file_type(outtype))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    _hparams(writer, cfg, n_vocab)
    _vocab(writer, model_dir, n_vocab, progress, pre=meta.get("tokenizer.ggml.pre"))

    # tensor infos first, then the data one tensor at a time (read, converted and written in
    # turn): progress per tensor, a cancel from it takes effect at once, and memory holds one
    # tensor instead of the model
    for name_, shape, typ in types:
        writer.add_tensor_info(name_, shape, np.dtype(np.float32), quantize.nbytes(shape, typ),
                               raw_dtype=typ)
    total = len(tensors)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for i, ((name_, _, load), (_, _, typ)) in enumerate(zip(tensors, types)):
        if progress:
            progress(Progress("Writing GGUF", i, total, name_))
        writer.write_tensor_data(quantize.convert(load(), typ))
    writer.close()
    if progress:
        progress(Progress("Writing GGUF", total, total, str(out)))
    return out


def _add_general(writer, meta: dict) -> None:
    """general.* keys by their GGUF value type (strings, or lists of strings)."""
    for key, value in meta.items():
        if not key.startswith("general.") or value in (None, "", []):
            continue
        if isinstance(value, (list, tuple)):
            writer.add_array(key, [str(v) for v in value])
        elif isinstance(value, int) and not isinstance(value, bool):
            writer.add_uint32(key, value)
        else:
            writer.add_string(key, str(value))
