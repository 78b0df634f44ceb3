"""Export of finished runs: merged model and adapter folders, atomic writes, refusals, CLI."""

import json
import os
from pathlib import Path

import pytest
import torch

from ftgui.core.errors import FtguiError
from ftgui.core.export import ExportError, export
from ftgui.core.runs import RunDir

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def make_run(out: Path, model_dir: Path, cache: Path, **sections) -> Path:
    """A finished run of the tiny model (module fixtures cannot use tiny_config)."""
    from ftgui.core.config import RunConfig
    from ftgui.core.runner import run_config

    raw = {"model": {"source": str(model_dir), "method": "full"},
           "data": {"source": str(FIXTURES / "wiki-small.txt"), "validation": 0.1,
                    "block_size": 32},
           "training": {"output_dir": str(out), "max_steps": 12, "batch_size": 4,
                        "learning_rate": 1e-3, "logging_steps": 2, "save_steps": 6, "seed": 7}}
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FTGUI_CACHE_DIR", str(cache))
        run_config(RunConfig.from_dict(raw))
    return out


@pytest.fixture(scope="module")
def lora_run(tiny_model_dir, tmp_path_factory) -> Path:
    # a high learning rate so the merged model clearly differs from the base
    base = tmp_path_factory.mktemp("export-lora")
    return make_run(base / "run", tiny_model_dir, base / "cache", model={"method": "lora"},
                    training={"learning_rate": 2e-2})


@pytest.fixture(scope="module")
def full_run(tiny_model_dir, tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("export-full")
    return make_run(base / "run", tiny_model_dir, base / "cache")


def _greedy(model, ids) -> list[int]:
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=20,
                             do_sample=False, pad_token_id=0)
    return out[0, ids.shape[1]:].tolist()


def test_merged_lora_reloads_and_generates_like_base_plus_adapter(lora_run, tiny_model_dir,
                                                                  tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged_dir = export(lora_run, "merged", tmp_path / "merged")
    adapter_dir = export(lora_run, "adapter", tmp_path / "adapter")
    assert (merged_dir / "model.safetensors").exists() and (merged_dir / "tokenizer.json").exists()
    assert not (merged_dir / "adapter_config.json").exists()
    assert (adapter_dir / "adapter_config.json").exists()
    assert "quantization_config" not in json.loads((merged_dir / "config.json").read_text())

    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    assert not any("lora" in n for n, _ in merged.named_parameters())
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    peft_model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir), adapter_dir).eval()

    tok = AutoTokenizer.from_pretrained(merged_dir)
    ids = tok("The tower is 324 metres tall", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        lm, lp, lb = merged(ids).logits, peft_model(ids).logits, base(ids).logits
    assert (lm - lb).abs().max() > 1e-2            # the adapter changed the model
    assert torch.allclose(lm, lp, atol=1e-5)       # merging = base + adapter
    assert _greedy(merged, ids) == _greedy(peft_model, ids)


def test_full_finetune_has_no_adapter_to_export(full_run, tmp_path):
    with pytest.raises(ExportError, match="full fine-tune.*--format merged"):
        export(full_run, "adapter", tmp_path / "adapter")
    assert not (tmp_path / "adapter").exists()
    out = export(full_run, "merged", tmp_path / "merged")
    assert (out / "model.safetensors").exists()


def test_refuses_to_overwrite_unless_asked(full_run, tmp_path):
    out = tmp_path / "model.py"
    out.write_text("mine")
    with pytest.raises(ExportError, match=f"{out}.*already exists"):
        export(full_run, "script", out)
    assert out.read_text() == "mine"
    # even when asked, only an earlier ftgui export is replaced: this file is the user's
    with pytest.raises(ExportError, match="not an ftgui script export"):
        export(full_run, "script", out, overwrite=True)
    assert out.read_text() == "mine"
    out.unlink()
    export(full_run, "script", out)
    export(full_run, "script", out, overwrite=True)   # an earlier export: replaced
    assert "TrainingArguments" in out.read_text()

    folder = tmp_path / "merged"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="already exists"):
        export(full_run, "merged", folder)
    with pytest.raises(ExportError, match="not an ftgui merged export"):
        export(full_run, "merged", folder, overwrite=True)
    assert (folder / "keep.txt").read_text() == "mine"
    (folder / "keep.txt").unlink()
    folder.rmdir()
    export(full_run, "merged", folder)
    export(full_run, "merged", folder, overwrite=True)
    assert (folder / "model.safetensors").exists() and (folder / ".ftgui-export").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["merged", "model.py"]  # no leftovers


