"""The exported script of a preference run (DPO, KTO, ORPO), run in a subprocess without
ftgui, trains with TRL to the ftgui run's loss and ranks the validation pairs alike.

As for SFT (test_export_script.py) both are the same computation on the CPU: the same
examples (ftgui's preference reading embedded), the same TRL trainer set-up (embedded),
the same seed, and the evaluation before training with the random generator put back.
Asserted within the SFT test's 1e-5.
"""

import inspect
import json

import pytest
from test_export_script import TOL, _imports, _run_script

from ftgui.core.config import RunConfig
from ftgui.core.export import export

CUES = {"high": ("up", "on"), "low": ("on", "up")}   # cue → (chosen, rejected)


def _pairs(numbers) -> list[dict]:
    return [{"prompt": f"{i} Go {cue}.", "chosen": good, "rejected": bad}
            for i in numbers for cue, (good, bad) in CUES.items()]


def _unpaired(rows) -> list[dict]:
    return [r for x in rows for r in ({"prompt": x["prompt"], "completion": x["chosen"],
                                       "label": True},
                                      {"prompt": x["prompt"], "completion": x["rejected"],
                                       "label": False})]


def _write(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _preference_run(tmp_path, model, objective, method, **sections):
    """A short run on pairs (KTO: the same answers, unpaired) with a validation file."""
    shape = _unpaired if objective == "kto" else (lambda rows: rows)
    raw = {"model": {"source": str(model), "method": method},
           "data": {"source": _write(tmp_path / "train.jsonl", shape(_pairs(range(12)))),
                    "validation": _write(tmp_path / "valid.jsonl", shape(_pairs(range(90, 94)))),
                    "block_size": 48},
           "training": {"output_dir": str(tmp_path / "run"), "objective": objective,
                        "max_steps": 6, "batch_size": 4, "learning_rate": 1e-3,
                        "logging_steps": 1, "eval_steps": 3, "save_steps": 1000, "seed": 5}}
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    from ftgui.core.runner import run_config
    cfg = RunConfig.from_dict(raw)
    return cfg, run_config(cfg)


@pytest.mark.parametrize("objective,method,sections", [
    ("dpo", "full", {"dpo": {"beta": 0.5}}),
    # LoRA with dropout: the adapters' initial weights and the dropout stream must match
    ("dpo", "lora", {"dpo": {"beta": 0.2, "loss_type": "ipo"},
                     "lora": {"r": 8, "alpha": 16, "dropout": 0.1},
                     "training": {"learning_rate": 5e-3}}),
    ("kto", "full", {"kto": {"beta": 0.5, "desirable_weight": 1.5}}),
    ("orpo", "full", {"orpo": {"beta": 0.5}}),
])
def test_exported_script_reproduces_a_preference_run(tmp_path, tiny_model_dir, objective,
                                                      method, sections):
    from ftgui.core import preference, preference_data

    cfg, summary = _preference_run(tmp_path, tiny_model_dir, objective, method, **sections)
    assert summary["status"] == "finished" and summary["objective"] == objective

    script = export(cfg.training.output_dir, "script", tmp_path / "scripts" / "train_run.py")
    text = script.read_text()
    imported = _imports(script)
    assert "ftgui" not in imported and "trl" in imported
    assert '"trl>=1.16,<2"' in text.split('"""', 2)[1]   # the docstring's pip line
    # ftgui's reading, TRL set-up and ranking, verbatim: one implementation, not a copy
    for fn in (preference_data.prepare, preference_data.paired, preference_data.unpaired,
               preference_data.fit, preference.trl_trainer, preference._without_bos,
               preference.pair_scores):
        assert inspect.getsource(fn) in text
    assert text.count("def pair_scores") == 1 and text.count("DPOConfig(") == 1
    config = text.split("CONFIG = ", 1)[1]
    for key, value in sections.get(objective, {}).items():
        assert f"'{key}': {value!r}" in config

    repro = _run_script(script, tmp_path / "scripts" / "out")
    assert repro["steps"] == summary["steps"] == 6
    for key in ("final_train_loss", "eval_loss_before", "eval_loss_after",
                "preference_accuracy_before", "preference_accuracy_after",
                "preference_margin_before", "preference_margin_after"):
        assert abs(repro[key] - summary[key]) <= TOL, (key, repro[key], summary[key])
    assert repro["preference_pairs"] == summary["preference_pairs"] == 8
    out = tmp_path / "scripts" / "out"
    assert (out / "model" / "model.safetensors").exists()
    assert (out / "adapter" / "adapter_config.json").exists() == (method == "lora")


def test_an_sft_script_holds_no_preference_code(tiny_config):
    from ftgui.core.export.script import render

    text = render(tiny_config(), {}, "run")
    assert "def trl_trainer" not in text and "def pair_scores" not in text
    assert "trl" not in text.split('"""', 2)[1]


def test_a_preference_script_reads_the_file_as_the_run_did(tmp_path, tiny_config):
    """The preference columns are detected again by ftgui's own reading (embedded); the
    SFT column keys are not in CONFIG, the objective's section is."""
    import ast

    from ftgui.core.export.script import render

    cfg = tiny_config(data={"source": _write(tmp_path / "p.jsonl", _pairs(range(4))),
                            "validation": 0.25},
                      training={"objective": "dpo"})
    text = render(cfg, {"format": "preference"}, "run")
    config = ast.literal_eval(text.split("CONFIG = ", 1)[1].split("\n\n", 1)[0])
    assert config["dpo"] == {"beta": cfg.dpo.beta, "loss_type": cfg.dpo.loss_type}
    assert "kto" not in config and "prompt_column" not in config["data"]
    assert config["data"]["validation"] == 0.25 and config["training"]["objective"] == "dpo"
