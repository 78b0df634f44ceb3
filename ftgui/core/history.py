"""The run history: one row per run folder in the runs folder, for `ftgui runs` and the window.

Everything is read from the run folders' files (summary.json, config.yaml, events.jsonl), so a
run copied from another machine is listed like any other.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import yaml

from ftgui.core.runs import RunDir, default_runs_dir, list_runs
from ftgui.core.wording import duration

# libyaml's parser where PyYAML has it: 200 run configs parse in ~60 ms instead of ~500 ms,
# which the History tab feels on every refresh
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# the row keys, in table order
COLUMNS = ("name", "status", "model", "dataset", "steps", "final_loss", "ppl_before",
           "ppl_after", "duration_s", "date")


def _short(source: str | None) -> str:
    """A model or dataset source as a person recognises it: the last part of a path."""
    if not source:
        return ""
    s = str(source).rstrip("/\\")
    if s.startswith("pkg:") or "/" not in s and "\\" not in s:
        return s.rsplit("/", 1)[-1]
    p = Path(s)
    if p.is_absolute() or s.startswith((".", "~")):
        return p.name
    return s  # a Hub id (org/name) says most as it is


def raw_config(rd: RunDir) -> dict:
    """config.yaml as a plain mapping; {} when missing or unreadable (never raises)."""
    try:
        raw = yaml.load(rd.config_path.read_text(encoding="utf-8"), Loader=_LOADER)
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return {}
    return raw if isinstance(raw, dict) else {}


def run_row(run_dir: str | Path) -> dict:
    """One history row of a run folder (values raw: numbers stay numbers, None when unknown)."""
    rd = RunDir(run_dir)
    s = rd.summary()
    cfg = raw_config(rd)
    model = s.get("model") or (cfg.get("model") or {}).get("source")
    dataset = s.get("dataset") or (cfg.get("data") or {}).get("source")
    status = s.get("status") or ("unknown" if rd.is_run() else "empty")
    date = s.get("started_at")
    if not date:
        try:
            date = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(rd.path.stat().st_mtime))
        except OSError:
            date = None
    return {
        "name": rd.path.name,
        "path": str(rd.path),
        "status": status,
        "method": s.get("method") or (cfg.get("model") or {}).get("method"),
        "model": _short(model),
        "model_source": model,
        "dataset": _short(dataset),
        "dataset_source": dataset,
        "steps": s.get("steps"),
        "total_steps": s.get("total_steps"),
        "final_loss": s.get("final_train_loss"),
        "ppl_before": s.get("perplexity_before"),
        "ppl_after": s.get("perplexity_after"),
        "duration_s": s.get("duration_s"),
        "date": date,
        "error": s.get("error"),
    }


def runs_table(root: str | Path | None = None) -> list[dict]:
    """The runs in ``root`` (default: the runs folder), newest first, as rows."""
    return [run_row(rd.path) for rd in list_runs(Path(root) if root else default_runs_dir())]


# ---- text form, for the command line ---------------------------------------------------------
def _num(value, digits: int = 3) -> str:
    if value is None:
        return ""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isinf(v):
        return "inf"
    return f"{v:.{digits}f}" if abs(v) < 1e5 else f"{v:.3g}"


def display_row(row: dict) -> dict:
    """The row's values as short strings, keyed by COLUMNS."""
    steps = ""
    if row.get("steps") is not None:
        steps = str(row["steps"]) + (f"/{row['total_steps']}" if row.get("total_steps") else "")
    ppl = ""
    if row.get("ppl_before") is not None or row.get("ppl_after") is not None:
        ppl = f"{_num(row.get('ppl_before'), 2) or '?'} -> {_num(row.get('ppl_after'), 2) or '?'}"
    return {"name": row["name"], "status": row["status"], "model": row["model"],
            "dataset": row["dataset"], "steps": steps, "final_loss": _num(row["final_loss"], 4),
            "ppl_before": _num(row.get("ppl_before"), 2), "ppl_after": _num(row.get("ppl_after"), 2),
            "perplexity": ppl, "duration": duration(row.get("duration_s"), ""),
            "date": row.get("date") or ""}


def format_table(rows: list[dict]) -> str:
    """A plain-text table: name, status, model, dataset, steps, loss, perplexity, duration, date."""
    headers = {"name": "NAME", "status": "STATUS", "model": "MODEL", "dataset": "DATASET",
               "steps": "STEPS", "final_loss": "LOSS", "perplexity": "PERPLEXITY",
               "duration": "TIME", "date": "STARTED"}
    shown = [display_row(r) for r in rows]
    widths = {k: max([len(h)] + [len(_clip(d[k])) for d in shown]) for k, h in headers.items()}
    lines = ["  ".join(h.ljust(widths[k]) for k, h in headers.items()).rstrip()]
    for d in shown:
        lines.append("  ".join(_clip(d[k]).ljust(widths[k]) for k in headers).rstrip())
    return "\n".join(lines)


def _clip(text: str, limit: int = 40) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit - 3] + "..."
