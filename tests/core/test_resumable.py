"""The one resume rule (Train tab and History tab) and the one way durations and errors
are written."""

import json

import pytest
import torch
from safetensors.torch import save_file

from ftgui.core.resumable import resume_option
from ftgui.core.runlock import RunLock
from ftgui.core.runs import RunDir
from ftgui.core.wording import describe_error, duration, first_line
from ftgui.core.errors import DataError


def _run(tmp_path, name, status, checkpoint_step=None) -> RunDir:
    rd = RunDir(tmp_path / name)
    rd.path.mkdir()
    rd.config_path.write_text("model: {}\n", encoding="utf-8")
    rd.write_summary({"status": status})
    if checkpoint_step is not None:   # a complete checkpoint as the Trainer writes one
        cp = rd.checkpoints_dir / f"checkpoint-{checkpoint_step}"
        cp.mkdir(parents=True)
        save_file({"w": torch.zeros(2)}, cp / "model.safetensors")
        torch.save({"state": {}}, cp / "optimizer.pt")
        torch.save({"last_epoch": 1}, cp / "scheduler.pt")
        (cp / "trainer_state.json").write_text(json.dumps(
            {"global_step": checkpoint_step, "max_steps": 10}), encoding="utf-8")
    return rd


def test_stopped_run_resumes_from_its_checkpoint(tmp_path):
    opt = resume_option(_run(tmp_path, "halted", "stopped", checkpoint_step=4).path)
    assert opt.ok and opt.checkpoint.name == "checkpoint-4"
    assert opt.tip == "Continue halted from checkpoint-4"


def test_a_torn_checkpoint_is_not_offered(tmp_path):
    rd = _run(tmp_path, "torn", "stopped", checkpoint_step=4)
    cp = rd.checkpoints_dir / "checkpoint-4" / "model.safetensors"
    cp.write_bytes(cp.read_bytes()[:-4])   # cut off mid-write
    opt = resume_option(rd.path)
    assert not opt.ok and opt.checkpoint is None


@pytest.mark.parametrize("status", ["failed", "interrupted"])
def test_cut_off_before_the_first_checkpoint_starts_again_from_step_0(tmp_path, status):
    opt = resume_option(_run(tmp_path, "cut", status).path)
    assert opt.ok and opt.checkpoint is None and "step 0" in opt.tip


def test_finished_and_live_runs_are_not_resumable_and_say_why(tmp_path):
    done = resume_option(_run(tmp_path, "done", "finished", checkpoint_step=10).path)
    assert not done.ok and "already finished" in done.tip
    rd = _run(tmp_path, "live", "running", checkpoint_step=2)
    lock = RunLock(rd.path)
    lock.acquire()                       # a writer holds the run's lock
    try:
        live = resume_option(rd.path)
    finally:
        lock.release()
    assert not live.ok and "still being trained by process" in live.tip


def test_a_dead_writers_run_resumes(tmp_path):
    rd = _run(tmp_path, "dead", "running", checkpoint_step=2)   # nobody holds its lock
    assert rd.status() == "interrupted"
    assert resume_option(rd.path).checkpoint.name == "checkpoint-2"


def test_a_folder_that_is_no_run_is_not_resumable(tmp_path):
    (tmp_path / "plain").mkdir()
    assert not resume_option(tmp_path / "plain").ok


def test_duration():
    assert duration(None) == "–" and duration(None, "") == ""
    assert duration(0) == "0:00" and duration(4.6) == "0:05"
    assert duration(245) == "4:05" and duration(3723) == "1:02:03"
    assert duration(-3) == "0:00"


def test_first_line_and_describe_error():
    assert first_line(ValueError("bad thing\nmore detail")) == "bad thing"
    assert first_line(KeyError()) == "KeyError"
    torch_oom = RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator:"
                             " can't allocate memory: you tried to allocate 123 bytes. "
                             "Error code 12 (Cannot allocate memory)")
    assert first_line(torch_oom) == ("DefaultCPUAllocator: can't allocate memory: you tried "
                                     "to allocate 123 bytes.")
    assert len(first_line(ValueError("x" * 500), 120)) == 120
    assert describe_error(OSError("disk gone")) == "OSError: disk gone"
    assert describe_error(RuntimeError()) == "RuntimeError"
    assert describe_error(DataError("data.source: no such file")) == "data.source: no such file"
