"""A preference example on the console (`ftgui data`): the prompt once, then the chosen
and rejected answers side by side, or one under the other on a terminal narrower than
SIDE_BY_SIDE columns; a KTO example's completion with its label. Every line is wrapped
to the terminal (at most WIDEST columns); the trained-on parts are between [train] and
[/train], as for SFT.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from itertools import zip_longest

WIDEST = 100        # wider lines are harder to read than wrapped ones
SIDE_BY_SIDE = 60   # below this, two columns of under 30 characters read worse than one
GAP = " | "
STATUS = {"kept": "kept whole", "truncated": "cut from the prompt side to fit the block",
          "dropped": "dropped: too long even with the prompt cut down (shown whole)"}


def width() -> int:
    return max(20, min(shutil.get_terminal_size((WIDEST, 24)).columns, WIDEST))


def cells(text: str) -> int:
    """Terminal columns ``text`` takes (CJK wide characters two, combining marks none)."""
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def wrap(text: str, w: int) -> list[str]:
    """``text`` in lines of at most ``w`` columns, broken at spaces where possible; its own
    line breaks kept."""
    out = []
    for line in text.expandtabs(4).split("\n"):
        cur = ""
        for word in re.findall(r"\S+\s*|\s+", line) or [""]:
            if cells(cur + word.rstrip()) <= w:
                cur += word
                continue
            if cur.strip():
                out.append(cur.rstrip())
                cur = ""
            while cells(word.rstrip()) > w:   # a word longer than the line: cut it
                k = len(word)
                while cells(word[:k]) > w:
                    k -= 1
                out.append(word[:k])
                word = word[k:]
            cur = word
        out.append(cur.rstrip())
    return out


def _rule(title: str, w: int) -> list[str]:
    lines = wrap(f"--- {title} ", w)
    return lines[:-1] + [lines[-1] + " " + "-" * max(0, w - cells(lines[-1]) - 1)]


def _marked(text: str) -> str:
    return f"[train]{text}[/train]"


def example_lines(ex: dict, w: int | None = None) -> list[str]:
    """The console lines of a preference report's example (preference_report.example)."""
    w = w or width()
    t = ex["tokens"]
    counts = ", ".join(f"{k} {v:,}" for k, v in t.items())
    status = STATUS[ex["status"]]
    if "full_tokens" in ex:
        status = f"{ex['full_tokens']:,} tokens, {status} (shown cut)"
    out = ["", *wrap(f"Example {ex['number']}, {status}. Tokens: {counts}. Trained-on parts "
                     f"between [train] and [/train]:", w),
           *_rule("prompt (chat template applied)", w), *wrap(ex["prompt"], w)]
    if "completion" in ex:
        good = "a good answer" if ex["label"] else "a bad answer"
        return out + [*_rule(f"completion, label {str(ex['label']).lower()}: trained as "
                             f"{good}", w), *wrap(_marked(ex["completion"]), w)]
    if w < SIDE_BY_SIDE:
        for k in ("chosen", "rejected"):
            out += [*_rule(k, w), *wrap(_marked(ex[k]), w)]
        return out
    col = (w - len(GAP)) // 2
    left, right = wrap(_marked(ex["chosen"]), col), wrap(_marked(ex["rejected"]), col)
    out.append(_rule("chosen", col)[0] + GAP + _rule("rejected", col)[0])
    for a, b in zip_longest(left, right, fillvalue=""):
        out.append((a + " " * (col - cells(a)) + GAP + b).rstrip())
    return out
