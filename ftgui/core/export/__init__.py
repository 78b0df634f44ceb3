"""Export a finished run: the merged model, the LoRA adapter, a GGUF file or a Python script.

    export(run_dir, "gguf", "model.gguf", progress=print)

Every format is written under a temporary name beside ``out`` and renamed into place at the
end, so an interrupted export never leaves something that looks complete (the hidden
``*.partial`` of an export that was killed is removed by the next export to the same
place). An existing ``out`` is refused unless ``overwrite=True``, and even then only an
earlier ftgui export of the same kind is replaced (see ``check_replace``): never a folder
of the person's, a run, or a folder that holds a run. Exports get the modes the umask
gives (like any file the user writes), not the private modes of run folders. Mistakes the
user can fix raise ``ExportError`` (an ``FtguiError``) with a message that names the run
or the path.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from ftgui.core.errors import FtguiError, disk_full_cause
from ftgui.core.events import Progress
from ftgui.core.runs import RunDir

FORMATS = ("merged", "adapter", "gguf", "ollama", "script")
ProgressFn = Callable[[Progress], None]

# what each format writes, for help texts and file dialogs
DESCRIPTIONS = {
    "merged": "the fine-tuned model as a safetensors folder for from_pretrained "
              "(LoRA merged into the base)",
    "adapter": "the LoRA adapter folder alone (load it on the base model with peft)",
    "gguf": "one .gguf file for llama.cpp, Ollama and LM Studio",
    "ollama": "a folder with the .gguf and an Ollama Modelfile (chat template, stop tokens, "
              "system prompt) for 'ollama create'",
    "script": "a standalone Python script that reproduces the run with transformers/peft",
}
IS_FILE = {"merged": False, "adapter": False, "gguf": True, "ollama": False, "script": True}


class ExportError(FtguiError):
    """The run cannot be exported as asked, or the destination is in the way."""


def default_name(run_dir: str | Path, fmt: str) -> str:
    """A file or folder name for an export of this run: NAME-merged, NAME.gguf, train_NAME.py."""
    name = RunDir(run_dir).path.name
    return {"merged": f"{name}-merged", "adapter": f"{name}-adapter", "gguf": f"{name}.gguf",
            "ollama": f"{name}-ollama",
            "script": f"train_{name.replace('-', '_').replace('.', '_')}.py"}[fmt]


def export(run_dir: str | Path, fmt: str, out: str | Path, overwrite: bool = False,
           progress: ProgressFn | None = None, *, gguf_type: str = "f16",
           loss_plot=None) -> Path:
    """Write ``fmt`` of the run at ``run_dir`` to ``out``; returns the path written.
    ``loss_plot`` (model_card.PlotWriter) draws the loss curve of a model card."""
    if fmt not in FORMATS:
        raise ExportError(f"Unknown export format '{fmt}'. Choose one of: "
                          f"{', '.join(FORMATS)}.")
    rd = _finished_run(run_dir, fmt)
    out = Path(out).expanduser().resolve()
    inside = (rd.model_dir, rd.adapter_dir, rd.checkpoints_dir, rd.config_path,
              rd.events_path, rd.summary_path, rd.log_path)
    if out == rd.path or any(out == p or p in out.parents for p in inside):
        raise ExportError(f"{out} is part of the run itself; export to a path outside "
                          f"{rd.path} or into a new subfolder of it.")
    if (out.exists() or out.is_symlink()) and not overwrite:
        raise ExportError(f"{out} already exists. Choose another name, or overwrite it "
                          f"(--force on the command line). Nothing was written.")
    check_replace(rd, fmt, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    emit = progress or (lambda p: None)
    emit(Progress(f"Exporting {fmt}", 0, 0, str(out)))
    writer = {"merged": _merged, "adapter": _adapter, "gguf": _gguf, "ollama": _ollama,
              "script": _script}[fmt]
    remove_stale_partials(out)
    # the pid in the name tells a later export whether this partial's writer is gone
    prefix = f".{out.name}.{os.getpid()}."
    if IS_FILE[fmt]:
        fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=".partial", dir=out.parent)
        os.close(fd)
        tmp = Path(tmp_name)
    else:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".partial", dir=out.parent))
    try:
        writer(rd, tmp, emit, gguf_type=gguf_type, loss_plot=loss_plot)
        if not IS_FILE[fmt]:
            write_marker(tmp, fmt, rd)
        _move_into_place(tmp, out)
    except BaseException as e:
        _remove(tmp)
        full = disk_full_cause(e)
        if full is not None:
            raise ExportError(f"Could not write {out}: the disk is full (or over its quota "
                              f"or file size limit: {full.strerror or full}). Free some "
                              f"space and export again; nothing was left half written."
                              ) from e
        raise
    emit(Progress(f"Exporting {fmt}", 1, 1, str(out)))
    return out


# ---- what --force may replace -----------------------------------------------------------------
MARKER = ".ftgui-export"   # inside every exported folder: what wrote it and which files


def check_replace(run_dir: str | Path | RunDir, fmt: str, out: str | Path) -> None:
    """Refuse (ExportError) to replace ``out`` with a ``fmt`` export of the run unless it
    is an earlier ftgui export of the same kind (a folder with our marker and no other
    files, a script with our header line, a GGUF with our metadata key). Nothing exists
    there: fine. The window asks this before its "Replace?" question, the CLI before
    --force acts."""
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    out = Path(out).expanduser().absolute()
    if not (out.exists() or out.is_symlink()):
        return
    what = f"--out {out}"
    fix = "Choose a new path; --force only replaces an earlier ftgui export. Nothing was written."
    real = out.resolve()
    from ftgui.core.runs import default_runs_dir
    runs = default_runs_dir().expanduser().resolve()
    if real == rd.path or real in rd.path.parents:
        raise ExportError(f"{what} holds the run {rd.path} itself. {fix}")
    if RunDir(real).is_run():
        raise ExportError(f"{what} is a run folder. {fix}")
    if real == runs or real in runs.parents:
        raise ExportError(f"{what} is (or holds) the runs folder {runs}. {fix}")
    if out.is_symlink():
        raise ExportError(f"{what} is a link; ftgui does not replace links. {fix}")
    if IS_FILE[fmt]:
        if out.is_dir():
            raise ExportError(f"{what} is a folder and a {fmt} export is one file; ftgui "
                              f"does not replace a folder with a file. {fix}")
        if exported_as(out) != fmt:
            raise ExportError(f"{what} is not an ftgui {fmt} export (no ftgui mark in "
                              f"it). {fix}")
        return
    if not out.is_dir():
        raise ExportError(f"{what} is a file and a {fmt} export is a folder. {fix}")
    if exported_as(out) != fmt:
        raise ExportError(f"{what} is not an ftgui {fmt} export (no {MARKER} file in "
                          f"it, or another format). {fix}")
    extra = _unlisted_files(out)
    if extra:
        shown = ", ".join(extra[:3]) + (f" and {len(extra) - 3} more" if len(extra) > 3 else "")
        raise ExportError(f"{what} holds files the export did not write ({shown}). {fix}")


def exported_as(path: str | Path) -> str | None:
    """The format of the ftgui export at ``path``, or None when it is not one."""
    p = Path(path)
    try:
        if p.is_dir():
            mark = json.loads((p / MARKER).read_text(encoding="utf-8"))
            return mark.get("format") if isinstance(mark, dict) else None
        if p.suffix.lower() == ".gguf" or p.read_bytes()[:4] == b"GGUF":
            from ftgui.core.export.to_gguf import exported_by_ftgui
            return "gguf" if exported_by_ftgui(p) else None
        from ftgui.core.export.script import MARK_LINE
        with open(p, encoding="utf-8", errors="replace") as fh:
            head = [fh.readline() for _ in range(3)]
        return "script" if MARK_LINE + "\n" in head else None
    except (OSError, ValueError):
        return None


def write_marker(folder: Path, fmt: str, rd: RunDir) -> None:
    files = sorted(str(f.relative_to(folder)) for f in folder.rglob("*") if f.is_file())
    (folder / MARKER).write_text(json.dumps(
        {"format": fmt, "run": str(rd.path), "files": files}, indent=1), encoding="utf-8")


def _unlisted_files(folder: Path) -> list[str]:
    try:
        listed = set(json.loads((folder / MARKER).read_text(encoding="utf-8"))["files"])
    except (OSError, ValueError, KeyError, TypeError):
        listed = set()
    return sorted(str(f.relative_to(folder)) for f in folder.rglob("*")
                  if not f.is_dir() and f.name != MARKER
                  and str(f.relative_to(folder)) not in listed)


def remove_stale_partials(out: Path) -> None:
    """Delete ``.NAME.PID.*.partial`` beside ``out`` left by an export that was killed
    (its process is gone); a partial of a live export is left alone."""
    import re
    pattern = re.compile(rf"\.{re.escape(out.name)}\.(\d+)\..*\.partial")
    try:
        entries = list(out.parent.iterdir())
    except OSError:
        return
    for p in entries:
        m = pattern.fullmatch(p.name)
        if m and not _pid_alive(int(m.group(1))):
            _remove(p)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


# ---- checks --------------------------------------------------------------------------------
def _finished_run(run_dir: str | Path, fmt: str) -> RunDir:
    rd = RunDir(run_dir)
    if not rd.path.is_dir():
        raise ExportError(f"{rd.path} does not exist. Give the folder of a finished run.")
    if not rd.is_run():
        raise ExportError(f"{rd.path} is not an ftgui run (no config.yaml). Give the folder "
                          f"of a run started by ftgui.")
    status = rd.status()
    if fmt != "script" and (status != "finished" or not rd.model_dir.is_dir()):
        hint = {"stopped": f"Resume it to the end first (ftgui resume {rd.path}).",
                "running": "Wait until it finishes.",
                "failed": "It failed; fix the problem and train again."}.get(
            status, "Train it to the end first.")
        raise ExportError(f"{rd.path} has no final model to export (status: {status}). {hint}")
    if fmt == "adapter":
        method = (rd.summary().get("method")
                  or _config_value(rd, "model", "method"))
        if method != "lora" or not rd.adapter_dir.is_dir():
            raise ExportError(f"{rd.path} is a full fine-tune ({method or 'no LoRA'}): there is "
                              f"no adapter to export. Export the merged model instead "
                              f"(--format merged).")
    return rd


def _config_value(rd: RunDir, section: str, key: str):
    try:
        return getattr(getattr(rd.load_config(), section), key)
    except FtguiError:
        return None


def _check_model_folder(folder: Path) -> None:
    """What the run saved is a complete, unquantized model (a copy of a broken one helps no one)."""
    cfg_path = folder / "config.json"
    weights = list(folder.glob("*.safetensors")) + list(folder.glob("*.safetensors.index.json"))
    if not cfg_path.exists() or not weights:
        raise ExportError(f"{folder} is incomplete (no config.json or no .safetensors weights); "
                          f"the run's final save did not finish. Train it again.")
    if (folder / "adapter_config.json").exists():
        raise ExportError(f"{folder} holds an adapter, not a merged model.")
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    if cfg.get("quantization_config"):
        raise ExportError(f"{folder}/config.json still describes a quantized model, but the "
                          f"weights are full precision; re-run the training with this "
                          f"version of ftgui.")


# ---- writers ---------------------------------------------------------------------------------
def _copy_tree(src: Path, dst: Path, emit: ProgressFn, stage: str) -> None:
    files = sorted(p for p in src.rglob("*") if p.is_file())
    for i, f in enumerate(files, 1):
        target = dst / f.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, target)
        emit(Progress(stage, i, len(files), f.name))


def _merged(rd: RunDir, tmp: Path, emit: ProgressFn, loss_plot=None, **_) -> None:
    from ftgui.core.export.model_card import write_card

    _check_model_folder(rd.model_dir)
    _copy_tree(rd.model_dir, tmp, emit, "Copying the merged model")
    write_card(rd, tmp, "merged", loss_plot)


def _adapter(rd: RunDir, tmp: Path, emit: ProgressFn, loss_plot=None, **_) -> None:
    if not (rd.adapter_dir / "adapter_config.json").exists():
        raise ExportError(f"{rd.adapter_dir} is incomplete (no adapter_config.json); the run's "
                          f"final save did not finish.")
    _copy_tree(rd.adapter_dir, tmp, emit, "Copying the adapter")
    from ftgui.core.export.model_card import write_card
    write_card(rd, tmp, "adapter", loss_plot)


def _gguf(rd: RunDir, tmp: Path, emit: ProgressFn, gguf_type: str = "f16", **_) -> None:
    from ftgui.core.export.provenance import gguf_metadata
    from ftgui.core.export.to_gguf import write_gguf

    _check_model_folder(rd.model_dir)
    write_gguf(rd.model_dir, tmp, gguf_type, emit, name=rd.path.name,
               meta=gguf_metadata(rd, rd.summary().get("total_params")))


def _ollama(rd: RunDir, tmp: Path, emit: ProgressFn, gguf_type: str = "f16", **_) -> None:
    from ftgui.core.export.ollama import write_folder

    write_folder(rd, tmp, lambda path: _gguf(rd, path, emit, gguf_type))


def _script(rd: RunDir, tmp: Path, emit: ProgressFn, **_) -> None:
    from ftgui.core.export.script import render

    text = render(rd.load_config(), rd.summary(), rd.path.name)
    tmp.write_text(text, encoding="utf-8")


# ---- files -----------------------------------------------------------------------------------
def _umask() -> int:
    try:  # Linux shows it without changing it
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _apply_umask(tmp: Path) -> None:
    """Temp files are created owner-only and copies keep the run's private modes: give
    the export what the umask gives any new file of this user."""
    mask = _umask()
    paths = [tmp] + (list(tmp.rglob("*")) if tmp.is_dir() else [])
    for p in paths:
        p.chmod((0o777 if p.is_dir() else 0o666) & ~mask)


def _move_into_place(tmp: Path, out: Path) -> None:
    _apply_umask(tmp)
    if not out.exists() and not out.is_symlink():
        tmp.rename(out)
    elif tmp.is_file() and (out.is_file() or out.is_symlink()):
        os.replace(tmp, out)  # atomic: a reader sees the old file or the new one
    else:
        old = out.with_name(f".{out.name}.old")
        _remove(old)
        out.rename(old)  # keep the old export until the new one is in place
        tmp.rename(out)
        _remove(old)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists() or p.is_symlink():
        p.unlink()
