"""A Hugging Face model card (README.md) for a merged-model or adapter export, so that
``huggingface-cli upload`` gives a proper model page.

Front matter: base_model, library_name (transformers for the merged model, peft for the
adapter), license and datasets where known (provenance.py), pipeline_tag, tags [ftgui, ...].
Body: the data, the method, the hyperparameters, the perplexity before and after, and the
loss curve as loss.png beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ftgui.core.errors import FtguiError
from ftgui.core.runs import RunDir

PLOT = "loss.png"
# Draws a run's loss curve into a PNG: (run folder, PNG path). The core draws nothing
# itself (it imports no Qt); the faces pass the renderer of `ftgui compare --out`.
PlotWriter = Callable[[Path, Path], None]


def write_loss_plot(rd: RunDir, out: Path, plot: PlotWriter | None) -> bool:
    """The run's loss curve as a PNG; False when no renderer was given or the run logged
    no loss."""
    if plot is None:
        return False
    try:
        plot(rd.path, out)
    except FtguiError:
        return False
    return out.exists()


def front_matter(rd: RunDir, kind: str) -> dict:
    from ftgui.core.config import looks_like_path
    from ftgui.core.export.provenance import base_info

    info = base_info(rd)
    base = info.get("hub_id") or info.get("name") or info["source"]
    meta: dict = {"base_model": base, "library_name": "peft" if kind == "adapter"
                  else "transformers"}
    if info.get("license"):
        meta["license"] = info["license"]
    if info.get("languages"):
        meta["language"] = list(info["languages"])
    cfg = rd.load_config()
    data = cfg.data.source
    # a Hub dataset id (not a local file) is a dataset the Hub can link to
    datasets = [data] if data and not looks_like_path(data) else []
    if datasets:
        meta["datasets"] = datasets
    meta["pipeline_tag"] = "text-generation"
    meta["tags"] = ["ftgui"] + (["lora", "peft"] if kind == "adapter" or
                                cfg.model.method == "lora" else [])
    return meta


def _hyperparameters(rd: RunDir) -> list[tuple[str, object]]:
    cfg = rd.load_config()
    t, d = cfg.training, cfg.data
    rows = [("method", cfg.model.method), ("steps", rd.summary().get("steps")),
            ("learning rate", t.learning_rate), ("scheduler", t.scheduler),
            ("warm-up ratio", t.warmup_ratio), ("weight decay", t.weight_decay),
            ("batch size", t.batch_size), ("gradient accumulation", t.gradient_accumulation),
            ("block size", d.block_size), ("seed", t.seed)]
    if cfg.model.method == "lora":
        rows += [("LoRA r", cfg.lora.r), ("LoRA alpha", cfg.lora.alpha),
                 ("LoRA dropout", cfg.lora.dropout),
                 ("LoRA target modules", cfg.lora.target_modules)]
    return rows


def render(rd: RunDir, kind: str, with_plot: bool) -> str:
    import yaml

    from ftgui.core.export.provenance import training_text

    meta = front_matter(rd, kind)
    cfg = rd.load_config()
    s = rd.summary()
    base = meta["base_model"]
    title = f"{Path(str(base)).name} — ftgui fine-tune" + (" (LoRA adapter)"
                                                          if kind == "adapter" else "")
    lines = ["---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(), "---",
             "", f"# {title}", "",
             f"Fine-tuned from `{base}` with [ftgui](https://pypi.org/project/ftgui/): "
             f"{training_text(rd)}.", ""]
    if kind == "adapter":
        lines += ["Load it on the base model with PEFT:", "", "```python",
                  "from peft import PeftModel",
                  "from transformers import AutoModelForCausalLM, AutoTokenizer", "",
                  f"base = AutoModelForCausalLM.from_pretrained({str(base)!r})",
                  "model = PeftModel.from_pretrained(base, 'PATH_OR_REPO_OF_THIS_ADAPTER')",
                  "```", ""]
    else:
        lines += ["```python", "from transformers import AutoModelForCausalLM, AutoTokenizer",
                  "", "model = AutoModelForCausalLM.from_pretrained('PATH_OR_REPO')",
                  "tokenizer = AutoTokenizer.from_pretrained('PATH_OR_REPO')", "```", ""]
    lines += ["## Data", "",
              f"- source: `{cfg.data.source}` ({cfg.data.format})",
              f"- training: {s.get('train_rows', '?')} rows, {s.get('train_tokens', '?')} "
              f"tokens; validation: {s.get('eval_rows', '?')} rows, "
              f"{s.get('eval_tokens', '?')} tokens", "",
              "## Method and hyperparameters", "", "| setting | value |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in _hyperparameters(rd)]
    lines += ["", "## Results", ""]
    before, after = s.get("perplexity_before"), s.get("perplexity_after")
    if before is not None and after is not None:
        from ftgui.core.evaluate import perplexity_text
        lines += [f"Validation perplexity, base → fine-tuned: {perplexity_text(before, after)}",
                  ""]
    else:
        lines += ["No validation perplexity was measured for this run.", ""]
    if with_plot:
        lines += [f"![Training loss]({PLOT})", ""]
    lines += [f"Trained on {s.get('device', '?')} in {s.get('duration_s', 0):.0f} s."]
    return "\n".join(lines) + "\n"


def write_card(rd: RunDir, folder: Path, kind: str, plot: PlotWriter | None = None) -> Path:
    """README.md (and loss.png, when ``plot`` draws it) into ``folder``; replaces the card
    PEFT writes."""
    with_plot = write_loss_plot(rd, folder / PLOT, plot)
    out = folder / "README.md"
    out.write_text(render(rd, kind, with_plot), encoding="utf-8")
    return out