def test_failed_export_leaves_nothing(full_run, tmp_path, monkeypatch):
    from ftgui.core.export import to_gguf

    def boom(*a, **kw):
        raise RuntimeError("disk full")

    monkeypatch.setattr(to_gguf, "_tensors", boom)
    with pytest.raises(RuntimeError):
        export(full_run, "gguf", tmp_path / "m.gguf")
    assert list(tmp_path.iterdir()) == []


def test_progress_is_reported(full_run, tmp_path):
    seen = []
    export(full_run, "merged", tmp_path / "m", progress=seen.append)
    stages = [p.stage for p in seen]
    assert stages[0] == "Exporting merged" and stages[-1] == "Exporting merged"
    copies = [p for p in seen if p.stage == "Copying the merged model"]
    assert copies and copies[-1].current == copies[-1].total


def test_user_errors_name_the_problem(full_run, tmp_path):
    with pytest.raises(ExportError, match="Unknown export format 'onnx'"):
        export(full_run, "onnx", tmp_path / "x")
    with pytest.raises(ExportError, match="does not exist"):
        export(tmp_path / "nope", "merged", tmp_path / "x")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ExportError, match="not an ftgui run"):
        export(tmp_path / "plain", "merged", tmp_path / "x")
    with pytest.raises(ExportError, match="part of the run"):
        export(full_run, "merged", Path(full_run) / "model")
    assert issubclass(ExportError, FtguiError)


def test_unfinished_run_is_refused(full_run, tmp_path):
    import shutil

    stopped = tmp_path / "stopped"
    shutil.copytree(full_run, stopped)
    rd = RunDir(stopped)
    rd.write_summary({**rd.summary(), "status": "stopped"})
    shutil.rmtree(rd.model_dir)
    with pytest.raises(ExportError, match=r"no final model.*stopped.*ftgui resume"):
        export(stopped, "gguf", tmp_path / "m.gguf")
    # the script reproduces the config, which a stopped run has too
    assert export(stopped, "script", tmp_path / "train.py").exists()


def test_cli_export(full_run, tmp_path, capsys):
    from ftgui import cli

    try:
        cli._parser().parse_args(["export", "r", "--format", "gguf", "--out", "o"])
    except SystemExit:
        pytest.skip("ftgui.cli does not wire the export command yet")
    main = cli.main
    out = tmp_path / "m.gguf"
    assert main(["export", str(full_run), "--format", "gguf", "--out", str(out)]) == 0
    assert out.exists() and "Exported gguf" in capsys.readouterr().out
    assert main(["export", str(full_run), "--format", "gguf", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["export", str(full_run), "--format", "gguf", "--out", str(out), "--force",
                 "--outtype", "f32"]) == 0
    assert main(["export", str(full_run), "--format", "adapter", "--out",
                 str(tmp_path / "a")]) == 2
    assert "full fine-tune" in capsys.readouterr().err
    assert main(["runs", "--dir", str(Path(full_run).parent)]) == 0
    assert "finished" in capsys.readouterr().out


def test_cli_runs_export_directly(full_run, tmp_path, capsys):
    """The command functions as ftgui.cli will call them (argparse + exit codes)."""
    import argparse

    from ftgui import cli_runs

    ap = argparse.ArgumentParser()
    cli_runs.add_parsers(ap.add_subparsers(dest="command"))
    args = ap.parse_args(["export", str(full_run), "--format", "script", "--out",
                          str(tmp_path / "t.py")])
    assert cli_runs.COMMANDS["export"](args) == 0
    assert (tmp_path / "t.py").exists()
    assert "python " in capsys.readouterr().out
    with pytest.raises(FtguiError, match="already exists"):
        cli_runs.COMMANDS["export"](args)
    assert os.access(tmp_path / "t.py", os.R_OK)


# ---- issue 15: --force replaces only what an ftgui export wrote (two real CLI processes) ----
def _ftgui(*args):
    import subprocess
    import sys
    repo = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "-m", "ftgui", *map(str, args)], cwd=repo,
                          capture_output=True, text=True, timeout=300)


