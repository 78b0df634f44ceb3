#!/usr/bin/env python
"""Targets 1 and 2: ftgui against the plain recipe, and packed against padded batches.

    python bench/overhead.py [--quick] [--json OUT]

1. ftgui and the plain run_clm.py-style script (``bench/plain_trainer.py``) train the same
   model on the same data with the same seed, in one process taking turns step by step
   (``bench/lockstep.py``: a shared machine's load falls on both alike; each side in its
   own process, the plain one never importing ftgui); steps/s over the
   timed steps (after 2 warm-up steps) gives a ratio per run, the median over runs is
   reported, and the per-step losses are compared. Configs: the tiny GPT-2 (full) and
   SmolLM2-135M with LoRA, both on WikiText-2 valid, block 128, EOS between lines on both
   sides (ftgui's default).
2. Real (non-pad) tokens/s of ftgui's packed blocks against the tutorial's way (each line
   its own example, padded per batch by DataCollatorForLanguageModeling), same model,
   batch size and steps.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import WIKI_VALID, median, run_json, smollm2_folder, tiny_model, run_cli  # noqa: E402

PY = sys.executable
BENCH = Path(__file__).resolve().parent


def configs(quick: bool) -> list[dict]:
    out = [{"name": "tiny GPT-2, full", "model": str(tiny_model()), "method": "full",
            "batch": 8, "block": 128, "steps": 25 if quick else 80,
            "repeats": 1 if quick else 3, "lr": 1e-3}]
    smol = smollm2_folder()
    if smol is not None and not quick:  # --quick: the tiny model only
        out.append({"name": "SmolLM2-135M, LoRA r=8", "model": str(smol), "method": "lora",
                    "batch": 4, "block": 128, "steps": 10, "repeats": 2, "lr": 3e-4})
    return out


def _args(c: dict) -> list[str]:
    return ["--model", c["model"], "--train", str(WIKI_VALID), "--method", c["method"],
            "--batch-size", str(c["batch"]), "--block-size", str(c["block"]),
            "--max-steps", str(c["steps"]), "--learning-rate", str(c["lr"]), "--seed", "42"]


def pair(other: str, c: dict) -> dict:
    """One lockstep run: ftgui and the other side alternating step by step."""
    return run_json([PY, str(BENCH / "lockstep.py"), "--other", other, *_args(c)],
                    timeout=1800)


def compare(c: dict, other: str) -> dict:
    runs = [pair(other, c) for _ in range(c["repeats"])]
    if any(r[other]["ftgui_imported"] for r in runs):  # the baseline must not see ftgui
        raise RuntimeError(f"the {other} side's process imported ftgui")
    # packed against padded: the tokens trained on (labels != -100), counted in the batches
    key = "steps_per_s" if other == "plain" else "trained_tokens_per_s"
    ratios = [r["ftgui"][key] / r[other][key] for r in runs]
    # per step pair (adjacent in time): robust to a burst of load hitting one step
    step_ratios = []
    for r in runs:
        a_t, b_t = r["ftgui"]["step_times"], r[other]["step_times"]
        scale = r["ftgui"]["trained_tokens_per_step"] / r[other]["trained_tokens_per_step"] \
            if other != "plain" else 1.0
        step_ratios += [scale * tb / ta for ta, tb in zip(a_t[2:-1], b_t[2:-1])]
    out = {"config": c["name"], "kinds": ["ftgui", other], "metric": key,
           "ratio_median": median(ratios), "ratios": ratios,
           "step_ratio_median": median(step_ratios), "step_ratios": step_ratios,
           "ftgui": median([r["ftgui"][key] for r in runs]),
           other: median([r[other][key] for r in runs]),
           "steps": c["steps"], "batch": c["batch"], "block": c["block"],
           "repeats": c["repeats"], "threads": runs[0]["threads"],
           "baseline_process_imported_ftgui": False,
           # ftgui's own counts (summary.json) beside those counted in the batches
           "ftgui_own_counts": runs[0]["ftgui"].get("ftgui_own_counts"),
           "ftgui_counted": runs[0]["ftgui"].get("tokens_counted")}
    for name in ("processed", "non_pad", "trained"):
        out[f"{name}_tokens_per_step"] = {
            side: median([r[side][f"{name}_tokens_per_step"] for r in runs])
            for side in ("ftgui", other)}
        out[f"{name}_tokens_per_s"] = {
            side: median([r[side][f"{name}_tokens_per_s"] for r in runs])
            for side in ("ftgui", other)}
    if other == "plain":
        diffs = []
        for r in runs:
            x, y = r["ftgui"]["losses"], r["plain"]["losses"]
            n = min(len(x), len(y))
            diffs.append(max((abs(p - q) for p, q in zip(x[:n], y[:n])), default=float("nan"))
                         if n == len(x) == len(y) else float("inf"))
        out["loss_max_abs_diff"] = max(diffs)
        out["final_loss"] = [runs[0]["ftgui"]["losses"][-1], runs[0]["plain"]["losses"][-1]]
    else:
        out["padded_real_token_share"] = median([r[other]["real_token_share"] for r in runs])
        out["padded_real_tokens_per_step"] = median([r[other]["real_tokens_per_step"]
                                                     for r in runs])
        out["steps_per_s"] = {"ftgui": median([r["ftgui"]["steps_per_s"] for r in runs]),
                              other: median([r[other]["steps_per_s"] for r in runs])}
    return out


def run(quick: bool = False) -> dict:
    cs = configs(quick)
    overhead = [compare(c, "plain") for c in cs]
    # packed vs padded: one config is enough to show the effect (the tiny model in quick)
    useful = [compare(c, "padded") for c in (cs[:1] if quick else cs)]
    return {"overhead": overhead, "useful": useful}


def main() -> int:
    return run_cli(run, __doc__)


if __name__ == "__main__":
    sys.exit(main())
