"""A preference run from a GGUF file (DPO, LoRA, 2 steps) and its result exported to GGUF
and to Ollama as for SFT; the export check ranks the validation pairs (a preference run
has no perplexity) with the file read back, the run's float32 model and the base."""

import re
from pathlib import Path

import pytest

from ftgui.cli import main
from ftgui.core.export import export
from ftgui.core.export.gguf_check import check_text, measure
from ftgui.core.export.to_gguf import write_gguf
from ftgui.core.runs import RunDir
from test_export import make_run
from test_export_gguf import _compare
from test_export_ollama import _modelfile
from tiny_model import FIXTURES, make_tiny_model


@pytest.fixture(scope="module")
def gguf_dpo_run(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("pref-gguf")
    # transformers reads gpt2.context_length back as n_ctx; keep n_positions at its default
    model = make_tiny_model(base / "model", n_positions=1024)
    (base / "gguf").mkdir()
    source = write_gguf(model, base / "gguf" / "tiny.gguf", "f32")
    return make_run(base / "run", source, base / "cache", model={"method": "lora"},
                    data={"source": str(FIXTURES / "preference" / "dpo_en_demo.json"),
                          "validation": 0.3, "block_size": 128},
                    training={"objective": "dpo", "max_steps": 2, "batch_size": 4,
                              "learning_rate": 5e-2})


def test_a_gguf_source_trains_with_dpo_and_lora(gguf_dpo_run):
    rd = RunDir(gguf_dpo_run)
    s = rd.summary()
    assert s["status"] == "finished" and s["objective"] == "dpo" and s["steps"] == 2
    assert s["model"].endswith("tiny.gguf") and s["method"] == "lora"
    assert (rd.path / "adapter" / "adapter_model.safetensors").is_file()
    assert (rd.path / "model" / "model.safetensors").is_file()
    assert s["preference_pairs"] == 3
    # the result is not the base: the margin moved
    assert s["preference_margin_after"] != pytest.approx(s["preference_margin_before"],
                                                         abs=1e-4)


def test_the_result_exports_to_gguf_and_reads_back(gguf_dpo_run, tmp_path):
    out = export(gguf_dpo_run, "gguf", tmp_path / "dpo.gguf", gguf_type="f32")
    _compare(Path(gguf_dpo_run) / "model", out, "f32")
    res = measure(gguf_dpo_run, out)
    s = RunDir(gguf_dpo_run).summary()
    assert res["pairs"] == 3 and res["split"] == "validation"
    # the run's float32 model and the base rank the pairs as the run's summary says
    assert res["preference_margin_f32"] == pytest.approx(s["preference_margin_after"],
                                                         abs=1e-3)
    assert res["preference_margin_base"] == pytest.approx(s["preference_margin_before"],
                                                          abs=1e-3)
    assert res["preference_margin"] == pytest.approx(res["preference_margin_f32"], abs=1e-3)
    assert check_text("f32", res).startswith("f32: preference accuracy ")


def test_the_result_exports_to_ollama(gguf_dpo_run, tmp_path, capsys):
    out = tmp_path / "ollama"
    assert main(["export", str(gguf_dpo_run), "--format", "ollama", "--out", str(out),
                 "--outtype", "f16"]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"ollama create \S+ -f \S+Modelfile", printed)
    assert re.search(r"f16: preference accuracy \d+% \(margin [+-]\d", printed)
    assert "not measured" not in printed
    mf = _modelfile(out)
    assert (out / mf["from"]).is_file()
    assert ("stop", "<|endoftext|>") in mf["parameters"]
    _compare(Path(gguf_dpo_run) / "model", out / mf["from"], "f16")
