"""Rendering a tokenizer's chat template with a time limit and errors a person can act on.

A chat template is code that arrives with a model (``tokenizer_config.json`` or
``chat_template.jinja``). transformers renders it in jinja's sandbox, which stops file and
attribute access but not a template that loops for ever (``range(100000)`` nested) or one
that raises. Here a template that fails becomes one line naming the template and what to
do, and one that runs longer than ``RENDER_SECONDS`` is stopped.

How it is stopped: a watchdog thread raises ``TemplateTimeout`` inside the rendering
thread with CPython's ``PyThreadState_SetAsyncExc`` (a public C API function; checked on
CPython 3.11-3.13). The exception arrives between two bytecodes, and a jinja template is
compiled to Python bytecode, so the loop really ends, on whichever thread renders
(the window's workers included), and nothing keeps spinning in the background.
"""

from __future__ import annotations

import ctypes
import threading
import time
from contextlib import contextmanager

from ftgui.core.errors import FtguiError

RENDER_SECONDS = 10.0  # one conversation; a real template renders in well under 1 ms

_lock = threading.Lock()
_deadlines: dict[int, float] = {}   # thread id -> monotonic deadline
_fired: set[int] = set()
_watchdog: threading.Thread | None = None


class TemplateTimeout(Exception):
    """Raised inside a render that ran past its time limit."""


class TemplateFailed(FtguiError):
    """The chat template raised, or ran too long; the message says which and why."""


def _async_raise(tid: int, exc: type | None) -> None:
    obj = ctypes.py_object(exc) if exc is not None else None
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), obj)


def _watch() -> None:
    while True:
        time.sleep(0.05)
        now = time.monotonic()
        with _lock:
            for tid, deadline in list(_deadlines.items()):
                if now >= deadline:
                    del _deadlines[tid]
                    _fired.add(tid)
                    _async_raise(tid, TemplateTimeout)


@contextmanager
def time_limit(seconds: float):
    """Raise TemplateTimeout in this thread if the block runs longer than ``seconds``."""
    global _watchdog
    tid = threading.get_ident()
    with _lock:
        if _watchdog is None:
            _watchdog = threading.Thread(target=_watch, name="ftgui-template-watchdog",
                                         daemon=True)
            _watchdog.start()
        _deadlines[tid] = time.monotonic() + seconds
    try:
        yield
    finally:
        with _lock:
            _deadlines.pop(tid, None)
            fired = tid in _fired
            _fired.discard(tid)
            if fired:
                _async_raise(tid, None)  # not delivered yet (the block had just ended)
        if fired:
            raise TemplateTimeout


@contextmanager
def guarded(what: str, fix: str):
    """Chat-template rendering inside the block is limited in time, and its failures
    become TemplateFailed: ``what`` names the template for the message ("the tokenizer's
    chat template"), ``fix`` says what to do instead."""
    import jinja2

    try:
        with time_limit(RENDER_SECONDS):
            yield
    except TemplateTimeout:
        raise TemplateFailed(f"{what} ran for more than {RENDER_SECONDS:g} s on one "
                             f"conversation and was stopped (a loop that does not end?). "
                             f"{fix}") from None
    except (jinja2.TemplateError, TypeError, ValueError, KeyError, IndexError,
            AttributeError, RecursionError) as e:
        why = " ".join(str(e).split()).rstrip(".") or type(e).__name__
        if len(why) > 200:
            why = why[:197] + "..."
        raise TemplateFailed(f"{what} failed: {why}. {fix}") from None


def render(tokenizer, messages: list[dict], what: str, fix: str, **kw) -> str:
    """``tokenizer.apply_chat_template(messages, tokenize=False, **kw)``, limited in time
    and with errors a person can act on (see ``guarded``)."""
    with guarded(what, fix):
        return tokenizer.apply_chat_template(messages, tokenize=False, **kw)
