"""Trust in a model's own Python code comes from this user on this machine, not from a file.

A model folder whose ``config.json`` (or ``tokenizer_config.json``) has an ``auto_map``
ships Python code that ``trust_remote_code`` runs. A run folder received from someone
else can say ``model.trust_remote_code: true`` in its ``config.yaml``; that alone must not
run its code. So whenever the switch comes from a run folder (``ftgui generate RUN``,
``ftgui eval RUN``, ``ftgui resume RUN``, the window's Playground and Evaluate), the code
must have been approved here: by ``--trust-remote-code`` on the command line, by Yes in
the window's question, or by training with it from the user's own config (the config
named to ``ftgui train`` or set in the window is the user's instruction). Approvals are
kept in ``trusted-code.json`` in ftgui's config folder, keyed by the SHA-256 of the code
files (names and contents), so changed code asks again. A Hub model's code cannot be
seen before it is downloaded: it is approved by its id.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ftgui.core.errors import FtguiError


@dataclass
class ModelCode:
    source: str                 # the folder, or the Hub id
    digest: str                 # sha256 of the code files, or "hub:<id>"
    files: list[str] = field(default_factory=list)   # the code files, relative names

    def describe(self) -> str:
        if self.digest.startswith("hub:"):
            return f"the code of the Hub model '{self.source}'"
        names = ", ".join(self.files[:6]) + (", ..." if len(self.files) > 6 else "")
        return f"{names} in {self.source}"


class UntrustedCodeError(FtguiError):
    """Code turned on by a run folder that this user has not approved on this machine."""

    def __init__(self, message: str, codes: list[ModelCode]):
        super().__init__(message, field="model.trust_remote_code")
        self.codes = codes


def config_dir() -> Path:
    env = os.environ.get("FTGUI_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs
    return Path(platformdirs.user_config_dir("ftgui"))


def store_path() -> Path:
    return config_dir() / "trusted-code.json"


def _auto_map(folder: Path) -> dict:
    found = {}
    for name in ("config.json", "tokenizer_config.json"):
        try:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("auto_map"), dict):
            found[name] = data["auto_map"]
    return found


def model_code(source: str) -> ModelCode | None:
    """The code a model source runs with trust_remote_code; None when it ships none (a
    GGUF file, a folder without ``auto_map``) or the source cannot be read (loading it
    reports that)."""
    from ftgui.core import models
    try:
        src = models.resolve_source(source)
    except FtguiError:
        return None
    if src.kind == "hub":
        return ModelCode(src.path, f"hub:{src.path}")
    if src.kind == "gguf":
        return None
    folder = Path(src.path)
    auto_map = _auto_map(folder)
    if not auto_map:
        return None
    h = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)
    names = []
    for f in files:
        rel = f.relative_to(folder).as_posix()
        names.append(rel)
        h.update(rel.encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    # an auto_map may also name code in another Hub repository ("org/repo--module.Class")
    h.update(json.dumps(auto_map, sort_keys=True).encode())
    return ModelCode(str(folder), h.hexdigest(), names or ["(code named by auto_map)"])


def _load() -> dict:
    try:
        data = json.loads(store_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def is_approved(code: ModelCode) -> bool:
    return code.digest in _load()


def approve(code: ModelCode) -> None:
    """Remember that this user lets ``code`` run on this machine."""
    data = _load()
    data[code.digest] = {"source": code.source, "files": code.files,
                         "approved_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    path = store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
    tmp.replace(path)


def pending(sources: list[str]) -> list[ModelCode]:
    """The code of ``sources`` not approved here yet (each once)."""
    out: list[ModelCode] = []
    for source in sources:
        code = model_code(source)
        if code is not None and not is_approved(code) and \
                all(c.digest != code.digest for c in out):
            out.append(code)
    return out


def run_sources(run_dir: str | Path) -> list[str]:
    """The model sources a run folder's config.yaml turns trust_remote_code on for: its
    base model and its final model (empty when the switch is off)."""
    from ftgui.core.runs import RunDir
    rd = RunDir(run_dir)
    cfg = rd.load_config()
    if not cfg.model.trust_remote_code:
        return []
    return [cfg.model.source] + ([str(rd.model_dir)] if rd.model_dir.is_dir() else [])


def resume_sources(run_dir: str | Path) -> list[str]:
    """The model source a resume of ``run_dir`` loads with trust_remote_code (its base
    model; empty when the switch is off)."""
    from ftgui.core.runs import RunDir
    cfg = RunDir(run_dir).load_config()
    return [cfg.model.source] if cfg.model.trust_remote_code else []


def question(codes: list[ModelCode], where: str) -> str:
    """What the window asks before letting ``codes`` run."""
    lines = []
    for c in codes:
        if c.digest.startswith("hub:"):
            lines.append(f"• the code of the Hub model {c.source}")
        else:
            lines.append(f"• in {c.source}: " + ", ".join(c.files))
    return (f"{where} turns on model.trust_remote_code: loading its model runs this Python "
            f"code, with your user's rights:\n\n" + "\n".join(lines) +
            "\n\nRun it? Only for code from someone you trust. Yes is remembered on this "
            "machine for this exact code.")


def require(sources: list[str], where: str, approve_now: bool = False,
            flag: str = "--trust-remote-code") -> None:
    """Let the code of ``sources`` run only when approved here; ``approve_now`` (the
    person's own flag) approves it. Else an UntrustedCodeError naming the files."""
    codes = pending(sources)
    if not codes:
        return
    if approve_now:
        for code in codes:
            approve(code)
        return
    what = "; ".join(c.describe() for c in codes)
    raise UntrustedCodeError(
        f"{where} turns on model.trust_remote_code, which would run Python code not "
        f"approved on this machine: {what}. If you trust its author, run again with "
        f"{flag} (remembered for this code); otherwise nothing of it is run.", codes)
