"""An honest, rough estimate of the memory a training run needs.

    total = weights + gradients + optimizer states + activations (+ overhead)

* weights: every parameter, in float32, except LoRA on a GPU where the frozen base is
  loaded in bf16/fp16 (what ``Runner.setup`` does).
* gradients: float32, one per trainable parameter.
* optimizer: AdamW keeps two float32 moments per trainable parameter.
* activations: what autograd saves for the backward pass, per transformer layer and
  token, after Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large
  Transformer Models"): about 17 hidden-size vectors for a GPT-2 layer (34·s·b·h bytes in
  16-bit), plus the attention scores when the attention kernel materialises them, plus the
  logits over the vocabulary, which dominate for small models with large vocabularies.
  Gradient checkpointing keeps only each layer's input, plus one layer's activations.
* overhead: allocator fragmentation (about 10 %) and, on CUDA, the context (~0.5 GB);
  on the CPU and MPS the Python + torch runtime in the same memory (~0.4 GB, measured by
  bench/memory_bench.py: it brought the estimate from 0.98x / 0.77x of the peak to
  1.10x / 0.95x for full / LoRA SmolLM2-135M).

No torch here: the numbers come from the model's config and parameter counts, so the
GUI can show them as soon as the config is read.
"""

from __future__ import annotations

from dataclasses import dataclass

GB = 1024 ** 3


@dataclass
class ModelShape:
    total_params: int
    n_layers: int
    hidden: int
    n_heads: int
    vocab: int
    intermediate: int
    gated_mlp: bool = False   # SwiGLU-style MLP (Llama, Mistral, Qwen): three matrices


def _attr(cfg, *names, default=0):
    for n in names:
        v = getattr(cfg, n, None)
        if isinstance(v, int) and v > 0:
            return v
    return default


def shape_from_config(hf_config, total_params: int) -> ModelShape:
    """Read the sizes that matter from a transformers config (any architecture that
    names them in one of the usual ways)."""
    cfg = getattr(hf_config, "text_config", None) or hf_config
    hidden = _attr(cfg, "hidden_size", "n_embd", "d_model", "dim", default=768)
    intermediate = _attr(cfg, "intermediate_size", "n_inner", "ffn_dim", "d_ff",
                         default=4 * hidden)
    act = str(getattr(cfg, "hidden_act", "") or getattr(cfg, "activation_function", ""))
    return ModelShape(
        total_params=int(total_params),
        n_layers=_attr(cfg, "num_hidden_layers", "n_layer", "num_layers", "n_layers",
                       default=12),
        hidden=hidden,
        n_heads=_attr(cfg, "num_attention_heads", "n_head", "num_heads", default=12),
        vocab=_attr(cfg, "vocab_size", default=32000),
        intermediate=intermediate,
        gated_mlp=act in ("silu", "swiglu") or "llama" in str(getattr(cfg, "model_type", "")),
    )


@dataclass
class MemoryEstimate:
    weights: int
    gradients: int
    optimizer: int
    activations: int
    overhead: int
    reference: int = 0     # DPO / KTO with full fine-tuning: the frozen starting model

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations + \
            self.overhead + self.reference

    def parts(self) -> list[tuple[str, int]]:
        out = [("weights", self.weights), ("gradients", self.gradients),
               ("optimizer", self.optimizer), ("activations", self.activations),
               ("overhead", self.overhead)]
        if self.reference:
            out.insert(1, ("reference model", self.reference))
        return out


def activation_bytes(shape: ModelShape, batch_size: int, block_size: int, precision: str,
                     *, attention_scores: bool = True,
                     gradient_checkpointing: bool = False) -> int:
    """Bytes autograd keeps between forward and backward for one micro-batch."""
    elem = 2 if precision in ("bf16", "fp16") else 4
    h, s, a = shape.hidden, block_size, shape.n_heads
    tokens = batch_size * block_size
    mlp = (3 if shape.gated_mlp else 2) * shape.intermediate
    # per token, in elements: attention block 5.5h (+2.5·a·s scores and their dropout),
    # MLP input h + activation in/out, dropout masks 0.5h, two layer norms 2h
    per_token_layer = 5.5 * h + h + mlp + 0.5 * h + 2 * h
    if attention_scores:
        per_token_layer += 2.5 * a * s
    layer = per_token_layer * tokens * elem
    if gradient_checkpointing:
        body = shape.n_layers * h * tokens * elem + layer
    else:
        body = shape.n_layers * layer
    embed = tokens * h * elem
    # logits in the compute dtype, upcast to float32 for the loss, and their log-softmax
    logits = tokens * shape.vocab * (elem + 4 + 4)
    return int(body + embed + logits)


def estimate(shape: ModelShape, *, method: str, trainable_params: int, batch_size: int,
             block_size: int, precision: str, device: str = "cpu",
             gradient_checkpointing: bool = False, objective: str = "sft") -> MemoryEstimate:
    """Peak memory of one training step. ``precision`` is the resolved one (fp32, bf16,
    fp16), ``device`` cpu, cuda or mps. Preference objectives run two sequences per
    example (chosen and rejected; KTO's answer and its KL mismatch); DPO and KTO with full
    fine-tuning keep a frozen copy of the model as the reference (with LoRA the
    reference is the base with the adapter off: no copy)."""
    half = precision in ("bf16", "fp16")
    base_bytes = 2 if (method == "lora" and device == "cuda" and half) else 4
    frozen = max(shape.total_params - trainable_params, 0)
    weights = frozen * base_bytes + trainable_params * 4
    gradients = trainable_params * 4
    optimizer = trainable_params * 8
    # CUDA kernels (SDPA / flash) do not keep the s×s attention matrix; CPU and MPS may
    sequences = batch_size * (2 if objective in ("dpo", "kto", "orpo") else 1)
    acts = activation_bytes(shape, sequences, block_size, precision,
                            attention_scores=device != "cuda",
                            gradient_checkpointing=gradient_checkpointing)
    reference = shape.total_params * 4 if method == "full" and objective in ("dpo", "kto") \
        else 0
    subtotal = weights + gradients + optimizer + acts + reference
    overhead = int(0.1 * subtotal) + int((0.5 if device == "cuda" else 0.4) * GB)
    return MemoryEstimate(weights, gradients, optimizer, acts, overhead, reference)


def lora_trainable_params(linear_shapes: list[tuple[int, int]], r: int) -> int:
    """Adapter parameters for LoRA on linear layers of (in_features, out_features)."""
    return sum(r * (i + o) for i, o in linear_shapes)


def human_bytes(n: float) -> str:
    for unit, size in (("GB", GB), ("MB", 1024 ** 2), ("KB", 1024)):
        if n >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{int(n)} B"
