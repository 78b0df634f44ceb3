"""Several processes (GPUs or machines) through the standard launchers.

``ftgui train CONFIG`` with ``training.nproc > 1`` or ``nnodes > 1`` makes the run folder,
then starts ``torchrun`` (or ``accelerate launch`` when ``training.accelerate_config`` is
set) on ``python -m ftgui train RUN/config.yaml --launched``; each process runs the same
Runner, and only rank 0 writes events, the summary and the final model. The launching
process holds the run folder's lock (RUN/.lock) for the whole launch, for all of them (a
second train or resume of the folder is refused while it lives). Stop: the
launcher creates RUN/STOP; every process sees it (or hears it from another through an
all-reduce) after the same step, saves its part of the checkpoint and ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from ftgui.core.config import RunConfig, TrainingConfig
from ftgui.core.errors import ConfigError, RunDirError
from ftgui.core.events import Message, drop_steps_after, read_events
from ftgui.core.runs import (RunDir, check_resume_config, claim_run_dir, lock_for_resume,
                             resumable_checkpoint)


def needs_launch(cfg: RunConfig) -> bool:
    """True in the process a person started, for a multi-process config."""
    t = cfg.training
    return (t.nproc > 1 or t.nnodes > 1) and "LOCAL_RANK" not in os.environ


def launcher_command(t: TrainingConfig) -> list[str]:
    if t.accelerate_config:
        return [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                t.accelerate_config, "--num_processes", str(t.nproc * t.nnodes),
                "--num_machines", str(t.nnodes), "--machine_rank", str(t.node_rank),
                "--main_process_ip", t.master_addr, "--main_process_port",
                str(t.master_port), "-m"]
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={t.nproc}"]
    if t.nnodes == 1:
        cmd.append("--standalone")  # picks a free port by itself
    else:
        cmd += [f"--nnodes={t.nnodes}", f"--node_rank={t.node_rank}",
                f"--master_addr={t.master_addr}", f"--master_port={t.master_port}"]
    return cmd + ["-m"]


class Launch:
    """One launch of a multi-process run; ``stop()`` asks it to checkpoint and end."""

    def __init__(self, cfg: RunConfig, *, new_run: bool = False,
                 resume_dir: str | Path | None = None):
        self.created = False
        self.lock = None
        if resume_dir:
            if cfg.training.node_rank == 0:  # node 0 owns the folder and holds its lock
                self.lock, _ = lock_for_resume(resume_dir)  # refuse early, with the reason
                try:
                    check_resume_config(resume_dir, cfg)
                except RunDirError:
                    self.release()
                    raise
            self.run = RunDir(resume_dir)
            args = ["resume", str(self.run.path)]
        elif cfg.training.nnodes > 1 and not cfg.training.output_dir:
            raise ConfigError("training.output_dir: a run on several machines needs a run "
                              "folder that all of them see at the same path; set it.",
                              field="training.output_dir")
        elif cfg.training.node_rank > 0:
            # node 0 owns the run folder; this node's processes only read their config
            self.run = RunDir(cfg.training.output_dir)
            fd, name = tempfile.mkstemp(prefix="ftgui-node-", suffix=".yaml")
            os.close(fd)
            cfg.save(name)
            args = ["train", name]
        else:
            path, self.lock, made = claim_run_dir(cfg, new_run)
            if made:
                path.chmod(0o700)
            self.created = made
            self.run = RunDir(path)
            cfg.training.output_dir = str(path)
            cfg.save(self.run.config_path)
            args = ["train", str(self.run.config_path)]
        self.run.stop_path.unlink(missing_ok=True)
        self.command = launcher_command(cfg.training) + ["ftgui", *args, "--launched"]
        self.proc: subprocess.Popen | None = None

    def start(self, *, die_with_parent: bool = False, **popen_kw) -> subprocess.Popen:
        """``die_with_parent``: the launcher gets SIGTERM (and ends its processes) if the
        process that started it dies, e.g. a window that crashed or was killed."""
        if os.name == "posix":
            popen_kw["preexec_fn"] = _die_with_parent if die_with_parent and \
                sys.platform.startswith("linux") else _ignore_usr1
        # its own session: a Ctrl-C in the terminal reaches only us, and we stop cleanly
        self.proc = subprocess.Popen(self.command, start_new_session=True, **popen_kw)
        return self.proc

    def stop(self) -> None:
        self.run.stop_path.touch()

    def release(self) -> None:
        """Let the run folder's lock go (finish() does; for a launch never started)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)

    def finish(self, returncode: int) -> int:
        """Exit status for the person: 0 finished or stopped, 2 a user error, 3 diverged,
        1 a bug."""
        self.run.stop_path.unlink(missing_ok=True)
        self.release()
        events = read_events(self.run.events_path)
        failed = [e for e in events if e.kind == "failed"]
        ends = [e.status for e in events if e.kind == "finished"]
        if not failed and ends and ends[-1] == "diverged":
            return 3  # every process ended on it (torchrun reports their 3 as its own failure)
        if returncode == 0 and not failed:
            return 0
        if self.created and not self.run.checkpoints() and \
                not any(e.kind == "step" for e in events):
            shutil.rmtree(self.run.path, ignore_errors=True)  # nothing worth keeping
        return 2 if failed and failed[-1].user_error else 1


def tidy_events_for_resume(run_dir: str | Path) -> Message | None:
    """Drop the events a resume of ``run_dir`` redoes (the steps after its newest
    checkpoint; all steps when there is none), as the resumed Runner would. Done before
    the launch, the file is then only appended to, so a follower can read it from its
    end. Returns a note for the person, or None when nothing was dropped."""
    rd = RunDir(run_dir)
    cp = resumable_checkpoint(rd.path)
    step = int(cp.name.split("-")[1]) if cp else -1
    lost = drop_steps_after(rd.events_path, step)
    if lost <= max(step, 0):
        return None
    return Message(f"Steps {max(step, 0) + 1}-{lost} of the interrupted run are done again.",
                   level="warning")


def _ignore_usr1() -> None:
    """In the child before exec: the launcher (torchrun) ignores SIGUSR1, which Slurm's
    --signal=USR1@N sends to every process of the job and which would otherwise kill it;
    the ftgui processes it starts set their own handler (stop after the step), and the
    ftgui that launched it forwards the stop through RUN/STOP."""
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)


def _die_with_parent() -> None:
    """Runs in the child between fork and exec (Linux): ask the kernel for SIGTERM when
    the parent ends; it survives the exec of the launcher."""
    _ignore_usr1()
    import ctypes
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
