"""A TrainerCallback that turns the Trainer's progress into events, and a cooperative stop."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Callable

from transformers import TrainerCallback

from ftgui.core.events import CheckpointSaved, EvalLogged, Event, StepLogged


class EventCallback(TrainerCallback):
    def __init__(self, emit: Callable[[Event], None], stop: threading.Event,
                 tokens_per_step: int, on_begin: Callable[[int, int], None],
                 stop_file: Path | None = None, elapsed_before: float = 0.0):
        self.emit = emit
        self.stop = stop
        self.stop_file = stop_file
        self.tokens_per_step = tokens_per_step
        self.on_begin = on_begin
        self.stopped = False
        # a resumed run's elapsed time goes on from the checkpoint's
        self.elapsed_before = elapsed_before
        self._t0 = time.time()
        self._start_step = self._last_step = 0
        # tokens/s: the time inside steps since the last log, so that a checkpoint write
        # or an evaluation between two logs does not count as training time
        self._step_t = self._step_time = 0.0

    def on_train_begin(self, args, state, control, **kw):
        self._t0 = time.time()
        self._start_step = self._last_step = state.global_step
        self._step_time = 0.0
        self.on_begin(state.max_steps, state.global_step)

    def on_step_begin(self, args, state, control, **kw):
        self._step_t = time.perf_counter()

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
        self._step_time += time.perf_counter() - self._step_t
        if not self.stopped and self._stop_requested(args):
            # Checked after every optimizer step: save a checkpoint here and end cleanly.
            self.stopped = True
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_log(self, args, state, control, logs=None, **kw):
        logs = logs or {}
        now = time.time()
        if "loss" in logs:
            steps = max(state.global_step - self._last_step, 1)
            dt = max(self._step_time, 1e-9)
            done = state.global_step - self._start_step
            elapsed = now - self._t0
            per_step = elapsed / done if done else 0.0
            self.emit(StepLogged(
                step=state.global_step, total_steps=state.max_steps,
                epoch=float(logs.get("epoch", state.epoch or 0.0)),
                loss=float(logs["loss"]), learning_rate=float(logs.get("learning_rate", 0.0)),
                grad_norm=_num(logs.get("grad_norm")),
                tokens_per_second=steps * self.tokens_per_step / dt,
                elapsed=self.elapsed_before + elapsed,
                eta=per_step * max(state.max_steps - state.global_step, 0)))
            self._step_time, self._last_step = 0.0, state.global_step
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
