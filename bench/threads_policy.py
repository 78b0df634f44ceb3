#!/usr/bin/env python
"""The window's threading policy: steps/s and GUI timer lateness per OpenMP setting,
against the CLI training the same run with the library defaults.

    python bench/threads_policy.py [--steps 150] [--rounds 2] [--nice -15] [--json OUT]

Each round runs the CLI (``python -m ftgui train``, no OpenMP variables) and the window
(``bench/gui_latency.py``, offscreen, the same tiny GPT-2 config) once per policy, the
order rotated from round to round so that the machine's load falls on all alike. Steady
steps/s is measured from step 10 to the last step in each run's events.jsonl. Targets for
the window: worst timer lateness <= 50 ms and steps/s >= 0.95 of the CLI's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from common import (OMP_VARS, ROOT, add_nice_option, at_niceness, load_average,  # noqa: E402
                    median, tiny_model)
from gui_latency import steady_steps_per_s, tiny_config  # noqa: E402


def policies() -> dict[str, list[str]]:
    fewer = str(max(1, (os.cpu_count() or 2) - 1))
    return {
        "PASSIVE": ["OMP_WAIT_POLICY=PASSIVE"],
        "defaults (spin 300k)": [""],
        "GOMP_SPINCOUNT=10000": ["GOMP_SPINCOUNT=10000"],
        "GOMP_SPINCOUNT=1000": ["GOMP_SPINCOUNT=1000"],
        f"{fewer} torch thread(s) (cores-1)": [f"OMP_NUM_THREADS={fewer}"],
    }


# GOMP_SPINCOUNT=300000 is libgomp's own value when nothing is set (env.c): the library
# defaults, named so that the CLI's load rule (ftgui/threads.py) leaves them alone
CLI_POLICIES = {"CLI (library defaults)": ["GOMP_SPINCOUNT=300000"],
                "CLI, PASSIVE": ["OMP_WAIT_POLICY=PASSIVE"],
                "CLI, GOMP_SPINCOUNT=10000": ["GOMP_SPINCOUNT=10000"],
                "CLI as shipped (nothing set: its load rule)": []}


def _env(extra: list[str] = ()) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in OMP_VARS}
    env.update(kv.split("=", 1) for kv in extra)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


NICE = 0  # --nice


def cli_run(model: Path, steps: int, tmp: Path, extra: list[str]) -> dict:
    import yaml
    d = Path(tempfile.mkdtemp(dir=tmp))
    cfg = tiny_config(model, steps)
    cfg["training"]["output_dir"] = str(d / "run")
    (d / "c.yaml").write_text(yaml.safe_dump(cfg))
    p = subprocess.run([sys.executable, "-m", "ftgui", "train", str(d / "c.yaml")],
                       capture_output=True, text=True, env=_env(extra), cwd=ROOT, timeout=900,
                       preexec_fn=at_niceness(NICE))
    if p.returncode:
        raise RuntimeError(p.stderr[-2000:])
    return {"steady_steps_per_s": steady_steps_per_s(d / "run" / "events.jsonl")}


def window_run(window_env: list[str], steps: int, tmp: Path) -> dict:
    out = Path(tempfile.mkdtemp(dir=tmp)) / "r.json"
    cmd = [sys.executable, str(BENCH / "gui_latency.py"), "--max-steps", str(steps),
           "--json", str(out)]
    for kv in window_env:
        cmd += ["--window-env", kv]
    p = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=ROOT,
                       timeout=900, preexec_fn=at_niceness(NICE))
    if not out.exists():
        raise RuntimeError((p.stdout + p.stderr)[-2000:])
    return json.loads(out.read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cli-only", action="store_true", help="the CLI rows only")
    add_nice_option(ap)
    ap.add_argument("--json")
    a = ap.parse_args()
    global NICE
    NICE = a.nice
    tmp = Path(tempfile.mkdtemp(prefix="ftgui-threads-"))
    model = tiny_model()
    sides = {**{n: ("cli", v) for n, v in CLI_POLICIES.items()},
             **({} if a.cli_only else
                {f"window, {n}": ("window", v) for n, v in policies().items()})}
    names = list(sides)
    raw: dict[str, list[dict]] = {n: [] for n in names}
    loads = []
    for r in range(a.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            loads.append(load_average())
            kind, extra = sides[n]
            res = cli_run(model, a.steps, tmp, extra) if kind == "cli" \
                else window_run(extra, a.steps, tmp)
            print(n, json.dumps({k: res.get(k) for k in (
                "steady_steps_per_s", "run_worst_ms", "run_p99_ms")}), flush=True)
            raw[n].append(res)
    cli = median([x["steady_steps_per_s"] for x in raw[names[0]]])
    rows = []
    for n in names:
        sps = median([x["steady_steps_per_s"] for x in raw[n]])
        rows.append({"policy": n, "steps_per_s": sps, "vs_cli": sps / cli,
                     "all_steps_per_s": [x["steady_steps_per_s"] for x in raw[n]],
                     "worst_ms": [x.get("run_worst_ms") for x in raw[n]],
                     "p99_ms": [x.get("run_p99_ms") for x in raw[n]]})
    print("\n| process, policy | steps/s (median) | ÷ CLI | worst lateness ms | "
          "p99 ms |\n|---|---|---|---|---|")
    for row in rows:
        worst = ", ".join(f"{v:.0f}" for v in row["worst_ms"] if v is not None) or "—"
        p99 = ", ".join(f"{v:.0f}" for v in row["p99_ms"] if v is not None) or "—"
        print(f"| {row['policy']} | {row['steps_per_s']:.2f} | {row['vs_cli']:.2f} | "
              f"{worst} | {p99} |")
    print(f"load averages seen: {', '.join(loads)}")
    if a.json:
        Path(a.json).write_text(json.dumps({"rows": rows, "loads": loads, "nice": a.nice,
                                            "steps": a.steps, "rounds": a.rounds}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
