"""The CLI's sink: a progress line on a terminal, plain lines when piped."""

from __future__ import annotations

import sys
import time

from ftgui.core.events import (CheckpointSaved, EvalLogged, Event, Message, Progress,
                               RunFinished, RunStarted, StepLogged)
from ftgui.core.wording import duration


class ConsoleSink:
    def __init__(self, stream=None):
        self.out = stream or sys.stderr
        self.tty = hasattr(self.out, "isatty") and self.out.isatty()
        self._open_line = False
        self._last_stage = None
        self._last_draw = 0.0

    def _line(self, text: str) -> None:
        if self._open_line:
            self.out.write("\n")
            self._open_line = False
        self.out.write(text + "\n")
        self.out.flush()

    def _status(self, text: str) -> None:
        if self.tty:
            self.out.write("\r\033[K" + text)
            self.out.flush()
            self._open_line = True
        else:
            self._line(text)

    def __call__(self, e: Event) -> None:
        if isinstance(e, Progress):
            if self.tty:
                now = time.time()
                if now - self._last_draw < 0.1 and e.current != e.total:
                    return
                self._last_draw = now
                count = f" {e.current:,}/{e.total:,}" if e.total else " ..."
                if e.unit == "bytes":
                    from ftgui.core.hub import progress_text
                    count = f": {progress_text(e)}"
                self._status(f"{e.stage}{count}")
            elif e.unit == "bytes":   # a download, piped: a line every few seconds
                now = time.time()
                if now - self._last_draw >= 5 or e.current == e.total:
                    from ftgui.core.hub import progress_text
                    self._last_draw = now
                    self._line(f"{e.stage}: {progress_text(e)}")
            elif e.stage != self._last_stage:
                self._line(f"{e.stage}...")
            self._last_stage = e.stage
        elif isinstance(e, Message):
            self._line(("warning: " if e.level == "warning" else "") + e.text)
        elif isinstance(e, RunStarted):
            start = f" from step {e.start_step}" if e.start_step else ""
            self._line(f"Training {e.total_steps} steps{start} on {e.device} ({e.precision}); "
                       f"run folder {e.run_dir}")
        elif isinstance(e, StepLogged):
            width = 24
            done = int(width * e.step / max(e.total_steps, 1))
            bar = "#" * done + "." * (width - done)
            gn = f" gnorm {e.grad_norm:.2f}" if e.grad_norm is not None else ""
            trained = f" ({e.trained_tokens_per_second:,.0f} trained)" \
                if e.trained_tokens_per_second is not None else ""
            self._status(f"[{bar}] step {e.step}/{e.total_steps} loss {e.loss:.4f} "
                         f"lr {e.learning_rate:.2e}{gn} {e.tokens_per_second:,.0f} tok/s"
                         f"{trained} "
                         f"elapsed {duration(e.elapsed)} ETA {duration(e.eta)}")
        elif isinstance(e, EvalLogged):
            said = [f"loss {e.loss:.4f}"]
            if e.metrics:   # a preference run: its loss is no language model's
                m = e.metrics
                if "rewards/accuracies" in m:
                    said.append(f"reward accuracy {m['rewards/accuracies']:.2f}")
                if "rewards/margins" in m:
                    said.append(f"margin {m['rewards/margins']:+.4f}")
            else:
                said.append(f"perplexity {e.perplexity:,.2f}")
            self._line(f"validation at step {e.step}: {', '.join(said)}")
        elif isinstance(e, CheckpointSaved):
            if not self.tty:
                self._line(f"checkpoint saved: {e.path}")
        elif isinstance(e, RunFinished):
            s = e.summary
            lines = [f"Run {e.status}: {e.run_dir}"]
            if "final_train_loss" in s:
                lines.append(f"  final training loss {s['final_train_loss']:.4f} after "
                             f"{s.get('steps', '?')} steps, {duration(s.get('duration_s'))}")
            if "perplexity_before" in s and "perplexity_after" in s:
                lines.append(f"  validation perplexity {s['perplexity_before']:,.2f} -> "
                             f"{s['perplexity_after']:,.2f}")
            if e.status == "stopped":
                lines.append(f"  continue with: ftgui resume {e.run_dir}")
            if e.status == "diverged":
                lines.append(f"  {s.get('error')}")
            self._line("\n".join(lines))
