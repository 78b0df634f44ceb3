"""Issue 15, the adversarial findings: cheap inputs that exhausted memory, mistakes that
ended in a traceback, and templates that hung. Each exits 2 with one line naming the
field or file, before slow work, or is now handled."""

import json
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftgui.cli import main
from ftgui.core.config import RunConfig
from ftgui.core.errors import ConfigError
from ftgui.core.runner import run_config
from ftgui.core.runs import RunDir

from stopped_run import stopped_run
from adversarial_inputs import alias_bomb, damage_pickle, model_with_template

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"


def _one_error(capsys, argv) -> str:
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("ftgui: error:")]
    assert rc == 2, err
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def _write_cfg(tiny_config, tmp_path, text_after: str = "", **sections) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(tiny_config(**sections).to_yaml() + text_after, encoding="utf-8")
    return path


# ---- Fail 4: YAML alias bombs and huge configs -------------------------------------------
def test_yaml_alias_bomb_refused(tiny_config, tmp_path, capsys):
    # the bomb in a valid field (data.text_column), in an otherwise valid config
    path = tmp_path / "bomb.yaml"
    cfg = tiny_config().to_dict()
    del cfg["data"]["text_column"]
    text = RunConfig.from_dict(cfg).to_yaml().replace(
        "data:\n", f"data:\n  text_column: {alias_bomb()}\n", 1)
    path.write_text(text, encoding="utf-8")
    assert len(alias_bomb()) < 600
    t0 = time.perf_counter()
    line = _one_error(capsys, ["train", str(path)])
    assert time.perf_counter() - t0 < 5
    assert str(path) in line and "aliases" in line and "expand to more than" in line
    assert not Path(cfg["training"]["output_dir"]).exists()
    # the same through --set
    line = _one_error(capsys, ["train", str(_write_cfg(tiny_config, tmp_path)), "--set",
                               f"data.text_column={alias_bomb()}"])
    assert "--set" in line and "expand to more than" in line
    # a few aliases (what people use anchors for) still work
    ok = tmp_path / "ok.yaml"
    ok.write_text("model: {source: gpt2, method: lora}\n"
                  "data: {source: x.txt, block_size: 64, text_column: &c text}\n"
                  "lora: {target_modules: [*c, c_proj]}\n", encoding="utf-8")
    assert RunConfig.load(ok).lora.target_modules == ["text", "c_proj"]


def test_yaml_config_too_large_refused(tmp_path, capsys):
    path = tmp_path / "huge.yaml"
    path.write_text("# padding\n" * 200_000, encoding="utf-8")
    line = _one_error(capsys, ["train", str(path)])
    assert str(path) in line and "too large" in line


def test_yaml_self_referencing_alias_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("lora:\n  target_modules: &t [a, *t]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2.*refers to the value that holds it"):
        RunConfig.load(path)


# ---- Fail 8: duplicate keys ------------------------------------------------------------------
def test_yaml_duplicate_top_level_key_refused(tiny_config, tmp_path, capsys):
    path = _write_cfg(tiny_config, tmp_path, "training:\n  max_steps: 3\n")
    line = _one_error(capsys, ["train", str(path)])
    assert str(path) in line and "'training'" in line and "written twice" in line
    n_lines = len(path.read_text().splitlines())
    assert f"line {n_lines - 1}" in line


