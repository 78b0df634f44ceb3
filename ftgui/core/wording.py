"""How ftgui writes a duration and an error for a person: one copy, for every face."""

from __future__ import annotations

import re


def duration(seconds: float | None, missing: str = "–") -> str:
    """Clock form: "4:05", "1:02:03"; ``missing`` when not known."""
    if seconds is None:
        return missing
    s = int(round(max(seconds, 0)))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def first_line(e: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (its type's name when it has none),
    without the C++ location torch puts in front, at most ``limit`` characters."""
    text = str(e).strip()
    if not text:
        return type(e).__name__
    # torch's "[enforce fail at alloc_cpu.cpp:127] err == 0. " says nothing to a person
    text = re.sub(r"^\[enforce fail at [^\]]*\]\s*\.?\s*(err == 0\.\s*)?", "",
                  text.splitlines()[0]).strip()
    text = re.sub(r"\s*Error code \d+.*$", "", text) or type(e).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def describe_error(e: BaseException) -> str:
    """An FtguiError's message; for anything else its type and first line."""
    from ftgui.core.errors import FtguiError

    if isinstance(e, FtguiError):
        return e.message
    text = first_line(e)
    return type(e).__name__ if text == type(e).__name__ else f"{type(e).__name__}: {text}"
