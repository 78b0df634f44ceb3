"""Preference data: rows → TRL's conversational preference format, cut to the block.

Paired rows (DPO, ORPO) become ``{"prompt": [messages], "chosen": [assistant messages],
"rejected": [assistant messages]}``; unpaired rows (KTO) ``{"prompt", "completion",
"label"}``. Read as published:

* TRL standard and conversational, explicit prompt (``prompt`` + ``chosen`` +
  ``rejected``) or implicit (``chosen`` / ``rejected`` conversations sharing a prefix);
* LLaMA-Factory's ``dpo_en_demo.json`` (``conversations`` + ``chosen`` / ``rejected``
  single message objects, ShareGPT from/value) and v1 ``chosen_messages`` /
  ``rejected_messages``; OpenAI DPO (``input.messages`` + ``preferred_output`` /
  ``non_preferred_output``); Stack Exchange paired (``question`` + ``response_j`` /
  ``response_k``); Anthropic hh-rlhf (``chosen`` / ``rejected`` as whole
  "Human: … Assistant: …" transcripts: read as messages, the shared turns the prompt);
* unpaired: TRL ``prompt`` + ``completion`` + ``label``, LLaMA-Factory
  ``kto_en_demo.json`` (``messages`` + ``label``: the last assistant message is the
  completion).

Prompts are rendered with the chat template as for SFT (sft.prepare_tokenizer) and cut
from the prompt side to fit data.block_size: the oldest turns first, then the oldest
tokens of the last prompt message; an example whose answer alone does not fit is dropped.

``ftgui export --format script`` embeds this file verbatim for preference runs
(core/export/script.py), so, like data_steps.py, it imports only the standard library,
numpy and names (never modules) from the other embedded files, and its top-level names
differ from theirs. Hub messages and progress events stay with the callers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np

from ftgui.core.data_steps import hold_out, source_rows, validation_choice, validation_rows
from ftgui.core.errors import DataError
from ftgui.core.formats import (ROLES, SYSTEM_NAMES, _find, _labels_are_bool,
                                _message_columns, _messages, columns_of, is_message_list)
from ftgui.core.sft import prepare_tokenizer
from ftgui.core.templates import TemplateFailed, guarded

PAIRS = (("chosen", "rejected"), ("chosen_messages", "rejected_messages"),
         ("preferred_output", "non_preferred_output"), ("response_j", "response_k"))
PROMPTS = ("prompt", "input", "question", "instruction", "query")
LABELS = ("label", "kto_tag")
FORMATS = ("preference", "unpaired preference")   # PreferenceReading.format's values
COMPLETIONS = ("completion", "response", "output", "answer")


@dataclass
class PreferenceReading:
    kind: str                                               # paired | unpaired
    columns: dict[str, str] = field(default_factory=dict)   # role → column
    ignored: dict[str, str] = field(default_factory=dict)
    transcript: bool = False      # chosen / rejected are hh-rlhf "Human: … Assistant: …"

    @property
    def prompt_from(self) -> str | None:
        """Where the prompt comes from when no column holds it (said to the user)."""
        if self.kind != "paired" or "prompt" in self.columns:
            return None
        if self.transcript:
            return ("the turns chosen and rejected share, up to their last Assistant turn "
                    "(Human: / Assistant: transcripts read as user / assistant messages, "
                    "as Anthropic hh-rlhf)")
        return "the beginning that chosen and rejected share (no prompt column)"

    @property
    def objective(self) -> str:
        return "dpo" if self.kind == "paired" else "kto"

    @property
    def format(self) -> str:
        return "preference" if self.kind == "paired" else "unpaired preference"


def detect_preference(rows: list[dict], where: str) -> PreferenceReading | None:
    """The preference reading of ``rows``, None when they are not preference data."""
    columns = columns_of(rows)
    sample = rows[:200]
    for a, b in PAIRS:
        ca, cb = _find(columns, [a]), _find(columns, [b])
        if ca and cb:
            cols = {"chosen": ca, "rejected": cb}
            prompt = _find(columns, PROMPTS) or \
                next(iter(_message_columns(columns, sample)), None)
            if prompt and prompt not in (ca, cb):   # else implicit: the shared beginning
                cols["prompt"] = prompt
            system = _find(columns, SYSTEM_NAMES)
            if system:
                cols["system"] = system
            return _ignored(PreferenceReading(
                "paired", cols, transcript="prompt" not in cols and
                transcript(_first(sample, ca)) is not None), columns)
    label = _find(columns, LABELS)
    if label and _labels_are_bool(sample, label):
        messages = next(iter(_message_columns(columns, sample)), None)
        prompt = _find(columns, PROMPTS)
        completion = _find(columns, COMPLETIONS)
        cols = {"label": label}
        if prompt and completion:
            cols.update(prompt=prompt, completion=completion)
        elif messages:
            cols["messages"] = messages
        elif completion and is_message_list(_first(sample, completion)):
            cols["messages"] = completion   # argilla/kto-mix: the whole chat in 'completion'
        else:
            return None
        system = _find(columns, SYSTEM_NAMES)
        if system:
            cols["system"] = system
        return _ignored(PreferenceReading("unpaired", cols), columns)
    return None


def _first(sample: list[dict], col: str):
    return next((r.get(col) for r in sample if r.get(col) is not None), None)


def _ignored(reading: PreferenceReading, columns: list[str]) -> PreferenceReading:
    used = set(reading.columns.values())
    reading.ignored = {c: "not part of a preference example" for c in columns
                       if c not in used}
    return reading


# ---- rows → TRL conversational examples ---------------------------------------------
TURN = re.compile(r"(?:^|\n\n)(Human|Assistant): ?")


def transcript(text) -> list[dict] | None:
    """Anthropic hh-rlhf's "\\n\\nHuman: …\\n\\nAssistant: …" text as user / assistant
    messages (as TRL's examples/datasets/hh-rlhf-helpful-base.py reads it); None when
    ``text`` is not such a transcript."""
    if not isinstance(text, str) or not text.lstrip().startswith("Human:"):
        return None
    parts = TURN.split(text.lstrip())
    return [{"role": "user" if who == "Human" else "assistant", "content": said}
            for who, said in zip(parts[1::2], parts[2::2])]


def _as_messages(value, n: int, where: str, role: str) -> list[dict]:
    """A column value as messages: text (one ``role`` message), a message object, a
    message list, or an object holding ``messages`` (OpenAI's input)."""
    if isinstance(value, str):
        if not value.strip():
            raise DataError(f"data.source: {where} row {n}: an empty answer or prompt; fill "
                            f"it in or remove the row.", field="data.source")
        return [{"role": role, "content": value}]
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        value = value["messages"]
    if isinstance(value, dict):
        value = [value]
    return _message_list(value, n, where)


def _message_list(value, n: int, where: str) -> list[dict]:
    """formats' reading of a message list, without its turn-order check (an answer alone
    starts with the assistant)."""
    if not isinstance(value, list) or not value:
        raise DataError(f"data.source: {where} row {n}: expected text or a list of "
                        f"messages, got {type(value).__name__}.", field="data.source")
    # formats checks whole conversations; a prompt alone lacks the answer, an answer
    # alone the question: stand-ins make them whole for the check and are dropped again
    lead = [{"role": "user", "content": "."}] if _role(value[0]) == "assistant" else []
    tail = [{"role": "assistant", "content": "."}] \
        if _role(value[-1]) in ("user", "tool") else []
    out = _messages(lead + list(value) + tail, n, where)
    return out[len(lead):len(out) - len(tail)]


def _role(m) -> str | None:
    if not isinstance(m, dict):
        return None
    name = m.get("role", m.get("from"))
    return ROLES.get(str(name).lower()) if name is not None else None


def _split_answer(msgs: list[dict]) -> tuple[list[dict], list[dict]]:
    """(prompt, answer): the answer is the assistant messages at the end."""
    k = len(msgs)
    while k > 0 and msgs[k - 1]["role"] == "assistant":
        k -= 1
    return msgs[:k], msgs[k:]


def _with_system(prompt: list[dict], row: dict, reading, n, where) -> list[dict]:
    col = reading.columns.get("system")
    system = row.get(col) if col else None
    if isinstance(system, str) and system.strip() and (not prompt or
                                                       prompt[0]["role"] != "system"):
        return [{"role": "system", "content": system}] + prompt
    return prompt


def _check_prompt(prompt: list[dict], n: int, where: str) -> None:
    if not prompt or prompt[-1]["role"] not in ("user", "tool"):
        raise DataError(f"data.source: {where} row {n}: the prompt must end with a user "
                        f"message (the answers follow it).", field="data.source")


def _transcripts(row: dict, reading: PreferenceReading, n: int, where: str):
    out = []
    for key in ("chosen", "rejected"):
        msgs = transcript(row.get(reading.columns[key]))
        if not msgs:
            raise DataError(f"data.source: {where} row {n}: column "
                            f"'{reading.columns[key]}' is not a \"Human: … Assistant: …\" "
                            f"conversation like the first rows'; fix or remove the row.",
                            field="data.source")
        out.append(_message_list(msgs, n, where))
    return out


def paired(row: dict, reading: PreferenceReading, n: int, where: str) -> dict:
    cols = reading.columns
    if reading.transcript:
        chosen, rejected = _transcripts(row, reading, n, where)
    else:
        chosen = _as_messages(row.get(cols["chosen"]), n, where, "assistant")
        rejected = _as_messages(row.get(cols["rejected"]), n, where, "assistant")
    if chosen[0]["role"] != "assistant" or rejected[0]["role"] != "assistant":
        # implicit prompt: whole conversations that share their beginning
        k = 0
        while k < min(len(chosen), len(rejected)) and chosen[k] == rejected[k]:
            k += 1
        prompt, chosen, rejected = chosen[:k], chosen[k:], rejected[k:]
        prompt, answer = _split_answer(prompt)
        chosen, rejected = answer + chosen, answer + rejected
        if not any(m["role"] == "user" for m in prompt) or \
                any(m["role"] != "assistant" for m in chosen + rejected):
            user, assistant = ("Human", "Assistant") if reading.transcript else \
                ("user", "assistant")
            raise DataError(f"data.source: {where} row {n}: chosen and rejected share no "
                            f"conversation up to an {assistant} turn (they differ in a {user} "
                            f"turn), so there is no common prompt for the two answers; fix "
                            f"or remove the row.", field="data.source")
    else:
        value = row.get(cols["prompt"]) if cols.get("prompt") else None
        if value is None:
            raise DataError(f"data.source: {where} row {n}: no prompt: give a prompt column "
                            f"or chosen / rejected conversations that begin with it.",
                            field="data.source")
        prompt = _as_messages(value, n, where, "user")
    if not chosen or not rejected or any(m["role"] != "assistant" for m in chosen + rejected):
        raise DataError(f"data.source: {where} row {n}: chosen and rejected must each end in "
                        f"an assistant answer.", field="data.source")
    prompt = _with_system(prompt, row, reading, n, where)
    _check_prompt(prompt, n, where)
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


def unpaired(row: dict, reading: PreferenceReading, n: int, where: str) -> dict:
    cols = reading.columns
    label = row.get(cols["label"])
    if isinstance(label, str) and label.lower() in ("true", "false"):
        label = label.lower() == "true"
    if not isinstance(label, bool):
        raise DataError(f"data.source: {where} row {n}: column '{cols['label']}' must be true "
                        f"or false, got {label!r}.", field="data.source")
    if "messages" in cols:
        prompt, completion = _split_answer(_message_list(row.get(cols["messages"]), n, where))
    else:
        prompt = _as_messages(row.get(cols["prompt"]), n, where, "user")
        completion = _as_messages(row.get(cols["completion"]), n, where, "assistant")
    if not completion or any(m["role"] != "assistant" for m in completion):
        raise DataError(f"data.source: {where} row {n}: the completion must be an assistant "
                        f"answer.", field="data.source")
    prompt = _with_system(prompt, row, reading, n, where)
    _check_prompt(prompt, n, where)
    return {"prompt": prompt, "completion": completion, "label": label}


def unpair(examples: list[dict]) -> list[dict]:
    """Pairs as KTO examples: the chosen answer good, the rejected one bad."""
    out = []
    for ex in examples:
        out.append({"prompt": ex["prompt"], "completion": ex["chosen"], "label": True})
        out.append({"prompt": ex["prompt"], "completion": ex["rejected"], "label": False})
    return out


def pairs_of(examples: list[dict]) -> list[tuple[list, list, list]]:
    """(prompt, chosen, rejected) of each example; unpaired examples are paired by prompt
    (the first good and the first bad answer to the same prompt)."""
    if not examples:
        return []
    if "chosen" in examples[0]:
        return [(e["prompt"], e["chosen"], e["rejected"]) for e in examples]
    good, bad, order = {}, {}, []
    for e in examples:
        key = json.dumps(e["prompt"], sort_keys=True)
        if key not in good and key not in bad:
            order.append(key)
        (good if e["label"] else bad).setdefault(key, e)
    return [(good[k]["prompt"], good[k]["completion"], bad[k]["completion"])
            for k in order if k in good and k in bad]


# ---- tokens and the block ------------------------------------------------------------
def _render(tokenizer, messages: list[dict], **kw) -> list[int]:
    text = tokenizer.apply_chat_template(list(messages), tokenize=False, **kw)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def encode_answer(tokenizer, prompt: list[dict], answer: list[dict]
                  ) -> tuple[list[int], list[int]]:
    """(prompt ids, answer ids) as TRL renders them: the prompt with the generation prompt,
    the answer what prompt + answer adds (where the two diverge)."""
    p, (a,) = encode_answers(tokenizer, prompt, [answer])
    return p, a


def encode_answers(tokenizer, prompt: list[dict], answers: list[list[dict]]
                   ) -> tuple[list[int], list[list[int]]]:
    """(prompt ids, each answer's ids) as TRL's DPOTrainer splits them: the prompt is what
    the prompt with the generation prompt shares with every prompt + answer."""
    p = _render(tokenizer, prompt, add_generation_prompt=True)
    fulls = [_render(tokenizer, prompt + a) for a in answers]
    k = len(p)
    for full in fulls:
        j = 0
        while j < min(k, len(full)) and p[j] == full[j]:
            j += 1
        k = j
    return p[:k], [full[k:] for full in fulls]


def _answers(ex: dict) -> list[list[dict]]:
    return [ex["chosen"], ex["rejected"]] if "chosen" in ex else [ex["completion"]]


def _lengths(tokenizer, ex: dict) -> tuple[int, int]:
    """(prompt tokens, longest answer's tokens)."""
    enc = [encode_answer(tokenizer, ex["prompt"], a) for a in _answers(ex)]
    return len(enc[0][0]), max(len(a) for _, a in enc)


def fit(tokenizer, ex: dict, block_size: int) -> tuple[dict | None, str, int]:
    """(example cut to the block or None, kept | truncated | dropped, full length)."""
    p, a = _lengths(tokenizer, ex)
    full = p + a
    if full <= block_size:
        return ex, "kept", full
    if a >= block_size:
        return None, "dropped", full
    prompt = list(ex["prompt"])
    while p + a > block_size:
        start = 1 if prompt[0]["role"] == "system" else 0
        users = [i for i, m in enumerate(prompt) if i > start and m["role"] == "user"]
        if users:   # the oldest exchange goes first
            prompt = prompt[:start] + prompt[users[0]:]
        else:       # then the oldest tokens of the last prompt message
            last = prompt[-1]
            ids = tokenizer(last["content"], add_special_tokens=False)["input_ids"]
            keep = len(ids) - (p + a - block_size) - 1
            if keep <= 0:
                return None, "dropped", full
            prompt = prompt[:-1] + [{**last, "content": tokenizer.decode(ids[-keep:])}]
        before = p + a
        p, a = _lengths(tokenizer, {**ex, "prompt": prompt})
        if p + a >= before:   # the cut did not shorten it (the tokens are not all in the
            return None, "dropped", full   # last message's text): give up on this one
    return {**ex, "prompt": prompt}, "truncated", full


def tokenize_examples(examples: list[dict], tokenizer, block_size: int, truncate: bool,
                      which: str, progress=None) -> tuple[list[dict], dict]:
    """The examples cut to the block, and their counts (as data.prepare's for SFT).
    ``progress(stage, done, total)``, as data_steps' steps report."""
    out, lengths, tokens = [], [], 0
    counts = {"kept": 0, "truncated": 0, "dropped": 0}
    for n, ex in enumerate(examples, 1):
        try:
            with guarded("the tokenizer's chat template",
                         "Set data.template: simple, or fix the template."):
                cut, status, full = fit(tokenizer, ex, block_size)
        except TemplateFailed as e:
            raise DataError(f"data.template: {which} example {n}: {e.message}",
                            field="data.template") from None
        lengths.append(full)
        if status != "kept" and not truncate:
            raise DataError(f"data.truncate: {which} example {n} is {full} tokens, longer "
                            f"than data.block_size = {block_size}. Raise block_size, turn "
                            f"truncation on, or shorten that example.", field="data.truncate")
        counts[status] += 1
        if cut is not None:
            p, a = _lengths(tokenizer, cut)
            tokens += p + a * len(_answers(cut))
            out.append(cut)
        if progress and (n % 200 == 0 or n == len(examples)):
            progress(f"Tokenizing {which} data", n, len(examples))
    field_name = "data.block_size" if which == "training" else "data.validation"
    if not out:
        need = int(np.percentile(lengths, 95, method="inverted_cdf")) if lengths else 0
        raise DataError(f"{field_name}: every {which} example has an answer longer than "
                        f"data.block_size = {block_size} tokens; raise it (block_size {need} keeps 95 % of "
                        f"them whole).", field=field_name)
    return out, {"tokens": tokens, "blocks": len(out), **counts,
                 "block_size_95": int(np.percentile(lengths, 95, method="inverted_cdf")),
                 "length_median": int(np.percentile(lengths, 50, method="inverted_cdf")),
                 "length_max": max(lengths)}


# ---- loading ---------------------------------------------------------------------------
@dataclass
class PreferenceData:
    train: list[dict]                 # TRL conversational examples, cut to the block
    eval: list[dict] | None
    reading: PreferenceReading
    stats: dict
    cached: bool = False


def read(cfg, seed: int) -> tuple[PreferenceReading, list[dict], list[dict] | None, dict]:
    """The rows of data.* as preference examples: (reading, train, eval, splits info).
    Raises a DataError naming training.objective when they are not preference data."""
    rows = source_rows(cfg, cfg.split)
    where = cfg.source
    reading = detect_preference(rows, where) if rows else None
    if reading is None:
        raise DataError(f"training.objective: {where} is not preference data (no chosen / "
                        f"rejected columns, no true/false label column); preference tuning "
                        f"needs them. Set training.objective: sft to fine-tune on it, or "
                        f"give a preference file.", field="training.objective")
    make = paired if reading.kind == "paired" else unpaired
    train = [make(r, reading, n, where) for n, r in enumerate(rows, 1)]
    if cfg.max_rows:
        train = train[:cfg.max_rows]
    eval_items = None
    v, validation_from = validation_choice(cfg)
    if isinstance(v, float):   # (KTO) a prompt's answers stay on one side
        train, eval_items = hold_out(
            train, v, seed, key=(lambda e: json.dumps(e["prompt"], sort_keys=True))
            if reading.kind == "unpaired" else None)
    elif isinstance(v, str) and v.strip():
        vrows, vwhere = validation_rows(cfg, v)
        vreading = detect_preference(vrows, vwhere) if vrows else None
        if vreading is None or vreading.kind != reading.kind:
            raise DataError(f"data.validation: {vwhere} is not {reading.format} data like "
                            f"the training file.", field="data.validation")
        eval_items = [make(r, vreading, n, vwhere) for n, r in enumerate(vrows, 1)]
    splits = {cfg.split: len(train)}
    if eval_items:
        splits["validation" if isinstance(v, float) else str(v)] = len(eval_items)
    return reading, train, eval_items, {"splits": splits, "validation_from": validation_from}


def prepare(cfg, objective: str, tokenizer, seed: int, progress=None,
            rows_read=None) -> PreferenceData:
    """The examples for ``objective`` (dpo, kto, orpo), cut to data.block_size, with the
    stats data.prepare gives for SFT (rows, tokens, kept / truncated / dropped).
    ``progress(stage, done, total)``; ``rows_read``: what read() gave, when the caller has
    it already."""
    reading, train, ev, info = rows_read or read(cfg, seed)
    if objective in ("dpo", "orpo") and reading.kind == "unpaired":
        raise DataError(f"training.objective: {objective} needs pairs (a chosen and a "
                        f"rejected answer to each prompt), but {cfg.source} has one answer "
                        f"per row marked good or bad by column {reading.columns['label']}. "
                        f"Set training.objective: kto.", field="training.objective")
    if objective == "kto" and reading.kind == "paired":
        train, ev = unpair(train), unpair(ev) if ev else ev
    prepare_tokenizer(tokenizer, cfg.template)
    rows = len(train)
    train, tstats = tokenize_examples(train, tokenizer, cfg.block_size, cfg.truncate,
                                      "training", progress)
    stats = {"format": reading.format, "text_column": ", ".join(
                 f"{r}={c}" for r, c in reading.columns.items()),
             "columns": dict(reading.columns), "ignored_columns": dict(reading.ignored),
             **({"prompt_from": reading.prompt_from} if reading.prompt_from else {}),
             "detected": cfg.format == "auto", **info, "train_rows": rows,
             **{f"train_{k}": v for k, v in tstats.items()},
             "eval_rows": len(ev or []), "eval_tokens": 0, "eval_blocks": 0}
    if ev:
        ev, estats = tokenize_examples(ev, tokenizer, cfg.block_size, cfg.truncate,
                                       "validation", progress)
        stats.update({f"eval_{k}": v for k, v in estats.items()})
    return PreferenceData(train, ev, reading, stats)
