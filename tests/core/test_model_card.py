"""Merged and adapter exports carry a Hugging Face model card: YAML front matter parsed back
with yaml, the training described in the body, the loss plot beside it."""

import shutil
from pathlib import Path

import pytest
import yaml

from ftgui.core.export import export
from ftgui.core.export.provenance import front_matter

from test_export import make_run


@pytest.fixture(scope="module")
def carded_run(tiny_model_dir, tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("card")
    folder = base / "tiny-gpt2"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "README.md").write_text("---\nlicense: mit\nlanguage: en\n---\n# tiny\n",
                                      encoding="utf-8")
    return make_run(base / "run", folder, base / "cache", model={"method": "lora"},
                    training={"max_steps": 4, "learning_rate": 2e-2})


@pytest.mark.parametrize("kind,library", [("merged", "transformers"), ("adapter", "peft")])
def test_export_writes_a_model_card(carded_run, tmp_path, kind, library):
    from ftgui.cli import main
    out = tmp_path / kind     # the command line draws the plot as `ftgui compare --out` does
    assert main(["export", str(carded_run), "--format", kind, "--out", str(out)]) == 0
    text = (out / "README.md").read_text(encoding="utf-8")
    meta = front_matter(out / "README.md")
    assert text.startswith("---\n") and meta == yaml.safe_load(text.split("---\n")[1])
    assert meta["base_model"] == "tiny-gpt2" and meta["library_name"] == library
    assert meta["license"] == "mit" and meta["language"] == ["en"]
    assert meta["tags"][0] == "ftgui" and "lora" in meta["tags"]
    assert "datasets" not in meta   # a local file is no Hub dataset
    assert "LoRA (r=8, alpha=16), 4 steps on wiki-small.txt" in text
    assert "| learning rate | 0.02 |" in text and "| LoRA r | 8 |" in text
    assert "Validation perplexity, base → fine-tuned: " in text and " → " in text
    assert "![Training loss](loss.png)" in text
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_core_alone_writes_the_card_without_a_plot(carded_run, tmp_path):
    """The core draws nothing (no Qt): without a renderer the card has no image line."""
    out = export(carded_run, "merged", tmp_path / "m")
    text = (out / "README.md").read_text(encoding="utf-8")
    assert "Validation perplexity" in text and "loss.png" not in text
    assert not (out / "loss.png").exists()


def test_a_hub_dataset_is_named_in_the_front_matter(carded_run, tmp_path):
    # the same run as if it had trained on a Hub dataset: its config says so
    run = tmp_path / "run"
    shutil.copytree(carded_run, run)
    conf = run / "config.yaml"
    raw = yaml.safe_load(conf.read_text())
    raw["data"]["source"] = "Salesforce/wikitext"
    conf.write_text(yaml.safe_dump(raw))
    out = export(run, "merged", tmp_path / "m")
    assert front_matter(out / "README.md")["datasets"] == ["Salesforce/wikitext"]
