"""Perplexity of a model on a text file, and text generation, for any model source or run."""

from __future__ import annotations

import math
from pathlib import Path

from ftgui.core import data as data_mod
from ftgui.core import models, trust
from ftgui.core.config import DataConfig, ModelConfig
from ftgui.core.errors import ModelError
from ftgui.core.runs import RunDir
from ftgui.core.thread_value import ThreadValue


def model_config_for(source: str, trust_remote_code: bool | None = None,
                     allow_pickle: bool = False) -> ModelConfig:
    """A run directory means its final model, loaded with the run's own
    ``model.trust_remote_code`` unless told otherwise; anything else is a model source,
    loaded as the two switches say (both off unless asked for)."""
    rd = RunDir(source)
    if rd.config_path.exists():
        if not rd.model_dir.is_dir():
            raise ModelError(f"{rd.path} has no final model yet (status: {rd.status()}). "
                             f"Resume it to the end first, or give a checkpoint folder.")
        if trust_remote_code is None:
            # the run folder's own switch: its code must have been approved here
            trust_remote_code = rd.load_config().model.trust_remote_code
            if trust_remote_code:
                trust.require([str(rd.model_dir)], str(rd.config_path))
        elif trust_remote_code:  # the person's own --trust-remote-code: remembered
            trust.require([str(rd.model_dir)], str(rd.config_path), approve_now=True)
        # allow_pickle stays off: the runner writes safetensors
        return ModelConfig(source=str(rd.model_dir), trust_remote_code=trust_remote_code)
    return ModelConfig(source=source, trust_remote_code=bool(trust_remote_code),
                       allow_pickle=allow_pickle)


def run_model_configs(run_dir: str | Path, trust_remote_code: bool | None = None
                      ) -> tuple[ModelConfig, ModelConfig]:
    """The base model a run started from and the model it ended with, each to be loaded
    with the run's own ``model.trust_remote_code`` / ``model.allow_pickle``, as the runner
    loaded the base for training.

    A LoRA run's ``model/`` holds the adapters already merged into the base (the runner
    saves it so, and the adapter alone in ``adapter/``), so both load as plain models; the
    base is the run's ``model.source`` as configured (Hub id, folder, ``.gguf`` or
    ``pkg:``)."""
    rd = RunDir(run_dir)
    model = rd.load_config().model
    trusted = model.trust_remote_code if trust_remote_code is None else trust_remote_code
    if model.trust_remote_code and trusted:
        # the switch comes from the run folder: approved here, or by the person's flag
        trust.require(trust.run_sources(rd.path), str(rd.config_path),
                      approve_now=bool(trust_remote_code))
    base = ModelConfig(source=model.source, trust_remote_code=trusted,
                       allow_pickle=model.allow_pickle)
    return base, model_config_for(str(rd.path), trusted)


def device_and_dtype(choice=None) -> tuple[str, object]:
    """Where and in which number format to run a model outside training (perplexity, the
    Playground, generate): what training picks on its own (``devices.choose`` on auto),
    so bf16 on a CUDA GPU that supports it, else fp16, and fp32 on MPS and the CPU.
    On a GPU, half precision halves the memory of the float32 the weights were saved in."""
    from ftgui.core import devices
    choice = choice or devices.choose()
    return choice.device, devices.torch_dtype(choice.precision)


def check_eval_sizes(block_size: int | None, batch_size: int) -> None:
    """Refuse sizes a perplexity cannot be measured with (None block size: the default)."""
    from ftgui.core.errors import ConfigError
    if block_size is not None and block_size < 2:
        raise ConfigError(f"--block-size: give 2 or more tokens per block (or leave it out "
                          f"for the model's default), got {block_size}.", field="block_size")
    if batch_size < 1:
        raise ConfigError(f"--batch-size: give 1 or more blocks per batch, got "
                          f"{batch_size}.", field="batch_size")


