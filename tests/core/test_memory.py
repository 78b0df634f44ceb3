"""The memory estimate: exact where it can be, measured where it cannot."""

import pytest

from ftgui.core.memory import (ModelShape, activation_bytes, estimate, human_bytes,
                               lora_trainable_params, shape_from_config)

GPT2_SMALL = ModelShape(total_params=124_439_808, n_layers=12, hidden=768, n_heads=12,
                        vocab=50257, intermediate=3072)


def test_full_fp32_states_are_16_bytes_per_parameter():
    est = estimate(GPT2_SMALL, method="full", trainable_params=GPT2_SMALL.total_params,
                   batch_size=1, block_size=8, precision="fp32")
    assert est.weights + est.gradients + est.optimizer == 16 * GPT2_SMALL.total_params
    assert est.total > est.weights + est.gradients + est.optimizer


def test_lora_needs_far_less_than_full_and_halves_base_on_cuda():
    trainable = lora_trainable_params([(768, 768)] * 24, r=8)
    full = estimate(GPT2_SMALL, method="full", trainable_params=GPT2_SMALL.total_params,
                    batch_size=8, block_size=128, precision="bf16", device="cuda")
    lora = estimate(GPT2_SMALL, method="lora", trainable_params=trainable,
                    batch_size=8, block_size=128, precision="bf16", device="cuda")
    assert lora.optimizer < full.optimizer / 100
    assert lora.weights == pytest.approx((GPT2_SMALL.total_params - trainable) * 2
                                         + trainable * 4)
    assert lora.total < full.total


def test_activations_grow_with_batch_and_shrink_with_checkpointing():
    a1 = activation_bytes(GPT2_SMALL, 1, 256, "fp32")
    a4 = activation_bytes(GPT2_SMALL, 4, 256, "fp32")
    assert a4 == pytest.approx(4 * a1, rel=0.01)
    ckpt = activation_bytes(GPT2_SMALL, 4, 256, "fp32", gradient_checkpointing=True)
    assert ckpt < a4 / 2
    assert activation_bytes(GPT2_SMALL, 4, 256, "bf16") < a4


def test_shape_from_config_reads_gpt2_and_llama_names():
    from transformers import GPT2Config, LlamaConfig

    g = shape_from_config(GPT2Config(n_layer=3, n_embd=96, n_head=4, vocab_size=1000), 10)
    assert (g.n_layers, g.hidden, g.n_heads, g.vocab, g.intermediate) == (3, 96, 4, 1000, 384)
    assert not g.gated_mlp
    ll = shape_from_config(LlamaConfig(num_hidden_layers=2, hidden_size=64,
                                       intermediate_size=172, num_attention_heads=4,
                                       vocab_size=500), 10)
    assert (ll.n_layers, ll.hidden, ll.intermediate, ll.vocab) == (2, 64, 172, 500)
    assert ll.gated_mlp


@pytest.mark.parametrize("layers,hidden,heads,vocab,batch,block",
                         [(2, 64, 2, 512, 4, 32), (3, 128, 4, 3000, 4, 96)])
def test_activation_estimate_matches_what_autograd_saves(layers, hidden, heads, vocab,
                                                         batch, block):
    """Sum the bytes autograd really saves in a forward pass of a small GPT-2; the
    estimate must be within a factor of 1.5 of it."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=layers, n_embd=hidden, n_head=heads,
                                       vocab_size=vocab, n_positions=256,
                                       bos_token_id=0, eos_token_id=0))
    model.train()
    saved: dict[int, int] = {}

    def pack(t):
        st = t.untyped_storage()
        saved[st.data_ptr()] = st.nbytes()
        return t

    ids = torch.randint(0, vocab, (batch, block))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(input_ids=ids, labels=ids)
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    measured = sum(n for ptr, n in saved.items() if ptr not in weights)
    total = sum(p.numel() for p in model.parameters())
    est = activation_bytes(shape_from_config(model.config, total), batch, block, "fp32")
    assert measured / 1.5 < est < measured * 1.5


def test_human_bytes():
    assert human_bytes(512) == "512 B"
    assert human_bytes(3 * 1024 ** 2) == "3.0 MB"
    assert human_bytes(24 * 1024 ** 3) == "24.0 GB"


def test_preference_objectives_count_the_reference_and_both_answers():
    kw = dict(trainable_params=GPT2_SMALL.total_params, batch_size=4, block_size=128,
              precision="fp32")
    sft = estimate(GPT2_SMALL, method="full", **kw)
    dpo = estimate(GPT2_SMALL, method="full", objective="dpo", **kw)
    orpo = estimate(GPT2_SMALL, method="full", objective="orpo", **kw)
    assert dpo.reference == 4 * GPT2_SMALL.total_params   # the frozen fp32 copy
    assert ("reference model", dpo.reference) in dpo.parts()
    assert dpo.activations == activation_bytes(GPT2_SMALL, 8, 128, "fp32")
    assert orpo.reference == 0 and orpo.activations == dpo.activations   # no reference
    assert sft.reference == 0 and dpo.total > orpo.total > sft.total
    lora = estimate(GPT2_SMALL, method="lora", objective="dpo", precision="fp32",
                    trainable_params=lora_trainable_params([(768, 768)] * 24, r=8),
                    batch_size=4, block_size=128)
    assert lora.reference == 0   # the base with the adapter off is the reference
