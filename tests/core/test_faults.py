"""Faults: a killed process, a full disk, too little memory, secrets and permissions.

The many-kill version is bench/faults.py; these are the fast cases. Subprocesses run the
real `python -m ftgui`; polling a file with a deadline decides when to kill.
"""

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftgui.core.events import read_events
from ftgui.core.runner import resume_run, run_config
from ftgui.core.runs import RunDir

REPO = Path(__file__).resolve().parents[2]


def _cli(*args, preexec=None, code=None, timeout=120):
    cmd = [sys.executable, "-c", code, *args] if code else \
        [sys.executable, "-m", "ftgui", *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=preexec)


def _start(*args):
    return subprocess.Popen([sys.executable, "-m", "ftgui", *args], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill_when(proc, cond, timeout=90.0):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if cond():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return
        time.sleep(0.001)
    proc.kill()
    pytest.fail(f"the condition never held before the process ended "
                f"({proc.wait()}): {proc.stderr.read().decode()[-2000:]}")


def _steps(run):
    return [e.step for e in read_events(run.events_path) if e.kind == "step"]


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_kill_during_a_checkpoint_write_resumes_from_the_last_complete_one(tiny_config,
                                                                           tmp_path):
    cfg = tiny_config(training={"max_steps": 12, "save_steps": 4, "logging_steps": 1,
                                "save_total_limit": None})
    cfg.save(tmp_path / "cfg.yaml")
    run = RunDir(cfg.training.output_dir)
    proc = _start("train", str(tmp_path / "cfg.yaml"))
    second = run.checkpoints_dir / "checkpoint-8"
    # killed after the weights are written but before trainer_state.json
    _kill_when(proc, lambda: (second / "model.safetensors").exists()
               and not (second / "trainer_state.json").exists())

    assert run.status() == "interrupted"  # summary.json says running; its writer is gone
    assert run.latest_checkpoint().name == "checkpoint-4"
    assert second in run.torn_checkpoints()
    assert max(_steps(run)) >= 8

    r = _cli("resume", str(run.path))
    assert r.returncode == 0, r.stderr
    assert run.status() == "finished"
    starts = [e for e in read_events(run.events_path) if e.kind == "run_started"]
    assert starts[-1].start_step == 4
    assert _steps(run) == list(range(1, 13))  # the redone steps 5-8 once, the new values
    from transformers import AutoModelForCausalLM
    AutoModelForCausalLM.from_pretrained(run.model_dir)
    assert not (run.path / "model.partial").exists()


def test_kill_before_the_first_checkpoint_starts_again(tiny_config, tmp_path, capsys):
    cfg = tiny_config(training={"max_steps": 8, "save_steps": 100, "logging_steps": 1})
    cfg.save(tmp_path / "cfg.yaml")
    run = RunDir(cfg.training.output_dir)
    proc = _start("train", str(tmp_path / "cfg.yaml"))
    _kill_when(proc, lambda: run.events_path.exists() and len(_steps(run)) >= 2)
    assert run.status() == "interrupted" and run.latest_checkpoint() is None

    from ftgui.cli import main
    assert main(["train", str(tmp_path / "cfg.yaml")]) == 2  # the folder holds a run...
    assert "ftgui resume" in capsys.readouterr().err         # ...and says how to go on

    summary = resume_run(run.path)
    assert summary["status"] == "finished" and summary["steps"] == 8
    assert _steps(run) == list(range(1, 9))
    texts = [e.text for e in read_events(run.events_path) if e.kind == "message"]
    assert any("starts again from step 0" in t for t in texts)


def test_killed_while_saving_the_final_model(tiny_config):
    """A kill between the last checkpoint and the renamed model folder: resume evaluates
    and saves the model without running a step too many."""
    cfg = tiny_config(training={"max_steps": 8, "save_steps": 4, "logging_steps": 1})
    run_config(cfg)
    run = RunDir(cfg.training.output_dir)
    import shutil
    shutil.rmtree(run.model_dir)
    (run.path / "model.partial").mkdir()
    (run.path / "model.partial" / "model.safetensors").write_bytes(b"\x00" * 10)
    s = run.summary()
    # what a killed writer leaves: "running", the pid of a process that is gone, no lock
    run.write_summary({**s, "status": "running", "writer": {"pid": _dead_pid()}})
    assert run.status() == "interrupted"

    summary = resume_run(run.path)
    assert summary["status"] == "finished" and summary["steps"] == 8
    assert _steps(run) == list(range(1, 9))
    assert (run.model_dir / "model.safetensors").is_file()
    assert not (run.path / "model.partial").exists()


def test_torn_files_with_a_complete_trainer_state_are_never_picked(tiny_config):
    cfg = tiny_config(training={"max_steps": 12, "save_steps": 4, "save_total_limit": None})
    run_config(cfg)
    run = RunDir(cfg.training.output_dir)
    cps = {p.name: p for p in run.checkpoints()}
    assert list(cps) == ["checkpoint-4", "checkpoint-8", "checkpoint-12"]

    weights = cps["checkpoint-12"] / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # weights cut short
    assert run.latest_checkpoint().name == "checkpoint-8"
    (cps["checkpoint-8"] / "optimizer.pt").unlink()  # half deleted by the rotation
    assert run.latest_checkpoint().name == "checkpoint-4"
    opt = cps["checkpoint-4"] / "optimizer.pt"
    opt.write_bytes(opt.read_bytes()[: opt.stat().st_size // 2])  # a cut torch.save zip
    assert run.latest_checkpoint() is None
    # a folder without its trainer_state.json is torn; one with it is kept, never used
    assert run.torn_checkpoints() == []


def _hold_lock(run_path):
    """A real second process that holds the run's lock (as a writer does) until killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from ftgui.core.runlock import RunLock; "
         "lock = RunLock(sys.argv[1]); lock.acquire(); print('held', flush=True); "
         "time.sleep(120)",
         str(run_path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_live_writer_blocks_resume_and_a_dead_one_reads_interrupted(tiny_config):
    cfg = tiny_config(training={"max_steps": 4, "save_steps": 2})
    run_config(cfg)
    run = RunDir(cfg.training.output_dir)
    run.write_summary({**run.summary(), "status": "running"})
    holder = _hold_lock(run.path)
    try:
        assert run.status() == "running"
        from ftgui.core.errors import RunDirError
        with pytest.raises(RunDirError, match=rf"still being trained by process {holder.pid} "
                                              rf"on .* \(since "):
            resume_run(run.path)
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone (killed: no chance to say so), so the OS let its lock go
    assert run.status() == "interrupted"
    # a pid written by an older version means nothing now: the lock decides
    run.write_summary({**run.summary(), "writer": {"pid": os.getpid(), "host": "x"}})
    assert run.status() == "interrupted"


def _fsize_limit(limit):
    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes then fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return pre


def test_disk_full_keeps_the_last_checkpoint_and_resume_works_later(tiny_config, tmp_path):
    from stopped_run import stopped_run
    run = stopped_run(tiny_config, save_steps=4)
    size = (run.latest_checkpoint() / "model.safetensors").stat().st_size
    # files up to a bit more than the weights fit; the optimizer state (2x) does not
    r = _cli("resume", str(run.path), preexec=_fsize_limit(size + 100_000))
    assert r.returncode == 2, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("ftgui: error:")]
    assert len(errors) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "disk is full" in errors[0] and "Free some space" in errors[0]
    assert f"ftgui resume {run.path}" in errors[0] and "checkpoint-4" in errors[0]
    assert run.status() == "failed"
    assert run.latest_checkpoint().name == "checkpoint-4"  # the previous one, intact

    summary = resume_run(run.path)  # space again
    assert summary["status"] == "finished" and summary["steps"] == 8
    assert _steps(run) == list(range(1, 9))
    assert not run.torn_checkpoints()


OOM_WRAPPER = """
import re, resource, sys
import torch, transformers, ftgui.cli, ftgui.core.runner, ftgui.core.data
vm = int(re.search(r"VmSize:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) * 1024
limit = vm + int(sys.argv[1]) * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.exit(ftgui.cli.main(sys.argv[2:]))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_out_of_memory_ends_with_advice(tiny_config, wiki_text, tmp_path):
    big = tmp_path / "big.txt"
    big.write_text(wiki_text.read_text(encoding="utf-8") * 8, encoding="utf-8")
    cfg = tiny_config(data={"source": str(big), "validation": None, "block_size": 256},
                      training={"batch_size": 512, "max_steps": 2})
    cfg.save(tmp_path / "cfg.yaml")
    env_arena = os.environ.get("MALLOC_ARENA_MAX")
    os.environ["MALLOC_ARENA_MAX"] = "2"
    try:
        # 1 GiB above what the loaded libraries take; a step of 512 x 256 needs more
        r = _cli("1024", "train", str(tmp_path / "cfg.yaml"), code=OOM_WRAPPER)
    finally:
        if env_arena is None:
            os.environ.pop("MALLOC_ARENA_MAX")
        else:
            os.environ["MALLOC_ARENA_MAX"] = env_arena
    assert r.returncode == 2, r.stderr[-3000:]
    errors = [line for line in r.stderr.splitlines() if line.startswith("ftgui: error:")]
    assert len(errors) == 1 and "Traceback" not in r.stderr, r.stderr
    line = errors[0]
    for needle in ("Out of memory", "model.method: lora", "training.batch_size",
                   "gradient_checkpointing", "data.block_size"):
        assert needle in line, line
    run = RunDir(cfg.training.output_dir)
    assert run.status() == "failed" and "Out of memory" in run.summary()["error"]


def test_auto_find_batch_size_reaches_the_trainer(tiny_config):
    from ftgui.core.runner import Runner
    runner = Runner(tiny_config(training={"auto_find_batch_size": True}))
    runner.setup()
    try:
        assert runner.trainer.args.auto_find_batch_size is True
    finally:
        runner.cleanup()


def test_token_never_written_and_run_folders_private(tiny_config, tmp_path, monkeypatch,
                                                     capsys):
    secret = "hf_secretTOKENdoNotLeak1234567890"
    monkeypatch.setenv("HF_TOKEN", secret)
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", secret)
    from ftgui.cli import main
    cfg = tiny_config(model={"method": "lora"},
                      training={"max_steps": 4, "save_steps": 2, "save_total_limit": None})
    cfg.save(tmp_path / "cfg.yaml")
    assert main(["train", str(tmp_path / "cfg.yaml")]) == 0
    run = RunDir(cfg.training.output_dir)
    script = tmp_path / "train_script.py"
    assert main(["export", str(run.path), "--format", "script", "--out", str(script)]) == 0
    out = capsys.readouterr()
    assert secret not in out.out + out.err
    files = [p for p in run.path.rglob("*") if p.is_file()] + [script]
    assert run.log_path in files and run.events_path in files
    for f in files:
        assert secret.encode() not in f.read_bytes(), f

    folders = [run.path] + [p for p in run.path.rglob("*") if p.is_dir()]
    assert {run.checkpoints_dir, run.model_dir, run.adapter_dir,
            run.checkpoints_dir / "checkpoint-2"} <= set(folders)
    for d in folders:
        assert d.stat().st_mode & 0o777 == 0o700, (d, oct(d.stat().st_mode))


def test_launcher_makes_a_private_run_folder(tiny_config):
    from ftgui.core.launch import Launch
    cfg = tiny_config(training={"nproc": 2})
    launch = Launch(cfg)
    assert launch.run.path.stat().st_mode & 0o777 == 0o700


def test_drop_steps_after(tmp_path):
    from ftgui.core.events import drop_steps_after
    p = tmp_path / "events.jsonl"
    lines = [{"event": "message", "text": "hi"}, *[{"event": "step", "step": s} for s in
                                                   range(1, 7)],
             {"event": "checkpoint", "step": 4}, {"event": "eval", "step": 6},
             {"event": "checkpoint", "step": 6}]
    p.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"event": "st')
    assert drop_steps_after(p, 4) == 6
    kept = [json.loads(x) for x in p.read_text().splitlines()]
    assert [x.get("step") for x in kept] == [None, 1, 2, 3, 4, 4]
    assert drop_steps_after(p, 4) == 0
    assert drop_steps_after(tmp_path / "missing.jsonl", 0) == 0


def test_every_from_pretrained_in_the_core_says_trust_remote_code():
    """No model code runs unasked: ftgui's own loaders pass trust_remote_code from the
    config; the export readers only read our own run folders and never pass True."""
    core = REPO / "ftgui" / "core"
    for f in core.rglob("*.py"):
        text = f.read_text(encoding="utf-8")
        assert not re.search(r"trust_remote_code\s*=\s*True", text), f
        assert "torch.load(" not in text or "weights_only=True" in text, f
    models = (core / "models.py").read_text(encoding="utf-8")
    # tokenizer, model, the GGUF loader (the model's arguments) and, for the context
    # length before any weights, config: each with the config's trust_remote_code; the one
    # more reads a GGUF's config from ftgui's own model cache (written from the GGUF, no code)
    assert models.count("hub_kwargs(src, cfg.trust_remote_code") == 3
    assert models.count("hub_kwargs(src, trust_remote_code, for_model=True)") == 1
    assert models.count(".from_pretrained(") == 5
    assert models.count("AutoConfig.from_pretrained(cached)") == 1


# ---- issue 15, fail 10: divergence ------------------------------------------------------------
def test_fail10_divergence_stops_keeps_the_last_good_checkpoint_and_says_why(tiny_config,
                                                                             tmp_path):
    """learning_rate 1e308 on the tiny model: a real `ftgui train` ends diverged with exit
    3 and a message that suggests a lower learning rate; no checkpoint or model holds NaN
    weights."""
    from safetensors.torch import load_file
    import torch
    cfg = tiny_config(training={"learning_rate": 1e308, "max_steps": 12, "save_steps": 1,
                                "logging_steps": 3})
    cfg.save(tmp_path / "cfg.yaml")
    r = _cli("train", str(tmp_path / "cfg.yaml"))
    assert r.returncode == 3, r.stderr[-2000:]
    out = r.stdout + r.stderr
    assert "Run diverged" in out and "lower training.learning_rate (now 1e+308" in out
    run = RunDir(cfg.training.output_dir)
    s = run.summary()
    assert s["status"] == "diverged" and "Training diverged at step" in s["error"]
    assert not run.model_dir.exists()                   # no final model of NaN weights
    for cp in run.checkpoints():                        # every kept checkpoint is sound
        weights = load_file(cp / "model.safetensors")
        assert all(torch.isfinite(w).all() for w in weights.values()), cp
    diverged_at = int(re.search(r"step (\d+)", s["error"]).group(1))
    assert diverged_at < 12 and s["steps"] == diverged_at     # stopped at once
    assert [cp.name for cp in run.checkpoints()] == \
        [f"checkpoint-{n}" for n in range(1, diverged_at)][-len(run.checkpoints()):]
    ends = [e.status for e in read_events(run.events_path) if e.kind == "finished"]
    assert ends == ["diverged"]


# ---- issue 15, fail 9: SIGTERM / SIGUSR1 act like Stop; --resume-if-exists ------------------
def _signal_after_first_step(proc, run_dir, sig):
    events = Path(run_dir) / "events.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if events.exists() and any(e.kind == "step" for e in read_events(events)):
            proc.send_signal(sig)
            return proc.wait(timeout=120)
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"no step before the process ended: {proc.stderr.read().decode()[-2000:]}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1])
def test_fail9_sigterm_stops_with_a_checkpoint_and_resume_if_exists_continues(
        tiny_config, tmp_path, sig):
    cfg = tiny_config(training={"max_steps": 300, "save_steps": 1000, "logging_steps": 1})
    cfg.save(tmp_path / "cfg.yaml")
    proc = _start("train", str(tmp_path / "cfg.yaml"))
    assert _signal_after_first_step(proc, cfg.training.output_dir, sig) == 0, \
        proc.stderr.read().decode()[-2000:]
    assert f"{sig.name}: stopping after this step" in proc.stderr.read().decode()
    run = RunDir(cfg.training.output_dir)
    s = run.summary()
    assert s["status"] == "stopped" and 0 < s["steps"] < 300
    assert run.latest_checkpoint().name == f"checkpoint-{s['steps']}"   # nothing lost
    if sig == signal.SIGUSR1:
        return
    # the requeued job runs the same command line again, with --resume-if-exists
    r = _cli("train", str(tmp_path / "cfg.yaml"), "--resume-if-exists")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Resuming the run in" in r.stderr
    assert f"Resuming from checkpoint-{s['steps']}" in r.stdout + r.stderr
    assert run.status() == "finished" and _steps(run) == list(range(1, 301))
    r = _cli("train", str(tmp_path / "cfg.yaml"), "--resume-if-exists")
    assert r.returncode == 0 and "already finished" in r.stdout
    # a config of other settings is refused, naming the key; without the flag as before
    r = _cli("train", str(tmp_path / "cfg.yaml"), "--resume-if-exists",
             "--set", "training.learning_rate=0.5")
    assert r.returncode == 2 and "training.learning_rate: 0.001 -> 0.5" in r.stderr
    r = _cli("train", str(tmp_path / "cfg.yaml"))
    assert r.returncode == 2 and "already holds a run" in r.stderr


def test_weak_resume_after_editing_config_refuses_with_the_changed_keys(tiny_config):
    from ftgui.core.config import RunConfig
    from ftgui.core.errors import RunDirError
    cfg = tiny_config(training={"max_steps": 8, "save_steps": 2})
    out = []

    def stop_at_2(e):
        if e.kind == "step" and e.step >= 2:
            out[0].request_stop()
    run_config(cfg, [stop_at_2], runner_out=out)
    run = RunDir(cfg.training.output_dir)
    edited = RunConfig.load(run.config_path)
    edited.data.block_size = 16
    edited.training.seed = 8
    edited.save(run.config_path)
    with pytest.raises(RunDirError, match=r"data\.block_size: 32 -> 16; training\.seed: 7 -> 8"):
        resume_run(run.path)
    assert _steps(run) == [2]     # nothing was trained again
    edited.data.block_size, edited.training.seed = 32, 7
    edited.training.max_steps, edited.training.logging_steps = 6, 1   # may change
    edited.save(run.config_path)
    assert resume_run(run.path)["steps"] == 6


def test_weak_two_crashes_in_one_second_get_two_crash_logs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "state"))
    from ftgui import cli
    from ftgui.paths import log_dir

    def bug(args):
        raise RuntimeError(f"bug number {len(list(log_dir().glob('crash-*.log')))}")
    monkeypatch.setattr(cli, "_commands", lambda: {"runs": bug})
    assert cli.main(["runs"]) == 1 and cli.main(["runs"]) == 1   # (well within a second)
    logs = sorted(log_dir().glob("crash-*.log"))
    assert len(logs) == 2
    assert {("bug number 0" in p.read_text()) for p in logs} == {True, False}
    err = capsys.readouterr().err
    assert all(str(p) in err for p in logs)
