#!/usr/bin/env python
"""DPO step time: ftgui against a plain TRL script on the same data (target ratio >= 0.98).

    python bench/dpo_vs_trl.py [--steps 60] [--repeats 3] [--lockstep] [--json OUT]

Both sides train the tiny GPT-2 (full fine-tuning, the reference a frozen copy) with
TRL's DPOTrainer on the same 256 pairs (WikiText-2 lines: a prompt, and an answer whose
chosen and rejected versions differ in one word), rendered with the same simple chat
template, batch 8, logging every step, no validation, same seed. Each side runs in its
own process (the plain one never imports ftgui), alternating which goes first; the time
from the end of step 5 to the end of the last step gives seconds per step, and the
reported ratio is plain ÷ ftgui of the medians (1.0: no overhead; above: ftgui faster).
With ``--lockstep`` the two processes take turns step by step (bench/lockstep.py's baton:
only the holder computes), so a burst of load from other processes falls on one step of
each side rather than on one side's whole run; a step's time then runs from taking the
baton to the end of the step (ftgui's callbacks included), steps 3 to the last but one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (ROOT, WIKI_VALID, emit_json, interleave, load_average,  # noqa: E402
                    median, run_json, tiny_model, work_dir)

# ftgui's simple chat template (core/sft.py, for tokenizers without one): the coordinator
# writes it beside the pairs, so that the plain side uses the same without importing ftgui
TEMPLATE_FILE = "simple_template.jinja"


def pairs(n: int = 256) -> list[dict]:
    lines = [ln.strip() for ln in WIKI_VALID.read_text(encoding="utf-8").splitlines()
             if len(ln.strip()) > 200 and not ln.strip().startswith("=")]
    out = []
    for line in lines[:n]:
        words = line.split()
        prompt, answer = " ".join(words[:20]), words[20:32]
        rejected = answer[:5] + ["not"] + answer[6:]
        out.append({"prompt": prompt, "chosen": " ".join(answer),
                    "rejected": " ".join(rejected)})
    return out


class Timer:
    """Times step ends (a TrainerCallback, made when transformers is imported)."""

    @staticmethod
    def make():
        from transformers import TrainerCallback

        class T(TrainerCallback):
            ends: list = []

            def on_step_end(self, args, state, control, **kw):
                self.ends.append((state.global_step, time.perf_counter()))
        return T()


def per_step(ends) -> float:
    after = [t for s, t in ends if s >= 5]
    return (after[-1] - after[0]) / (len(after) - 1)


def side_ftgui(data: Path, steps: int, out: Path, callbacks=()):
    """Set up ftgui's DPO run; returns train(), which trains and gives the figures."""
    from ftgui.core.config import RunConfig
    from ftgui.core.runner import Runner

    cfg = RunConfig.from_dict({
        "model": {"source": str(tiny_model()), "method": "full"},
        "data": {"source": str(data), "validation": None, "block_size": 256},
        "training": {"objective": "dpo", "output_dir": str(out), "max_steps": steps,
                     "batch_size": 8, "learning_rate": 1e-4, "logging_steps": 1,
                     "save_steps": 100000, "seed": 5}})
    runner = Runner(cfg)
    runner.setup()
    timer = Timer.make()
    for cb in (timer, *callbacks):
        runner.trainer.add_callback(cb)

    def train() -> dict:
        s = runner.train()
        runner.cleanup()
        return {"s_per_step": per_step(timer.ends), "loss": s["final_train_loss"]}
    return train


