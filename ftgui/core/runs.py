"""The run directory: one folder that describes a run completely.

    RUN/
      config.yaml        the config as run (what `ftgui train` reads)
      events.jsonl       append-only event log
      checkpoints/       checkpoint-N folders written by the Trainer
      model/             final model + tokenizer (safetensors; merged weights for LoRA)
      adapter/           LoRA adapter alone (LoRA runs only)
      summary.json       status, losses, perplexities, duration, tokens, device

      .lock              held (an OS file lock) by the one process that writes the run

A run whose summary says "running" but whose lock is free (its writer ended without
saying so: killed, crashed, the machine restarted) reads as "interrupted".
"""

from __future__ import annotations

import json
import os
import re
import time
import zipfile
from pathlib import Path

from ftgui.core.errors import RunDirError
from ftgui.core.runlock import LOCK_NAME, RunLock, busy_error, describe_holder, is_locked


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
        """summary.json; a "running" status whose lock nobody holds (the writer was
        killed, or the machine restarted) reads as "interrupted"."""
        try:
            s = json.loads(self.summary_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(s, dict):
            return {}
        if s.get("status") == "running" and not is_locked(self.path):
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
    elif path.is_dir() and any(p.name != LOCK_NAME for p in path.iterdir()):
        raise RunDirError(f"training.output_dir: {path} is not empty and is not an ftgui "
                          f"run; choose an empty or new folder so nothing of yours is "
                          f"overwritten.")
    return path


def claim_run_dir(config, new_run: bool = False) -> tuple[Path, RunLock, bool]:
    """choose_run_dir, then make the folder and take its lock, and check again under the
    lock: of two processes given one new folder, one gets it and the other a RunDirError
    naming the holder. Returns (path, the held lock, whether the folder was made here)."""
    for _ in range(1000):
        try:
            path = choose_run_dir(config, new_run)
        except RunDirError:
            out = config.training.output_dir
            if out and is_locked(Path(out).expanduser().resolve()):
                # what is in the folder is another process's run in the making
                raise busy_error(Path(out).expanduser().resolve()) from None
            raise
        created = not path.exists()
        try:
            path.mkdir(parents=True, exist_ok=bool(config.training.output_dir), mode=0o700)
        except FileExistsError:
            continue  # an automatic name another run took this very moment: the next one
        except OSError as e:
            raise RunDirError(f"training.output_dir: cannot make {path} "
                              f"({e.strerror or e}).") from None
        lock = RunLock(path)
        lock.acquire()  # the loser learns who holds it
        if not config.training.output_dir:
            return path, lock, True  # a name of our own: the exclusive mkdir claimed it
        try:
            again = choose_run_dir(config, new_run)  # the existence check, under the lock
        except RunDirError:
            lock.release()
            raise
        if again == path:
            return path, lock, created
        lock.release()  # a run appeared here between the check and the lock: go on
    raise RunDirError(f"training.output_dir: no free folder found beside {path}.")


def resumable_checkpoint(run_dir: str | Path, locked: bool = False) -> Path | None:
    """The checkpoint a resume of ``run_dir`` continues from; None when the run was cut
    off before its first complete checkpoint (the resume then starts again from step 0
    in the same folder). A RunDirError when it must not be resumed. ``locked``: the
    caller holds the run's lock already."""
    rd = RunDir(run_dir)
    if not locked and is_locked(rd.path):
        raise RunDirError(f"{rd.path} is still being trained by "
                          f"{describe_holder(rd.path)}; stop it first (Ctrl-C or Stop), "
                          f"then resume.")
    summary = rd.summary()
    if summary.get("status") == "finished":
        raise RunDirError(f"{rd.path} already finished; start a new run to train further.")
    return rd.latest_checkpoint()


def lock_for_resume(run_dir: str | Path) -> tuple[RunLock, Path | None]:
    """Take the lock of the run to resume (RunDirError naming the holder when another
    process writes it), then check it can be resumed; returns (lock, checkpoint)."""
    rd = RunDir(run_dir)
    if not rd.path.is_dir():
        raise RunDirError(f"{rd.path} does not exist. Give the folder of a run to resume.")
    lock = RunLock(rd.path)
    try:
        lock.acquire()
    except RunDirError:
        raise RunDirError(f"{rd.path} is still being trained by "
                          f"{describe_holder(rd.path)}; stop it first (Ctrl-C or Stop), "
                          f"then resume.") from None
    except OSError as e:
        raise RunDirError(f"{rd.path} cannot be written ({e.strerror or e}); resume needs "
                          f"a run folder you can write to.") from None
    try:
        return lock, resumable_checkpoint(rd.path, locked=True)
    except BaseException:
        lock.release()
        raise


# keys a resume may change: they decide when to log, evaluate, save or stop, and where the
# processes meet, not what is learned
RESUME_SAFE_KEYS = frozenset({
    "training.output_dir", "training.max_steps", "training.logging_steps",
    "training.eval_steps", "training.save_steps", "training.save_total_limit",
    "training.master_addr", "training.master_port", "training.node_rank"})


def config_changes(before: dict, after: dict) -> list[str]:
    """``section.key: old -> new`` for each key whose change alters what a run learns."""
    def flat(d: dict) -> dict:
        return {f"{s}.{k}": v for s, sec in d.items() if isinstance(sec, dict)
                for k, v in sec.items()}
    a, b = flat(before), flat(after)
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(a.keys() | b.keys())
            if k not in RESUME_SAFE_KEYS and a.get(k) != b.get(k)]


def check_resume_config(run_dir: str | Path, config, against: dict | None = None) -> None:
    """Refuse to resume with settings that differ from those the run started with
    (recorded in summary.json; ``against``: another config to compare instead) in any key
    that changes the result. Runs from before the record are not checked."""
    rd = RunDir(run_dir)
    as_run = against if against is not None else rd.summary().get("config")
    if not isinstance(as_run, dict):
        return
    changed = config_changes(as_run, config.to_dict())
    if changed:
        shown = "; ".join(changed[:5]) + (f"; and {len(changed) - 5} more"
                                          if len(changed) > 5 else "")
        raise RunDirError(f"{rd.path}: the settings differ from those the run was started "
                          f"with ({shown}), and a resume must go on training the same "
                          f"thing. Undo the change, or start a new run with it. Only "
                          f"max_steps and the logging, evaluation and save steps may "
                          f"change on resume.", field=None)
