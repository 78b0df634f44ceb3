"""`ftgui --self-test`: prove that this installation (or frozen app) can train.

Opens the main window offscreen, builds a tiny GPT-2 from a config, writes it as a GGUF
file, and trains it for a few steps on a bundled JSONL file through the normal window,
worker and core (so the GGUF reader, the JSONL reader, Qt, torch and transformers are
all exercised), then exports the run as a script (ftgui's sources, read with inspect).
Exit 0 when the loss is finite, the run folder is complete and the script was written.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from pathlib import Path


def _say(text: str) -> None:
    print(f"self-test: {text}", flush=True)


def _tiny_gguf(folder: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from ftgui.core.export.to_gguf import write_gguf
    from ftgui.paths import resources_dir

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(resources_dir() / "selftest" / "tokenizer")
    # n_positions stays 1024: transformers reads a GPT-2 GGUF with that many positions
    cfg = GPT2Config(n_layer=2, n_embd=64, n_head=2, vocab_size=len(tok),
                     bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)
    model_dir = folder / "tiny-gpt2"
    GPT2LMHeadModel(cfg).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    out = folder / "tiny-gpt2.gguf"
    write_gguf(model_dir, out, outtype="f32")
    return out


def _script_lines(run_dir: Path, work: Path) -> int:
    """The run exported as a Python script, which embeds ftgui.core's own source read with
    inspect (a frozen app has it only where build.spec ships the .py files); its lines."""
    import ast

    from ftgui.core.export import export

    text = export(run_dir, "script", work / "train_selftest.py").read_text(encoding="utf-8")
    ast.parse(text)
    return len(text.splitlines())


def run(timeout_s: float = 600) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from ftgui.core.qt_platform import platform_problem
    problem = platform_problem(sys.argv)
    if problem:
        _say(f"FAILED: {problem}")
        return 2
    from ftgui.threads import use_window_policy
    use_window_policy()  # it trains in a window, as the app does
    t0 = time.time()
    work = Path(tempfile.mkdtemp(prefix="ftgui-selftest-"))
    os.environ["FTGUI_RUNS_DIR"] = str(work / "runs")
    os.environ["FTGUI_CACHE_DIR"] = str(work / "cache")
    try:
        return _run(work, timeout_s, t0)
    except Exception as e:  # noqa: BLE001 - the self-test reports every failure as such
        import traceback
        traceback.print_exc()
        _say(f"FAILED: {type(e).__name__}: {e}")
        return 1


def _run(work: Path, timeout_s: float, t0: float) -> int:
    from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication, QPushButton

    from ftgui.core.config import RunConfig
    from ftgui.core.runs import RunDir
    from ftgui.paths import resources_dir

    QCoreApplication.setOrganizationName("ftgui-selftest")
    app = QApplication.instance() or QApplication([sys.argv[0]])
    from ftgui.gui.main_window import MainWindow

    win = MainWindow()
    win.show()
    _say(f"window shown on the {app.platformName()} platform after {time.time() - t0:.1f} s")

    gguf = _tiny_gguf(work)
    _say(f"tiny GPT-2 written as {gguf.name}")
    cfg = RunConfig.from_dict({
        "model": {"source": str(gguf), "method": "full"},
        "data": {"source": str(resources_dir() / "selftest" / "data.jsonl"),
                 "validation": 0.1, "block_size": 32},
        "training": {"output_dir": str(work / "run"), "max_steps": 6, "batch_size": 4,
                     "learning_rate": 1e-3, "logging_steps": 1, "save_steps": 3},
    })
    cfg_path = work / "selftest.yaml"
    cfg.save(cfg_path)
    if not win.load_config(cfg_path):
        _say("FAILED: the window did not accept the config")
        return 1

    result: dict = {}
    loop = QEventLoop()
    win.runFinished.connect(lambda d: (result.update(done=d), loop.quit()))
    win.runFailed.connect(lambda m: (result.update(failed=m), loop.quit()))
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    button = win.findChild(QPushButton, "trainButton")
    QTimer.singleShot(0, button.click)
    loop.exec()

    if "failed" in result:
        _say(f"FAILED: the run failed: {result['failed']}")
        return 1
    if "done" not in result:
        _say(f"FAILED: no result within {timeout_s:.0f} s")
        return 1
    run = RunDir(result["done"])
    summary = run.summary()
    loss = summary.get("final_train_loss")
    missing = [p.name for p in (run.config_path, run.events_path, run.summary_path,
                                run.model_dir / "model.safetensors") if not p.exists()]
    if summary.get("status") != "finished" or missing or loss is None or \
            not math.isfinite(loss):
        _say(f"FAILED: status {summary.get('status')}, loss {loss}, missing {missing}")
        return 1
    win.close()
    app.processEvents()
    _say(f"exported as a script of {_script_lines(run.path, work)} lines")
    _say(f"OK: {summary['steps']} steps, final loss {loss:.4f}, run folder complete; "
         f"{time.time() - t0:.1f} s in all")
    return 0