def test_yaml_duplicate_nested_key_refused(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("model:\n  source: gpt2\n  method: lora\n  method: full\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 4: the key 'method' is written twice .*"
                                          r"first on line 3"):
        RunConfig.load(path)
    # the YAML merge key '<<' is not a duplicate
    ok = tmp_path / "merge.yaml"
    ok.write_text("model:\n  <<: {source: gpt2}\n  method: full\ndata: {source: x.txt}\n",
                  encoding="utf-8")
    assert RunConfig.load(ok).model.method == "full"


# ---- Fail 8: seed range, output_dir in the way ---------------------------------------------------
@pytest.mark.parametrize("seed", [2 ** 77, 2 ** 31, -1])
def test_seed_out_of_range_refused(tiny_config, tmp_path, capsys, seed):
    path = _write_cfg(tiny_config, tmp_path)
    line = _one_error(capsys, ["train", str(path), "--set", f"training.seed={seed}"])
    assert "training.seed" in line
    assert RunConfig.from_dict({"training": {"seed": 2 ** 31 - 1}, "model": {"source": "m"},
                                "data": {"source": "d"}}).training.seed == 2 ** 31 - 1


def test_output_dir_that_is_a_file_refused_before_setup(tiny_config, tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    for out, words in ((blocker, "is a file"), (blocker / "run", "lies under")):
        blocker.unlink(missing_ok=True)
        # the data file does not exist: the output_dir is named first, before any loading
        path = _write_cfg(tiny_config, tmp_path, training={"output_dir": str(out)},
                          data={"source": str(tmp_path / "never-read.txt")})
        blocker.write_text("mine")
        line = _one_error(capsys, ["train", str(path)])
        assert "training.output_dir" in line and words in line and str(blocker) in line
        assert blocker.read_text() == "mine"


# ---- Fail 8: eval and generate arguments ----------------------------------------------------------
def test_eval_batch_size_zero_refused(tiny_model_dir, capsys):
    line = _one_error(capsys, ["eval", str(tiny_model_dir), "--data",
                               str(FIXTURES / "wiki-small.txt"), "--batch-size", "0"])
    assert "--batch-size" in line


def test_eval_block_size_zero_refused(tiny_model_dir, capsys):
    line = _one_error(capsys, ["eval", str(tiny_model_dir), "--data",
                               str(FIXTURES / "wiki-small.txt"), "--block-size", "0"])
    assert "--block-size" in line


def test_generate_empty_prompt_refused(tiny_model_dir, capsys):
    line = _one_error(capsys, ["generate", str(tiny_model_dir), "--prompt", ""])
    assert "--prompt" in line and "empty" in line


# ---- Fail 8: disk full during export ---------------------------------------------------------------
def _fsize_limit(limit):
    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes then fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return pre


def test_export_disk_full_is_one_line(tiny_config, tmp_path):
    cfg = tiny_config(training={"max_steps": 2})
    run_config(cfg)
    out = tmp_path / "exports" / "merged"
    size = (RunDir(cfg.training.output_dir).model_dir / "model.safetensors").stat().st_size
    r = subprocess.run([sys.executable, "-m", "ftgui", "export", cfg.training.output_dir,
                        "--format", "merged", "--out", str(out)], cwd=REPO,
                       capture_output=True, text=True, timeout=120,
                       preexec_fn=_fsize_limit(size // 2))
    assert r.returncode == 2, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("ftgui: error:")]
    assert len(errors) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "disk is full" in errors[0] and str(out) in errors[0]
    assert not out.exists() and not list(out.parent.glob(".*partial"))


# ---- Fail 8 and weak: chat templates that raise or never end -------------------------------------
def _model_with_template(tiny_model_dir, tmp_path, template: str) -> Path:
    return model_with_template(tiny_model_dir, tmp_path / "templated-model", template)


def _instruction_cfg(tiny_config, tmp_path, model: Path) -> Path:
    return _write_cfg(tiny_config, tmp_path, model={"source": str(model)},
                      data={"source": str(FIXTURES / "instructions.jsonl"),
                            "format": "instruction", "template": "chat_template"})


@pytest.mark.parametrize("template, words", [
    ("{{ raise_exception('roles must alternate') }}", "roles must alternate"),
    ("{{ messages.__class__.__mro__ }}", "unsafe"),
    ("{% for m in messages %}{{ m.content }", "template"),
])
def test_broken_chat_template_exits_2(tiny_config, tiny_model_dir, tmp_path, capsys,
                                      template, words):
    model = _model_with_template(tiny_model_dir, tmp_path, template)
    line = _one_error(capsys, ["train", str(_instruction_cfg(tiny_config, tmp_path, model))])
    assert "data.template" in line and words in line and "data.template: simple" in line
    assert not (tmp_path / "run").exists()


def test_chat_template_with_endless_loops_is_stopped(tiny_config, tiny_model_dir, tmp_path,
                                                     capsys, monkeypatch):
    from ftgui.core import templates
    monkeypatch.setattr(templates, "RENDER_SECONDS", 0.5)
    model = _model_with_template(
        tiny_model_dir, tmp_path,
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ '' }}{% endfor %}"
        "{% endfor %}")
    t0 = time.perf_counter()
    line = _one_error(capsys, ["train", str(_instruction_cfg(tiny_config, tmp_path, model))])
    assert time.perf_counter() - t0 < 30
    assert "data.template" in line and "was stopped" in line and "example 1" in line
    # the same limit guards the prompt of `ftgui generate --chat`
    line = _one_error(capsys, ["generate", str(model), "--prompt", "hi", "--chat"])
    assert "chat template" in line and "was stopped" in line and "drop --chat" in line


def test_template_time_limit_leaves_no_pending_stop():
    from ftgui.core import templates
    # a block that ends just before its deadline is never interrupted afterwards
    for _ in range(20):
        with templates.time_limit(0.06):
            time.sleep(0.04)
    time.sleep(0.2)  # an exception left pending would be raised by now
    with pytest.raises(templates.TemplateTimeout):
        with templates.time_limit(0.1):
            while True:
                pass


# ---- Fail 8: damaged checkpoint, changed model on resume ------------------------------------------
def _stopped_run(tiny_config, **training):
    return stopped_run(tiny_config, **training)


def test_damaged_checkpoint_on_resume_exits_2(tiny_config, capsys):
    run = _stopped_run(tiny_config)
    damage_pickle(run.latest_checkpoint() / "optimizer.pt")
    line = _one_error(capsys, ["resume", str(run.path)])
    assert "checkpoint-4" in line and "damaged" in line
    assert "Delete that folder" in line and "continues from checkpoint-2" in line
    shutil.rmtree(run.latest_checkpoint())
    capsys.readouterr()
    assert main(["resume", str(run.path)]) == 0
    assert run.status() == "finished"


def test_model_changed_before_resume_exits_2(tiny_config, tmp_path, capsys):
    from tiny_model import make_tiny_model
    run = _stopped_run(tiny_config)
    other = make_tiny_model(tmp_path / "other-model", n_positions=128)
    text = run.config_path.read_text()
    cfg = RunConfig.load(run.config_path)
    run.config_path.write_text(text.replace(cfg.model.source, str(other)))
    # the settings recorded when the run started catch it before any weights load
    line = _one_error(capsys, ["resume", str(run.path)])
    assert "the settings differ" in line and "model.source" in line
    # a run from before that record: the checkpoint's weights do not fit, in one line
    summary = json.loads(run.summary_path.read_text())
    del summary["config"]
    run.summary_path.write_text(json.dumps(summary))
    capsys.readouterr()
    line = _one_error(capsys, ["resume", str(run.path)])
    assert "size mismatch" in line and "checkpoint-4" in line and "model.source" in line
    assert "Traceback" not in line


# ---- Fail 4: a single very long line ----------------------------------------------------------------
@pytest.fixture(scope="module")
def tok():
    from transformers import AutoTokenizer

    from tiny_model import TOKENIZER_DIR
    return AutoTokenizer.from_pretrained(TOKENIZER_DIR)


def _long_line(n_chars: int) -> str:
    words = " ".join((FIXTURES / "wiki-small.txt").read_text(encoding="utf-8").split())
    return (words + " ") * (n_chars // (len(words) + 1) + 1)


def test_long_line_chunks_give_the_same_tokens(tok, monkeypatch):
    from ftgui.core import data_steps
    line = _long_line(300_000)[:300_000]
    whole = tok(line, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    monkeypatch.setattr(data_steps, "BATCH_CHARS", 50_000)  # several batches too
    pieces = list(data_steps._chunks(line))
    assert len(pieces) >= 3 and "".join(pieces) == line
    assert all(len(p) <= data_steps.CHUNK_CHARS for p in pieces)
    assert all(p.startswith((" ", "\n")) for p in pieces[1:])  # cut before whitespace
    blocks, n = data_steps.pack(["short text", line, "more"], tok, 16, True)
    expected = (tok("short text", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
                + whole + tok("more", add_special_tokens=False)["input_ids"]
                + [tok.eos_token_id])
    assert n == len(expected)
    assert blocks.reshape(-1).tolist() == expected[:len(blocks) * 16]


PEAK = """
import resource, sys, time
from transformers import AutoTokenizer
from ftgui.core import data
tok = AutoTokenizer.from_pretrained(sys.argv[1])
line = open(sys.argv[2], encoding="utf-8").read()
tok(["warm up the tokenizer"] * 10)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
blocks, n = data.pack([line], tok, 128, True)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024, n)
"""


def _peak_growth(tmp_path, n_chars: int) -> tuple[int, int]:
    from tiny_model import TOKENIZER_DIR
    f = tmp_path / f"line-{n_chars}.txt"
    f.write_text(_long_line(n_chars)[:n_chars], encoding="utf-8")
    r = subprocess.run([sys.executable, "-c", PEAK, str(TOKENIZER_DIR), str(f)], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    growth, tokens = map(int, r.stdout.split())
    return growth, tokens


def test_long_single_line_memory_is_bounded(tmp_path):
    # one 6 MB line: in one tokenizer call it took ~1.1 GB (185 bytes per character
    # measured at 20 MB); in pieces, the peak grows by the tokens kept (4 bytes each)
    # and a bounded working set, not with the length of the line
    growth, tokens = _peak_growth(tmp_path, 6_000_000)
    assert tokens > 1_000_000
    assert growth < 200 * 2**20, f"peak grew by {growth / 2**20:.0f} MiB"


def test_instruction_field_above_limit_refused(tiny_config, tmp_path, capsys, monkeypatch):
    from ftgui.core import data_steps
    monkeypatch.setattr(data_steps, "MAX_EXAMPLE_CHARS", 10_000)
    rows = [{"instruction": "Say it", "output": "ok"}] * 5 + \
        [{"instruction": "Repeat", "output": "word " * 5_000}]
    src = tmp_path / "long.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    path = _write_cfg(tiny_config, tmp_path, data={"source": str(src), "format":
                                                   "instruction", "validation": None})
    line = _one_error(capsys, ["train", str(path)])
    assert "data.source" in line and "example 6" in line and "10,000" in line


# ---- Fail 5: the data cache is private --------------------------------------------------------------
def test_data_cache_is_private(tiny_config, tmp_path, monkeypatch):
    import os
    import stat
    root = tmp_path / "cache-home" / "ftgui" / "data"  # none of it exists yet
    monkeypatch.setenv("FTGUI_CACHE_DIR", str(root))
    old = os.umask(0o022)
    try:
        run_config(tiny_config(training={"max_steps": 1}))
    finally:
        os.umask(old)
    entries = [p for p in root.iterdir() if p.name != "base-eval"]
    assert len(entries) == 1
    kept = root / "base-eval"   # the base model's evaluation, kept beside the data
    for folder in (root, root.parent, entries[0], kept):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in kept.iterdir())
    names = set()
    for f in entries[0].iterdir():
        names.add(f.name)
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert {"train.npz", "stats.json"} <= names
    # an entry written world-readable by an older version is made private when used
    for f in entries[0].iterdir():
        f.chmod(0o644)
    entries[0].chmod(0o755)
    run_config(tiny_config(training={"max_steps": 1, "output_dir": str(tmp_path / "run2")}))
    assert stat.S_IMODE(entries[0].stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in entries[0].iterdir())


# ---- weak: rows whose text column is not text ----------------------------------------------------------
def test_mixed_type_text_column_reports_skipped_rows(tiny_config, tmp_path, capsys):
    words = (FIXTURES / "wiki-small.txt").read_text(encoding="utf-8").split()
    rows = []
    for n in range(300):
        kind = n % 6
        value = {0: " ".join(words[n * 10:n * 10 + 40]) or "some words here",
                 1: n, 2: None, 3: ["a", "list"], 4: n * 0.5, 5: None}[kind]
        rows.append({"text": value})
    src = tmp_path / "mixed.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    path = _write_cfg(tiny_config, tmp_path, data={"source": str(src), "validation": None,
                                                   "block_size": 16},
                      training={"max_steps": 1})
    capsys.readouterr()
    assert main(["train", str(path)]) == 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Skipped 250 of 300 rows of mixed.jsonl whose 'text' is not text" in text
    assert "100 null (rows 3, 6, 9, 12, 15, ...)" in text
    assert "100 a number (rows 2, 5, 8, 11, 14, ...)" in text
    assert "50 a list (rows 4, 10, 16, 22, 28, ...)" in text
    summary = RunDir(tmp_path / "run").summary()
    assert summary["skipped_rows"] == 250 and summary["train_rows"] == 50
    assert "rows 3, 6, 9" in summary["skipped_note"]


