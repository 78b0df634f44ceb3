#!/usr/bin/env python
"""A bare PyTorch training loop (no Trainer, no ftgui): the reference for MFU.

    python bench/torch_loop.py --model DIR [--batch-size 4 --block-size 128 --steps 6]
        [--fused] [--lora]

Random token ids, forward with labels, backward, AdamW step, zero_grad; the float32
matmul peak is measured right before and after, in this process. Prints BENCH_JSON.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit_json, matmul_peak  # noqa: E402
from timing import WARMUP_STEPS  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--block-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--fused", action="store_true")
    a = ap.parse_args()
    import torch
    from transformers import AutoModelForCausalLM
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True if a.fused else None)
    x = torch.randint(0, model.config.vocab_size, (a.batch_size, a.block_size))
    peaks = [matmul_peak()]
    durations, step_peaks = [], []
    for _ in range(a.steps):
        t = time.perf_counter()
        model(input_ids=x, labels=x).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        durations.append(time.perf_counter() - t)
        step_peaks.append(matmul_peak(reps=3))  # the machine as it is now (see timing.py)
    peaks.append(matmul_peak())
    warm = min(WARMUP_STEPS, max(len(durations) - 1, 0))
    timed = len(durations) - warm
    dt = sum(durations[warm:])
    cfg = model.config
    emit_json({"side": "loop" + (" fused" if a.fused else ""), "steps": a.steps,
               "timed_steps": timed, "steps_per_s": timed / dt,
               "tokens_per_s": timed / dt * a.batch_size * a.block_size,
               "step_times": durations, "step_peaks": step_peaks, "warmup_steps": warm,
               "peaks": peaks,
               "total_params": sum(p.numel() for p in model.parameters()),
               "n_layers": cfg.num_hidden_layers, "hidden": cfg.hidden_size,
               "threads": torch.get_num_threads(),
               "attn_implementation": getattr(cfg, "_attn_implementation", None),
               "pid": os.getpid()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
