"""How much an exported GGUF lost: validation perplexity of the file read back against the
run's float32 model (a preference run's: how it ranks the validation pairs).

transformers' GGUF loader dequantises every tensor to float32 on load, so the figure measures
the rounding of the weights (what the number format costs), not llama.cpp's kernels. Both
models see the same first ``max_blocks`` validation sequences of the run (its training rows
when it had no validation split), tokenised as the run tokenised them.

    res = measure(run_dir, "model-q8_0.gguf")
    print(check_text("q8_0", res))       # q8_0: perplexity 36.9 vs 36.8 in f32
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

from ftgui.core.errors import FtguiError
from ftgui.core.events import Progress
from ftgui.core.runs import RunDir


def _loss(model, seqs, n: int) -> float:
    import torch

    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(n):
            ids, labels = seqs.get(i)
            x = torch.from_numpy(ids.astype("int64"))[None]
            y = torch.from_numpy(labels.astype("int64"))[None]
            tokens = int((y[:, 1:] != -100).sum())
            if tokens == 0:
                continue
            total += float(model(input_ids=x, labels=y).loss) * tokens
            count += tokens
    if not count:
        raise FtguiError("No validation tokens to measure the perplexity on.")
    return total / count


def measure(run_dir: str | Path, gguf_path: str | Path, max_blocks: int = 16,
            progress: Callable[[Progress], None] | None = None) -> dict:
    """{'perplexity', 'perplexity_f32', 'perplexity_base', 'sequences', 'split'} for the
    GGUF at ``gguf_path``; the base model (the one the run started from) is measured on
    the same sequences, so that rounding that takes the fine-tune back out shows.
    Raises FtguiError when the run's data cannot be read any more."""
    import torch
    from transformers import AutoModelForCausalLM

    from ftgui.core import data as data_mod
    from ftgui.core import models
    from ftgui.core.config import ModelConfig

    rd = RunDir(run_dir)
    gguf_path = Path(gguf_path)
    cfg = rd.load_config()
    emit = progress or (lambda p: None)
    models.quiet_libraries()
    tok = models.load_tokenizer(ModelConfig(source=str(rd.model_dir)))
    if cfg.training.objective != "sft":
        return _measure_pairs(rd, cfg, tok, gguf_path, max_blocks, emit)
    emit(Progress("Measuring perplexity", 0, 4, "tokenizing the validation data"))
    prepared = data_mod.prepare(cfg.data, tok, cfg.training.seed)
    seqs, split = (prepared.eval, "validation") if prepared.eval is not None and len(
        prepared.eval) else (prepared.train, "training")
    n = min(max_blocks, len(seqs))
    emit(Progress("Measuring perplexity", 1, 4, "the float32 model"))
    f32 = AutoModelForCausalLM.from_pretrained(rd.model_dir, dtype=torch.float32,
                                               use_safetensors=True).eval()
    loss_f32 = _loss(f32, seqs, n)
    kw = {}
    if f32.config.model_type == "gpt2":
        kw["n_positions"] = f32.config.n_positions  # the loader reads context_length as n_ctx
    del f32
    emit(Progress("Measuring perplexity", 2, 4, "the base model"))
    base = models.load_model(cfg.model).eval()     # (a GGUF base: from ftgui's cache)
    loss_base = _loss(base, seqs, n)
    del base
    emit(Progress("Measuring perplexity", 3, 4, gguf_path.name))
    back = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name,
                                                dtype=torch.float32, **kw).eval()
    loss = _loss(back, seqs, n)
    emit(Progress("Measuring perplexity", 4, 4, gguf_path.name))
    return {"perplexity": math.exp(loss), "perplexity_f32": math.exp(loss_f32),
            "perplexity_base": math.exp(loss_base), "sequences": n, "split": split}


