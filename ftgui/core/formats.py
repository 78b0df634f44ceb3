"""What a dataset is: its format and which column plays which role, detected from the
column names and the shapes of their values, and its rows turned into chat messages.

Order of evidence (``data.format: auto``): media columns are refused; a preference
(chosen / rejected) or labelled (KTO ``label``) file is refused with what it is; a column
of message lists → chat; prompt + completion → prompt_completion; instruction / question
/ query + output / response / answer (+ input / context) → instruction; one natural-language
text column → text. An id or metadata column (id, uuid, source, category, tools, label,
short tokens without spaces, numbers, links) is never training text. When two readings
are plausible the error lists both, each with the exact settings that choose it.

Messages accept OpenAI (role/content, tool_calls, role tool), ShareGPT (from/value:
human, gpt, system, function_call, observation), MOSS ({human, assistant} pairs),
capitalised roles (Cohere's User / Chatbot / System) and content given as a list of
``{"type": "text", "text"|"value": ...}`` parts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ftgui.core.errors import DataError

MESSAGE_NAMES = ("messages", "conversations", "conversation", "chat", "dialog", "dialogue")
PROMPT_NAMES = ("instruction", "question", "query", "prompt")
INPUT_NAMES = ("input", "context")
RESPONSE_NAMES = ("output", "response", "answer", "completion")
SYSTEM_NAMES = ("system", "system_prompt", "systemprompt")
TOOLS_NAMES = ("tools", "functions")
MEDIA_NAMES = ("images", "image", "audios", "audio", "videos", "video", "image_url",
               "image_path", "audio_path", "pixel_values")
META_NAMES = {"id", "uuid", "source", "category", "tools", "label", "url", "link", "name",
              "topic", "model", "timestamp", "type", "lang", "language", "dataset", "split",
              "data_source", "index", "score", "tags", "license", "functions",
              "kto_tag", "ability", "domain", "task", "subset"}
PREFERENCE_PAIRS = (("chosen", "rejected"), ("preferred_output", "non_preferred_output"),
                    ("response_j", "response_k"), ("chosen_messages", "rejected_messages"))
ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
         "bot": "assistant", "model": "assistant", "chatbot": "assistant",
         "system": "system", "function_call": "assistant", "observation": "tool",
         "tool": "tool", "function": "tool", "ipython": "tool"}
MEDIA_PARTS = ("image", "image_url", "input_image", "audio", "input_audio", "video",
               "video_url", "file")
TOOL_MODELS = "Qwen/Qwen2.5-0.5B-Instruct or meta-llama/Llama-3.1-8B-Instruct"
SETTING = {"messages": "messages_column", "prompt": "prompt_column", "input": "input_column",
           "response": "response_column", "text": "text_column", "system": "system_column"}


@dataclass
class Reading:
    """How the rows are read: the format and the column of each role."""
    format: str                                          # text | instruction | chat | ...
    columns: dict[str, str] = field(default_factory=dict)  # role → column
    ignored: dict[str, str] = field(default_factory=dict)  # column → why it is not used
    detected: bool = False                               # chosen by data.format: auto

    def settings(self) -> str:
        """The data.* settings that choose this reading."""
        parts = [f"data.format: {self.format}"]
        parts += [f"data.{SETTING[r]}: {c}" for r, c in self.columns.items()
                  if r in ("messages", "prompt", "response", "text")]
        return ", ".join(parts)

    def mapping(self) -> str:
        return ", ".join(f"{r}={c}" for r, c in self.columns.items())


def columns_of(rows: list[dict]) -> list[str]:
    out: list[str] = []
    for r in rows[:1000]:
        out += [str(k) for k in r if str(k) not in out]
    return out


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _find(columns: list[str], names) -> str | None:
    by_norm = {}
    for c in columns:
        by_norm.setdefault(_norm(c), c)
    for n in names:
        if _norm(n) in by_norm:
            return by_norm[_norm(n)]
    return None


def _values(sample: list[dict], col: str) -> list:
    return [r.get(col) for r in sample if r.get(col) not in (None, "")]


# ---- value shapes ----------------------------------------------------------------------
def _is_message(m) -> bool:
    if not isinstance(m, dict):
        return False
    if ("role" in m or "from" in m) and ("content" in m or "value" in m or "tool_calls" in m):
        return True
    return set(m) >= {"human", "assistant"} or set(m) == {"human"}  # MOSS / Firefly pairs


def is_message_list(v) -> bool:
    return isinstance(v, list) and bool(v) and all(_is_message(m) for m in v)


def _message_columns(columns: list[str], sample: list[dict]) -> list[str]:
    out = []
    for c in columns:
        vals = _values(sample, c)
        if vals and sum(is_message_list(v) for v in vals) >= 0.8 * len(vals):
            out.append(c)
    return out


def _is_wordy(v) -> bool:
    """Natural-language text: not a number, a link, or one short token without spaces."""
    if not isinstance(v, str) or not v.strip():
        return False
    s = v.strip()
    try:
        float(s)
        return False
    except ValueError:
        pass
    if re.fullmatch(r"(https?|ftp)://\S+|[\w.-]+@[\w.-]+", s):
        return False
    return bool(re.search(r"\s", s)) or len(s) > 40 and not re.fullmatch(r"[0-9a-fA-F-]+", s)


def is_metadata(name: str, values: list) -> str | None:
    """Why a column is an id or metadata column (None when it may be training text)."""
    n = _norm(name)
    if n in {_norm(m) for m in META_NAMES} or n.endswith(("id", "uuid", "url", "link")):
        return "an id or metadata column"
    strings = [v for v in values if isinstance(v, str)]
    if not strings:
        return "not text" if values else "empty"
    if sum(_is_wordy(v) for v in strings) < 0.5 * len(strings):
        return "ids or labels (short tokens without spaces, numbers or links)"
    return None


def _text_columns(columns: list[str], sample: list[dict]) -> list[str]:
    """Natural-language columns; a lone string column that is not named like metadata
    counts even when its values are single words."""
    wordy = [c for c in columns if is_metadata(c, _values(sample, c)) is None]
    if wordy:
        return wordy
    strings = [c for c in columns if is_metadata(c, []) != "an id or metadata column"
               and any(isinstance(v, str) and v.strip() for v in _values(sample, c))]
    return strings if len(strings) == 1 else []


def _labels_are_bool(sample: list[dict], col: str) -> bool:
    vals = _values(sample, col)
    return bool(vals) and all(isinstance(v, bool) or str(v).lower() in ("true", "false")
                              for v in vals)


# ---- refusals --------------------------------------------------------------------------
def _refuse_media(columns: list[str], sample: list[dict], where: str) -> None:
    media = [c for c in columns if _norm(c) in {_norm(m) for m in MEDIA_NAMES}
             and _values(sample, c)]
    if not media:
        for c in _message_columns(columns, sample):
            for v in _values(sample, c):
                for m in v:
                    parts = m.get("content") if isinstance(m, dict) else None
                    if isinstance(parts, list) and any(
                            isinstance(p, dict) and p.get("type") in MEDIA_PARTS for p in parts):
                        media = [f"{c} (an {p.get('type')} part)" for p in parts
                                 if isinstance(p, dict) and p.get("type") in MEDIA_PARTS][:1]
                        break
                if media:
                    break
            if media:
                break
    if media:
        raise DataError(f"data.source: {where} has images, audio or video (column "
                        f"{', '.join(media)}); ftgui trains text-only language models, and "
                        f"dropping the media would train on placeholders. Use a text-only "
                        f"dataset.", field="data.source")


class PreferenceFile(DataError):
    """Preference (``objective`` dpo) or labelled (kto) rows where SFT data was expected:
    with data.format auto the run switches to that objective (core/preference.py)."""

    def __init__(self, message: str, objective: str):
        super().__init__(message, field="data.format")
        self.objective = objective


def _refuse_preference(columns: list[str], sample: list[dict], where: str) -> None:
    for a, b in PREFERENCE_PAIRS:
        ca, cb = _find(columns, [a]), _find(columns, [b])
        if ca and cb:
            raise PreferenceFile(
                f"data.source: {where} is a preference dataset (columns {ca} and {cb}: a "
                f"better and a worse answer to each prompt), made for preference tuning: "
                f"set training.objective: dpo (or orpo, kto). It is not trained as plain "
                f"fine-tuning on one answer; to do that on purpose, set data.format and the "
                f"column (e.g. data.format: chat, data.messages_column: {ca}).", "dpo")
    label = _find(columns, ["label", "kto_tag"])
    answers = _message_columns(columns, sample) or (
        _find(columns, ["prompt"]) and _find(columns, ["completion"]))
    if label and answers and _labels_are_bool(sample, label):
        raise PreferenceFile(
            f"data.source: {where} is an unpaired preference (KTO) dataset: column {label} "
            f"marks each answer good or bad. That is for preference tuning: set "
            f"training.objective: kto. Training on it as plain fine-tuning would teach the "
            f"bad answers too; keep only the good rows (and drop {label}) for that.", "kto")


# ---- detection -------------------------------------------------------------------------
class _Ambiguous(Exception):
    pass


def detect(rows: list[dict], cfg, where: str) -> Reading:
    """The reading of ``rows`` for ``cfg`` (a DataConfig): as configured, else detected."""
    columns = columns_of(rows)
    sample = rows[:200]
    _refuse_media(columns, sample, where)
    fmt = cfg.format
    if fmt == "auto" and (_configured(cfg) or getattr(cfg, "text_column", None)):
        fmt = ("chat" if getattr(cfg, "messages_column", None) else "text"
               if getattr(cfg, "text_column", None) else
               "prompt_completion" if _norm(getattr(cfg, "response_column", None) or "")
               == "completion" else "instruction")  # a column set by hand names its format
    if fmt == "auto":
        reading = _guess(columns, sample, cfg, where)
    else:
        if fmt != "text" and not _configured(cfg):
            _refuse_preference(columns, sample, where)
        reading = _configured_reading(fmt, columns, sample, cfg, where)
    _explain_ignored(reading, columns, sample)
    return reading


def _configured(cfg) -> bool:
    return any(getattr(cfg, k, None) for k in
               ("messages_column", "prompt_column", "response_column"))


def _pick(cfg, key: str, columns: list[str], names, where: str, required: bool):
    wanted = getattr(cfg, key, None)
    if wanted:
        if wanted not in columns:
            raise DataError(f"data.{key}: there is no column '{wanted}' in {where}; its "
                            f"columns are: {', '.join(columns)}.", field=f"data.{key}")
        return wanted
    found = _find(columns, names)
    if found is None and required:
        raise DataError(f"data.{key}: could not tell which column of {where} to use "
                        f"(columns: {', '.join(columns)}); set data.{key}.",
                        field=f"data.{key}")
    return found


def _extras(reading: Reading, columns: list[str], cfg) -> Reading:
    """The system and tools columns, when there are any."""
    system = getattr(cfg, "system_column", None) or _find(columns, SYSTEM_NAMES)
    if system and system in columns and reading.format != "text":
        reading.columns["system"] = system
    tools = _find(columns, TOOLS_NAMES)
    if tools and reading.format == "chat":
        reading.columns["tools"] = tools
    return reading


def _configured_reading(fmt, columns, sample, cfg, where) -> Reading:
    if fmt == "text":
        return Reading("text", {"text": _text_column(columns, sample, cfg, where)})
    if fmt == "chat":
        found = _message_columns(columns, sample)
        names = list(MESSAGE_NAMES) + found
        cols = {"messages": _pick(cfg, "messages_column", columns, names, where, True)}
    elif fmt == "instruction":
        prompt = _pick(cfg, "prompt_column", columns, PROMPT_NAMES, where, False)
        inputs = [n for n in INPUT_NAMES]
        if prompt is None and _find(columns, ["input"]):
            prompt, inputs = _find(columns, ["input"]), ["context"]
        if prompt is None:
            _pick(cfg, "prompt_column", columns, PROMPT_NAMES, where, True)
        cols = {"prompt": prompt,
                "input": _pick(cfg, "input_column", columns, inputs, where, False),
                "response": _pick(cfg, "response_column", columns, RESPONSE_NAMES, where,
                                  True)}
        cols = {k: v for k, v in cols.items() if v and (k != "input" or v != prompt)}
    else:
        cols = {"prompt": _pick(cfg, "prompt_column", columns, PROMPT_NAMES, where, True),
                "response": _pick(cfg, "response_column", columns, RESPONSE_NAMES, where,
                                  True)}
    return _extras(Reading(fmt, cols), columns, cfg)


def _text_column(columns, sample, cfg, where) -> str:
    wanted = getattr(cfg, "text_column", None)
    if wanted:
        if wanted not in columns:
            raise DataError(f"data.text_column: there is no column '{wanted}' in {where}; "
                            f"its columns are: {', '.join(columns) or 'none'}.",
                            field="data.text_column")
        return wanted
    text = _text_columns(columns, sample)
    if len(text) == 1:
        return text[0]
    if "text" in text:
        return "text"
    if not text:
        hint = _hint(columns, sample)
        strings = [c for c in columns if any(isinstance(v, str) for v in _values(sample, c))]
        if strings and not hint:
            hint = (f" Columns {', '.join(strings)} hold ids, labels or single words, not "
                    f"sentences; set data.text_column if one of them is the text to train on.")
        raise DataError(f"data.text_column: {where} has no text column (columns: "
                        f"{', '.join(columns) or 'none'}).{hint}", field="data.text_column")
    raise DataError(f"data.text_column: {where} has several text columns ("
                    f"{', '.join(text)}); set data.text_column to the one to train on, or "
                    f"data.format: instruction with data.prompt_column and "
                    f"data.response_column for prompt/response pairs.",
                    field="data.text_column")


def _hint(columns, sample) -> str:
    if _message_columns(columns, sample):
        return (f" Column {_message_columns(columns, sample)[0]} holds chat messages: set "
                f"data.format: chat.")
    return ""


def _guess(columns, sample, cfg, where) -> Reading:
    _refuse_preference(columns, sample, where)
    readings = _candidates(columns, sample, cfg, where)
    if len(readings) > 1:
        listed = "; or ".join(f"{r.format} ({r.settings()})" for r in readings)
        raise DataError(f"data.format: {where} can be read in more than one way: {listed}. "
                        f"Set the one you mean.", field="data.format")
    r = readings[0]
    r.detected = True
    return _extras(r, columns, cfg)


def _candidates(columns, sample, cfg, where) -> list[Reading]:
    msgs = _message_columns(columns, sample)
    prompt, completion = _find(columns, ["prompt"]), _find(columns, ["completion"])
    if msgs:
        if prompt in msgs and completion in msgs:
            return [Reading("prompt_completion", {"prompt": prompt, "response": completion})]
        with_answer = [c for c in msgs if _has_assistant(_values(sample, c))]
        if not with_answer:
            raise DataError(
                f"data.source: {where} holds prompts only (column {msgs[0]}: messages with "
                f"no assistant answer to learn from). Such files are for reinforcement "
                f"learning with a reward, not for fine-tuning; give prompts with answers.",
                field="data.source")
        return [Reading("chat", {"messages": c}) for c in with_answer]
    # a column only counts as prompt or response when some of its values are sentences
    # (an id column called "prompt" does not)
    texty = [c for c in columns if any(_is_wordy(v) for v in _values(sample, c))]
    if prompt and completion and (prompt in texty or completion in texty):
        return [Reading("prompt_completion", {"prompt": prompt, "response": completion})]
    # questionText / answerText (counsel-chat) name their role too
    p = _find(texty, PROMPT_NAMES) or _find(texty, [n + "text" for n in PROMPT_NAMES])
    r = _find(texty, RESPONSE_NAMES) or _find(texty, [n + "text" for n in RESPONSE_NAMES])
    inp = _find(columns, INPUT_NAMES)
    if p is None and r and _find(texty, ["input"]):
        p, inp = _find(texty, ["input"]), _find(columns, ["context"])
    out = []
    if p and r:
        cols = {"prompt": p, "response": r}
        if inp and inp != p:
            cols = {"prompt": p, "input": inp, "response": r}
        out.append(Reading("instruction", cols))
        text = _find(columns, ["text"])
        if text and text not in cols.values() and is_metadata(text, _values(sample, text)) \
                is None:
            out.append(Reading("text", {"text": text}))
        return out
    if p and not r and getattr(cfg, "text_column", None) is None:
        raise DataError(f"data.response_column: {where} has a prompt column ({p}) but no "
                        f"response column (columns: {', '.join(columns)}); set "
                        f"data.format: instruction and data.response_column, or "
                        f"data.format: text and data.text_column.",
                        field="data.response_column")
    return [Reading("text", {"text": _text_column(columns, sample, cfg, where)})]


def _has_assistant(values) -> bool:
    for v in values:
        for m in v:
            role = m.get("role", m.get("from")) if isinstance(m, dict) else None
            if "assistant" in m or ROLES.get(str(role).lower()) == "assistant":
                return True
    return False


def _explain_ignored(reading: Reading, columns, sample) -> None:
    used = set(reading.columns.values())
    for c in columns:
        if c in used:
            continue
        why = is_metadata(c, _values(sample, c))
        reading.ignored[c] = why or "not part of this format"


# ---- rows → messages -------------------------------------------------------------------
class Chat(list):
    """Messages of one example, with the tool schemas the template is given (or None)."""
    tools: list | None = None


def row_to_chat(row: dict, reading: Reading, n: int, where: str) -> Chat:
    """One row as chat messages; ``n`` is the 1-based row number for messages."""
    cols = reading.columns
    if reading.format == "chat":
        chat = Chat(_messages(row.get(cols["messages"]), n, where))
    elif reading.format == "prompt_completion" and is_message_list(row.get(cols["prompt"])):
        chat = Chat(_messages(row.get(cols["prompt"]) + list(row.get(cols["response"]) or []),
                              n, where))
    else:
        prompt, response = row.get(cols["prompt"]), row.get(cols["response"])
        for name, value in ((cols["prompt"], prompt), (cols["response"], response)):
            if not isinstance(value, str) or not value.strip():
                raise DataError(f"data.source: {where} row {n}: column '{name}' is empty or "
                                f"not text. Fill it in or remove the row.",
                                field="data.source")
        extra = row.get(cols["input"]) if cols.get("input") else None
        if isinstance(extra, str) and extra.strip():
            prompt = f"{prompt}\n\n{extra}"
        chat = Chat([{"role": "user", "content": prompt},
                     {"role": "assistant", "content": response}])
    system = row.get(cols["system"]) if cols.get("system") else None
    if isinstance(system, str) and system.strip() and chat[0]["role"] != "system":
        chat.insert(0, {"role": "system", "content": system})
    if cols.get("tools"):
        chat.tools = _tools(row.get(cols["tools"]), n, where)
    return chat


def _tools(value, n: int, where: str) -> list | None:
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise DataError(f"data.source: {where} row {n}: the tools column is not JSON "
                            f"(a list of function schemas).", field="data.source") from None
    if isinstance(value, dict):
        value = [value]
    if not value:
        return None
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise DataError(f"data.source: {where} row {n}: the tools column must hold a list "
                        f"of function schemas.", field="data.source")
    return value


def _content(content, n: int, i: int, where: str) -> tuple[str | None, list]:
    """(text, tool calls) of a message's content: a string or a list of parts."""
    if content is None or isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise DataError(f"data.source: {where} row {n}: message {i} has content of type "
                        f"{type(content).__name__}; give text or a list of text parts.",
                        field="data.source")
    texts, thoughts, calls = [], [], []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
            continue
        kind = part.get("type", "text") if isinstance(part, dict) else None
        value = part.get("text", part.get("value")) if isinstance(part, dict) else None
        if kind == "text" and isinstance(value, str):
            texts.append(value)
        elif kind in ("reasoning", "thinking") and isinstance(value, str):
            thoughts.append(value)
        elif kind in ("tool_call", "function_call"):
            calls.append(_call(value, n, i, where))
        else:
            raise DataError(f"data.source: {where} row {n}: message {i} has a content part "
                            f"of type '{kind}', which a text model cannot learn.",
                            field="data.source")
    text = "".join(texts)
    if thoughts:  # reasoning traces are learned as <think> blocks before the answer
        text = "".join(f"<think>\n{t}\n</think>\n\n" for t in thoughts) + text
    return text, calls


