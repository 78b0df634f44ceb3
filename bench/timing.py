"""The timing callback both sides of every training comparison use (no ftgui import, so
that plain_trainer.py can load it by path without importing ftgui)."""

from __future__ import annotations

import resource
import threading
import time

from transformers import TrainerCallback

WARMUP_STEPS = 2  # the first steps allocate, warm caches and build the optimizer state


class StepTimer(TrainerCallback):
    """Wall time of every optimizer step (from the end of the previous step's bookkeeping
    to this step's end) and the logged losses. ``peak_every_step``: also measure the
    float32 matmul peak after every step, outside the step's time, so that MFU compares
    each step with the machine as it was at that moment (a shared machine's load moves)."""

    def __init__(self, peak_every_step: bool = False):
        self.ends: list[float] = []
        self.durations: list[float] = []
        self.peaks: list[float] = []
        self.losses: dict[int, float] = {}
        self.peak_every_step = peak_every_step
        self._last = None

    def on_train_begin(self, args, state, control, **kw):
        self._last = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        t = time.perf_counter()
        self.ends.append(t)
        self.durations.append(t - self._last)
        if self.peak_every_step:
            from common import matmul_peak
            self.peaks.append(matmul_peak(reps=3))
        self._last = time.perf_counter()

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs:
            self.losses[state.global_step] = float(logs["loss"])

    def summary(self, tokens_per_step: float | None = None) -> dict:
        d = self.durations
        warm = min(WARMUP_STEPS, max(len(d) - 1, 0))
        timed = d[warm:]
        dt = sum(timed)
        out = {"steps": len(d), "timed_steps": len(timed), "timed_s": dt,
               "steps_per_s": len(timed) / dt if dt else float("nan"),
               "step_times": d, "step_peaks": self.peaks, "warmup_steps": warm,
               "losses": [self.losses[k] for k in sorted(self.losses)]}
        if tokens_per_step:
            out["tokens_per_s"] = out["steps_per_s"] * tokens_per_step
        return out


class RssSampler:
    """Peak resident memory of this process, sampled every ``interval`` seconds from a
    thread, with named marks (e.g. before loading the model)."""

    def __init__(self, interval: float = 0.02):
        import psutil
        self.proc = psutil.Process()
        self.interval = interval
        self.peak = 0
        self.marks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._stop.wait(self.interval)

    def start(self):
        self._thread.start()
        return self

    def mark(self, name: str, reset_peak: bool = False) -> None:
        rss = self.proc.memory_info().rss
        self.marks[name] = rss
        self.marks[name + "_peak_so_far"] = max(self.peak, rss)
        if reset_peak:
            self.peak = rss

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)
        return {**self.marks, "peak_sampled": self.peak,
                "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