# ---- weak: a run folder inside the data folder -----------------------------------------------------------
def test_cache_key_unchanged_by_run_folder_inside_data_folder(tok, tmp_path):
    from ftgui.core.config import DataConfig
    from ftgui.core.data import cache_key
    data_dir = tmp_path / "corpus"
    data_dir.mkdir()
    shutil.copy(FIXTURES / "wiki-small.txt", data_dir / "train.txt")
    cfg = DataConfig(source=str(data_dir), validation=None)
    key = cache_key(cfg, tok, 42)
    run = data_dir / "my-run"
    (run / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    (run / "events.jsonl").write_text('{"kind": "step"}\n')
    (run / "checkpoints" / "checkpoint-2" / "model.safetensors").write_bytes(b"\0" * 1000)
    (data_dir / "notes.md").write_text("not data")
    assert cache_key(cfg, tok, 42) == key
    (data_dir / "train.txt").write_text("edited text\n")
    assert cache_key(cfg, tok, 42) != key  # the data file itself still counts


# ---- weak: a GPT-2 GGUF with 256 positions loads back as model.source ------------------------------
def test_gguf_gpt2_256_positions_round_trip(tiny_config, tmp_path):
    import torch

    from ftgui.core import models
    from ftgui.core.config import ModelConfig
    from ftgui.core.export import export
    cfg = tiny_config(training={"max_steps": 2})
    run_config(cfg)
    out = export(cfg.training.output_dir, "gguf", tmp_path / "tiny.gguf", gguf_type="f32")
    assert models.gguf_config_fixes(out) == {"n_positions": 256}
    back = models.load_model(ModelConfig(source=str(out)))
    assert back.config.n_positions == 256 and models.context_length(back.config) == 256
    src = models.load_model(ModelConfig(source=str(RunDir(cfg.training.output_dir).model_dir)))
    ids = torch.arange(5, 40).unsqueeze(0)
    with torch.no_grad():
        assert (src(ids).logits - back(ids).logits).abs().max() < 1e-4
    # and as the model of a new run
    summary = run_config(tiny_config(model={"source": str(out)},
                                     training={"max_steps": 2,
                                               "output_dir": str(tmp_path / "from-gguf")}))
    assert summary["status"] == "finished"


# ---- Fail 6: a run folder cannot turn on remote code by itself -----------------------------------------
def _cli(*args, env=None):
    import os
    return subprocess.run([sys.executable, "-m", "ftgui", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=180,
                          env={**os.environ, **(env or {})})


def test_received_run_remote_code_needs_approval(tiny_model_dir, tmp_path, capsys,
                                                 monkeypatch):
    from ftgui.core import trust
    from adversarial_inputs import make_received_run
    run = make_received_run(tiny_model_dir, tmp_path)
    marker = tmp_path / "code-ran.txt"
    env = {"FTGUI_TEST_CODE_MARKER": str(marker),
           "HF_MODULES_CACHE": str(tmp_path / "hf-modules")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # refused, before anything is loaded, by every command that loads the run's models
    for argv in (["generate", str(run), "--prompt", "hi"],
                 ["eval", str(run), "--data", str(FIXTURES / "wiki-small.txt")],
                 ["eval", str(run), "--data", str(FIXTURES / "wiki-small.txt"),
                  "--before-after"],
                 ["resume", str(run)]):
        line = _one_error(capsys, argv)
        assert "modeling_tiny_remote.py" in line and "configuration_tiny_remote.py" in line
        assert "--trust-remote-code" in line and "config.yaml" in line, line
    assert not marker.exists() and not trust.store_path().exists()
    # allowed with the flag, and remembered: the code runs without it afterwards
    r = _cli("generate", str(run), "--prompt", "The", "--max-new-tokens", "3",
             "--trust-remote-code", env=env)
    assert r.returncode == 0, r.stderr
    runs = marker.read_text().count("ran")
    assert runs >= 1
    approved = json.loads(trust.store_path().read_text())
    assert [v["files"] for v in approved.values()] == \
        [["configuration_tiny_remote.py", "modeling_tiny_remote.py"]]
    assert oct(trust.store_path().stat().st_mode & 0o777) == "0o600"
    r = _cli("generate", str(run), "--prompt", "The", "--max-new-tokens", "3", env=env)
    assert r.returncode == 0, r.stderr
    assert marker.read_text().count("ran") == 2 * runs
    # changed code is new code: asked again
    code = run / "model" / "modeling_tiny_remote.py"
    code.write_text(code.read_text() + "\nprint('changed')\n")
    line = _one_error(capsys, ["generate", str(run), "--prompt", "hi"])
    assert "modeling_tiny_remote.py" in line and "--trust-remote-code" in line


def test_own_config_with_trust_remote_code_trains_and_is_remembered(tiny_config,
                                                                    tiny_model_dir,
                                                                    tmp_path, monkeypatch):
    from ftgui.core import trust
    from ftgui.core.inference import model_config_for
    from adversarial_inputs import make_remote_code_model
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "hf-modules"))
    model = make_remote_code_model(tiny_model_dir, tmp_path / "remote-model")
    cfg = tiny_config(model={"source": str(model), "trust_remote_code": True},
                      training={"max_steps": 1})
    assert run_config(cfg)["status"] == "finished"  # the person's own config: trusted
    run = RunDir(cfg.training.output_dir)
    assert (run.model_dir / "modeling_tiny_remote.py").exists()
    assert not trust.pending(trust.run_sources(run.path))   # approved by training here
    assert model_config_for(str(run.path)).trust_remote_code
