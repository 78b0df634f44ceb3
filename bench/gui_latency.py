"""How late does a 10 ms QTimer on the GUI thread fire while a run trains?

    python bench/gui_latency.py                 # tiny GPT-2, many small steps (event-heavy)
    python bench/gui_latency.py --demo          # the demo: LoRA on SmolLM2-135M (compute-heavy)
    python bench/gui_latency.py --json out.json
    python bench/gui_latency.py --window-env OMP_WAIT_POLICY=ACTIVE   # another policy
    python bench/gui_latency.py --window-env ''                        # library defaults

Opens the real main window offscreen, starts a run, and records the interval between
consecutive ticks of a precise 10 ms timer from the moment Train is pressed until the run
reports. Lateness = interval - 10 ms. Prints worst, p99 and median lateness for the run and
for the idle window before it (the baseline). Target: worst under 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def percentile(values, q):
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, int(round(q / 100 * (len(s) - 1)))))
    return s[k]


def tiny_config(model, steps: int) -> dict:
    """The default workload (also trained by the CLI in bench/threads_policy.py)."""
    return {"model": {"source": str(model), "method": "full"},
            "data": {"source": str(ROOT / "resources" / "demo" / "wikitext-excerpt.txt"),
                     "block_size": 64, "validation": 0.05},
            "training": {"max_steps": steps, "batch_size": 8,
                         "logging_steps": 1, "eval_steps": 100, "save_steps": 150,
                         "learning_rate": 1e-3}}


def steady_steps_per_s(events_path, first: int = 10) -> float | None:
    """Steps/s from step ``first`` to the last step, from a run's events.jsonl."""
    steps = []
    for line in Path(events_path).read_text().splitlines():
        e = json.loads(line)
        if e.get("event") == "step" and e["step"] >= first:
            steps.append((e["step"], e["time"]))
    if len(steps) < 2:
        return None
    (s0, t0), (s1, t1) = steps[0], steps[-1]
    return (s1 - s0) / (t1 - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", action="store_true", help="use resources/demo/demo.yaml")
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--trace", action="store_true",
                    help="print the worst gaps with what the run was doing at the time")
    ap.add_argument("--window-env", action="append", default=None, metavar="NAME=VALUE",
                    help="the window's threading policy to try instead of ftgui/threads.py's "
                         "(repeatable; '' for none)")
    args = ap.parse_args()

    # as the app does (ftgui/gui/app.py): the window's policy, before torch loads
    from ftgui import threads
    if args.window_env is not None:
        threads.WINDOW_ENV = dict(kv.split("=", 1) for kv in args.window_env if kv)
    threads.use_window_policy()

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="ftgui-latency-"))
    os.environ["FTGUI_RUNS_DIR"] = str(tmp / "runs")
    os.environ["FTGUI_CACHE_DIR"] = str(tmp / "cache")

    from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from ftgui.core.config import RunConfig
    from ftgui.gui.main_window import MainWindow
    from ftgui.gui.workers.run_worker import wait_for_tasks

    if args.demo:
        cfg = RunConfig.load(ROOT / "resources" / "demo" / "demo.yaml")
        cfg.training.max_steps = args.max_steps or 20
        cfg.training.logging_steps = 1
        label = f"demo (LoRA, SmolLM2-135M GGUF, batch {cfg.training.batch_size} x " \
                f"{cfg.data.block_size})"
    else:
        sys.path.insert(0, str(ROOT / "tests"))
        from tiny_model import make_tiny_model
        model = make_tiny_model(tmp / "tiny")
        cfg = RunConfig.from_dict(tiny_config(model, args.max_steps or 300))
        label = "tiny GPT-2 (2 layers), full fine-tune, batch 8 x 64, a log event every step"

    _app = QApplication([sys.argv[0]])
    win = MainWindow(settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat))
    win.resize(1400, 880)
    win.set_config(cfg)
    win.show()

    ticks: list[float] = []
    timer = QTimer(interval=10)
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter() * 1000))
    trace: list[tuple[float, str]] = []
    if args.trace:  # what the worker thread emitted, stamped when it emitted it
        from ftgui.gui.workers import run_worker as worker_mod
        original = worker_mod.RunWorker._sink

        def traced(self, e):
            what = type(e).__name__ + " " + str(getattr(e, "stage", "") or getattr(e, "step", ""))
            trace.append((time.perf_counter() * 1000, what))
            return original(self, e)
        worker_mod.RunWorker._sink = traced

    def spin(cond, timeout_s):
        loop = QEventLoop()
        poll = QTimer(interval=20)
        poll.timeout.connect(lambda: cond() and loop.quit())
        poll.start()
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()
        poll.stop()

    # wait for the panels' background reads, then measure the idle window as a baseline
    spin(lambda: win.model_panel.info is not None and win.device_choice is not None
         and win.data_panel.preview is not None and win.data_panel.preview.stats is not None,
         600)
    timer.start()
    spin(lambda: False, 3.0)
    idle = ticks[:]
    ticks.clear()

    done = []
    win.runFinished.connect(lambda d: done.append(("finished", d)))
    win.runFailed.connect(lambda m: done.append(("failed", m)))
    t0 = time.time()
    win.train()
    spin(lambda: bool(done), 3600)
    wall = time.time() - t0
    timer.stop()
    run_ticks = ticks[:]
    steps = len(win.plots.series["loss"].x)
    wait_for_tasks(10000)
    win.close()
    events = sorted((tmp / "runs").glob("*/events.jsonl"))
    steady = steady_steps_per_s(events[-1]) if events else None

    def lateness(ts):
        return [b - a - 10.0 for a, b in zip(ts, ts[1:])]

    late_run, late_idle = lateness(run_ticks), lateness(idle)
    result = {
        "workload": label,
        "status": done[0][0] if done else "timeout",
        "steps_logged": steps, "run_wall_s": round(wall, 1),
        "ticks": len(run_ticks),
        "steady_steps_per_s": steady and round(steady, 2),
        "window_env": threads.WINDOW_ENV, "torch_threads": _torch_threads(),
        "run_worst_ms": round(max(late_run), 1), "run_p99_ms": round(percentile(late_run, 99), 1),
        "run_p50_ms": round(percentile(late_run, 50), 2),
        "idle_worst_ms": round(max(late_idle), 1),
        "idle_p99_ms": round(percentile(late_idle, 99), 1),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                   f"{win.device_choice.description if win.device_choice else '?'}",
        "python": platform.python_version(),
    }
    for k, v in result.items():
        print(f"{k:>14}: {v}")
    if args.trace:
        gaps = sorted(zip(late_run, run_ticks), reverse=True)[:8]
        for late, t_start in gaps:
            before = [w for t, w in trace if t <= t_start + late + 10]
            print(f"  {late:7.1f} ms late; last worker event before it ended: "
                  f"{before[-1] if before else '-'}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0 if result["status"] == "finished" else 1


def _torch_threads():
    import torch
    return torch.get_num_threads()


if __name__ == "__main__":
    sys.exit(main())
