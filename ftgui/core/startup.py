"""The training libraries' imports, done with the cyclic garbage collector off.

torch, transformers and peft create millions of long-lived objects while they import;
each of them counts towards the collector's thresholds, so it runs again and again during
the imports, each full pass longer, and finds nothing to free. Off for the imports, then
everything alive is moved to the permanent generation (``gc.freeze``) so that later full
collections (the Trainer and the runner call ``gc.collect()``) skip it. Measured: the
imports of a training run take ~20 % less CPU time (bench/NOTES.md, "Start to first
step"). The window's worker and the CLI both import this way.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def gc_paused():
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def import_training_libraries() -> None:
    """Everything a training run imports before its first step."""
    with gc_paused():
        import torch  # noqa: F401
        import transformers  # noqa: F401
        from transformers import (AutoConfig, AutoModelForCausalLM,  # noqa: F401
                                  AutoTokenizer, Trainer, TrainerCallback,
                                  TrainingArguments)
        # imported by Trainer() itself, the first time one is built
        import transformers.integrations.neftune  # noqa: F401
        from ftgui.core import runner  # noqa: F401
