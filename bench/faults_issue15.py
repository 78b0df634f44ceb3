"""Issue 15's adversarial cases, run a few times each with real `python -m ftgui` processes.

    python bench/faults_issue15.py [--times 3] [--out bench/faults_issue15-result.json]

Cases (each on the tiny GPT-2 of tests/tiny_model.py and tests/fixtures/wiki-small.txt):

  force_parent   export --force with --out the folder holding the run (+ a user file)
  force_file     export --format script --force onto a user folder holding a file
  race_train     two `ftgui train` on one new output_dir, started together
  race_resume    two `ftgui resume RUN` of one stopped run, started together
  malformed      `ftgui runs` over a good run and two malformed ones
  sigterm        SIGTERM (and SIGUSR1) after the first logged step; then
                 `ftgui train --resume-if-exists` to the end
  diverge        learning_rate 1e308
  export_kill    SIGKILL during a GGUF export, then the same export again

For each: how many times it was injected, how many times the outcome was the safe one, and
what was lost (files of the user, steps, events).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))


def ftgui(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ftgui", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=600, env=env)


def popen(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ftgui", *map(str, args)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def config(path: Path, model: Path, out: Path, **training) -> Path:
    from ftgui.core.config import RunConfig
    RunConfig.from_dict({
        "model": {"source": str(model), "method": "full"},
        "data": {"source": str(REPO / "tests/fixtures/wiki-small.txt"), "validation": 0.1,
                 "block_size": 32},
        "training": {"output_dir": str(out), "max_steps": 30, "batch_size": 4,
                     "learning_rate": 1e-3, "logging_steps": 1, "save_steps": 10,
                     "seed": 7, **training}}).save(path)
    return path


def tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*")
            if p.is_file()}


def steps(run: Path) -> list[int]:
    from ftgui.core.events import read_events
    return [e.step for e in read_events(run / "events.jsonl") if e.kind == "step"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--times", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "bench/faults_issue15-result.json"))
    a = ap.parse_args()
    from tiny_model import make_tiny_model

    work = Path(tempfile.mkdtemp(prefix="ftgui-faults15-"))
    import os
    os.environ["FTGUI_RUNS_DIR"] = str(work / "runs")
    os.environ["FTGUI_CACHE_DIR"] = str(work / "cache")
    model = make_tiny_model(work / "tiny")
    base = work / "base-run"
    r = ftgui("train", config(work / "base.yaml", model, base))
    assert r.returncode == 0, r.stderr
    results = {}

    def record(name, ok, lost, detail=""):
        row = results.setdefault(name, {"times": 0, "survived": 0, "lost": []})
        row["times"] += 1
        row["survived"] += bool(ok)
        if lost:
            row["lost"].append(lost)
        if detail and not ok:
            row.setdefault("detail", []).append(detail[-500:])

    for i in range(a.times):
        t0 = time.time()
        p = work / f"P{i}"
        p.mkdir()
        shutil.copytree(base, p / "t")
        (p / "other.txt").write_text("x")
        before = tree(p)
        r = ftgui("export", p / "t", "--format", "merged", "--out", p, "--force")
        record("force_parent", r.returncode == 2 and tree(p) == before,
               "" if tree(p) == before else "user files", r.stderr)

        d = work / f"D{i}"
        d.mkdir()
        (d / "thesis.txt").write_text("mine")
        r = ftgui("export", base, "--format", "script", "--out", d, "--force")
        record("force_file", r.returncode == 2 and (d / "thesis.txt").exists(),
               "" if (d / "thesis.txt").exists() else "user folder", r.stderr)

        out = work / f"race{i}"
        cfg = config(work / f"race{i}.yaml", model, out)
        procs = [popen("train", cfg) for _ in range(2)]
        codes = sorted(pr.wait() for pr in procs)
        errs = "".join(pr.stderr.read() for pr in procs)
        good = codes == [0, 2] and steps(out) == list(range(1, 31)) and \
            "being written by process" in errs
        record("race_train", good, "" if steps(out) == list(range(1, 31)) else
               f"events {len(steps(out))} steps", errs)

        stopped = work / f"stopped{i}"
        cfg = config(work / f"stopped{i}.yaml", model, stopped)
        pr = popen("train", cfg)
        while pr.poll() is None and (not (stopped / "events.jsonl").exists()
                                     or not steps(stopped)):
            time.sleep(0.05)
        pr.send_signal(signal.SIGTERM if i % 2 == 0 else signal.SIGUSR1)
        code = pr.wait()
        from ftgui.core.runs import RunDir
        rd = RunDir(stopped)
        s = rd.summary()
        cp = rd.latest_checkpoint()
        ok = code == 0 and s.get("status") == "stopped" and cp is not None and \
            cp.name == f"checkpoint-{s.get('steps')}"
        record("sigterm" if i % 2 == 0 else "sigusr1", ok,
               "" if ok else f"status {s.get('status')}, checkpoint {cp}", pr.stderr.read())

        procs = [popen("resume", stopped) for _ in range(2)]
        codes = sorted(pr.wait() for pr in procs)
        errs = "".join(pr.stderr.read() for pr in procs)
        good = codes == [0, 2] and steps(stopped) == list(range(1, 31)) and \
            rd.status() == "finished"
        record("race_resume", good, "" if steps(stopped) == list(range(1, 31)) else
               f"events {steps(stopped)}", errs)

        runs = work / f"runs{i}"
        runs.mkdir()
        shutil.copytree(base, runs / "good")
        shutil.copytree(base, runs / "bad1")
        (runs / "bad1" / "config.yaml").write_text("model: [1]\n")
        (runs / "bad1" / "summary.json").unlink()
        shutil.copytree(base, runs / "bad2")
        s = json.loads((base / "summary.json").read_text())
        (runs / "bad2" / "summary.json").write_text(json.dumps({**s, "duration_s": "abc"}))
        r = ftgui("runs", "--dir", runs)
        record("malformed", r.returncode == 0 and r.stdout.count("unreadable") == 2 and
               "finished" in r.stdout, "", r.stdout + r.stderr)

        div = work / f"div{i}"
        r = ftgui("train", config(work / f"div{i}.yaml", model, div, learning_rate=1e308,
                                  save_steps=1))
        from safetensors.torch import load_file
        import torch
        sound = all(torch.isfinite(w).all() for c in RunDir(div).checkpoints()
                    for w in load_file(c / "model.safetensors").values())
        record("diverge", r.returncode == 3 and RunDir(div).status() == "diverged" and sound
               and not (div / "model").exists(), "" if sound else "NaN checkpoint", r.stderr)

        gguf = work / f"m{i}.gguf"
        pr = subprocess.Popen([sys.executable, "-m", "ftgui", "export", str(base), "--format",
                               "gguf", "--out", str(gguf)], cwd=REPO)
        while not list(work.glob(f".m{i}.gguf.*.partial")) and pr.poll() is None:
            time.sleep(0.001)
        pr.kill()
        pr.wait()
        left = list(work.glob(f".m{i}.gguf.*.partial"))
        r = ftgui("export", base, "--format", "gguf", "--out", gguf)
        after = list(work.glob(f".m{i}.gguf.*.partial"))
        record("export_kill", bool(left) and not after and r.returncode == 0 and gguf.exists(),
               "" if not after else "stale partial", r.stderr)
        print(f"round {i + 1}: {time.time() - t0:.0f} s", flush=True)

    Path(a.out).write_text(json.dumps(results, indent=1))
    print(json.dumps({k: (v["times"], v["survived"], v["lost"]) for k, v in results.items()},
                     indent=1))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
