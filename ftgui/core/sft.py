"""Instruction, chat and prompt/completion rows → token ids with labels on the response.

Every format becomes a list of chat messages, rendered with the tokenizer's chat template
(or ``SIMPLE_TEMPLATE`` when it has none or ``data.template: simple``). The rendered
text is cut into prompt and assistant segments by rendering growing prefixes of the
conversation, so the labels are -100 exactly on the prompt tokens and the response tokens,
including the end-of-turn / EOS token, stay labels (even when pad = EOS).
"""

from __future__ import annotations

from dataclasses import dataclass

from ftgui.core import templates
from ftgui.core.config import DataConfig
from ftgui.core.errors import DataError, ModelError

IGNORE = -100

# Used when the tokenizer has no chat template (documented in the README).
SIMPLE_TEMPLATE = (
    "{% for message in messages %}"
    "### {{ message['role'] | capitalize }}:\n{{ message['content'] }}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}\n\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}### Assistant:\n{% endif %}"
)

COLUMN_GUESSES = {
    "prompt_column": ("instruction", "prompt", "question", "query"),
    "input_column": ("input", "context"),
    "response_column": ("output", "response", "completion", "answer", "chosen"),
    "messages_column": ("messages", "conversations", "conversation", "chat"),
}
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant",
                  "assistant": "assistant", "system": "system", "bot": "assistant",
                  "model": "assistant"}


@dataclass
class Columns:
    prompt: str | None = None
    input: str | None = None
    response: str | None = None
    messages: str | None = None


def resolve_columns(cfg: DataConfig, columns: list[str], where: str) -> Columns:
    """The mapped columns: as configured, else guessed from the column names."""
    def pick(key: str, required: bool) -> str | None:
        wanted = getattr(cfg, key)
        if wanted:
            if wanted not in columns:
                raise DataError(f"data.{key}: there is no column '{wanted}' in {where}; its "
                                f"columns are: {', '.join(columns)}.", field=f"data.{key}")
            return wanted
        lower = {c.lower(): c for c in columns}
        for guess in COLUMN_GUESSES[key]:
            if guess in lower:
                return lower[guess]
        if required:
            raise DataError(f"data.{key}: could not tell which column of {where} to use "
                            f"(columns: {', '.join(columns)}); set data.{key}.",
                            field=f"data.{key}")
        return None

    if cfg.format == "chat":
        return Columns(messages=pick("messages_column", True))
    if cfg.format == "instruction":
        return Columns(prompt=pick("prompt_column", True), input=pick("input_column", False),
                       response=pick("response_column", True))
    return Columns(prompt=pick("prompt_column", True), response=pick("response_column", True))


def to_messages(row: dict, cols: Columns, fmt: str, n: int, where: str) -> list[dict]:
    """One row as [{"role", "content"}, ...]; ``n`` is the 1-based row number."""
    if fmt == "chat":
        return _chat_messages(row.get(cols.messages), n, where)
    prompt, response = row.get(cols.prompt), row.get(cols.response)
    for name, value in ((cols.prompt, prompt), (cols.response, response)):
        if not isinstance(value, str) or not value.strip():
            raise DataError(f"data.source: {where} row {n}: column '{name}' is empty or not "
                            f"text. Fill it in or remove the row.", field="data.source")
    extra = row.get(cols.input) if cols.input else None
    if isinstance(extra, str) and extra.strip():
        prompt = f"{prompt}\n\n{extra}"
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


def _chat_messages(value, n: int, where: str) -> list[dict]:
    def bad(what: str) -> DataError:
        return DataError(f"data.source: {where} row {n}: {what}", field="data.source")

    if not isinstance(value, list) or not value:
        raise bad("the messages column must hold a non-empty list of {\"role\", \"content\"} "
                  "messages.")
    out = []
    for i, m in enumerate(value, 1):
        if not isinstance(m, dict):
            raise bad(f"message {i} is not an object with role and content.")
        role = m.get("role", m.get("from"))
        content = m.get("content", m.get("value"))
        role = SHAREGPT_ROLES.get(str(role).lower()) if role is not None else None
        if role is None or not isinstance(content, str):
            raise bad(f"message {i} needs a role (system, user or assistant; or ShareGPT "
                      f"from: human/gpt) and text content.")
        out.append({"role": role, "content": content})
    turns = out[1:] if out[0]["role"] == "system" else out
    for i, m in enumerate(turns):
        expected = "user" if i % 2 == 0 else "assistant"
        if m["role"] != expected:
            pos = i + 1 + (len(out) - len(turns))
            raise bad(f"roles do not alternate: message {pos} is '{m['role']}' where "
                      f"'{expected}' was expected (after an optional system message, user "
                      f"and assistant take turns, starting with user).")
    if not any(m["role"] == "assistant" for m in turns):
        raise bad("there is no assistant message, so there is nothing to learn from it.")
    return out


def use_simple_template(tokenizer, template: str) -> bool:
    return template == "simple" or (template == "auto" and not tokenizer.chat_template)


def prepare_tokenizer(tokenizer, template: str) -> None:
    """Give the tokenizer the simple template when it is to be used, so that the saved
    model, `ftgui generate` and other tools render prompts the way training did."""
    if template == "chat_template" and not tokenizer.chat_template:
        raise DataError("data.template: the tokenizer has no chat template; choose auto or "
                        "simple.", field="data.template")
    if use_simple_template(tokenizer, template):
        tokenizer.chat_template = SIMPLE_TEMPLATE


def segments(messages: list[dict], tokenizer) -> list[tuple[str, bool]]:
    """The rendered conversation as (text, is_response) pieces, in order."""
    def render(msgs, **kw):
        try:
            return templates.render(tokenizer, msgs, "the tokenizer's chat template",
                                    "Set data.template: simple, or fix the template.", **kw)
        except templates.TemplateFailed as e:
            raise DataError(f"data.template: {e.message}", field="data.template") from None

    full = render(messages)
    pieces, done = [], 0
    for k, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = render(messages[:k], add_generation_prompt=True)
        through = render(messages[:k + 1])
        if not (full.startswith(before) and full.startswith(through)
                and through.startswith(before) and len(before) >= done):
            raise DataError("data.template: this tokenizer's chat template does not render "
                            "conversations as growing prefixes, so prompt and response "
                            "cannot be told apart; set data.template: simple.",
                            field="data.template")
        pieces.append((full[done:len(before)], False))
        pieces.append((full[len(before):len(through)], True))
        done = len(through)
    if done < len(full):
        pieces.append((full[done:], False))
    return [(t, r) for t, r in pieces if t]


def encode(messages: list[dict], tokenizer, train_on_prompt: bool) -> tuple[list[int], list[int]]:
    """Token ids and labels; the response ends with EOS (added when the template lacks it)."""
    ids, labels = [], []
    eos = tokenizer.eos_token_id
    for text, is_response in segments(messages, tokenizer):
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        if is_response and eos is not None and eos not in piece:
            piece = piece + [eos]
        ids += piece
        labels += piece if (is_response or train_on_prompt) else [IGNORE] * len(piece)
    return ids, labels


def generation_prompt(tokenizer, prompt: str) -> str:
    """The text a chat-tuned model is given for a user prompt."""
    try:
        return templates.render(tokenizer, [{"role": "user", "content": prompt}],
                                "This model's chat template",
                                "Send the prompt as plain text (drop --chat, or untick Chat "
                                "template).", add_generation_prompt=True)
    except templates.TemplateFailed as e:
        raise ModelError(e.message) from None