def _call(value, n: int, i: int, where: str) -> dict:
    """A tool call in the form chat templates render: {type, function: {name, arguments}}."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = None
    if isinstance(value, dict) and "function" in value and isinstance(value["function"], dict):
        value = value["function"]
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise DataError(f"data.source: {where} row {n}: message {i} is a function call but "
                        f"not JSON like {{\"name\": ..., \"arguments\": {{...}}}}.",
                        field="data.source")
    args = value.get("arguments", value.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            pass
    return {"type": "function", "function": {"name": value["name"], "arguments": args}}


def _messages(value, n: int, where: str) -> list[dict]:
    def bad(what: str) -> DataError:
        return DataError(f"data.source: {where} row {n}: {what}", field="data.source")

    if not isinstance(value, list) or not value:
        raise bad("the messages column must hold a non-empty list of {\"role\", \"content\"} "
                  "messages.")
    raw = []
    for m in value:  # MOSS / Firefly: [{"human": ..., "assistant": ...}, ...]
        if isinstance(m, dict) and "role" not in m and "from" not in m and "human" in m:
            raw.append({"role": "user", "content": m["human"]})
            if "assistant" in m:
                raw.append({"role": "assistant", "content": m["assistant"]})
        else:
            raw.append(m)
    out = []
    for i, m in enumerate(raw, 1):
        if not isinstance(m, dict):
            raise bad(f"message {i} is not an object with role and content.")
        name = m.get("role", m.get("from"))
        role = ROLES.get(str(name).lower()) if name is not None else None
        if role is None:
            raise bad(f"message {i} has role '{name}'; known roles are system, user "
                      f"(human), assistant (gpt, bot, model, chatbot), function_call, tool "
                      f"(observation).")
        text, calls = _content(m.get("content", m.get("value")), n, i, where)
        if str(name).lower() == "function_call":
            calls, text = [_call(text, n, i, where)], None
        for c in m.get("tool_calls") or []:
            calls.append(_call(c, n, i, where))
        if not isinstance(text, str) and not calls:
            raise bad(f"message {i} needs text content.")
        msg = {"role": role, "content": text if text is not None else ""}
        if calls:
            msg["tool_calls"] = calls
        if role == "tool" and m.get("name"):
            msg["name"] = m["name"]
        out.append(msg)
    _check_order(out, bad)
    return out


def _check_order(out: list[dict], bad) -> None:
    start = 1 if out[0]["role"] == "system" else 0
    follows = {"user": ("assistant",), "assistant": ("user", "tool"),
               "tool": ("tool", "assistant")}
    prev = None
    for i, m in enumerate(out[start:], start + 1):
        role = m["role"]
        expected = ("user",) if prev is None else follows.get(prev, ())
        if role not in expected:
            raise bad(f"roles do not alternate: message {i} is '{role}' where "
                      f"'{' or '.join(expected) or 'nothing'}' was expected (after an "
                      f"optional system message, user and assistant take turns, starting "
                      f"with user; tool results follow an assistant's tool call).")
        prev = role
    if not any(m["role"] == "assistant" for m in out):
        raise bad("there is no assistant message, so there is nothing to learn from it.")


def needs_tools(items: list) -> bool:
    return any(getattr(c, "tools", None) or any(m.get("tool_calls") or m["role"] == "tool"
                                                 for m in c) for c in items)


def check_tool_support(tokenizer, template_in_use: str | None, where: str) -> None:
    """Tool data needs a chat template that renders tools and tool calls."""
    t = template_in_use or ""
    if "tools" not in t or "tool_calls" not in t:
        raise DataError(f"data.template: {where} has tool definitions or tool calls, but this "
                        f"model's chat template cannot render them. Choose a model whose "
                        f"template supports tools, e.g. {TOOL_MODELS}.",
                        field="data.template")