def _measure_pairs(rd: RunDir, cfg, tok, gguf_path: Path, max_pairs: int, emit) -> dict:
    """A preference run: how the GGUF read back, the run's float32 model and the base rank
    the first ``max_pairs`` validation pairs (preference.pair_scores, as the run's summary
    does): {'preference_accuracy', 'preference_margin', their _f32 and _base, 'pairs',
    'split'}."""
    import torch
    from transformers import AutoModelForCausalLM

    from ftgui.core import models, preference, preference_data

    stage = "Ranking validation pairs"
    emit(Progress(stage, 0, 4, "reading the validation pairs"))
    prepared = preference_data.prepare(cfg.data, cfg.training.objective, tok,
                                       cfg.training.seed)
    examples, split = (prepared.eval, "validation") if prepared.eval else \
        (prepared.train, "training")
    pairs = [{"prompt": p, "chosen": c, "rejected": r}
             for p, c, r in preference_data.pairs_of(examples)[:max_pairs]]
    if not pairs:
        raise FtguiError(f"No {split} pairs to rank (a KTO file needs a good and a bad "
                         f"answer to the same prompt).")
    out = {"pairs": len(pairs), "split": split}

    def score(model, suffix: str) -> None:
        s = preference.pair_scores(model.eval(), tok, pairs)
        out[f"preference_accuracy{suffix}"] = s["accuracy"]
        out[f"preference_margin{suffix}"] = s["margin"]

    emit(Progress(stage, 1, 4, "the float32 model"))
    f32 = AutoModelForCausalLM.from_pretrained(rd.model_dir, dtype=torch.float32,
                                               use_safetensors=True)
    kw = {"n_positions": f32.config.n_positions} if f32.config.model_type == "gpt2" else {}
    score(f32, "_f32")
    del f32
    emit(Progress(stage, 2, 4, "the base model"))
    base = models.load_model(cfg.model)             # (a GGUF base: from ftgui's cache)
    score(base, "_base")
    del base
    emit(Progress(stage, 3, 4, gguf_path.name))
    back = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name,
                                                dtype=torch.float32, **kw)
    score(back, "")
    emit(Progress(stage, 4, 4, gguf_path.name))
    return out


def _pairs_text(outtype: str, res: dict) -> str:
    def said(k: str) -> str:
        return (f"{res[f'preference_accuracy{k}']:.0%} "
                f"(margin {res[f'preference_margin{k}']:+.3f})")
    text = (f"{outtype}: preference accuracy {said('')} vs {said('_f32')} in f32 "
            f"({res['pairs']} {res['split']} pairs, the file read back by transformers); "
            f"the base model: {said('_base')}")
    gained = res["preference_margin_f32"] - res["preference_margin_base"]
    lost = res["preference_margin_f32"] - res["preference_margin"]
    if gained > 0 and lost >= 0.5 * gained:
        text += (f". The rounding took back {min(lost / gained, 9.99):.0%} of the margin "
                 f"the fine-tune gained; export q8_0 or f16 to keep it")
    return text


def check_text(outtype: str, res: dict) -> str:
    if "preference_accuracy" in res:
        return _pairs_text(outtype, res)
    text = (f"{outtype}: perplexity {res['perplexity']:.2f} vs {res['perplexity_f32']:.2f} in "
            f"f32 ({res['sequences']} {res['split']} sequences, the file read back by "
            f"transformers)")
    base = res.get("perplexity_base")
    if base is None:
        return text
    text += f"; the base model: {base:.2f}"
    gained = base - res["perplexity_f32"]
    lost = res["perplexity"] - res["perplexity_f32"]
    if gained > 0 and lost >= 0.5 * gained:
        # the fine-tune's changes are smaller than the rounding step: most of it is gone
        text += (f". The rounding took back {min(lost / gained, 9.99):.0%} of what the "
                 f"fine-tune gained; export q8_0 or f16 to keep it")
    return text


def check_line(outtype: str, run_dir: str | Path, gguf_path: str | Path,
               progress: Callable[[Progress], None] | None = None) -> str:
    """The export's one line on the file's quality (check_text of measure), or why it was
    not checked."""
    try:
        return check_text(outtype, measure(run_dir, gguf_path, progress=progress))
    except FtguiError as e:
        return f"{outtype}: quality not checked ({e.message})"
