"""Each user mistake exits 2 with one clear line, and nothing is created or overwritten."""

import hashlib
import json
import shutil

import pytest

from ftgui.cli import main


def _run(cfg, tmp_path, capsys, *extra):
    path = tmp_path / "cfg.yaml"
    cfg.save(path)
    capsys.readouterr()
    rc = main(["train", str(path), *extra])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("ftgui: error:")]
    assert rc == 2, err
    assert len(errors) == 1, err
    assert "Traceback" not in err
    return errors[0]


def _expect(cfg, tmp_path, capsys, *needles):
    line = _run(cfg, tmp_path, capsys)
    for needle in needles:
        assert needle in line, line
    from pathlib import Path
    assert not Path(cfg.training.output_dir).exists(), "a run folder was left behind"
    return line


def _gguf(path, arch):
    import gguf
    import numpy as np
    w = gguf.GGUFWriter(str(path), arch=arch)
    w.add_block_count(1)
    w.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_missing_model_path(tiny_config, tmp_path, capsys):
    cfg = tiny_config(model={"source": str(tmp_path / "no-such-model")})
    _expect(cfg, tmp_path, capsys, "model.source", "does not exist")


def test_folder_without_a_model(tiny_config, tmp_path, capsys):
    (tmp_path / "empty-model").mkdir()
    (tmp_path / "empty-model" / "notes.txt").write_text("hi")
    cfg = tiny_config(model={"source": str(tmp_path / "empty-model")})
    _expect(cfg, tmp_path, capsys, "holds no model", "config.json")


def test_truncated_weights(tiny_config, tiny_model_dir, tmp_path, capsys):
    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_model_dir, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    cfg = tiny_config(model={"source": str(broken)})
    _expect(cfg, tmp_path, capsys, "model.source", "incomplete or damaged")


def test_gguf_of_an_unsupported_architecture(tiny_config, tmp_path, capsys):
    _gguf(tmp_path / "odd.gguf", "rwkv6")
    cfg = tiny_config(model={"source": str(tmp_path / "odd.gguf")})
    _expect(cfg, tmp_path, capsys, "architecture", "rwkv6")


def test_missing_data_file(tiny_config, tmp_path, capsys):
    cfg = tiny_config(data={"source": str(tmp_path / "nope.txt")})
    _expect(cfg, tmp_path, capsys, "data.source", "does not exist")


def test_blank_lines_only(tiny_config, tmp_path, capsys):
    (tmp_path / "blank.txt").write_text("\n  \n\t\n\n")
    cfg = tiny_config(data={"source": str(tmp_path / "blank.txt")})
    _expect(cfg, tmp_path, capsys, "blank.txt", "no rows")


def test_jsonl_with_a_broken_line(tiny_config, tmp_path, capsys):
    lines = [json.dumps({"text": f"row {i} has words"}) for i in range(10)]
    lines[6] = '{"text": "unterminated'
    (tmp_path / "d.jsonl").write_text("\n".join(lines))
    cfg = tiny_config(data={"source": str(tmp_path / "d.jsonl")})
    _expect(cfg, tmp_path, capsys, "line 7", "not valid JSON")


def test_csv_without_the_chosen_column(tiny_config, tmp_path, capsys):
    (tmp_path / "d.csv").write_text("title,body\na,some words\nb,more words\n")
    cfg = tiny_config(data={"source": str(tmp_path / "d.csv"), "text_column": "content"})
    _expect(cfg, tmp_path, capsys, "data.text_column", "'content'", "title, body")


def test_binary_file_given_as_text(tiny_config, tmp_path, capsys):
    (tmp_path / "img.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    cfg = tiny_config(data={"source": str(tmp_path / "img.txt")})
    _expect(cfg, tmp_path, capsys, "binary file")


def test_text_that_is_not_utf8(tiny_config, tmp_path, capsys):
    (tmp_path / "latin1.txt").write_bytes("first line\nCaf\u00e9 cr\u00e8me\n".encode("latin-1"))
    cfg = tiny_config(data={"source": str(tmp_path / "latin1.txt")})
    _expect(cfg, tmp_path, capsys, "line 2", "not UTF-8")


def test_block_size_above_the_context_length(tiny_config, tmp_path, capsys):
    cfg = tiny_config(data={"block_size": 512})  # the tiny model has 256 positions
    _expect(cfg, tmp_path, capsys, "data.block_size", "256")


@pytest.mark.parametrize("key,value", [("learning_rate", 0), ("learning_rate", -0.001),
                                       ("batch_size", 0), ("batch_size", -1)])
def test_non_positive_learning_rate_or_batch(tiny_config, tmp_path, capsys, key, value):
    path = tmp_path / "cfg.yaml"
    cfg = tiny_config()
    raw = cfg.to_dict()
    raw["training"][key] = value
    import yaml
    path.write_text(yaml.safe_dump(raw))
    capsys.readouterr()
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"training.{key}" in err and len(err.strip().splitlines()) == 1
    from pathlib import Path
    assert not Path(cfg.training.output_dir).exists()


def _digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p).encode() + p.read_bytes())
    return h.hexdigest()


def test_output_dir_that_holds_a_run(tiny_config, tmp_path, capsys):
    cfg = tiny_config(training={"max_steps": 2})
    cfg.save(tmp_path / "cfg.yaml")
    assert main(["train", str(tmp_path / "cfg.yaml")]) == 0
    from pathlib import Path
    before = _digest(Path(cfg.training.output_dir))
    line = _run(cfg, tmp_path, capsys)
    assert "already holds a run" in line and "ftgui resume" in line and "--new-run" in line
    assert _digest(Path(cfg.training.output_dir)) == before


def test_output_dir_with_other_files(tiny_config, tmp_path, capsys):
    cfg = tiny_config()
    from pathlib import Path
    out = Path(cfg.training.output_dir)
    out.mkdir()
    (out / "thesis.docx").write_text("precious")
    line = _run(cfg, tmp_path, capsys)
    assert "not empty" in line
    assert [p.name for p in out.iterdir()] == ["thesis.docx"]


def test_missing_config_file(tmp_path, capsys):
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert "Config file not found" in capsys.readouterr().err


def test_resume_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["resume", str(tmp_path)]) == 2
    assert "not an ftgui run" in capsys.readouterr().err


def test_pickle_weights_refused_unless_allowed(tiny_config, tiny_model_dir, tmp_path, capsys):
    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, folder)
    weights = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save(weights, folder / "pytorch_model.bin")
    cfg = tiny_config(model={"source": str(folder)})
    _expect(cfg, tmp_path, capsys, "pickle", "model.allow_pickle")
    cfg = tiny_config(model={"source": str(folder), "allow_pickle": True},
                      training={"max_steps": 1})
    cfg.save(tmp_path / "ok.yaml")
    assert main(["train", str(tmp_path / "ok.yaml")]) == 0


def test_torn_checkpoint_is_never_picked(tiny_config, tmp_path):
    from ftgui.core.runner import run_config
    from ftgui.core.runs import RunDir

    cfg = tiny_config(training={"max_steps": 12, "save_steps": 6, "save_total_limit": None})
    run_config(cfg)
    run = RunDir(cfg.training.output_dir)
    assert run.latest_checkpoint().name == "checkpoint-12"
    state = run.checkpoints_dir / "checkpoint-12" / "trainer_state.json"
    state.write_text(state.read_text()[:40])  # as if killed while writing it
    assert run.latest_checkpoint().name == "checkpoint-6"
