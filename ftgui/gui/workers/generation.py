"""The Playground's worker: loads a run's two models and streams their text, off the GUI
thread (a QThread of its own, run by a ``RunController``, so a long generation never holds
a thread of the shared pool that model info and previews use).

The models generate one after the other, the fine-tuned one first: on a CPU or a single
GPU two at once would each run at about half speed (no text sooner), both would draw from
torch's one global random generator (so a seed would no longer fix the text), and the
peak memory would be that of two generations. The fine-tuned model goes first because its
text is what the person came to see.

Given a preference run's validation example, the prompt is the example's messages, and
each model first scores the example (``paneScored``: its log-probability margin), which
takes one forward pass.
"""

from __future__ import annotations

import logging
import threading
import traceback

from PySide6.QtCore import QObject, Signal, Slot

from ftgui.core.errors import FtguiError
from ftgui.core.wording import describe_error
from ftgui.gui.workers.run_worker import heavy_imports

log = logging.getLogger("ftgui")

ORDER = ("tuned", "base")


class GenerationWorker(QObject):
    """One Generate press: both panes, in ``ORDER``. Signals name the pane ("base" or
    "tuned") and arrive queued on the GUI thread."""

    paneStatus = Signal(str, str)       # pane, what it is doing ("Loading the model…")
    # pane, stage ("tokenizer", "model", "ready"; "memory" / "loaded": nothing to load),
    # done, total (0: not known), detail ("tensors of 540.0 MB")
    paneLoading = Signal(str, str, int, int, str)
    paneStarted = Signal(str)           # pane: loaded, text comes next
    chunk = Signal(str, str)            # pane, new text
    paneFinished = Signal(str, object)  # pane, core.playground.GenerationResult
    paneFailed = Signal(str, str)       # pane, a message for a person
    paneScored = Signal(str, float)     # pane, playground.example_score of the example
    done = Signal()

    def __init__(self, cache, run_dir: str, prompt: str, settings, example=None):
        super().__init__()
        self.cache = cache
        self.run_dir = run_dir
        self.example = example   # a playground.ValidationExample: its prompt, scored
        self.prompt = example.prompt if example is not None else prompt
        self.settings = settings
        self.stop_event = threading.Event()

    # called from the GUI thread
    def request_stop(self) -> None:
        self.stop_event.set()

    @Slot()
    def run(self) -> None:
        try:
            heavy_imports()
            from ftgui.core import playground
            self.cache.use_run(self.run_dir)
            try:
                pair = {m.role: m for m in playground.run_models(self.run_dir)}
            except BaseException as e:  # noqa: BLE001 - neither model can be tried
                for pane in ORDER:
                    self._fail(pane, e)
                return
            template_tok = None
            for pane in ORDER:
                if self.stop_event.is_set():
                    break
                try:
                    template_tok = self._generate(pane, pair[pane], template_tok)
                except BaseException as e:  # noqa: BLE001 - the other pane may still work
                    self._fail(pane, e)
        finally:
            self.done.emit()

    def _generate(self, pane: str, which, template_tok):
        from ftgui.core import playground
        self.paneStatus.emit(pane, f"Loading {which.title}…")
        progress = lambda stage, done, total, detail: self.paneLoading.emit(  # noqa: E731
            pane, stage, done, total, detail)
        with self.cache.open(which, progress) as (model, tok):
            if self.stop_event.is_set():   # Stop pressed while it loaded: not one token more
                return template_tok
            # the base sees the prompt through the fine-tuned run's template (the one it
            # was trained with, e.g. the simple template that a base tokenizer lacks)
            template_tok = template_tok or tok
            if self.example is not None:   # with the run's tokenizer, as the run ranked it
                self.paneScored.emit(pane, playground.example_score(model, template_tok,
                                                                    self.example))
            self.paneStarted.emit(pane)
            stream = playground.stream_generate(model, tok, self.prompt, self.settings,
                                                self.stop_event, template_tok)
            result = playground.consume(stream, lambda text: self.chunk.emit(pane, text))
        self.paneFinished.emit(pane, result)
        return template_tok

    def _fail(self, pane: str, e: BaseException) -> None:
        if isinstance(e, FtguiError):
            text = e.message
        else:
            log.error("generation failed:\n%s", traceback.format_exc())
            text = (f"Generation failed: {describe_error(e)}. The app is fine; details are "
                    f"in the log.")
        self.paneFailed.emit(pane, text)
