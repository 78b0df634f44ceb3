"""What training would use, in words and as one JSON object: the format and column of each
role, the columns ignored and why, rows per split and where validation comes from, how
many examples are kept / cut / dropped at this block size, and one example with its
trained-on part marked. `ftgui data` prints it; `ftgui train` prints the same lines
before it starts and keeps them in summary.json; the window's Dataset tab shows them.
"""

from __future__ import annotations

from ftgui.core import data as data_mod, formats, preference_data, sft
from ftgui.core.config import DataConfig
from ftgui.core.errors import DataError


def report(stats: dict, block_size: int) -> dict:
    """The report's fields from ``data.prepare``'s stats."""
    fmt = stats.get("format", "text")
    rows = stats.get("train_rows", 0)
    examples = {"kept": stats.get("train_kept", rows),
                "truncated": stats.get("train_truncated", 0),
                "dropped": stats.get("train_dropped", 0)}
    return {"format": fmt, "detected": stats.get("detected", False),
            "columns": stats.get("columns", {}),
            "ignored_columns": stats.get("ignored_columns", {}),
            "splits": stats.get("splits", {}), "validation_from": stats.get("validation_from"),
            "block_size": block_size, "examples": examples,
            "block_size_95": stats.get("train_block_size_95") if fmt != "text" else None,
            **({"prompt_from": stats["prompt_from"]} if stats.get("prompt_from") else {})}


def count_of(n: int) -> str:
    return "there is 1 training example" if n == 1 else f"there are {n} training examples"


def example(raw: data_mod.RawData, tokenizer, n: int) -> dict:
    """Training example ``n`` (1-based) as text, with the substrings trained on."""
    if not 1 <= n <= len(raw.train):
        raise DataError(f"--example: {count_of(len(raw.train))}; give a number from 1 to "
                        f"{len(raw.train)}.", field="data.source")
    item = raw.train[n - 1]
    if raw.format == "text":
        return {"text": item, "trained": [item]}
    eos = tokenizer.eos_token_id
    pieces = []
    for text, is_response in sft.segments(item, tokenizer):
        if is_response and eos is not None and tokenizer.eos_token:
            if eos not in tokenizer(text, add_special_tokens=False)["input_ids"]:
                text += tokenizer.eos_token  # sft.encode appends it: it is trained on
        pieces.append((text, is_response))
    return {"text": "".join(t for t, _ in pieces), "trained": [t for t, r in pieces if r],
            "pieces": pieces}


def describe(cfg: DataConfig, tokenizer, n: int = 1, seed: int = 42,
             objective: str = "sft") -> dict:
    """The whole report for ``cfg`` (tokenizer only, no model weights). A preference file
    read with data.format auto is described as the run would train it (DPO or KTO, the
    objective guessed as the run guesses it)."""
    from ftgui.core import preference_report
    if objective != "sft":
        return preference_report.describe(cfg, tokenizer, n, seed, objective, guessed=False)
    try:
        raw = data_mod.load_raw(cfg, seed)
    except formats.PreferenceFile:
        if cfg.format != "auto":
            raise
        return preference_report.describe(cfg, tokenizer, n, seed, objective, guessed=True)
    prepared = data_mod.prepare(cfg, tokenizer, seed, raw=raw)
    out = report(prepared.stats, cfg.block_size)
    ex = example(raw, tokenizer, n)
    out["example"] = {"number": n, "text": ex["text"], "trained": ex["trained"]}
    return out


def lines(rep: dict) -> list[str]:
    """The report as console lines (the example excluded)."""
    how = "detected" if rep.get("detected") else "as configured"
    cols = ", ".join(f"{role} = {col}" for role, col in rep["columns"].items())
    out = [f"Data format: {rep['format']} ({how}); columns: {cols or 'none'}."]
    if rep.get("prompt_from"):
        out.append(f"Prompt: {rep['prompt_from']}.")
    if rep["ignored_columns"]:
        by_reason: dict[str, list[str]] = {}
        for c, why in rep["ignored_columns"].items():
            by_reason.setdefault(why, []).append(c)
        out.append("Ignored columns: " + "; ".join(f"{', '.join(cs)} ({why})" for why, cs in
                                                  by_reason.items()) + ".")
    splits = ", ".join(f"{name} {rows:,} row{'s' if rows != 1 else ''}"
                       for name, rows in rep["splits"].items())
    out.append(f"Splits: {splits}; validation: {rep['validation_from']}.")
    e = rep["examples"]
    if rep["format"] != "text":
        why = ("too long even with the prompt cut down: an answer, the system message "
               "and the template's framing stay whole" if rep["format"] in
               preference_data.FORMATS else "the response alone is longer than the block")
        line = (f"Examples at block_size {rep['block_size']}: {e['kept']:,} kept, "
                f"{e['truncated']:,} cut from the prompt side, {e['dropped']:,} dropped "
                f"({why}).")
        if rep.get("block_size_95") and (e["truncated"] or e["dropped"]):
            line += f" block_size {rep['block_size_95']} would keep 95 % whole."
        out.append(line)
    if "objective" in rep:
        from ftgui.core import preference_report
        out += preference_report.lines(rep)
    return out
