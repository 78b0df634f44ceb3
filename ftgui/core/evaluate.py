"""Before / after on demand: the perplexity of a run's base model and of its result on a
text file the user picks, kept in the run's summary.json.

Runs trained without a validation split have no perplexity in their summary; this fills
the same keys the runner writes (``perplexity_before``, ``perplexity_after`` and the eval
losses), so the result card, the history and ``ftgui runs`` show them like any other run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ftgui.core.errors import FtguiError
from ftgui.core.events import Progress
from ftgui.core.runs import RunDir


def perplexity_text(before: float, after: float) -> str:
    """'412.3 → 198.7 (−51.8 %)': lower is better, so a drop is shown as the good news."""
    change = 100 * (after - before) / before
    sign = "−" if change < 0 else "+"
    return f"{before:,.1f} → {after:,.1f} ({sign}{abs(change):.1f} %)"


class EvaluateError(FtguiError):
    """The run or the text file cannot be evaluated as asked."""


def evaluate_run(run_dir: str | Path, data_file: str | Path, block_size: int | None = None,
                 batch_size: int = 8,
                 progress: Callable[[Progress], None] | None = None,
                 trust_remote_code: bool | None = None) -> dict:
    """Perplexity of the base model and of the fine-tuned model of ``run_dir`` on
    ``data_file``; the figures are written into summary.json (atomically) and returned as
    the summary keys they set."""
    from ftgui.core.inference import check_eval_sizes
    check_eval_sizes(block_size, batch_size)
    rd = RunDir(run_dir)
    if not rd.config_path.exists():
        raise EvaluateError(f"{rd.path} is not an ftgui run (no config.yaml). Give the folder "
                            f"of a run started by ftgui.")
    if rd.status() != "finished" or not rd.model_dir.is_dir():
        raise EvaluateError(f"{rd.path} has no final model to evaluate (status: "
                            f"{rd.status()}). Resume it to the end first.")
    data = Path(data_file).expanduser().resolve()
    if not data.is_file():
        raise EvaluateError(f"{data} does not exist or is not a file. Choose a text, JSONL, "
                            f"CSV or Parquet file to measure the perplexity on.", field="data")
    # loads torch: only once the input is good
    from ftgui.core.inference import perplexity, run_model_configs

    cfg = rd.load_config()
    # the run's own block size, so the figures compare with its validation losses
    block = cfg.data.block_size if block_size is None else block_size
    # both models loaded with the run's trust_remote_code / allow_pickle, as it trained
    # (code a run folder turns on must be approved here; see trust.py)
    base, tuned = run_model_configs(rd.path, trust_remote_code)
    emit = progress or (lambda p: None)
    figures = {}
    for which, label, source in (("before", "base model", base),
                                 ("after", "fine-tuned model", tuned)):
        emit(Progress(f"Evaluating the {label}", 0, 0, data.name))

        # the data's own stages (reading, tokenizing) say which of the two models they serve
        def inner(p: Progress, label=label) -> None:
            emit(Progress(f"{label[:1].upper()}{label[1:]}: {p.stage.lower()}", p.current,
                          p.total, p.detail))

        res = perplexity(source, str(data), block, batch_size, inner)
        figures[f"eval_loss_{which}"] = res["loss"]
        figures[f"perplexity_{which}"] = res["perplexity"]
    figures["perplexity_data"] = str(data)
    figures["perplexity_block_size"] = block
    # read again: the evaluation took a while and only these keys are ours to change
    summary = rd.summary()
    summary.update(figures)
    rd.write_summary(summary)
    emit(Progress("Evaluated", 1, 1, data.name))
    return figures