def perplexity(source: str | ModelConfig, data_file: str, block_size: int | None = None,
               batch_size: int = 8, progress=None) -> dict:
    """exp(mean token loss) over packed blocks of ``data_file``; ``source`` is a model
    source or run folder (see ``model_config_for``), or a ModelConfig to load as it says."""
    import torch

    check_eval_sizes(block_size, batch_size)

    models.quiet_libraries()
    mcfg = source if isinstance(source, ModelConfig) else model_config_for(source)
    device, dtype = device_and_dtype()
    tok = models.load_tokenizer(mcfg)
    model = models.load_model(mcfg, dtype)
    ctx = models.context_length(model.config) or 1024
    block = min(ctx, 512) if block_size is None else block_size
    dcfg = DataConfig(source=str(Path(data_file).expanduser().resolve()), validation=None,
                      block_size=block)
    prepared = data_mod.prepare(dcfg, tok, progress=progress)
    model.to(device).eval()
    total, count = 0.0, 0
    with torch.no_grad():
        blocks = prepared.train.blocks()
        for start in range(0, len(blocks), batch_size):
            ids = torch.from_numpy(blocks[start:start + batch_size].astype("int64")).to(device)
            loss = model(input_ids=ids, labels=ids).loss
            n = ids.shape[0] * (ids.shape[1] - 1)
            total += float(loss) * n
            count += n
    loss = total / count
    return {"loss": loss, "perplexity": math.exp(loss), "blocks": len(prepared.train),
            "tokens": int(prepared.train.ids.size), "block_size": block}


def load_for_generation(source: str, trust_remote_code: bool | None = None,
                        allow_pickle: bool = False):
    return load_model_config(model_config_for(source, trust_remote_code, allow_pickle))


# loads in this thread report to this progress callback (see load_model_config) while it
# is set: for callers that reach the loader through another function (the Playground's)
reporting = ThreadValue()


def load_model_config(mcfg: ModelConfig, progress=None):
    """Model (on the best device, in eval mode) and tokenizer, ready for generate().

    ``progress(stage, done, total, detail)`` (else the one ``reporting`` set), when given,
    hears each stage: "tokenizer", "model" (tensors loaded out of total; detail: what and
    the weights' size), "ready"."""
    from contextlib import nullcontext

    from ftgui.core import compat
    models.quiet_libraries()
    device, dtype = device_and_dtype()
    progress = progress or reporting.get()
    report = progress or (lambda *_: None)
    report("tokenizer", 0, 0, "")
    tok = models.load_tokenizer(mcfg)
    size = models.weights_bytes(mcfg)
    of = f" of {size / 1e6:,.1f} MB" if size else ""
    report("model", 0, 0, f"weights{of}")
    counting = compat.loading_progress(
        lambda what, done, total: report("model", done, total, f"{what}{of}")) \
        if progress else nullcontext()
    with counting:
        model = models.load_model(mcfg, dtype)
    model.to(device).eval()
    report("ready", 1, 1, "")
    return model, tok


def trained_on_chat(source: str) -> bool:
    """Whether ``source`` is a run that fine-tuned on instruction or chat examples, so
    prompts must be wrapped in the same template."""
    rd = RunDir(source)
    if not rd.config_path.exists():
        return False
    fmt = rd.load_config().data.format
    if fmt == "auto":  # what the run detected
        fmt = rd.summary().get("format", "text")
    return fmt != "text"


def generate(model, tok, prompt: str, max_new_tokens: int = 50, temperature: float = 0.0,
             top_p: float = 1.0, seed: int = 0, streamer=None, chat: bool = False) -> str:
    """Continue ``prompt`` (wrapped as a user turn in the chat template when ``chat``);
    temperature 0 is greedy. Returns only the new text."""
    import torch

    torch.manual_seed(seed)
    inputs = encode_prompt(tok, prompt, chat).to(model.device)
    kw = generation_kwargs(tok, max_new_tokens, temperature, top_p)
    with torch.no_grad():
        out = model.generate(**inputs, **kw, streamer=streamer)
    return tok.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)


def encode_prompt(tok, prompt: str | list[dict], chat: bool, template_tok=None):
    """``prompt`` as model inputs; with ``chat``, first rendered as a user turn (or, given
    messages, as those) by the chat template of ``template_tok`` (default ``tok``: a base
    model is given the template its fine-tuned run was trained with, so both see the same
    text)."""
    from ftgui.core.sft import generation_prompt

    if chat:
        template_tok = template_tok or tok
        if not template_tok.chat_template:
            raise ModelError("This model's tokenizer has no chat template, so the prompt "
                             "cannot be sent as a chat turn; send it as plain text (drop "
                             "--chat, or untick Chat template).")
        prompt = generation_prompt(template_tok, prompt)
    # the chat template already holds any BOS; plain prompts get the tokenizer's own
    return tok(prompt, return_tensors="pt", add_special_tokens=not chat)


def generation_kwargs(tok, max_new_tokens: int, temperature: float, top_p: float) -> dict:
    """generate() arguments: temperature 0 is greedy (and then top-p does not apply)."""
    kw = dict(max_new_tokens=max_new_tokens, do_sample=temperature > 0,
              pad_token_id=tok.pad_token_id)
    if temperature > 0:
        kw.update(temperature=temperature, top_p=top_p)
    return kw
