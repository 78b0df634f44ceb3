"""A TrainerCallback that turns the Trainer's progress into events, a cooperative stop,
and the divergence guard: a loss or gradient norm that is not a finite number (or weights
that are not, checked before every checkpoint) stops training at once, without saving the
broken weights, so the last checkpoint stays the last good one."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Callable

from transformers import TrainerCallback

from ftgui.core.events import CheckpointSaved, EvalLogged, Event, StepLogged
from ftgui.core.measure import TokenCounter, peak_memory


# what TRL logs for preference runs that the curves show beside the loss (with eval_ in
# front for the validation data): DPO, KTO and ORPO rewards, KTO's KL, ORPO's two terms
LOGGED = ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
          "kl", "nll_loss", "log_odds_ratio")


def logged_metrics(logs: dict, prefix: str = "") -> dict | None:
    out = {k[len(prefix):]: float(v) for k, v in logs.items()
           if k.startswith(prefix) and k[len(prefix):] in LOGGED
           and isinstance(v, (int, float)) and not isinstance(v, bool)}
    return out or None


class EventCallback(TrainerCallback):
    def __init__(self, emit: Callable[[Event], None], stop: threading.Event,
                 tokens_per_step: int, on_begin: Callable[[int, int], None],
                 stop_file: Path | None = None, elapsed_before: float = 0.0,
                 counter: TokenCounter | None = None, device: str = "cpu"):
        self.emit = emit
        self.counter = counter   # measured tokens; without it, tokens_per_step is assumed
        self.device = device
        self._last_tokens = (0, 0)
        self.stop = stop
        self.stop_file = stop_file
        self.tokens_per_step = tokens_per_step
        self.on_begin = on_begin
        self.stopped = False
        self.diverged: tuple[int, str, float] | None = None   # (step, what, value)
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
        if self.counter is not None:
            self._last_tokens = (self.counter.trained, self.counter.processed)
        self.on_begin(state.max_steps, state.global_step)

    def on_evaluate(self, args, state, control, **kw):
        if state.global_step == self._start_step:
            # the base model's evaluation (eval_on_start) is not training time
            self._t0 = time.time()

    def on_step_begin(self, args, state, control, **kw):
        self._step_t = time.perf_counter()

    def _agree(self, args, stop: bool, broken: bool) -> tuple[bool, bool]:
        import torch.distributed as dist
        if not (dist.is_available() and dist.is_initialized()):
            return stop, broken
        # every process must stop after the same step, or the others wait forever
        import torch
        flag = torch.tensor([int(stop), int(broken)], device=args.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag[0].item()), bool(flag[1].item())

    def on_step_end(self, args, state, control, model=None, **kw):
        self._step_time += time.perf_counter() - self._step_t
        if self.stopped or self.diverged:
            return control
        stop = self.stop.is_set() or bool(self.stop_file and self.stop_file.exists())
        # the weights are looked at only when they are about to be saved (cheap enough)
        broken = (stop or control.should_save) and model is not None and \
            not weights_finite(model)
        stop, broken = self._agree(args, stop, broken)
        if broken:
            self._diverge(state.global_step, "weights", float("nan"), control)
        elif stop:
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

    def _diverge(self, step: int, what: str, value: float, control) -> None:
        self.diverged = (step, what, value)
        control.should_save = False       # never a checkpoint of broken weights
        control.should_evaluate = False
        control.should_training_stop = True

    def on_log(self, args, state, control, logs=None, **kw):
        logs = logs or {}
        now = time.time()
        if not self.diverged:
            for key in ("loss",) if args.fp16 else ("loss", "grad_norm"):
                # (fp16's loss scaler skips steps with an infinite gradient on purpose)
                value = _num(logs.get(key))
                if value is not None and not math.isfinite(value):
                    self._diverge(state.global_step, key.replace("_", " "), value, control)
                    break
        if "loss" in logs:
            steps = max(state.global_step - self._last_step, 1)
            dt = max(self._step_time, 1e-9)
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
                tokens_per_second=processed_per_s, elapsed=self.elapsed_before + elapsed,
                eta=per_step * max(state.max_steps - state.global_step, 0),
                metrics=logged_metrics(logs), **measured))
            self._step_time, self._last_step = 0.0, state.global_step
        if "eval_loss" in logs:
            loss = float(logs["eval_loss"])
            self.emit(EvalLogged(step=state.global_step, loss=loss, perplexity=perplexity(loss),
                                 metrics=logged_metrics(logs, "eval_")))

    def on_save(self, args, state, control, **kw):
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        try:
            path.chmod(0o700)  # the Trainer makes it with the umask's mode
        except OSError:
            pass
        self.emit(CheckpointSaved(step=state.global_step, path=str(path)))


def weights_finite(model) -> bool:
    """Every trainable weight is a finite number (frozen ones cannot have changed)."""
    import torch
    with torch.no_grad():
        return all(bool(torch.isfinite(p).all()) for p in model.parameters()
                   if p.requires_grad)


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
