"""The run directory: one folder that describes a run completely.

    RUN/
      config.yaml        the config as run (what `ftgui train` reads)
      events.jsonl       append-only event log
      checkpoints/       checkpoint-N folders written by the Trainer
      model/             final model + tokenizer (safetensors; merged weights for LoRA)
      adapter/           LoRA adapter alone (LoRA runs only)
      summary.json       status, losses, perplexities, duration, tokens, device

A run whose summary says "running" but whose writing process (recorded in summary.json
as pid, host and process start time) is gone reads as "interrupted".
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import zipfile
from pathlib import Path

from ftgui.core.errors import RunDirError


def default_runs_dir() -> Path:
    env = os.environ.get("FTGUI_RUNS_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs
    return Path(platformdirs.user_data_dir("ftgui")) / "runs"


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser().resolve()

    config_path = property(lambda self: self.path / "config.yaml")
    events_path = property(lambda self: self.path / "events.jsonl")
    checkpoints_dir = property(lambda self: self.path / "checkpoints")
    model_dir = property(lambda self: self.path / "model")
    adapter_dir = property(lambda self: self.path / "adapter")
    summary_path = property(lambda self: self.path / "summary.json")
    log_path = property(lambda self: self.path / "run.log")
    # a launcher asks every process of a multi-process run to stop by creating this file
    stop_path = property(lambda self: self.path / "STOP")

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def is_run(self) -> bool:
        return self.config_path.exists() or self.events_path.exists()

    def checkpoints(self) -> list[Path]:
        """Complete checkpoints, oldest first. The Trainer writes a checkpoint in place and
        its trainer_state.json last, so a checkpoint counts only when that file parses and
        names the checkpoint's own step, and (against a folder half deleted by the
        Trainer's rotation, or a file cut short) its weights, optimizer and scheduler are
        there and every safetensors / torch file in it is whole: one cut off mid-write or
        mid-delete is never picked."""
        return [p for _, p in sorted(self._checkpoint_folders(complete=True))]

    def torn_checkpoints(self) -> list[Path]:
        """checkpoint-N folders without a readable trainer_state.json for step N: cut off
        while being written (the Trainer writes that file last). Never picked; resume
        deletes them to give the space back."""
        return [p for _, p in sorted(self._checkpoint_folders(complete=False))
                if _state_step(p / "trainer_state.json") != int(p.name.split("-")[1])]

    def _checkpoint_folders(self, complete: bool) -> list[tuple[int, Path]]:
        if not self.checkpoints_dir.is_dir():
            return []
        found = []
        for p in self.checkpoints_dir.iterdir():
            m = re.fullmatch(r"checkpoint-(\d+)", p.name)
            if m and p.is_dir() and checkpoint_complete(p, int(m.group(1))) == complete:
                found.append((int(m.group(1)), p))
        return found

    def latest_checkpoint(self) -> Path | None:
        cps = self.checkpoints()
        return cps[-1] if cps else None

    def summary(self) -> dict:
        """summary.json; a "running" status whose writer is known to be gone (killed, or
        the machine restarted) reads as "interrupted"."""
        try:
            s = json.loads(self.summary_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(s, dict):
            return {}
        if s.get("status") == "running" and writer_alive(s.get("writer")) is False:
            s["status"] = "interrupted"
        return s

    def write_summary(self, summary: dict) -> None:
        tmp = self.summary_path.with_name("summary.json.tmp")
        tmp.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
        tmp.replace(self.summary_path)

    def status(self) -> str:
        return self.summary().get("status") or ("unknown" if self.is_run() else "empty")

    def load_config(self):
        from ftgui.core.config import RunConfig
        if not self.config_path.exists():
            raise RunDirError(f"{self.path} is not an ftgui run (no config.yaml). Give the "
                              f"folder of a run started by ftgui.")
        return RunConfig.load(self.config_path)


def checkpoint_complete(folder: Path, step: int) -> bool:
    if _state_step(folder / "trainer_state.json") != step:
        return False
    try:
        entries = list(folder.iterdir())
    except OSError:
        return False
    names = {e.name for e in entries}
    sharded = any(e.is_dir() for e in entries)  # FSDP / DeepSpeed keep their state in folders
    has_weights = sharded or any(n.endswith(".safetensors") or
                                 re.fullmatch(r"pytorch_model.*\.bin", n) for n in names)
    if not has_weights:
        return False
    if not sharded and not {"optimizer.pt", "scheduler.pt"} <= names:
        return False
    for e in entries:
        if e.name.endswith(".safetensors") and not _safetensors_whole(e):
            return False
        if e.suffix in (".pt", ".pth", ".bin") and not zipfile.is_zipfile(e):
            return False  # torch.save writes a zip; a cut-off one has no central directory
    return True


def _safetensors_whole(path: Path) -> bool:
    """The header parses and the file is as long as the header says."""
    try:
        with open(path, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            if not 2 <= n <= 100_000_000:
                return False
            header = json.loads(fh.read(n))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"),
                  default=0)
        return path.stat().st_size == 8 + n + end
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return False


def writer_info() -> dict:
    """Who writes a run now: recorded in summary.json so a reader can tell a run that is
    still going from one whose process died."""
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "start": _process_start(os.getpid())}


def writer_alive(writer) -> bool | None:
    """True / False when we can tell (same machine), None when we cannot."""
    if not isinstance(writer, dict) or writer.get("host") != socket.gethostname():
        return None
    try:
        pid = int(writer["pid"])
    except (KeyError, TypeError, ValueError):
        return None
    if pid == os.getpid():
        return True
    if os.name != "posix":
        try:
            import psutil
        except ImportError:
            return None
        return psutil.pid_exists(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        pass  # exists, owned by someone else
    start = writer.get("start")
    now = _process_start(pid)
    if start is not None and now is not None and start != now:
        return False  # the pid was reused by another process
    return True


def _process_start(pid: int) -> int | None:
    """The process start time in clock ticks since boot (Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _state_step(path: Path) -> int | None:
    try:
        return int(json.loads(path.read_text(encoding="utf-8"))["global_step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def auto_name(model_source: str) -> str:
    stem = Path(model_source.rstrip("/\\")).name or "model"
    stem = re.sub(r"\.gguf$", "", stem, flags=re.I)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-")[:40] or "model"
    return f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def next_free(path: Path) -> Path:
    """path, or path-2, path-3, ... the first that is not a run yet."""
    if not RunDir(path).is_run():
        return path
    n = 2
    while RunDir(path.with_name(f"{path.name}-{n}")).is_run():
        n += 1
    return path.with_name(f"{path.name}-{n}")


def list_runs(root: str | Path | None = None) -> list[RunDir]:
    root = Path(root) if root else default_runs_dir()
    if not root.is_dir():
        return []
    dated = []
    for p in root.iterdir():
        try:  # a run deleted while the folder is read is skipped, not an error
            if p.is_dir() and RunDir(p).is_run():
                dated.append((p.stat().st_mtime, RunDir(p)))
        except FileNotFoundError:
            continue
    return [run for _, run in sorted(dated, key=lambda d: d[0], reverse=True)]


def choose_run_dir(config, new_run: bool = False) -> Path:
    """The folder a new run of ``config`` goes to, refusing to reuse one that holds a run
    (unless ``new_run``: then DIR-2, DIR-3, ...) or other files."""
    out = config.training.output_dir
    if not out:
        # a name of our own making: never in the way (two runs started in one second get
        # NAME and NAME-2) and never an error about a setting the person did not set
        path = base = default_runs_dir() / auto_name(config.model.source)
        n = 2
        while path.exists():
            path, n = base.with_name(f"{base.name}-{n}"), n + 1
        return path
    path = Path(out).expanduser().resolve()
    if RunDir(path).is_run():
        if not new_run:
            raise RunDirError(
                f"training.output_dir: {path} already holds a run. Resume it with "
                f"'ftgui resume {path}', or ask for a new run beside it (--new-run), "
                f"or choose another folder. Nothing was changed.")
        path = next_free(path)
    elif path.is_dir() and any(path.iterdir()):
        raise RunDirError(f"training.output_dir: {path} is not empty and is not an ftgui "
                          f"run; choose an empty or new folder so nothing of yours is "
                          f"overwritten.")
    return path


def resumable_checkpoint(run_dir: str | Path) -> Path | None:
    """The checkpoint a resume of ``run_dir`` continues from; None when the run was cut
    off before its first complete checkpoint (the resume then starts again from step 0
    in the same folder). A RunDirError when it must not be resumed."""
    rd = RunDir(run_dir)
    summary = rd.summary()
    if summary.get("status") == "finished":
        raise RunDirError(f"{rd.path} already finished; start a new run to train further.")
    if summary.get("status") == "running" and writer_alive(summary.get("writer")):
        w = summary["writer"]
        raise RunDirError(f"{rd.path} is still being trained by process {w.get('pid')}; "
                          f"stop it first (Ctrl-C or Stop), then resume.")
    return rd.latest_checkpoint()
