"""Compare runs: their loss curves and the config keys whose values differ.

    runs = load_runs([a, b])
    config_differences(runs)    # [("training.learning_rate", [0.001, 0.0002]), ...]
    loss_series(runs)           # what the PNG of `ftgui compare --out` draws
                                # (gui/compare_png.py, with pyqtgraph on an offscreen surface)

Read from the run folders only (events.jsonl, config.yaml, summary.json), never from a live
run, so it works for runs copied from elsewhere and for stopped or failed ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ftgui.core.errors import FtguiError
from ftgui.core.events import EvalLogged, StepLogged, read_events
from ftgui.core.history import raw_config
from ftgui.core.runs import RunDir

# tab10, the palette people know from matplotlib: run i gets colour i, in the window too
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]

# keys that differ between any two runs and say nothing about how they differ
IGNORED_KEYS = ("training.output_dir",)


class CompareError(FtguiError):
    """A run to compare is missing or unreadable."""


@dataclass
class RunCurves:
    name: str
    path: Path
    config: dict                                   # config.yaml as a plain mapping
    summary: dict
    train: list[tuple[int, float]] = field(default_factory=list)   # (step, loss)
    eval: list[tuple[int, float]] = field(default_factory=list)    # (step, validation loss)


def load_run(run_dir: str | Path) -> RunCurves:
    rd = RunDir(run_dir)
    if not rd.path.is_dir():
        raise CompareError(f"{rd.path} does not exist. Give the folders of runs to compare.")
    if not rd.is_run():
        raise CompareError(f"{rd.path} is not an ftgui run (no config.yaml or events.jsonl).")
    train: dict[int, float] = {}
    evals: dict[int, float] = {}
    for e in read_events(rd.events_path):
        # a resumed run may log a step twice; the later value is the one that continued
        if isinstance(e, StepLogged):
            train[e.step] = e.loss
        elif isinstance(e, EvalLogged):
            evals[e.step] = e.loss
    return RunCurves(rd.path.name, rd.path, raw_config(rd), rd.summary(),
                     sorted(train.items()), sorted(evals.items()))


def load_runs(run_dirs) -> list[RunCurves]:
    runs = [load_run(p) for p in run_dirs]
    _unique_names(runs)
    return runs


def _unique_names(runs: list[RunCurves]) -> None:
    """Runs from different folders may share a name (run, run): tell them apart by parent."""
    seen: dict[str, int] = {}
    for r in runs:
        seen[r.name] = seen.get(r.name, 0) + 1
    for r in runs:
        if seen[r.name] > 1:
            r.name = f"{r.path.parent.name}/{r.name}"


def flatten(config: dict, prefix: str = "") -> dict:
    """{'training': {'seed': 7}} -> {'training.seed': 7}."""
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def config_differences(runs: list[RunCurves], ignore=IGNORED_KEYS) -> list[tuple[str, list]]:
    """(section.key, [value in each run]) for every key whose values are not all equal;
    a key a run's config does not have shows as None (an older ftgui wrote it)."""
    flats = [flatten(r.config) for r in runs]
    keys: list[str] = []
    for f in flats:
        keys.extend(k for k in f if k not in keys)
    out = []
    for key in keys:
        if key in ignore:
            continue
        values = [f.get(key) for f in flats]
        if any(v != values[0] for v in values[1:]):
            out.append((key, values))
    return out


def format_differences(runs: list[RunCurves], diffs: list[tuple[str, list]]) -> str:
    """A plain-text table: one row per differing key, one column per run."""
    if not diffs:
        return "The runs' configs are the same (apart from their folders)."
    headers = ["KEY"] + [r.name for r in runs]
    rows = [[k] + [show_value(v) for v in values] for k, values in diffs]
    widths = [max(len(str(row[i])) for row in [headers] + rows) for i in range(len(headers))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()
                     for row in [headers] + rows)


def show_value(value) -> str:
    """A config value in a table cell: lists joined, long paths cut at the front."""
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(map(str, value))
    text = str(value)
    return text if len(text) <= 48 else "..." + text[-45:]


@dataclass
class Series:
    label: str
    points: list[tuple[float, float]]
    color: tuple[int, int, int]
    style: str = "line"  # line | markers


def loss_series(runs: list[RunCurves], with_eval: bool = True) -> list[Series]:
    series = []
    for i, r in enumerate(runs):
        color = PALETTE[i % len(PALETTE)]
        series.append(Series(r.name, [(float(s), float(v)) for s, v in r.train], color))
        if with_eval and r.eval:
            series.append(Series(f"{r.name} (val)", [(float(s), float(v)) for s, v in r.eval],
                                 color, style="markers"))
    return series


def check_loss_plot(runs: list[RunCurves], out: str | Path) -> Path:
    """The PNG file the runs' loss curves go to, or why they cannot be drawn there."""
    if not any(r.train for r in runs):
        raise CompareError("None of these runs has logged a training loss yet (no 'step' "
                           "events in events.jsonl); there is nothing to plot.")
    out = Path(out).expanduser()
    if out.suffix.lower() != ".png":
        raise CompareError(f"{out}: the plot is written as PNG; give a file name ending in "
                           f".png.")
    return out
