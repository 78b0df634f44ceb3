"""Every place ftgui leans on a library's internals, in one file.

Each entry says why it is needed, the versions it was checked on, and is exercised by
tests/core/test_compat.py, which fails with a message naming the entry when a release
changes what it relies on. Keep this file short: prefer a public API whenever one exists.

Checked on: transformers 5.24.0, accelerate 1.15.0, peft 0.21.2, torch 2.13.0.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

from ftgui.core.thread_value import ThreadValue

CHECKED_ON = {"transformers": "5.24.0"}


def load_checkpoint_weights(trainer, checkpoint: str) -> None:
    """Put a checkpoint's weights into ``trainer.model`` without training.

    Why: resuming a run that was cut off after its last step (while evaluating or saving
    the final model) must not train again, and ``Trainer.train(resume_from_checkpoint=)``
    would run one step too many. ``Trainer._load_from_checkpoint`` is the one routine that
    reads every checkpoint layout the Trainer writes (full, sharded, PEFT adapter, FSDP).
    Private in transformers 5.0-5.24 (checked on 5.24.0)."""
    trainer._load_from_checkpoint(checkpoint)


def forget_gguf_quantization(model) -> None:
    """Mark a model loaded from a GGUF file as the plain full-precision model it is.

    Why: without the ``kernels`` package transformers unpacks GGUF weights into ordinary
    float tensors on load but still marks the model quantized (``is_quantized``,
    ``hf_quantizer``, ``config.quantization_config``): the Trainer then refuses to
    fine-tune it and ``save_pretrained`` writes a quantization_config that no longer
    describes the weights. ``HfQuantizer.remove_quantization_config`` (public name,
    undocumented; what ``dequantize()`` calls) clears exactly those marks. Checked on
    transformers 5.24.0. A model whose weights stay packed is left alone."""
    import torch

    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is None:
        return
    if not all(type(p) is torch.nn.Parameter and p.is_floating_point()
               for p in model.parameters()):
        return   # weights kept in GGUF blocks: it is quantized, and says so
    quantizer.remove_quantization_config(model)


def gguf_pre_tokenizer_splits() -> dict[str, str]:
    """llama.cpp's pre-tokenizer names and the split regex transformers maps each to.

    Why: a GGUF's ``tokenizer.ggml.pre`` must name how text is split before BPE; the
    table transformers' GGUF loader reads back is the only list that agrees with it.
    ``transformers.integrations.gguf.gguf_tokenizer_mapping.GGUF_PRE_TOKENIZER_SPLITS``,
    an internal module (checked on 5.24.0); without it only the built-in names are
    written (gpt-2, smollm, default)."""
    try:
        from transformers.integrations.gguf.gguf_tokenizer_mapping import \
            GGUF_PRE_TOKENIZER_SPLITS
    except ImportError:
        return {}
    return dict(GGUF_PRE_TOKENIZER_SPLITS)


def merged_lora_state_dict(peft_model) -> dict | None:
    """The weights ``peft_model.merge_and_unload()`` would leave, computed beside the
    model instead of into it (None when the model has parts this does not cover).

    Why: a finished LoRA run saves its merged model, and the window keeps the trained
    model in memory for the Playground, whose base side is the same model with its
    adapter disabled: merging in place would change the base weights, and merging then
    unmerging does not give them back to the last bit. Relies on peft's LoRA module
    layout: a wrapped layer keeps the original as ``<name>.base_layer`` and its adapters
    in children named ``lora_*``; ``LoraLayer.get_delta_weight(adapter)`` is what
    ``merge`` adds to the base weight. Checked on peft 0.21.2 (tests/core/test_compat.py
    compares the result with merge_and_unload's, bit for bit)."""
    from peft.tuners.lora import LoraLayer

    base = peft_model.get_base_model()
    adapter = peft_model.active_adapter
    deltas = {}
    for name, module in base.named_modules():
        if isinstance(module, LoraLayer):
            if adapter in module.lora_variant or module.lora_bias.get(adapter) or \
                    adapter not in module.lora_A:
                return None   # DoRA and the like, bias adapters, embedding adapters
            deltas[f"{name}.base_layer.weight"] = module.get_delta_weight(adapter)
    merged = {}
    for key, value in base.state_dict().items():
        if "modules_to_save" in key or "original_module" in key:
            return None
        if ".lora_" in key:
            continue
        if key in deltas:
            value = (value + deltas[key]).to(value.dtype)
        merged[key.replace(".base_layer.", ".")] = value
    return merged


def drop_fused_lm_head(model) -> None:
    """Give a model trained by TRL's DPO or KTO trainer its own ``forward`` back.

    Why: those trainers patch the model they train (``trl.trainer.utils.
    add_fused_lm_head``: an instance attribute ``forward``, a function named
    ``_fused_forward`` that passes through unless called with ``fused_lm_head=True``).
    The window keeps the trained model for the Playground and as the next run's base; it
    should be the plain model again, not wrapped once more by every run. Only that
    attribute is removed (on a PEFT model, on its base model, where TRL puts it). Checked
    on trl 1.16.0."""
    targets = [model]
    if hasattr(model, "get_base_model"):
        targets.append(model.get_base_model())
    for m in targets:
        patched = vars(m).get("forward")
        code = getattr(getattr(patched, "__func__", None), "__code__", None)
        if code is not None and code.co_name == "_fused_forward":
            del m.forward


_LOADING = ThreadValue()   # the progress callback of this thread's model load
_INSTALL_LOCK = threading.Lock()


@contextmanager
def loading_progress(report):
    """Call ``report(what, done, total)`` as ``from_pretrained`` in this thread goes through
    the tensors it loads ("tensors") or, reading a GGUF file, dequantises ("GGUF tensors").

    Why: loading a model shows no progress otherwise, and a person staring at "Loading…"
    for a minute cannot tell it from a hang. transformers iterates those tensors through
    a progress bar it imports by name: ``tqdm`` in ``transformers.core_model_loading``
    (``logging.tqdm``) and in ``transformers.modeling_gguf_pytorch_utils`` (tqdm.auto).
    Those names are wrapped once, to count the iteration for the thread that asked (other
    threads' loads are not reported). Checked on transformers 5.24.0."""
    with _INSTALL_LOCK:
        _install_loading_counter()
    with _LOADING.set(report):
        yield


def _install_loading_counter() -> None:
    import importlib

    for name, what in (("transformers.core_model_loading", "tensors"),
                       ("transformers.modeling_gguf_pytorch_utils", "GGUF tensors")):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        bar = getattr(module, "tqdm", None)
        if bar is None or getattr(bar, "_ftgui_counting", False):
            continue

        def counting(iterable=None, *args, _bar=bar, _what=what, **kwargs):
            report = _LOADING.get()
            wrapped = _bar(iterable, *args, **kwargs)
            if report is None or iterable is None or not hasattr(iterable, "__len__"):
                return wrapped
            return _counted(wrapped, report, _what, len(iterable))

        counting._ftgui_counting = True
        module.tqdm = counting


def _counted(items, report, what: str, total: int):
    step = max(1, total // 100)   # about a hundred reports, however many tensors
    report(what, 0, total)
    done = 0
    for item in items:
        yield item
        done += 1
        if done % step == 0 or done == total:
            report(what, done, total)
