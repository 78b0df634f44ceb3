"""Preference tuning (DPO, KTO, ORPO) on TRL's trainers, and how a model ranks pairs.

The Runner builds the Trainer here when training.objective is not sft: TRL's config
class gets the same TrainingArguments as an SFT run plus the objective's own keys
(dpo.*, kto.*, orpo.*). Reference model: with LoRA none is passed, and TRL computes the
reference log-probabilities with the adapter disabled (no second copy); with full
fine-tuning a frozen copy of the starting weights (counted by core/memory.py).

trl is imported here only, when a preference run starts (the window does not load it).
"""

from __future__ import annotations

import copy
import math

from ftgui.core.config import RunConfig
from ftgui.core.preference_data import encode_answer, pairs_of

OBJECTIVES = ("dpo", "kto", "orpo")


def build_trainer(cfg: RunConfig, model, tokenizer, data, args: dict, callbacks: list):
    """The TRL trainer for cfg.training.objective. ``args``: TrainingArguments keywords."""
    peft_config = None
    if cfg.model.method == "lora":
        from ftgui.core import models
        peft_config = models.lora_config(model, cfg.lora)
    objective = cfg.training.objective
    return trl_trainer(objective, model, tokenizer, data.train, data.eval, args,
                       getattr(cfg, objective), cfg.data.block_size, peft_config, callbacks)


def trl_trainer(objective: str, model, tokenizer, train: list[dict],
                evals: list[dict] | None, args: dict, settings, block_size: int,
                peft_config=None, callbacks=None):
    """TRL's trainer for ``objective`` (dpo, kto, orpo) on TRL conversational examples.
    ``settings``: the objective's section (dpo.*, kto.*, orpo.*); ``peft_config``: LoRA,
    else full fine-tuning. The exported script embeds this (core/export/script.py)."""
    import datasets

    train = datasets.Dataset.from_list(train)
    evals = datasets.Dataset.from_list(evals) if evals else None
    common = dict(model=model, train_dataset=train, eval_dataset=evals,
                  processing_class=tokenizer, callbacks=callbacks, peft_config=peft_config)
    if objective == "dpo":
        from trl import DPOConfig, DPOTrainer
        conf = DPOConfig(**args, beta=settings.beta, loss_type=[settings.loss_type],
                         max_length=block_size, truncation_mode="keep_start",
                         label_smoothing=1e-3 if settings.loss_type == "exo_pair" else 0.0)
        return DPOTrainer(ref_model=_frozen_copy(model, peft_config), args=conf, **common)
    if objective == "kto":
        from trl import KTOConfig, KTOTrainer
        conf = KTOConfig(**args, beta=settings.beta,
                         desirable_weight=settings.desirable_weight,
                         undesirable_weight=settings.undesirable_weight, max_length=block_size)
        return KTOTrainer(ref_model=_frozen_copy(model, peft_config), args=conf, **common)
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer
    conf = ORPOConfig(**args, beta=settings.beta, max_length=block_size)
    return ORPOTrainer(**{**common, "processing_class": _without_bos(tokenizer)}, args=conf)


def _without_bos(tokenizer):
    """ORPO (trl 1.16, experimental) puts the tokenizer's BOS token before every prompt
    that does not start with it. A chat template that wants BOS renders it already (Llama
    3), so the token is only ever added where the template has none, e.g. GPT-2, whose
    BOS is its end-of-text token: the model would learn answers after a token it never
    sees when it is used. DPO and KTO add none. ORPO gets a copy without BOS; the run
    saves the tokenizer it was given."""
    if tokenizer.bos_token is None:
        return tokenizer
    tok = copy.deepcopy(tokenizer)
    tok.bos_token = None
    return tok


def _frozen_copy(model, peft_config):
    """Full fine-tuning: the reference is the model as it starts, frozen. TRL would load
    it again from model.config's name, which a GGUF or a moved folder does not have.
    LoRA: none (TRL computes the reference with the adapter disabled)."""
    if peft_config is not None:
        return None
    ref = copy.deepcopy(model)
    ref.requires_grad_(False)
    return ref.eval()


# ---- how a model ranks the validation pairs -------------------------------------------------
def _answer_logps(model, tokenizer, prompt, answers, device) -> list[float]:
    import torch

    seqs = [encode_answer(tokenizer, prompt, a) for a in answers]
    n = max(len(p) + len(a) for p, a in seqs)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(seqs), n), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, (p, a) in enumerate(seqs):
        ids[i, :len(p) + len(a)] = torch.tensor(p + a)
        mask[i, :len(p) + len(a)] = 1
    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    out = []
    for i, (p, a) in enumerate(seqs):
        targets = ids[i, len(p):len(p) + len(a)].to(device)
        rows = logp[i, len(p) - 1:len(p) + len(a) - 1]
        out.append(float(rows.gather(1, targets[:, None]).sum()))
    return out


def answer_logps(model, tokenizer, prompt: list[dict], answers: list[list[dict]]
                 ) -> list[float]:
    """The log-probability ``model`` gives each answer after ``prompt`` (messages, as
    preference_data encodes them): what pair_scores compares, for one example."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return _answer_logps(model, tokenizer, prompt, answers,
                                 next(model.parameters()).device)
    finally:
        model.train(was_training)


def pair_scores(model, tokenizer, examples: list[dict]) -> dict:
    """Preference accuracy (the share of pairs whose chosen answer has the higher
    log-probability) and the mean margin (log-probability of chosen minus rejected) of
    ``model`` on ``examples`` (pairs, or unpaired examples paired by prompt)."""
    import torch

    pairs = pairs_of(examples)
    if not pairs:
        return {}
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    margins = []
    try:
        with torch.no_grad():
            for prompt, chosen, rejected in pairs:
                c, r = _answer_logps(model, tokenizer, prompt, [chosen, rejected], device)
                margins.append(c - r)
    finally:
        model.train(was_training)
    finite = [m for m in margins if math.isfinite(m)]
    return {"accuracy": sum(m > 0 for m in margins) / len(margins),
            "margin": sum(finite) / len(finite) if finite else float("nan"),
            "pairs": len(margins)}
