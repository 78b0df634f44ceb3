"""A TrainerCallback that turns the Trainer's progress into events, and a cooperative stop."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Callable

from transformers import TrainerCallback

from ftgui.core.events import CheckpointSaved, EvalLogged, Event, StepLogged
from ftgui.core.measure import TokenCounter, peak_memory


class EventCallback(TrainerCallback):
    def __init__(self, emit: Callable[[Event], None], stop: threading.Event,
                 tokens_per_step: int, on_begin: Callable[[int, int], None],
                 stop_file: Path | None = None, counter: TokenCounter | None = None,
                 device: str = "cpu"):
        self.emit = emit
        self.counter = counter   # measured tokens; without it, tokens_per_step is assumed
        self.device = device
        self._last_tokens = (0, 0)
        self.stop = stop
        self.stop_file = stop_file
        self.tokens_per_step = tokens_per_step
        self.on_begin = on_begin
        self.stopped = False
        self._t0 = self._last_t = time.time()
        self._start_step = self._last_step = 0

    def on_train_begin(self, args, state, control, **kw):
        self._t0 = self._last_t = time.time()
        self._start_step = self._last_step = state.global_step
        if self.counter is not None:
            self._last_tokens = (self.counter.trained, self.counter.processed)
        self.on_begin(state.max_steps, state.global_step)

    def on_evaluate(self, args, state, control, **kw):
        if state.global_step == self._start_step:
            # the base model's evaluation (eval_on_start) is not training time
            self._t0 = self._last_t = time.time()

    def _stop_requested(self, args) -> bool:
        local = self.stop.is_set() or bool(self.stop_file and self.stop_file.exists())
        import torch.distributed as dist
        if not (dist.is_available() and dist.is_initialized()):
            return local
        # every process must stop after the same step, or the others wait forever
        import torch
        flag = torch.tensor([int(local)], device=args.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def on_step_end(self, args, state, control, **kw):
        if not self.stopped and self._stop_requested(args):
            # Checked after every optimizer step: save a checkpoint here and end cleanly.
            self.stopped = True
            control.should_save = True
            control.should_training_stop = True
        if self.counter is not None and (control.should_log or control.should_save
                                         or control.should_training_stop):
            self.counter.sync(args.device)   # every process decides alike: all reach it
            if control.should_save and state.is_world_process_zero:
                # written into the checkpoint before the Trainer's trainer_state.json,
                # so a complete checkpoint always carries the totals a resume goes on from
                self.counter.save(Path(args.output_dir) / f"checkpoint-{state.global_step}",
                                  state.global_step)
        return control

    def on_log(self, args, state, control, logs=None, **kw):
        logs = logs or {}
        now = time.time()
        if "loss" in logs:
            steps = max(state.global_step - self._last_step, 1)
            dt = max(now - self._last_t, 1e-9)
            done = state.global_step - self._start_step
            elapsed = now - self._t0
            per_step = elapsed / done if done else 0.0
            measured = {}
            processed_per_s = steps * self.tokens_per_step / dt
            if self.counter is not None:
                trained, processed = self.counter.trained, self.counter.processed
                processed_per_s = (processed - self._last_tokens[1]) / dt
                peak, kind = peak_memory(self.device)
                measured = dict(
                    trained_tokens_per_second=(trained - self._last_tokens[0]) / dt,
                    tokens_trained=trained, tokens_processed=processed,
                    peak_memory=peak, peak_memory_kind=kind)
                self._last_tokens = (trained, processed)
            self.emit(StepLogged(
                step=state.global_step, total_steps=state.max_steps,
                epoch=float(logs.get("epoch", state.epoch or 0.0)),
                loss=float(logs["loss"]), learning_rate=float(logs.get("learning_rate", 0.0)),
                grad_norm=_num(logs.get("grad_norm")),
                tokens_per_second=processed_per_s, elapsed=elapsed,
                eta=per_step * max(state.max_steps - state.global_step, 0), **measured))
            self._last_t, self._last_step = now, state.global_step
        if "eval_loss" in logs:
            loss = float(logs["eval_loss"])
            self.emit(EvalLogged(step=state.global_step, loss=loss, perplexity=perplexity(loss)))

    def on_save(self, args, state, control, **kw):
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        try:
            path.chmod(0o700)  # the Trainer makes it with the umask's mode
        except OSError:
            pass
        self.emit(CheckpointSaved(step=state.global_step, path=str(path)))


def perplexity(loss: float) -> float:
    try:
        return math.exp(loss)
    except OverflowError:
        return float("inf")


def _num(value) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
