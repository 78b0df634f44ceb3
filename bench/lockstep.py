#!/usr/bin/env python
"""Two trainings taking turns step by step, each in its own process, so that both see
the same machine: the way ``overhead.py`` compares ftgui with the plain recipe on a shared
machine.

    python bench/lockstep.py --other plain|padded|loop [plain_trainer.py options]

Side A is ftgui (``Runner.setup()`` then ``Runner.train()``), side B the plain recipe
(``plain_trainer.build``) or a bare loop. Each side runs in a process of its own
(``lockstep.py --side NAME``; the baseline's process never imports ftgui, so nothing ftgui
sets in its process can leak into the baseline), and this process passes a baton between
them over pipes: set-up one after the other, then one optimizer step at a time; only the
holder computes, so a burst of load from other processes falls on one step of each side
rather than on one whole side. Each side's step time runs from taking the baton to the end
of its step: the batch fetch, collation, forward, backward, optimizer and callbacks. Each
process has its own random state, so the losses are those of a run alone and can be
compared exactly.

Prints BENCH_JSON with both sides' step times, steps/s over the timed steps (after 2
warm-up steps; the last step, which overlaps the other side's saving, is left out), the
losses, and real tokens per step.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transformers import TrainerCallback  # noqa: E402 - transformers only: no ftgui here

WARMUP = 2


class Baton:
    """One side's end of the baton: ``wait`` blocks until the coordinator hands it over,
    ``pass_on`` hands it back (saying whether this side has finished)."""

    def __init__(self, fd_in: int, fd_out: int):
        self.fd_in, self.fd_out = fd_in, fd_out

    def wait(self, me=None):
        if os.read(self.fd_in, 1) != b"g":
            raise SystemExit("lockstep: the coordinator went away")

    def pass_on(self, me=None, finished=False):
        os.write(self.fd_out, b"f" if finished else b"n")


class TokenTally:
    """Tokens of every training forward, counted from the batch the model is given, the
    same way on both sides (the rule of ftgui/core/measure.py, written here again because
    the baseline's process must not import ftgui): processed = every input position,
    padding included; non-pad = positions the attention mask keeps; trained = positions
    whose next-token loss counts (labels != -100 after the one-position shift)."""

    def __init__(self):
        self.processed = self.non_pad = self.trained = 0

    def attach(self, model) -> None:
        model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module, args, kwargs):
        if not module.training:
            return
        ids = kwargs.get("input_ids", args[0] if args else None)
        mask, labels = kwargs.get("attention_mask"), kwargs.get("labels")
        if ids is None:
            return
        self.processed += ids.numel()
        self.non_pad += int(mask.sum()) if mask is not None else ids.numel()
        if labels is not None:
            self.trained += int((labels[..., 1:] != -100).sum())

    def snapshot(self) -> tuple[int, int, int]:
        return self.processed, self.non_pad, self.trained


class Turns(TrainerCallback):
    """Hands the baton over at the start of training and at every step end."""

    def __init__(self, name, baton):
        self.name, self.baton = name, baton
        self.step_times: list[float] = []
        self.losses: dict[int, float] = {}
        self._t = None
        self.tally = TokenTally()
        self.step_tokens: list[tuple[int, int, int]] = []   # per step: processed, non-pad, trained
        self._before = (0, 0, 0)

    def step_done(self) -> None:
        now = self.tally.snapshot()
        self.step_tokens.append(tuple(b - a for a, b in zip(self._before, now)))
        self._before = now

    def _hand_over(self, finished=False):
        self.baton.pass_on(self.name, finished)
        if finished:
            return
        self.baton.wait(self.name)
        self._t = time.perf_counter()

    def on_train_begin(self, args, state, control, **kw):
        self._hand_over()

    def on_step_end(self, args, state, control, **kw):
        self.step_times.append(time.perf_counter() - self._t)
        self.step_done()
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
    turns.tally.attach(model)
    opt = torch.optim.AdamW(model.parameters(), lr=a.learning_rate, fused=True)
    x = torch.randint(0, model.config.vocab_size, (a.batch_size, a.block_size))

    def train():
        turns._hand_over()
        for i in range(a.max_steps):
            model(input_ids=x, labels=x).loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            turns.step_times.append(time.perf_counter() - turns._t)
            turns.step_done()
            turns._hand_over(finished=i == a.max_steps - 1)
    return train, {}


def _ftgui_side(a, turns: Turns, tmp: Path):
    os.environ.setdefault("FTGUI_CACHE_DIR", str(tmp / "cache"))
    from ftgui.core.config import RunConfig
    from ftgui.core.runner import Runner
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
    runner.trainer.add_callback(turns)
    turns.tally.attach(runner.trainer.model)
    info: dict = {}

    def train():
        try:
            runner.train()
        finally:
            runner.cleanup()
        # ftgui's own counts (core/measure.py), to set beside the tally's
        import json
        summary = json.loads((tmp / "run" / "summary.json").read_text())
        info["own_counts"] = {k: summary.get(k) for k in ("tokens_processed",
                                                          "tokens_trained")}
    return train, info


def side_main(a) -> int:
    """One side, in its own process: set up, then train when handed the baton."""
    import torch
    from common import emit_json
    fd_in, fd_out = (int(x) for x in a.baton_fds.split(","))
    baton = Baton(fd_in, fd_out)
    turns = Turns(a.side, baton)
    tmp = Path(tempfile.mkdtemp(prefix="ftgui-lockstep-"))
    baton.wait()  # set-up, one side at a time
    if a.side == "ftgui":
        train, info = _ftgui_side(a, turns, tmp)
    elif a.side == "loop":
        train, info = _loop(a, turns)
    else:
        import plain_trainer
        plain, _, info = plain_trainer.build(a, callbacks=[turns])
        turns.tally.attach(plain.model)
        train = plain.train
    baton.pass_on()
    baton.wait()  # train()'s preamble too
    try:
        train()
    except BaseException:
        baton.pass_on(finished=True)
        raise
    st = turns.step_times
    timed = st[WARMUP:-1] if len(st) > WARMUP + 1 else st
    total = sum(timed)
    full = a.batch_size * a.block_size
    tokens = full
    out = {"step_times": st, "timed_steps": len(timed), "timed_s": total,
           "losses": [turns.losses[k] for k in sorted(turns.losses)],
           "threads": torch.get_num_threads(),
           "ftgui_imported": "ftgui" in sys.modules}
    if a.side == "padded":
        real, padded = info["real_tokens"], info["padded_tokens"]
        tokens = sum(real) / len(real)
        out["real_token_share"] = sum(real) / sum(padded)
    out.update(steps_per_s=len(timed) / total if total else float("nan"),
               real_tokens_per_step=tokens,
               real_tokens_per_s=tokens * len(timed) / total if total else 0.0)
    # the tokens counted in the batches of the timed steps (TokenTally): per step and per s
    counted = turns.step_tokens[WARMUP:-1] if len(st) > WARMUP + 1 else turns.step_tokens
    for i, name in enumerate(("processed", "non_pad", "trained")):
        n = sum(c[i] for c in counted)
        out[f"{name}_tokens_per_step"] = n / len(counted) if counted else 0.0
        out[f"{name}_tokens_per_s"] = n / total if total else 0.0
    out["tokens_counted"] = dict(zip(("processed", "non_pad", "trained"),
                                     turns.tally.snapshot()))
    if info.get("own_counts"):
        out["ftgui_own_counts"] = info["own_counts"]
    emit_json(out)
    shutil.rmtree(tmp, ignore_errors=True)
    if info.get("out_dir"):
        shutil.rmtree(info["out_dir"], ignore_errors=True)
    return 0


def coordinate(commands: dict[str, list[str]]) -> dict[str, dict]:
    """Start each side (its command plus ``--baton-fds IN,OUT``) and pass the baton
    between them: set-up one after the other, then one step at a time, until every side
    has finished; returns each side's BENCH_JSON."""
    import json
    import subprocess
    from common import JSON_TAG
    names = list(commands)
    procs, ends, outs = {}, {}, {}
    for name in names:
        # a file, not a pipe: a side that prints every step (transformers' PrinterCallback)
        # would fill a pipe nobody reads until the end and block, baton in hand
        outs[name] = tempfile.TemporaryFile("w+")
        to_side, from_coord = os.pipe()
        to_coord, from_side = os.pipe()
        # the side reads `to_side`'s read end and writes `from_side`
        procs[name] = subprocess.Popen([*commands[name], "--baton-fds",
                                        f"{to_side},{from_side}"],
                                       pass_fds=(to_side, from_side),
                                       stdout=outs[name], text=True)
        os.close(to_side)
        os.close(from_side)
        ends[name] = (from_coord, to_coord)
    active = list(names)
    # set-up, then every step, one side at a time
    for phase in ("setup", "train"):
        for name in names:
            os.write(ends[name][0], b"g")
            if os.read(ends[name][1], 1) != b"n":
                active.remove(name)
    while active:
        for name in list(active):
            try:
                os.write(ends[name][0], b"g")
            except BrokenPipeError:
                active.remove(name)
                continue
            if os.read(ends[name][1], 1) != b"n":  # "f": finished; "": it ended
                active.remove(name)
    out = {}
    for name in names:
        procs[name].wait()
        outs[name].seek(0)
        stdout = outs[name].read()
        outs[name].close()
        for line in reversed(stdout.splitlines()):
            if line.startswith(JSON_TAG):
                out[name] = json.loads(line[len(JSON_TAG):])
                break
        else:
            raise SystemExit(f"lockstep: the {name} side failed (exit {procs[name].returncode})")
    return out


def main() -> int:
    from common import emit_json
    ap = _parser()
    a, rest = ap.parse_known_args()
    if a.side:
        a = ap.parse_args()
        a.padded = a.side == "padded"
        a.add_eos = True  # ftgui's default: EOS after every line on both sides
        return side_main(a)
    out = coordinate({name: [sys.executable, str(Path(__file__).resolve()), "--side", name,
                             *sys.argv[1:]] for name in ("ftgui", a.other)})
    out["threads"] = out["ftgui"]["threads"]
    emit_json(out)
    return 0


def _parser():
    import plain_trainer
    ap = plain_trainer.parser()
    ap.add_argument("--other", choices=("plain", "padded", "loop"), default="plain")
    ap.add_argument("--side", choices=("ftgui", "plain", "padded", "loop"))
    ap.add_argument("--baton-fds", help=argparse_hidden())
    return ap


def argparse_hidden():
    import argparse
    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
