"""The run directory: one folder that describes a run completely.

    RUN/
      config.yaml        the config as run (what `ftgui train` reads)
      events.jsonl       append-only event log
      checkpoints/       checkpoint-N folders written by the Trainer
      model/             final model + tokenizer (safetensors; merged weights for LoRA)
      adapter/           LoRA adapter alone (LoRA runs only)
      summary.json       status, losses, perplexities, duration, tokens, device
"""

from __future__ import annotations

import json
import os
import re
import time
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
        names the checkpoint's own step: one cut off mid-write is never picked."""
        if not self.checkpoints_dir.is_dir():
            return []
        found = []
        for p in self.checkpoints_dir.iterdir():
            m = re.fullmatch(r"checkpoint-(\d+)", p.name)
            if m and _state_step(p / "trainer_state.json") == int(m.group(1)):
                found.append((int(m.group(1)), p))
        return [p for _, p in sorted(found)]

    def latest_checkpoint(self) -> Path | None:
        cps = self.checkpoints()
        return cps[-1] if cps else None

    def summary(self) -> dict:
        try:
            return json.loads(self.summary_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

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
    runs = [RunDir(p) for p in root.iterdir() if p.is_dir() and RunDir(p).is_run()]
    return sorted(runs, key=lambda r: r.path.stat().st_mtime, reverse=True)


def choose_run_dir(config, new_run: bool = False) -> Path:
    """The folder a new run of ``config`` goes to, refusing to reuse one that holds a run
    (unless ``new_run``: then DIR-2, DIR-3, ...) or other files."""
    out = config.training.output_dir
    path = Path(out).expanduser().resolve() if out else \
        default_runs_dir() / auto_name(config.model.source)
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


def resumable_checkpoint(run_dir: str | Path) -> Path:
    """The checkpoint a resume of ``run_dir`` continues from, or a RunDirError saying why
    there is none."""
    rd = RunDir(run_dir)
    checkpoint = rd.latest_checkpoint()
    if checkpoint is None:
        raise RunDirError(f"{rd.path} has no complete checkpoint to resume from. "
                          f"Start a new run with the same config instead.")
    if rd.status() == "finished":
        raise RunDirError(f"{rd.path} already finished; start a new run to train further.")
    return checkpoint
