"""The run history: one row per run folder in the runs folder, for `ftgui runs` and the window.

Everything is read from the run folders' files (summary.json, config.yaml, events.jsonl), so a
run copied from another machine is listed like any other.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from ftgui.core.runs import RunDir, default_runs_dir, list_runs
from ftgui.core.wording import duration

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
    from ftgui.core.config import parse_yaml
    from ftgui.core.errors import ConfigError

    try:   # the config loader's limits: an alias bomb in a listed run must not hang a list
        raw = parse_yaml(rd.config_path.read_text(encoding="utf-8"), str(rd.config_path))
    except (OSError, ConfigError, UnicodeDecodeError):
        return {}
    return raw if isinstance(raw, dict) else {}


def run_row(run_dir: str | Path) -> dict:
    """One history row of a run folder (values raw: numbers stay numbers, None when unknown).

    A run whose files hold values of the wrong kind (a hand-edited config.yaml with
    ``model: [1]``, a summary.json with ``duration_s: "abc"``) is listed with status
    "unreadable" and the reason in "error"; it never breaks the listing of the others."""
    rd = RunDir(run_dir)
    try:
        return _row(rd)
    except (OSError, ValueError, TypeError, AttributeError, KeyError) as e:  # noqa: one bad run
        return _unreadable(rd, f"{type(e).__name__}: {e}")


def _row(rd: RunDir) -> dict:
    s = rd.summary()
    cfg = raw_config(rd)
    problems: list[str] = []

    def section(name: str) -> dict:
        value = cfg.get(name)
        if value is None or isinstance(value, dict):
            return value or {}
        problems.append(f"config.yaml: {name} is a {type(value).__name__}, not a section")
        return {}

    def text(where: str, mapping: dict, key: str):
        value = mapping.get(key)
        if value is None or isinstance(value, str):
            return value
        problems.append(f"{where}: {key} is {value!r}, not text")
        return None

    def number(key: str):
        value = s.get(key)
        if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        problems.append(f"summary.json: {key} is {value!r}, not a number")
        return None

    model_cfg, data_cfg = section("model"), section("data")
    model = text("summary.json", s, "model") or text("config.yaml", model_cfg, "source")
    dataset = text("summary.json", s, "dataset") or text("config.yaml", data_cfg, "source")
    method = text("summary.json", s, "method") or text("config.yaml", model_cfg, "method")
    status = text("summary.json", s, "status") or ("unknown" if rd.is_run() else "empty")
    date = text("summary.json", s, "started_at")
    if not date:
        try:
            date = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(rd.path.stat().st_mtime))
        except OSError:
            date = None
    row = {
        "name": rd.path.name,
        "path": str(rd.path),
        "status": status,
        "method": method,
        "model": _short(model),
        "model_source": model,
        "dataset": _short(dataset),
        "dataset_source": dataset,
        "steps": number("steps"),
        "total_steps": number("total_steps"),
        "final_loss": number("final_train_loss"),
        "ppl_before": number("perplexity_before"),
        "ppl_after": number("perplexity_after"),
        "duration_s": number("duration_s"),
        "date": date,
        "error": text("summary.json", s, "error"),
    }
    if problems:
        row.update(status="unreadable", error="; ".join(problems) + " (edited by hand? "
                   "fix or delete that file)")
    return row


def _unreadable(rd: RunDir, reason: str) -> dict:
    row = dict.fromkeys(("method", "model_source", "dataset_source", "steps", "total_steps",
                         "final_loss", "ppl_before", "ppl_after", "duration_s", "date"))
    row.update(name=rd.path.name, path=str(rd.path), status="unreadable", model="",
               dataset="", error=reason)
    return row


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
