"""Instruction, chat and prompt/completion rows → token ids with labels on the response.

Every format becomes a list of chat messages, rendered with the tokenizer's chat template
(or ``SIMPLE_TEMPLATE`` when it has none or ``data.template: simple``). The rendered
text is cut into prompt and assistant segments by rendering growing prefixes of the
conversation, so the labels are -100 exactly on the prompt tokens and the response tokens,
including the end-of-turn / EOS token, stay labels (even when pad = EOS).
"""

from __future__ import annotations

from ftgui.core import templates
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
    """The rendered conversation as (text, is_response) pieces, in order. Every assistant
    message (a tool call too) is a response; ``messages.tools`` (see formats.Chat) is
    given to the template as ``tools=``."""
    tools = getattr(messages, "tools", None)
    kw = {"tools": tools} if tools else {}

    def render(msgs, **more):
        return tokenizer.apply_chat_template(list(msgs), tokenize=False, **kw, **more)

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


def encode_pieces(messages: list[dict], tokenizer) -> list[tuple[list[int], bool]]:
    """Token ids of each (text, is_response) piece; a response ends with EOS (added when
    the template lacks it)."""
    out = []
    eos = tokenizer.eos_token_id
    for text, is_response in segments(messages, tokenizer):
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        if is_response and eos is not None and eos not in piece:
            piece = piece + [eos]
        out.append((piece, is_response))
    return out


def encode(messages: list[dict], tokenizer, train_on_prompt: bool) -> tuple[list[int], list[int]]:
    """Token ids and labels (-100 on the prompt unless ``train_on_prompt``)."""
    ids, labels = [], []
    for piece, is_response in encode_pieces(messages, tokenizer):
        ids += piece
        labels += piece if (is_response or train_on_prompt) else [IGNORE] * len(piece)
    return ids, labels


def _final_response_length(messages, tokenizer) -> int:
    """Tokens from the start of the last response to the end of the example."""
    pieces = encode_pieces(messages, tokenizer)
    last = max(i for i, (_, r) in enumerate(pieces) if r)
    return sum(len(p) for p, _ in pieces[last:])


def _without_oldest_turn(messages: list[dict]) -> list[dict] | None:
    """The conversation without its oldest exchange (the system message stays); None when
    only the final exchange is left."""
    start = 1 if messages and messages[0]["role"] == "system" else 0
    users = [i for i, m in enumerate(messages) if i >= start and m["role"] == "user"]
    last_answer = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    later = [i for i in users[1:] if i < last_answer]
    if not later:
        return None
    out = type(messages)(messages[:start] + messages[later[0]:])
    if hasattr(messages, "tools"):
        out.tools = messages.tools
    return out


def encode_fitting(messages: list[dict], tokenizer, train_on_prompt: bool,
                   block_size: int) -> tuple[list[int], list[int], str, int]:
    """(ids, labels, status, full length) with at most ``block_size`` tokens. status:
    kept; truncated (cut from the prompt side: oldest turns first, then the oldest prompt
    tokens, never the final response); dropped (the final response alone does not fit;
    ids empty)."""
    ids, labels = encode(messages, tokenizer, train_on_prompt)
    full = len(ids)
    if full <= block_size:
        return ids, labels, "kept", full
    current = messages
    while len(ids) > block_size:
        shorter = _without_oldest_turn(current)
        if shorter is None:
            break
        current = shorter
        ids, labels = encode(current, tokenizer, train_on_prompt)
    if len(ids) > block_size:
        if _final_response_length(current, tokenizer) > block_size:
            return [], [], "dropped", full
        ids, labels = ids[-block_size:], labels[-block_size:]
    return ids, labels, "truncated", full


def generation_prompt(tokenizer, prompt: str | list[dict]) -> str:
    """The text a chat-tuned model is given for a user prompt (or a prompt's messages)."""
    messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
    try:
        return templates.render(tokenizer, messages,
                                "This model's chat template",
                                "Send the prompt as plain text (drop --chat, or untick Chat "
                                "template).", add_generation_prompt=True)
    except templates.TemplateFailed as e:
        raise ModelError(e.message) from None
