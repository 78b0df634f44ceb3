"""Plain event objects emitted while a run works, and the sink protocol.

A sink is any callable taking one event. The CLI's sinks print progress and append
``events.jsonl``; the GUI's worker re-emits each event as a Qt signal.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar


@dataclass
class Event:
    kind: ClassVar[str] = "event"
    time: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict:
        return {"event": self.kind, **dataclasses.asdict(self)}


@dataclass
class Progress(Event):
    """Work before training: model loading, reading, tokenizing. total=0: unknown."""
    kind: ClassVar[str] = "progress"
    stage: str
    current: int = 0
    total: int = 0
    detail: str = ""
    unit: str = ""      # "bytes": current and total are bytes (a download)


@dataclass
class Stage(Event):
    """A step of starting a run, begun or done (with how long it took), so that the wait
    before the first training step is never silent."""
    kind: ClassVar[str] = "stage"
    stage: str            # one of STAGES
    state: str            # started | done | skipped
    seconds: float = 0.0  # with done: how long it took


# the stages of starting a run, in order, and what a person reads for each
STAGES = {"tokenizer": "tokenizer", "data": "reading data", "model": "model",
          "base_eval": "base evaluation", "first_step": "first step"}
# and before them, for a Hub model, its download (core/hub.py)
ALL_STAGES = {"download": "download", **STAGES}


@dataclass
class Message(Event):
    kind: ClassVar[str] = "message"
    text: str
    level: str = "info"  # info | warning


@dataclass
class RunStarted(Event):
    kind: ClassVar[str] = "run_started"
    run_dir: str
    device: str
    precision: str
    device_reason: str
    total_params: int
    trainable_params: int
    total_steps: int
    start_step: int = 0
    tokens_per_step: int = 0
    train_blocks: int = 0
    eval_blocks: int = 0


@dataclass
class StepLogged(Event):
    kind: ClassVar[str] = "step"
    step: int
    total_steps: int
    epoch: float
    loss: float
    learning_rate: float
    grad_norm: float | None
    tokens_per_second: float        # tokens processed per second: padding, prompts included
    elapsed: float
    eta: float
    trained_tokens_per_second: float | None = None   # tokens whose loss counts, per second
    tokens_trained: int | None = None      # totals since step 0 (core/measure.py)
    tokens_processed: int | None = None
    peak_memory: int | None = None         # bytes, see peak_memory_kind
    peak_memory_kind: str = ""
    metrics: dict | None = None     # preference runs: TRL's rewards/* (callbacks.LOGGED)


@dataclass
class EvalLogged(Event):
    kind: ClassVar[str] = "eval"
    step: int
    loss: float
    perplexity: float
    metrics: dict | None = None     # preference runs: rewards/* on the validation data


@dataclass
class CheckpointSaved(Event):
    kind: ClassVar[str] = "checkpoint"
    step: int
    path: str


@dataclass
class RunFinished(Event):
    kind: ClassVar[str] = "finished"
    run_dir: str
    status: str  # finished | stopped
    summary: dict


@dataclass
class RunFailed(Event):
    kind: ClassVar[str] = "failed"
    message: str
    user_error: bool = True
    field: str | None = None
    log_path: str | None = None


EVENT_TYPES = {cls.kind: cls for cls in
               (Progress, Stage, Message, RunStarted, StepLogged, EvalLogged,
                CheckpointSaved, RunFinished, RunFailed)}

Sink = Callable[[Event], None]


def event_from_dict(raw: dict) -> Event:
    raw = dict(raw)
    cls = EVENT_TYPES[raw.pop("event")]
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in raw.items() if k in names})


class JsonlSink:
    """Appends each event as one JSON line; the file is opened per write so that a
    crash never leaves more than the last line unwritten."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __call__(self, event: Event) -> None:
        if isinstance(event, (Progress, Stage)):
            return  # transient; not part of the run's record
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(event.to_dict(), default=str) + "\n")


def read_events(path: str | Path) -> list[Event]:
    """Events of a run; a torn last line (a crash mid-write) is skipped."""
    out = []
    p = Path(path)
    if not p.exists():
        return out
    for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            out.append(event_from_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            continue
    return out


STEP_KINDS = ("step", "eval", "checkpoint")


def drop_steps_after(path: str | Path, step: int) -> int:
    """Before a resume from the checkpoint of ``step``: remove the step, eval and
    checkpoint events after it (the interrupted process logged them; the resumed one
    does those steps again), and a torn last line. The file is replaced atomically.
    Returns the highest step dropped, 0 when none was."""
    p = Path(path)
    if not p.exists():
        return 0
    lines = p.read_text(encoding="utf-8", errors="replace").splitlines()
    kept, lost = [], 0
    for line in lines:
        try:
            raw = json.loads(line)
            s = raw.get("step") if raw.get("event") in STEP_KINDS else None
        except (ValueError, AttributeError):
            continue  # a line cut off by the crash
        if isinstance(s, int) and s > step:
            lost = max(lost, s)
            continue
        kept.append(line)
    if len(kept) != len(lines):
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text("".join(k + "\n" for k in kept), encoding="utf-8")
        tmp.replace(p)
    return lost
