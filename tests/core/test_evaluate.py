"""Before / after on demand: evaluate_run measures the base and the result on a chosen file
and keeps the figures in summary.json."""

import json
import math
from pathlib import Path

import pytest

from ftgui.core import inference
from ftgui.core.evaluate import EvaluateError, evaluate_run, perplexity_text
from ftgui.core.runner import run_config
from ftgui.core.runs import RunDir

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def run_without_validation(tiny_config, tmp_path):
    run_config(tiny_config(data={"validation": None}, training={"max_steps": 8}))
    rd = RunDir(tmp_path / "run")
    assert rd.status() == "finished" and "perplexity_before" not in rd.summary()
    return rd


def test_evaluate_run_matches_inference_perplexity_and_is_kept(run_without_validation,
                                                              tiny_model_dir, tmp_path):
    rd = run_without_validation
    text = tmp_path / "held-out.txt"
    lines = (FIXTURES / "wiki-small.txt").read_text(encoding="utf-8").splitlines()
    text.write_text("\n".join(lines[-60:]), encoding="utf-8")
    before_keys = rd.summary()
    stages = []

    figures = evaluate_run(rd.path, text, progress=lambda p: stages.append(p.stage))

    base = inference.perplexity(str(tiny_model_dir), str(text), 32)
    result = inference.perplexity(str(rd.model_dir), str(text), 32)
    assert figures["perplexity_before"] == pytest.approx(base["perplexity"], rel=1e-6)
    assert figures["perplexity_after"] == pytest.approx(result["perplexity"], rel=1e-6)
    assert figures["eval_loss_after"] == pytest.approx(math.log(figures["perplexity_after"]))
    # the tiny model learned the wiki text: the result is better than the base
    assert figures["perplexity_after"] < figures["perplexity_before"]
    assert {"Evaluating the base model", "Evaluating the fine-tuned model"} <= set(stages)

    stored = json.loads(rd.summary_path.read_text(encoding="utf-8"))
    for key in ("perplexity_before", "perplexity_after", "eval_loss_before",
                "eval_loss_after"):
        assert stored[key] == figures[key]
    assert stored["perplexity_data"] == str(text.resolve())
    assert stored["perplexity_block_size"] == 32
    for key, value in before_keys.items():   # nothing else changed
        assert stored[key] == value
    assert not rd.summary_path.with_name("summary.json.tmp").exists()


def test_evaluate_run_refuses_missing_file_and_unfinished_run(run_without_validation,
                                                              tmp_path):
    rd = run_without_validation
    original = rd.summary_path.read_bytes()
    with pytest.raises(EvaluateError, match="missing.txt does not exist"):
        evaluate_run(rd.path, tmp_path / "missing.txt")
    summary = rd.summary()
    summary["status"] = "stopped"
    rd.write_summary(summary)
    with pytest.raises(EvaluateError, match="no final model.*stopped"):
        evaluate_run(rd.path, FIXTURES / "wiki-small.txt")
    with pytest.raises(EvaluateError, match="not an ftgui run"):
        evaluate_run(tmp_path, FIXTURES / "wiki-small.txt")
    rd.write_summary(json.loads(original))
    assert "perplexity_before" not in rd.summary()


def test_perplexity_text():
    assert perplexity_text(412.34, 198.71) == "412.3 → 198.7 (−51.8 %)"
    assert perplexity_text(1234.5, 1500.0) == "1,234.5 → 1,500.0 (+21.5 %)"


def test_cli_eval_before_after_keeps_the_figures(run_without_validation, capsys):
    from ftgui.cli import main

    rd = run_without_validation
    data = FIXTURES / "wiki-small.txt"
    assert main(["eval", str(rd.path), "--data", str(data), "--before-after"]) == 0
    s = rd.summary()
    out = capsys.readouterr().out
    assert perplexity_text(s["perplexity_before"], s["perplexity_after"]) in out
    assert s["perplexity_data"] == str(data.resolve())
    # a model that is not a run: the plain perplexity, nothing written
    assert main(["eval", str(rd.model_dir), "--data", str(data), "--before-after"]) == 2
    assert "not an ftgui run" in capsys.readouterr().err