def side_trl(data: Path, steps: int, out: Path, callbacks=()):
    """Set up the plain TRL script's DPO run; returns train() as side_ftgui does."""
    import copy

    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    rows = [json.loads(ln) for ln in data.read_text().splitlines()]
    conv = [{"prompt": [{"role": "user", "content": r["prompt"]}],
             "chosen": [{"role": "assistant", "content": r["chosen"]}],
             "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in rows]
    tok = AutoTokenizer.from_pretrained(tiny_model())
    tok.chat_template = (data.parent / TEMPLATE_FILE).read_text(encoding="utf-8")
    model = AutoModelForCausalLM.from_pretrained(tiny_model())
    model.config.use_cache = False
    ref = copy.deepcopy(model).requires_grad_(False).eval()
    args = DPOConfig(output_dir=str(out), max_steps=steps, per_device_train_batch_size=8,
                     learning_rate=1e-4, lr_scheduler_type="linear", logging_steps=1,
                     save_steps=100000, seed=5, data_seed=5, use_cpu=True, bf16=False,
                     report_to="none", disable_tqdm=True, dataloader_num_workers=0,
                     gradient_checkpointing=False, max_length=256)
    timer = Timer.make()
    trainer = DPOTrainer(model=model, ref_model=ref, args=args,
                         train_dataset=datasets.Dataset.from_list(conv),
                         processing_class=tok, callbacks=[timer, *callbacks])

    def train() -> dict:
        trainer.train()
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        return {"s_per_step": per_step(timer.ends), "loss": losses[-1]}
    return train


SIDES = {"ftgui": side_ftgui, "trl": side_trl}


def lockstep_side(a) -> dict:
    """One side under bench/lockstep.py's baton: set up when handed it, then one
    optimizer step per turn; a step's time runs from taking the baton to its end."""
    from lockstep import WARMUP, Baton, Turns

    baton = Baton(*(int(x) for x in a.baton_fds.split(",")))
    turns = Turns(a.side, baton)
    baton.wait()   # set-up, one side at a time
    train = SIDES[a.side](Path(a.data), a.steps, Path(a.out), callbacks=[turns])
    baton.pass_on()
    baton.wait()
    try:
        result = train()
    except BaseException:
        baton.pass_on(finished=True)
        raise
    timed = turns.step_times[WARMUP:-1]
    return result | {"lockstep_s_per_step": sum(timed) / len(timed), "timed_steps": len(timed),
                     "step_times": turns.step_times}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--side", choices=("ftgui", "trl"))
    ap.add_argument("--data")
    ap.add_argument("--out")
    ap.add_argument("--json")
    ap.add_argument("--lockstep", action="store_true",
                    help="the two sides take turns step by step (bench/lockstep.py), "
                         "so that a burst of load falls on one step of each")
    ap.add_argument("--baton-fds", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.side:
        emit_json(lockstep_side(a) if a.baton_fds else
                  SIDES[a.side](Path(a.data), a.steps, Path(a.out))())
        return 0
    work = work_dir() / "dpo_vs_trl"
    work.mkdir(parents=True, exist_ok=True)
    data = work / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in pairs()))
    from ftgui.core.sft import SIMPLE_TEMPLATE   # this process is not measured
    (work / TEMPLATE_FILE).write_text(SIMPLE_TEMPLATE, encoding="utf-8")
    tiny_model()
    load_before = load_average()
    count = {"n": 0}

    def run(side):
        def go():
            count["n"] += 1
            shutil.rmtree(work / f"{side}-{count['n']}", ignore_errors=True)  # an earlier run's
            return run_json([sys.executable, __file__, "--side", side, "--data", str(data),
                             "--steps", str(a.steps), "--out",
                             str(work / f"{side}-{count['n']}")])
        return go

    if a.lockstep:
        results = {"ftgui": [], "trl": []}
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
        from lockstep import coordinate
        for r in range(a.repeats):
            names = ["ftgui", "trl"] if r % 2 == 0 else ["trl", "ftgui"]
            for name in names:
                shutil.rmtree(work / f"{name}-lockstep", ignore_errors=True)
            got = coordinate({name: [sys.executable, __file__, "--side", name, "--data",
                                     str(data), "--steps", str(a.steps), "--out",
                                     str(work / f"{name}-lockstep")] for name in names})
            for name in names:
                got[name]["s_per_step"] = got[name]["lockstep_s_per_step"]
                results[name].append(got[name])
    else:
        results = interleave({"ftgui": run("ftgui"), "trl": run("trl")}, a.repeats)
    f = median([r["s_per_step"] for r in results["ftgui"]])
    p = median([r["s_per_step"] for r in results["trl"]])
    out = {"ratio": p / f, "ftgui_s_per_step": f, "trl_s_per_step": p,
           "per_round": [t["s_per_step"] / g["s_per_step"]
                         for g, t in zip(results["ftgui"], results["trl"])],
           "loss_ftgui": [r["loss"] for r in results["ftgui"]],
           "loss_trl": [r["loss"] for r in results["trl"]],
           "s_per_step_per_round": {side: [r["s_per_step"] for r in rs]
                                    for side, rs in results.items()},
           "steps": a.steps, "repeats": a.repeats, "lockstep": a.lockstep,
           "load_average_before": load_before, "load_average_after": load_average()}
    print(json.dumps(out, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
