"""What ftgui.core.compat relies on in the libraries' internals still holds; a release
that changes it fails here, naming the entry to re-check (or to drop)."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ftgui.core import compat, models
from ftgui.core.config import LoraConfig, ModelConfig
from ftgui.core.export.to_gguf import write_gguf

from tiny_model import make_tiny_model


def _trainer(model, tmp_path):
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(str(tmp_path / "out"), use_cpu=True, report_to="none",
                             disable_tqdm=True)
    return Trainer(model=model, args=args)


def _perturb(model):
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(1.0)


def test_load_checkpoint_weights_full_model(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    trainer = _trainer(model, tmp_path)
    ckpt = tmp_path / "checkpoint-3"
    trainer.save_model(str(ckpt))   # the layout of a Trainer checkpoint's weights
    saved = load_file(ckpt / "model.safetensors")
    _perturb(model)
    assert not torch.equal(model.transformer.wte.weight, saved["transformer.wte.weight"])
    compat.load_checkpoint_weights(trainer, str(ckpt))
    state = model.state_dict()
    for name, tensor in saved.items():
        torch.testing.assert_close(state[name], tensor, rtol=0, atol=0, msg=name)


def test_load_checkpoint_weights_lora_adapter(tiny_model_dir, tmp_path):
    from peft import get_peft_model_state_dict

    model = models.apply_lora(models.load_model(ModelConfig(source=str(tiny_model_dir))),
                              LoraConfig())
    trainer = _trainer(model, tmp_path)
    ckpt = tmp_path / "checkpoint-3"
    trainer.save_model(str(ckpt))
    saved = load_file(ckpt / "adapter_model.safetensors")
    assert saved, "no adapter weights written"
    _perturb(model)
    compat.load_checkpoint_weights(trainer, str(ckpt))
    now = get_peft_model_state_dict(model)
    assert now.keys() == saved.keys()
    for name, tensor in saved.items():
        torch.testing.assert_close(now[name], tensor, rtol=0, atol=0, msg=name)


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("compat-gguf")
    # transformers reads gpt2.context_length back as n_ctx; keep n_positions at its default
    model = make_tiny_model(base / "model", n_positions=1024)
    (base / "gguf").mkdir()
    return write_gguf(model, base / "gguf" / "tiny.gguf", "f32")


def test_gguf_model_is_plain_after_forget_gguf_quantization(tiny_gguf, tmp_path):
    from transformers import AutoModelForCausalLM

    raw = AutoModelForCausalLM.from_pretrained(tiny_gguf.parent, gguf_file=tiny_gguf.name,
                                               dtype=torch.float32)
    assert raw.is_quantized and raw.hf_quantizer is not None, (
        "transformers no longer marks a dequantized GGUF model as quantized: "
        "compat.forget_gguf_quantization may be unnecessary now")
    with pytest.raises(ValueError, match="quantized"):
        _trainer(raw, tmp_path)   # why the marks must go

    model = models.load_model(ModelConfig(source=str(tiny_gguf)))
    assert not model.is_quantized
    assert getattr(model, "hf_quantizer", None) is None
    assert not hasattr(model.config, "quantization_config")
    _trainer(model, tmp_path)   # accepted for full fine-tuning
    model.save_pretrained(tmp_path / "saved")
    assert "quantization_config" not in (tmp_path / "saved" / "config.json").read_text()


def test_gguf_pre_tokenizer_splits_table():
    table = compat.gguf_pre_tokenizer_splits()
    assert table, ("transformers' GGUF_PRE_TOKENIZER_SPLITS moved or emptied: GGUF export "
                   "now writes only gpt-2 / smollm / default as tokenizer.ggml.pre")
    assert all(isinstance(k, str) and isinstance(v, str) and v for k, v in table.items())
    assert "llama-bpe" in table


def test_merged_lora_state_dict_is_merge_and_unloads_bit_for_bit(tiny_model_dir):
    """The merged weights a LoRA run saves, computed beside the model: the same tensors
    as peft's merge_and_unload (GPT-2's Conv1D layers: transposed deltas), and the model
    itself left as it was (base weights untouched, adapter still there)."""
    import copy

    from transformers import AutoModelForCausalLM

    model = models.apply_lora(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                              LoraConfig(r=4, alpha=8))
    _perturb(model)   # lora_B starts at 0: a delta of 0 would prove nothing
    before = {k: v.clone() for k, v in model.state_dict().items()}
    merged = compat.merged_lora_state_dict(model)
    expected = copy.deepcopy(model).merge_and_unload().state_dict()
    assert merged is not None and merged.keys() == expected.keys()
    original = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    for key, value in expected.items():
        assert torch.equal(merged[key], value), key
    changed = [k for k in expected if not torch.equal(expected[k], original[k])]
    assert changed and all("attn" in k for k in changed)   # the adapted layers changed
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())


def test_drop_fused_lm_head_gives_the_model_its_own_forward_back(tiny_model_dir):
    """TRL's DPO / KTO trainers patch the trained model's forward as an instance
    attribute (trl.trainer.utils.add_fused_lm_head); the kept model loses that patch, on
    a plain model and on a PEFT model's base, and computes the same logits."""
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    ids = torch.tensor([[5, 6, 7, 8]])
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    logits = model(input_ids=ids).logits
    add_fused_lm_head(model)
    assert "forward" in vars(model), ("trl's add_fused_lm_head no longer sets an instance "
                                      "forward: re-check compat.drop_fused_lm_head")
    compat.drop_fused_lm_head(model)
    assert "forward" not in vars(model) and model.forward.__func__ is type(model).forward
    assert torch.equal(model(input_ids=ids).logits, logits)

    peft_model = models.apply_lora(model, LoraConfig(r=4, alpha=8))
    add_fused_lm_head(peft_model.get_base_model())
    compat.drop_fused_lm_head(peft_model)
    assert "forward" not in vars(peft_model.get_base_model())


def test_loading_progress_counts_the_tensors_of_this_threads_load(tiny_model_dir, tiny_gguf):
    import threading

    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    seen = []
    with compat.loading_progress(lambda *r: seen.append(r)):
        AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        # another thread's load meanwhile is not reported here
        other = threading.Thread(target=AutoModelForCausalLM.from_pretrained,
                                 args=(tiny_model_dir,))
        other.start()
        other.join()
    with safe_open(tiny_model_dir / "model.safetensors", "pt") as f:
        n = len(list(f.keys()))
    assert seen[0] == ("tensors", 0, n) and seen[-1] == ("tensors", n, n)
    assert len(seen) == n + 1 and [d for _, d, _ in seen] == sorted(d for _, d, _ in seen)

    seen.clear()   # a GGUF file: its tensors dequantised, then loaded
    with compat.loading_progress(lambda *r: seen.append(r)):
        AutoModelForCausalLM.from_pretrained(tiny_gguf.parent, gguf_file=tiny_gguf.name)
    assert [w for w, _, _ in seen if w == "GGUF tensors"] and seen[-1][0] == "tensors"
    assert seen[-1][1] == seen[-1][2]
    count = len(seen)
    AutoModelForCausalLM.from_pretrained(tiny_model_dir)   # after the block: no report
    assert len(seen) == count
