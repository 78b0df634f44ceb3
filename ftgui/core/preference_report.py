"""`ftgui data` on a preference file: data_report's facts (format, columns, splits,
counts, token lengths) plus the objective it trains with, and one example as the run
renders it: the prompt once, then each answer (chosen and rejected, or the completion and
its label) with the part trained on.
"""

from __future__ import annotations

from ftgui.core import data_report, preference_data
from ftgui.core.config import DataConfig
from ftgui.core.errors import DataError


def describe(cfg: DataConfig, tokenizer, n: int, seed: int, objective: str,
             guessed: bool) -> dict:
    """The report of a preference file trained with ``objective`` (``guessed``: from the
    file, the run config saying sft)."""
    rows_read = preference_data.read(cfg, seed)
    reading, train = rows_read[0], rows_read[1]
    if guessed:
        objective = reading.objective
    prepared = preference_data.prepare(cfg, objective, tokenizer, seed, rows_read=rows_read)
    s = prepared.stats
    out = {"format": reading.format, "detected": s["detected"],
           "columns": s["columns"], "ignored_columns": s["ignored_columns"],
           **({"prompt_from": s["prompt_from"]} if "prompt_from" in s else {}),
           "splits": s["splits"], "validation_from": s["validation_from"],
           "block_size": cfg.block_size,
           "examples": {k: s[f"train_{k}"] for k in ("kept", "truncated", "dropped")},
           "block_size_95": s["train_block_size_95"],
           "token_lengths": {"median": s["train_length_median"],
                             "longest": s["train_length_max"]},
           "objective": objective, "objective_guessed": guessed}
    if objective == "kto" and reading.kind == "paired":
        out["note"] = ("KTO trains each pair as two examples: the chosen answer good, the "
                       "rejected one bad.")
    if not 1 <= n <= len(train):
        raise DataError(f"--example: {data_report.count_of(len(train))}; give a number "
                        f"from 1 to {len(train)}.", field="data.source")
    out["example"] = {"number": n, **example(train[n - 1], tokenizer, cfg.block_size)}
    return out


def example(ex: dict, tokenizer, block_size: int) -> dict:
    """One example as the trainer gets it (the tokenizer prepared by sft): the prompt text
    (cut from the prompt side when it is too long), each answer's text (all of it trained
    on), token counts, and whether it is kept whole, cut (``full_tokens``: its length
    before) or dropped at ``block_size`` (then shown whole)."""
    names = ("chosen", "rejected") if "chosen" in ex else ("completion",)
    # preference_data.prepare has rendered every example already: no template guard here
    cut, status, full = preference_data.fit(tokenizer, ex, block_size)
    p, answers = preference_data.encode_answers(tokenizer, (cut or ex)["prompt"],
                                                [ex[k] for k in names])
    texts = [tokenizer.decode(a) for a in answers]
    out = {"prompt": tokenizer.decode(p), **dict(zip(names, texts)), "trained": texts,
           "tokens": {"prompt": len(p), **{k: len(a) for k, a in zip(names, answers)}},
           "status": status}
    if status == "truncated":
        out["full_tokens"] = full
    if "label" in ex:
        out["label"] = ex["label"]
    return out


def lines(rep: dict) -> list[str]:
    """The lines data_report.lines adds for a preference file."""
    obj = rep["objective"]
    others = ("orpo or kto" if rep["format"] == "preference" else
              "nothing else: dpo and orpo need pairs")
    why = (f"guessed from the file; training.objective can choose {others}"
           if rep["objective_guessed"] else "training.objective")
    out = [f"Objective: {obj} ({why})."]
    if rep.get("note"):
        out.append(rep["note"])
    t = rep["token_lengths"]
    out.append(f"Token lengths (prompt + longest answer): median {t['median']:,}, "
               f"longest {t['longest']:,}.")
    return out