def test_models_run_in_the_precision_training_would_pick(monkeypatch, tiny_model_dir):
    """bf16 on a CUDA GPU that has it, else fp16; fp32 on MPS and the CPU: the choice
    ``devices.choose`` makes for training, turned into the dtype models are loaded in."""
    import types

    import torch

    from ftgui.core.devices import DeviceChoice

    def choice(device, precision):
        return DeviceChoice(device, precision, "", "", 0)

    assert inference.device_and_dtype(choice("cuda", "bf16")) == ("cuda", torch.bfloat16)
    assert inference.device_and_dtype(choice("cuda", "fp16")) == ("cuda", torch.float16)
    assert inference.device_and_dtype(choice("mps", "fp32")) == ("mps", torch.float32)
    assert inference.device_and_dtype(choice("cpu", "fp32")) == ("cpu", torch.float32)

    # the facts a GPU would report (no GPU here): the same function training asks decides
    if not torch.cuda.is_available():
        with monkeypatch.context() as mp:
            mp.setattr(torch.cuda, "is_available", lambda: True)
            mp.setattr(torch.cuda, "device_count", lambda: 1)
            mp.setattr(torch.cuda, "get_device_properties", lambda i: types.SimpleNamespace(
                name="GPU", total_memory=16 * 2**30))
            mp.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
            assert inference.device_and_dtype() == ("cuda", torch.bfloat16)
            mp.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
            assert inference.device_and_dtype() == ("cuda", torch.float16)
        # on this CPU, models load in float32 as before: the figures do not change
        assert inference.device_and_dtype() in (("cpu", torch.float32), ("mps", torch.float32))
        model, _ = inference.load_for_generation(str(tiny_model_dir))
        assert {p.dtype for p in model.parameters()} == {torch.float32}


def _pickled(tiny_model_dir, folder):
    """The tiny model with its weights only as pickle (pytorch_model.bin)."""
    import shutil

    import torch
    from safetensors.torch import load_file

    shutil.copytree(tiny_model_dir, folder)
    weights = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save(weights, folder / "pytorch_model.bin")
    return folder


def test_evaluate_loads_both_models_with_the_runs_own_settings(tiny_config, tiny_model_dir,
                                                                 tmp_path, monkeypatch):
    """A run trained from pickle weights (allowed) with trust_remote_code is evaluated with
    them; the same run with pickle not allowed is refused with the field to change."""
    from ftgui.core import models
    from ftgui.core.config import RunConfig
    from ftgui.core.errors import ModelError

    base = _pickled(tiny_model_dir, tmp_path / "pickled")
    run_config(tiny_config(model={"source": str(base), "allow_pickle": True,
                                  "trust_remote_code": True},
                           data={"validation": None}, training={"max_steps": 2}))
    rd = RunDir(tmp_path / "run")
    loaded = []
    real_load = models.load_model

    def spy(cfg, dtype=None):   # the real loader, noting what it was asked to load
        loaded.append((cfg.source, cfg.trust_remote_code, cfg.allow_pickle))
        return real_load(cfg, dtype)

    monkeypatch.setattr(models, "load_model", spy)
    figures = evaluate_run(rd.path, FIXTURES / "wiki-small.txt")
    assert math.isfinite(figures["perplexity_before"])
    assert math.isfinite(figures["perplexity_after"])
    assert loaded == [(str(base), True, True), (str(rd.model_dir), True, False)]

    # the same run had it not allowed pickle: refused, as training would have refused it
    cfg = RunConfig.load(rd.config_path)
    cfg.model.allow_pickle = False
    cfg.save(rd.config_path)
    kept = rd.summary_path.read_bytes()
    with pytest.raises(ModelError, match="only as pickle") as refused:
        evaluate_run(rd.path, FIXTURES / "wiki-small.txt")
    assert refused.value.field == "model.allow_pickle"
    assert rd.summary_path.read_bytes() == kept


def test_a_run_folder_loads_with_its_own_trust_remote_code(run_without_validation):
    from ftgui.core.config import RunConfig

    rd = run_without_validation
    assert not inference.model_config_for(str(rd.path)).trust_remote_code
    cfg = RunConfig.load(rd.config_path)
    cfg.model.trust_remote_code = True
    cfg.save(rd.config_path)
    tuned = inference.model_config_for(str(rd.path))   # ftgui eval / generate RUN_DIR
    assert tuned.source == str(rd.model_dir) and tuned.trust_remote_code
    assert not tuned.allow_pickle
    assert not inference.model_config_for(str(rd.path), False).trust_remote_code


def test_cli_loads_pickle_weights_only_when_asked(tiny_model_dir, wiki_text, tmp_path, capsys):
    """ftgui eval / generate on a plain folder: pickle weights are refused with the switch
    that allows them; with --allow-pickle the model loads and the figures match the
    safetensors original."""
    from ftgui.cli import main

    folder = _pickled(tiny_model_dir, tmp_path / "pickled")
    for command in (["eval", str(folder), "--data", str(wiki_text), "--block-size", "32"],
                    ["generate", str(folder), "--prompt", "The"]):
        capsys.readouterr()
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "pickle" in err and "--allow-pickle" in err and "Traceback" not in err

    assert main(["eval", str(folder), "--data", str(wiki_text), "--block-size", "32",
                 "--allow-pickle"]) == 0
    pickled = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["eval", str(tiny_model_dir), "--data", str(wiki_text),
                 "--block-size", "32"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == pickled
    assert main(["generate", str(folder), "--prompt", "The", "--max-new-tokens", "5",
                 "--allow-pickle"]) == 0
    assert capsys.readouterr().out.startswith("The")
