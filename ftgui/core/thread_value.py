"""A value each thread sets for itself, for the length of a ``with`` block: how a progress
callback reaches code that a library (or another function) calls in between."""

from __future__ import annotations

import threading
from contextlib import contextmanager


class ThreadValue:
    def __init__(self):
        self._local = threading.local()

    def get(self):
        return getattr(self._local, "value", None)

    @contextmanager
    def set(self, value):
        before = self.get()
        self._local.value = value
        try:
            yield
        finally:
            self._local.value = before
