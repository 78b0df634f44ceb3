"""Every place ftgui leans on a library's internals, in one file.

Each entry says why it is needed, the versions it was checked on, and is exercised by
tests/core/test_compat.py, which fails with a message naming the entry when a release
changes what it relies on. Keep this file short: prefer a public API whenever one exists.

Checked on: transformers 5.24.0, accelerate 1.15.0, peft 0.21.2, torch 2.13.0.
"""

from __future__ import annotations

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
