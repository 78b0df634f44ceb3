#!/usr/bin/env python
"""Target 5: process start → main window shown, against importing torch + transformers +
datasets, in the same run.

    python bench/cold_start.py [--quick] [--json OUT]

Each side is a fresh ``python`` process, timed from just before it is started (wall clock)
to the moment it reports:
  * window: ``ftgui.gui.app.main()`` offscreen, with a fresh settings folder (so the
    first-start path: the demo config is loaded); it reports from a ``singleShot(0)``
    queued by the window's ``show()``, i.e. once the event loop runs with the window up.
    It then keeps a 10 ms timer until the heavy imports on the worker thread are done
    (plus 0.5 s; at most BENCH_WATCH_S) and reports its worst lateness, and whether
    torch was already imported when the window showed;
  * window_plain: the same, with ``heavy_imports`` as it was before the GIL fixes (no
    preload of libtorch with the GIL released, the garbage collector left on during the
    imports): the side-by-side baseline for the lateness;
  * imports: ``import torch, transformers, datasets`` (plus ``transformers.Trainer``,
    what the run needs);
  * python: ``python -c pass``, the floor.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import JSON_TAG, ROOT, interleave, median, run_cli  # noqa: E402

WINDOW_CHILD = r"""
import os, sys, time
from PySide6.QtCore import QTimer, Qt
from ftgui.gui import main_window as mw

WATCH_S = float(os.environ.get("BENCH_WATCH_S", "15"))
state = {}
from ftgui.gui.workers import run_worker as worker

if os.environ.get("BENCH_PLAIN_IMPORTS"):
    def plain_heavy_imports():
        with worker._IMPORT_LOCK:
            if worker._imported:
                return
            import gc, torch, transformers, peft
            from transformers import (AutoConfig, AutoModelForCausalLM, AutoTokenizer,
                                      Trainer, TrainerCallback, TrainingArguments)
            from ftgui.core import runner
            gc.freeze()
            worker._imported = True
    worker.heavy_imports = plain_heavy_imports
original_show = mw.MainWindow.show

def show(self):
    original_show(self)
    if state:
        return
    state["show_called"] = time.time()
    state["torch_at_show"] = "torch" in sys.modules
    QTimer.singleShot(0, lambda: shown(self))

def shown(win):
    state["shown"] = time.time()
    ticks = [time.perf_counter()]
    torch_at, done_at = [], []
    timer = QTimer(win, interval=10)
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    def tick():
        ticks.append(time.perf_counter())
        if not torch_at and "torch" in sys.modules:
            torch_at.append(time.time())
        if not done_at and worker._imported:
            done_at.append(time.time())
            QTimer.singleShot(500, done)
    timer.timeout.connect(tick)
    timer.start()
    def done():
        timer.stop()
        late = [(b - a) * 1000 - 10 for a, b in zip(ticks, ticks[1:])]
        import json
        print("BENCH_JSON " + json.dumps({
            "shown": state["shown"], "show_called": state["show_called"],
            "torch_at_show": state["torch_at_show"],
            "torch_loaded_after_s": (torch_at[0] - state["shown"]) if torch_at else None,
            "imports_done_after_s": (done_at[0] - state["shown"]) if done_at else None,
            "after_show_worst_ms": max(late) if late else None,
            "after_show_ticks": len(late)}), flush=True)
        os._exit(0)  # the worker threads may still be importing: do not wait for them
    QTimer.singleShot(int(WATCH_S * 1000), done)

mw.MainWindow.show = show
from ftgui.gui import app
app.main([])
"""

IMPORT_CHILD = ("import time, json, torch, transformers, datasets\n"
                "from transformers import Trainer\n"
                "print('BENCH_JSON ' + json.dumps({'shown': time.time()}), flush=True)")


def _spawn(code: str, env: dict, timeout: float = 300) -> dict:
    t0 = time.time()
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=timeout)
    for line in p.stdout.splitlines():
        if line.startswith(JSON_TAG):
            out = json.loads(line[len(JSON_TAG):])
            out["elapsed_s"] = out["shown"] - t0
            return out
    raise RuntimeError(f"child failed ({p.returncode}):\n{(p.stdout + p.stderr)[-3000:]}")


def run(quick: bool = False, watch_s: float = 15.0) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="ftgui-bench-start-"))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp / "cfg"),
           "XDG_DATA_HOME": str(tmp / "data"), "XDG_CACHE_HOME": str(tmp / "cache"),
           "FTGUI_RUNS_DIR": str(tmp / "runs"), "FTGUI_CACHE_DIR": str(tmp / "dcache"),
           "BENCH_WATCH_S": str(watch_s),
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    repeats = 2 if quick else 5
    _spawn("import time, json; print('BENCH_JSON ' + json.dumps({'shown': time.time()}))",
           env)  # warm the interpreter's files
    runs = interleave({
        "window": lambda: _spawn(WINDOW_CHILD, env),
        "window_plain": lambda: _spawn(WINDOW_CHILD, {**env, "BENCH_PLAIN_IMPORTS": "1"}),
        "imports": lambda: _spawn(IMPORT_CHILD, env),
        "python": lambda: _spawn("import time, json; print('BENCH_JSON ' + "
                                 "json.dumps({'shown': time.time()}))", env),
    }, repeats)
    win = runs["window"]
    return {
        "repeats": repeats,
        "window_s": median([r["elapsed_s"] for r in win]),
        "imports_s": median([r["elapsed_s"] for r in runs["imports"]]),
        "python_s": median([r["elapsed_s"] for r in runs["python"]]),
        "window_all_s": [r["elapsed_s"] for r in win],
        "imports_all_s": [r["elapsed_s"] for r in runs["imports"]],
        "torch_at_show": any(r["torch_at_show"] for r in win),
        "torch_loaded_after_s": median([r["torch_loaded_after_s"] for r in win]),
        "after_show_worst_ms": max(r["after_show_worst_ms"] for r in win),
        "after_show_worst_ms_median": median([r["after_show_worst_ms"] for r in win]),
        "after_show_worst_all_ms": [r["after_show_worst_ms"] for r in win],
        "imports_done_after_s": median([r.get("imports_done_after_s") for r in win]),
        "plain_worst_ms": max(r["after_show_worst_ms"] for r in runs["window_plain"]),
        "plain_worst_ms_median": median([r["after_show_worst_ms"]
                                         for r in runs["window_plain"]]),
        "plain_worst_all_ms": [r["after_show_worst_ms"] for r in runs["window_plain"]],
        "plain_imports_done_after_s": median([r.get("imports_done_after_s")
                                              for r in runs["window_plain"]]),
        "watch_s": watch_s,
    }


def main() -> int:
    return run_cli(run, __doc__)


if __name__ == "__main__":
    sys.exit(main())
