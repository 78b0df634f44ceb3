"""Issue 15, fail 3: one writer per run folder. Two real `ftgui` processes race for one
folder; the OS lock on RUN/.lock lets one write and the other exit 2 naming the holder."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ftgui.core.errors import RunDirError
from ftgui.core.events import read_events
from ftgui.core.runlock import RunLock, holder, is_locked
from ftgui.core.runner import Runner, run_config
from ftgui.core.runs import RunDir

REPO = Path(__file__).resolve().parents[2]
HOLDER = re.compile(r"being (written|trained) by process (\d+) on \S+ \(since [0-9: -]+\)")


def _race(*args):
    procs = [subprocess.Popen([sys.executable, "-m", "ftgui", *map(str, args)], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    return [(p.pid, p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]


def _one_won(results):
    codes = sorted(rc for _, rc, _, _ in results)
    assert codes == [0, 2], results
    (win_pid, *_), = [r for r in results if r[1] == 0]
    _, _, _, err = next(r for r in results if r[1] == 2)
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("ftgui: error")]
    assert len(lines) == 1, err
    m = HOLDER.search(lines[0])
    assert m and int(m.group(2)) == win_pid, err   # the loser names the winner
    return win_pid


def _kinds(run):
    return [e.kind for e in read_events(run.events_path)]


# long enough (a few seconds of steps) that the second process arrives while the first
# writes, even when it starts seconds later on a busy machine: a loser that came after
# the winner finished would only see a finished run, and the test would race nothing
RACE_STEPS = 200


def test_fail3_two_trains_on_one_new_output_dir(tiny_config, tmp_path):
    cfg = tiny_config(training={"max_steps": RACE_STEPS, "save_steps": 100,
                                "logging_steps": 1})
    path = tmp_path / "race.yaml"
    cfg.save(path)
    _one_won(_race("train", path))
    run = RunDir(cfg.training.output_dir)
    steps = [e.step for e in read_events(run.events_path) if e.kind == "step"]
    assert steps == list(range(1, RACE_STEPS + 1))     # one writer: each step once
    assert _kinds(run).count("finished") == 1 and _kinds(run).count("run_started") == 1
    assert not is_locked(run.path) and run.status() == "finished"


def test_fail3_two_resumes_of_one_run(tiny_config, tmp_path):
    cfg = tiny_config(training={"max_steps": RACE_STEPS, "save_steps": 4,
                                "save_total_limit": 2, "logging_steps": 1})
    out = []

    def stop_at_4(e):
        if e.kind == "step" and e.step >= 4:
            out[0].request_stop()
    assert run_config(cfg, [stop_at_4], runner_out=out)["status"] == "stopped"
    run = RunDir(cfg.training.output_dir)
    _one_won(_race("resume", run.path))
    steps = [e.step for e in read_events(run.events_path) if e.kind == "step"]
    assert steps == list(range(1, RACE_STEPS + 1))
    ends = [e.status for e in read_events(run.events_path) if e.kind == "finished"]
    assert ends == ["stopped", "finished"] and run.status() == "finished"


def test_fail3_lock_is_held_for_the_writers_life_and_released(tiny_config, tmp_path):
    cfg = tiny_config()
    seen = []

    def sink(e):
        if e.kind == "step" and not seen:
            run = RunDir(cfg.training.output_dir)
            seen.append((is_locked(run.path), holder(run.path)))
            with pytest.raises(RunDirError, match="being written by process"):
                RunLock(run.path).acquire()   # what a second writer meets
    run_config(cfg, [sink])
    (locked, info), = seen
    assert locked and info["pid"] == __import__("os").getpid() and info["since"]
    assert not is_locked(cfg.training.output_dir)


def test_fail3_a_failed_setup_leaves_no_folder_and_no_lock(tiny_config, tmp_path):
    cfg = tiny_config(data={"source": str(tmp_path / "missing.txt")})
    from ftgui.core.runner import drive
    with pytest.raises(Exception):
        drive(Runner(cfg))
    assert not Path(cfg.training.output_dir).exists()


def test_weak_a_users_empty_output_dir_keeps_its_mode(tiny_config, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    mine.chmod(0o755)
    cfg = tiny_config(training={"output_dir": str(mine), "max_steps": 2, "save_steps": 2})
    assert run_config(cfg)["status"] == "finished"
    assert mine.stat().st_mode & 0o777 == 0o755                 # the person's folder
    assert RunDir(mine).checkpoints_dir.stat().st_mode & 0o777 == 0o700   # ours
    made = tiny_config(training={"output_dir": str(tmp_path / "new"), "max_steps": 2,
                                 "save_steps": 2})
    run_config(made)
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("written", ["events.jsonl", "config.yaml"])
def test_fail3_a_run_in_the_making_names_its_writer(tiny_config, written):
    """The loser of a race can look at the folder after the winner took the lock and
    wrote its first file (before, or just after, the folder counts as a run): it must
    name the writer, not call the folder someone else's files or a run to resume."""
    from ftgui.core.runs import claim_run_dir

    cfg = tiny_config()
    path = Path(cfg.training.output_dir)
    path.mkdir()
    winner = RunLock(path)
    winner.acquire()
    try:
        (path / written).write_text("model: {}\n" if written == "config.yaml" else "")
        with pytest.raises(RunDirError, match=r"being written by process \d+"):
            claim_run_dir(cfg)
    finally:
        winner.release()
    with pytest.raises(RunDirError, match="not empty|already holds a run"):
        claim_run_dir(cfg)   # nobody writes it now: the plain refusal
