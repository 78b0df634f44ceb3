#!/usr/bin/env python
"""One ftgui training run, timed the same way as plain_trainer.py (a child process of
the benchmarks; prints one line ``BENCH_JSON {...}``).

    python bench/ftgui_side.py --model SOURCE --train FILE [--validation FILE]
        [--block-size 128 --batch-size 8 --max-steps 100 --seed 42 --method full|lora]
        [--no-eos] [--peak] [--rss] [--set training.key=value ...]

``--peak`` also measures the float32 matmul peak right before and right after training
(for MFU); ``--rss`` samples this process's resident memory (for the memory bench).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--validation", default="")
    ap.add_argument("--block-size", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-steps", type=int, default=100)
    ap.add_argument("--learning-rate", type=float, default=2e-4)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--method", choices=("full", "lora"), default="full")
    ap.add_argument("--no-eos", action="store_true")
    ap.add_argument("--logging-steps", type=int, default=1)
    ap.add_argument("--peak", action="store_true")
    ap.add_argument("--rss", action="store_true")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    a = ap.parse_args()

    sampler = None
    if a.rss:
        from timing import RssSampler
        sampler = RssSampler().start()
    tmp = Path(tempfile.mkdtemp(prefix="ftgui-side-"))
    os.environ.setdefault("FTGUI_CACHE_DIR", str(tmp / "cache"))
    from common import emit_json, matmul_peak
    from timing import StepTimer
    from ftgui.core.config import RunConfig
    from ftgui.core.runner import Runner

    cfg = RunConfig.from_dict({
        "model": {"source": a.model, "method": a.method},
        "data": {"source": a.train, "validation": a.validation,
                 "block_size": a.block_size, "add_eos": not a.no_eos},
        "training": {"output_dir": str(tmp / "run"), "max_steps": a.max_steps,
                     "batch_size": a.batch_size, "learning_rate": a.learning_rate,
                     "seed": a.seed, "logging_steps": a.logging_steps, "save_steps": 100000,
                     "save_total_limit": None}})
    for item in a.overrides:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        import yaml
        setattr(getattr(cfg, section), name, yaml.safe_load(value))
    import torch
    if sampler:
        sampler.mark("after_imports")
    runner = Runner(cfg)
    t0 = time.perf_counter()
    runner.setup()
    setup_s = time.perf_counter() - t0
    if sampler:
        sampler.mark("after_setup", reset_peak=True)
    model = runner.trainer.model  # counted now: a LoRA run merges its adapters when saving
    total_params = sum(p.numel() for p in model.parameters())
    trainable_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    timer = StepTimer(peak_every_step=a.peak)
    runner.trainer.add_callback(timer)
    peaks = []
    if a.peak:
        peaks.append(matmul_peak())
    runner.train()
    if sampler:
        sampler.mark("after_train")
    if a.peak:
        peaks.append(matmul_peak())
    tokens_per_step = a.batch_size * a.block_size
    result = timer.summary(tokens_per_step)
    result.update(side="ftgui", setup_s=setup_s, threads=torch.get_num_threads(),
                  total_params=total_params, trainable_params=trainable_params,
                  real_tokens_per_s=result["tokens_per_s"],
                  real_tokens_per_step=tokens_per_step, real_token_share=1.0,
                  peaks=peaks, pid=os.getpid())
    hf = getattr(model, "base_model", model)
    hf_cfg = getattr(hf, "config", None) or model.config
    result["n_layers"] = getattr(hf_cfg, "num_hidden_layers", None) or getattr(hf_cfg, "n_layer")
    result["hidden"] = getattr(hf_cfg, "hidden_size", None) or getattr(hf_cfg, "n_embd")
    result["attn_implementation"] = getattr(hf_cfg, "_attn_implementation", None)
    runner.cleanup()
    if sampler:
        result["rss"] = sampler.stop()
    emit_json(result)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
