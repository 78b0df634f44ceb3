"""Render the window offscreen on its Playground tab, with the base model and the
fine-tuned one having answered the same prompt, and save it.

Without --run it first trains a short run of the offline demo (SmolLM2-135M-Instruct +
LoRA on the WikiText excerpt; --steps of it) through the core.

    python scripts/playground_screenshot.py [--run RUN_DIR] [--steps 40]
        [--prompt "The European lobster"] [--max-new-tokens 150] [--temperature 0.7]
        [--seed 0] [--out docs/playground.png] [--width 1320 --height 820 --pane 470]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def train_demo(out: Path, steps: int) -> Path:
    from ftgui.core.config import RunConfig
    from ftgui.core.runner import run_config

    cfg = RunConfig.load(ROOT / "resources" / "demo" / "demo.yaml")
    cfg.training.output_dir = str(out)
    cfg.training.max_steps = steps
    cfg.training.eval_steps = cfg.training.save_steps = steps
    print(f"training {steps} demo steps into {out} …", flush=True)
    run_config(cfg)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", help="an existing finished run (default: train the demo)")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--prompt", default="The European lobster")
    ap.add_argument("--max-new-tokens", type=int, default=150)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "docs" / "playground.png"))
    ap.add_argument("--width", type=int, default=1320)
    ap.add_argument("--height", type=int, default=820)
    ap.add_argument("--pane", type=int, default=470, help="width of the settings pane")
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="ftgui-shot-"))
    os.environ.setdefault("FTGUI_RUNS_DIR", str(tmp / "runs"))
    os.environ.setdefault("FTGUI_CACHE_DIR", str(tmp / "cache"))
    run = Path(args.run) if args.run else train_demo(tmp / "runs" / "demo-lobster",
                                                     args.steps)

    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from ftgui.core.runs import RunDir
    from ftgui.gui.main_window import MainWindow
    from ftgui.gui.worker import wait_for_tasks

    app = QApplication([sys.argv[0]])
    app.setApplicationDisplayName("ftgui")
    win = MainWindow(settings=QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    win.set_config(RunDir(run).load_config())   # the left side shows the run's settings
    win.resize(args.width, args.height)
    win.show()
    win.splitter.setSizes([args.pane, args.width - args.pane])
    pg = win.playground
    win.side_tabs.setCurrentWidget(pg)
    if not pg.set_run(str(run)):
        print(pg.banner.text(), file=sys.stderr)
        return 1
    pg.prompt.setPlainText(args.prompt)
    pg.max_tokens.setValue(args.max_new_tokens)
    pg.temperature.setValue(args.temperature)
    pg.seed.setValue(args.seed)

    loop = QEventLoop()
    pg.generationFinished.connect(loop.quit)
    QTimer.singleShot(int(args.timeout * 1000), loop.quit)
    pg.generate()
    loop.exec()
    if pg.generating or not (pg.base_pane.text and pg.tuned_pane.text):
        print("no text:", pg.banner.text() or "timed out", file=sys.stderr)
        pg.shutdown()
        return 1
    settle = QEventLoop()
    QTimer.singleShot(500, settle.quit)   # let the last paint land
    settle.exec()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    win.grab().save(str(out), "PNG")
    for name, pane in pg.panes.items():
        print(f"{name}: {pane.stats.text()}\n  {pane.text!r}")
    print(f"wrote {out}")
    wait_for_tasks(10000)
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
