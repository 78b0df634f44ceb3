"""Crash consistency: SIGKILL real `python -m ftgui train` / `ftgui resume` processes at
random moments, resume each run to the end, and check that nothing was lost but the steps
since the newest complete checkpoint.

    python bench/faults.py [--kills 24] [--seed 0] [--out bench/faults-result.json]

Each run is a tiny GPT-2 (tests/tiny_model.py) on tests/fixtures/wiki-small.txt, 20 steps,
a checkpoint every 4 steps (two kept), one step logged per event line. A run is killed
two or three times (the first `train`, then the `resume`s) at one of these moments:

  setup       a random time after the process starts (imports, data, model loading)
  step        a random time after a random training step was logged
  checkpoint  the moment a checkpoint-N folder appears without its trainer_state.json
              (the Trainer is writing weights / optimizer / scheduler / RNG state)
  final       after the last step: a random time after the final evaluation is logged,
              or the moment model.partial appears (the final model is being written)

and then resumed (or trained again when the kill came before the run folder existed)
until it finishes. After every kill: the run reads as "interrupted", not "running"; the
checkpoint resume will pick is complete. After the last resume: exit 0, status finished,
each step 1..20 exactly once in events.jsonl, no torn checkpoint or model.partial left,
the final model loads and equals an uninterrupted run's weights, and every folder in
the run is private (0o700).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

MAX_STEPS, SAVE_STEPS = 20, 4
MODES = ("setup", "step", "checkpoint", "final")


def write_config(path: Path, model: Path, out: Path) -> None:
    from ftgui.core.config import RunConfig
    RunConfig.from_dict({
        "model": {"source": str(model), "method": "full"},
        "data": {"source": str(REPO / "tests/fixtures/wiki-small.txt"), "validation": 0.1,
                 "block_size": 32},
        "training": {"output_dir": str(out), "max_steps": MAX_STEPS, "batch_size": 4,
                     "learning_rate": 1e-3, "logging_steps": 1, "save_steps": SAVE_STEPS,
                     "save_total_limit": 2, "seed": 7},
    }).save(path)


def start(args: list[str], log: Path) -> subprocess.Popen:
    fh = open(log, "ab")
    return subprocess.Popen([sys.executable, "-m", "ftgui", *args], stdout=fh,
                            stderr=subprocess.STDOUT, cwd=REPO)


def steps_logged(run: Path) -> list[int]:
    from ftgui.core.events import read_events
    return [e.step for e in read_events(run / "events.jsonl") if e.kind == "step"]


def wait_for(proc, cond, deadline: float, poll: float = 0.002) -> bool:
    """Poll cond() until it holds (True) or the process ends / the deadline passes."""
    while time.time() < deadline:
        if cond():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(poll)
    return False


def kill_at(proc, mode: str, run: Path, rng: random.Random, timeout: float) -> bool:
    """Kill proc at a moment of the given kind; False when it ended first."""
    deadline = time.time() + timeout
    cps = run / "checkpoints"
    if mode == "setup":
        hit = wait_for(proc, lambda: False, time.time() + rng.uniform(0.5, 12.0)) or \
            proc.poll() is None
    elif mode == "step":
        done = steps_logged(run)
        target = rng.randint(1, MAX_STEPS - 1)
        hit = wait_for(proc, lambda: any(s >= target for s in steps_logged(run))
                       and len(steps_logged(run)) > len(done), deadline, 0.02)
        if hit:
            time.sleep(rng.uniform(0, 0.4))
    elif mode == "checkpoint":
        before = {p.name for p in cps.iterdir()} if cps.is_dir() else set()

        def writing() -> bool:
            if not cps.is_dir():
                return False
            return any(p.name not in before and not (p / "trainer_state.json").exists()
                       for p in cps.iterdir())
        hit = wait_for(proc, writing, deadline, 0.001)
        if hit:
            time.sleep(rng.uniform(0, 0.03))
    elif mode == "final":
        def finishing() -> bool:
            if (run / "model.partial").exists():
                return True
            from ftgui.core.events import read_events
            return any(e.kind == "eval" and e.step == MAX_STEPS
                       for e in read_events(run / "events.jsonl"))
        hit = wait_for(proc, finishing, deadline, 0.002)
        if hit and not (run / "model.partial").exists():
            time.sleep(rng.uniform(0, 0.15))
    else:
        raise ValueError(mode)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file
    return load_file(folder / "model.safetensors")


def check_final(run: Path, reference: dict) -> tuple[list[str], float]:
    import torch
    from transformers import AutoModelForCausalLM

    from ftgui.core.runs import RunDir
    problems = []
    rd = RunDir(run)
    if rd.status() != "finished":
        problems.append(f"status {rd.status()}")
    steps = steps_logged(run)
    if steps != list(range(1, MAX_STEPS + 1)):
        problems.append(f"steps in events.jsonl: {steps}")
    if rd.torn_checkpoints():
        problems.append(f"torn checkpoints left: {rd.torn_checkpoints()}")
    if (run / "model.partial").exists():
        problems.append("model.partial left")
    model = AutoModelForCausalLM.from_pretrained(rd.model_dir)
    with torch.no_grad():
        model(input_ids=torch.tensor([[1, 2, 3]]))
    got = weights(rd.model_dir)
    diff = max(float((got[k] - reference[k]).abs().max()) for k in reference)
    if diff > 1e-5:
        problems.append(f"weights differ from the uninterrupted run by {diff:.2e}")
    for d in [run, *[p for p in run.rglob("*") if p.is_dir()]]:
        if d.stat().st_mode & 0o077:
            problems.append(f"{d.relative_to(run)} is readable by others "
                            f"({oct(d.stat().st_mode & 0o777)})")
    return problems, diff


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=24, help="kills to land (at least)")
    ap.add_argument("--max-runs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=240.0)
    ap.add_argument("--out", default=str(REPO / "bench" / "faults-result.json"))
    a = ap.parse_args()
    rng = random.Random(a.seed)

    from tiny_model import make_tiny_model

    from ftgui.core.runs import RunDir

    tmp = Path(tempfile.mkdtemp(prefix="ftgui-faults-"))
    os.environ["FTGUI_CACHE_DIR"] = str(tmp / "cache")
    os.environ["FTGUI_RUNS_DIR"] = str(tmp / "runs")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    model = make_tiny_model(tmp / "tiny")

    ref_cfg = tmp / "reference.yaml"
    write_config(ref_cfg, model, tmp / "reference")
    t0 = time.time()
    rc = subprocess.run([sys.executable, "-m", "ftgui", "train", str(ref_cfg)], cwd=REPO,
                        capture_output=True).returncode
    assert rc == 0, "the uninterrupted reference run failed"
    reference = weights(tmp / "reference" / "model")
    print(f"reference run: {time.time() - t0:.0f} s")

    # runs of two or three kills each, the modes dealt in turn, until --kills landed
    cycle: list[str] = []

    def plans():
        i = 0
        while sum(v for k, v in stats.items() if k in MODES) < a.kills and i < a.max_runs:
            plan = []
            for _ in range(2 + i % 2):
                if not cycle:
                    cycle.extend(MODES)
                    rng.shuffle(cycle)
                plan.append(cycle.pop())
            yield i, plan
            i += 1

    stats = Counter()
    lost_steps = Counter()
    torn_seen = Counter()
    records, failures = [], []
    for i, plan in plans():
        run = tmp / f"run-{i}"
        cfg = tmp / f"run-{i}.yaml"
        write_config(cfg, model, run)
        log = tmp / f"run-{i}.log"
        killed = []
        failed_before = len(failures)
        finished_early = False
        for mode in plan:
            args = ["resume", str(run)] if (run / "config.yaml").exists() else \
                ["train", str(cfg)]
            proc = start(args, log)
            if not kill_at(proc, mode, run, rng, a.timeout):
                stats[f"{mode} (process ended first)"] += 1
                if proc.returncode != 0:
                    failures.append(f"run-{i}: {args[0]} exited {proc.returncode} "
                                    f"(see {log})")
                finished_early = True
                break
            stats[mode] += 1
            rd = RunDir(run)
            if rd.status() == "finished":  # killed while exiting, after the end
                stats[f"{mode} (after the run finished)"] += 1
                finished_early = True
                break
            reached = max(steps_logged(run), default=0)
            cp = rd.latest_checkpoint()
            cp_step = int(cp.name.split("-")[1]) if cp else 0
            lost_steps[mode] += max(reached - cp_step, 0)
            torn_seen[mode] += len(rd.torn_checkpoints()) + \
                int((run / "model.partial").exists())
            status = rd.status() if rd.path.exists() else "no folder"
            if status == "running":
                failures.append(f"run-{i}: a dead run still reads as running")
            killed.append({"mode": mode, "command": args[0], "reached_step": reached,
                           "resume_from": cp.name if cp else None, "status": status,
                           "torn": [p.name for p in rd.torn_checkpoints()] if
                           rd.path.exists() else []})
        if not finished_early:
            args = ["resume", str(run)] if (run / "config.yaml").exists() else \
                ["train", str(cfg)]
            expect = RunDir(run).latest_checkpoint() if run.exists() else None
            proc = start(args, log)
            try:
                rc = proc.wait(timeout=a.timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = -1
            if rc != 0:
                failures.append(f"run-{i}: final {args[0]} exited {rc} (see {log})")
                records.append({"run": i, "kills": killed, "ok": False})
                continue
            from ftgui.core.events import read_events
            starts = [e for e in read_events(run / "events.jsonl") if e.kind == "run_started"]
            want = int(expect.name.split("-")[1]) if expect else 0
            if args[0] == "resume" and starts and starts[-1].start_step != want:
                failures.append(f"run-{i}: resumed at step {starts[-1].start_step}, "
                                f"expected {want}")
        problems, diff = check_final(run, reference)
        failures += [f"run-{i}: {p}" for p in problems]
        ok = len(failures) == failed_before
        records.append({"run": i, "kills": killed, "ok": ok, "max_weight_diff": diff})
        print(f"run-{i}: kills {[k['mode'] + '@' + str(k['reached_step']) for k in killed]} "
              f"-> {'ok' if ok else failures[failed_before:]} (weights within {diff:.1e})",
              flush=True)

    total = sum(v for k, v in stats.items() if k in MODES)
    result = {"kills": total, "by_mode": dict(stats), "lost_steps": dict(lost_steps),
              "torn_left_by_kill": dict(torn_seen), "runs": records, "failures": failures,
              "seconds": round(time.time() - t0)}
    Path(a.out).write_text(json.dumps(result, indent=2))
    print(f"\n{total} kills in {len(records)} runs, {len(failures)} failures, "
          f"{result['seconds']} s")
    print("| fault | injected | resumed & finished | lost (steps redone) | torn left, "
          "never picked |")
    print("| --- | --- | --- | --- | --- |")
    survived = Counter(k["mode"] for r in records if r["ok"] for k in r["kills"])
    for m in MODES:
        print(f"| SIGKILL during {m} | {stats[m]} | {survived[m]} | {lost_steps[m]} | "
              f"{torn_seen[m]} |")
    for f in failures:
        print("FAIL", f)
    return 1 if failures or total < 20 else 0


if __name__ == "__main__":
    sys.exit(main())