def _tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_fail1_force_never_deletes_a_folder_that_holds_the_run(full_run, tmp_path):
    import shutil
    parent = tmp_path / "P"
    parent.mkdir()
    shutil.copytree(full_run, parent / "t")
    (parent / "other.txt").write_text("x\n")
    before = _tree(parent)
    r = _ftgui("export", parent / "t", "--format", "merged", "--out", parent, "--force")
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "holds the run" in r.stderr
    assert "Choose a new path" in r.stderr
    assert _tree(parent) == before                      # the run and other.txt are intact

    # the runs folder, and another run folder, are refused just the same
    runs = Path(os.environ["FTGUI_RUNS_DIR"])
    shutil.copytree(full_run, runs / "someone")
    before = _tree(runs)
    r = _ftgui("export", parent / "t", "--format", "merged", "--out", runs, "--force")
    assert r.returncode == 2 and "runs folder" in r.stderr, r.stderr
    r = _ftgui("export", parent / "t", "--format", "merged", "--out", runs / "someone",
               "--force")
    assert r.returncode == 2 and "is a run folder" in r.stderr, r.stderr
    assert _tree(runs) == before

    # an earlier export is replaced; once the user adds a file to it, it is theirs too
    out = tmp_path / "exported"
    assert _ftgui("export", full_run, "--format", "merged", "--out", out).returncode == 0
    r = _ftgui("export", full_run, "--format", "merged", "--out", out, "--force")
    assert r.returncode == 0, r.stderr
    (out / "my-notes.txt").write_text("mine")
    r = _ftgui("export", full_run, "--format", "merged", "--out", out, "--force")
    assert r.returncode == 2 and "my-notes.txt" in r.stderr, r.stderr
    assert (out / "my-notes.txt").read_text() == "mine"


def test_fail2_force_never_swaps_a_user_folder_for_a_file(full_run, tmp_path):
    folder = tmp_path / "D"
    folder.mkdir()
    (folder / "thesis.txt").write_text("three years of work")
    for fmt in ("script", "gguf"):
        r = _ftgui("export", full_run, "--format", fmt, "--out", folder, "--force")
        assert r.returncode == 2, r.stderr
        assert "is a folder" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert (folder / "thesis.txt").read_text() == "three years of work"
    # a user's own file of the same name is not replaced either; our own exports are
    mine = tmp_path / "m.gguf"
    mine.write_bytes(b"GGUF not really")
    r = _ftgui("export", full_run, "--format", "gguf", "--out", mine, "--force")
    assert r.returncode == 2 and "not an ftgui gguf export" in r.stderr, r.stderr
    mine.unlink()
    export(full_run, "gguf", mine)
    export(full_run, "gguf", mine, overwrite=True)
    script = export(full_run, "script", tmp_path / "s.py")
    assert export(full_run, "script", script, overwrite=True) == script


def test_weak_stale_partials_of_a_killed_export_are_removed(full_run, tmp_path):
    import subprocess
    import sys
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "m.gguf"
    stale = tmp_path / f".m.gguf.{dead.pid}.abc123.partial"
    stale.write_bytes(b"half")
    stale_dir = tmp_path / f".m.gguf.{dead.pid}.xyz.partial"
    stale_dir.mkdir()
    live = tmp_path / f".m.gguf.{os.getppid()}.def.partial"   # a live writer's: kept
    live.write_bytes(b"in progress")
    other = tmp_path / f".other.gguf.{dead.pid}.abc.partial"  # another destination's
    other.write_bytes(b"x")
    export(full_run, "gguf", out)
    assert not stale.exists() and not stale_dir.exists()
    assert live.exists() and other.exists() and out.exists()


def test_weak_exports_follow_the_umask(full_run, tmp_path):
    old = os.umask(0o027)
    try:
        folder = export(full_run, "merged", tmp_path / "m")
        script = export(full_run, "script", tmp_path / "s.py")
    finally:
        os.umask(old)
    assert folder.stat().st_mode & 0o777 == 0o750
    assert {p.stat().st_mode & 0o777 for p in folder.iterdir()} == {0o640}
    assert script.stat().st_mode & 0o777 == 0o640
