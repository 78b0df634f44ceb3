#!/usr/bin/env python
"""Two trainings in one process, taking turns step by step, so that both see the same
machine: the way ``overhead.py`` compares ftgui with the plain recipe on a shared machine.

    python bench/lockstep.py --other plain|padded [plain_trainer.py options]

Side A is ftgui (``Runner.setup()`` then ``Runner.train()``), side B the plain recipe
(``plain_trainer.build``, whose code imports no ftgui). Both are set up first, one after
the other; then each trains in its own thread and a baton passes between them at every
optimizer step (and at the start of training): only the holder computes, so a burst of
load from other processes falls on one step of each side rather than on one whole side.
Each side's step time runs from taking the baton to the end of its step: the batch fetch,
collation, forward, backward, optimizer and callbacks. The global random state (torch,
numpy, Python) is saved and restored at every hand-over, so each side draws the same
dropout masks as when it runs alone: the losses can be compared exactly.

Prints BENCH_JSON with both sides' step times, steps/s over the timed steps (after 2
warm-up steps; the last step, which overlaps the other side's saving, is left out), the
losses, and real tokens per step.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transformers import TrainerCallback  # noqa: E402

WARMUP = 2


class Baton:
    def __init__(self, names):
        self.names = list(names)
        self.turn = self.names[0]
        self.done: set[str] = set()
        self.cond = threading.Condition()

    def wait(self, me):
        with self.cond:
            self.cond.wait_for(lambda: self.turn == me)

    def pass_on(self, me, finished=False):
        with self.cond:
            if finished:
                self.done.add(me)
            others = [n for n in self.names if n != me and n not in self.done]
            self.turn = others[0] if others else None
            self.cond.notify_all()


class Turns(TrainerCallback):
    """Hands the baton over at the start of training and at every step end."""

    def __init__(self, name, baton):
        self.name, self.baton = name, baton
        self.step_times: list[float] = []
        self.losses: dict[int, float] = {}
        self._rng = None
        self._t = None

    def _save(self):
        import numpy as np
        import torch
        self._rng = (torch.get_rng_state(), np.random.get_state(), random.getstate())

    def _restore(self):
        import numpy as np
        import torch
        t, n, p = self._rng
        torch.set_rng_state(t)
        np.random.set_state(n)
        random.setstate(p)

    def _hand_over(self, finished=False):
        self._save()
        self.baton.pass_on(self.name, finished)
        if finished:
            return
        self.baton.wait(self.name)
        self._restore()
        self._t = time.perf_counter()

    def on_train_begin(self, args, state, control, **kw):
        self._hand_over()

    def on_step_end(self, args, state, control, **kw):
        self.step_times.append(time.perf_counter() - self._t)
        self._hand_over(finished=state.global_step >= state.max_steps)

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs:
            self.losses[state.global_step] = float(logs["loss"])


def _loop(a, turns: Turns):
    """--other loop: a bare PyTorch loop (forward, backward, fused AdamW as the Trainer's
    default, zero_grad) on random ids of the same shape; for full fine-tuning."""
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=a.learning_rate, fused=True)
    x = torch.randint(0, model.config.vocab_size, (a.batch_size, a.block_size))

    def train():
        turns._hand_over()
        for i in range(a.max_steps):
            model(input_ids=x, labels=x).loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            turns.step_times.append(time.perf_counter() - turns._t)
            turns._hand_over(finished=i == a.max_steps - 1)
    return train, {}


def main() -> int:
    import plain_trainer
    from common import emit_json
    ap = plain_trainer.parser()
    ap.add_argument("--other", choices=("plain", "padded", "loop"), default="plain")
    a = ap.parse_args()
    a.padded = a.other == "padded"
    a.add_eos = True  # ftgui's default: EOS after every line on both sides

    tmp = Path(tempfile.mkdtemp(prefix="ftgui-lockstep-"))
    os.environ.setdefault("FTGUI_CACHE_DIR", str(tmp / "cache"))
    import torch
    from ftgui.core.config import RunConfig
    from ftgui.core.runner import Runner
    baton = Baton(["ftgui", a.other])
    turns = {"ftgui": Turns("ftgui", baton), a.other: Turns(a.other, baton)}

    cfg = RunConfig.from_dict({
        "model": {"source": a.model, "method": a.method},
        "data": {"source": a.train, "validation": "", "block_size": a.block_size,
                 "add_eos": True},
        "training": {"output_dir": str(tmp / "run"), "max_steps": a.max_steps,
                     "batch_size": a.batch_size, "learning_rate": a.learning_rate,
                     "seed": a.seed, "logging_steps": a.logging_steps, "save_steps": 100000},
        "lora": {"r": a.lora_r, "alpha": a.lora_alpha, "dropout": a.lora_dropout}})
    runner = Runner(cfg)
    runner.setup()
    runner.trainer.add_callback(turns["ftgui"])
    if a.other == "loop":
        train_other, info = _loop(a, turns["loop"])
    else:
        plain, _, info = plain_trainer.build(a, callbacks=[turns[a.other]])
        train_other = plain.train

    errors = []

    def guard(fn):
        def run():
            # train()'s preamble seeds the global RNG: one side at a time from the start
            baton.wait(threading.current_thread().name)
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))
                baton.pass_on(threading.current_thread().name, finished=True)
        return run
    threads = [threading.Thread(target=guard(runner.train), name="ftgui"),
               threading.Thread(target=guard(train_other), name=a.other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runner.cleanup()
    if errors:
        raise SystemExit("a side failed: " + "; ".join(errors))

    def side(name, tokens_per_step):
        st = turns[name].step_times
        timed = st[WARMUP:-1] if len(st) > WARMUP + 1 else st
        total = sum(timed)
        return {"step_times": st, "timed_steps": len(timed), "timed_s": total,
                "steps_per_s": len(timed) / total if total else float("nan"),
                "real_tokens_per_step": tokens_per_step,
                "real_tokens_per_s": tokens_per_step * len(timed) / total if total else 0.0,
                "losses": [turns[name].losses[k] for k in sorted(turns[name].losses)]}

    full = a.batch_size * a.block_size
    out = {"ftgui": side("ftgui", full), "threads": torch.get_num_threads()}
    if a.padded:
        real, padded = info["real_tokens"], info["padded_tokens"]
        out[a.other] = side(a.other, sum(real) / len(real))
        out[a.other]["real_token_share"] = sum(real) / sum(padded)
    else:
        out[a.other] = side(a.other, full)
    emit_json(out)
    shutil.rmtree(tmp, ignore_errors=True)
    if info.get("out_dir"):
        shutil.rmtree(info["out_dir"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
